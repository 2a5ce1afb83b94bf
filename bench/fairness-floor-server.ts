/**
 * The floor of bench/fairness.ts: an HTTPS server that does nothing but what any front must do
 * for a refused request (TLS, HTTP parsing, a 429 written back), in a process of its own. The
 * bench floods it exactly as it floods Stratus, while the quiet tenant keeps GETting from Stratus:
 * what the quiet tenant's p99 loses then is what a flood costs it on this machine by existing at
 * all (the flood client's CPU and a minimal front's, on the same cores), not what Stratus adds.
 *
 * Driven over the IPC channel:
 *   parent → { kind: 'start' }
 *   child  → { kind: 'listening', port, ca }   (127.0.0.1, a fresh CA of its own)
 */
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { makeCertificates } from '../infra/local/stack';
import { TOO_MANY_REQUESTS_MESSAGE } from '../shared/rate-limit';

// The same Status the api answers a refused request with (functions/api: a 429 `TooManyRequests`).
const BODY = JSON.stringify({
  kind: 'Status',
  apiVersion: 'v1',
  metadata: {},
  status: 'Failure',
  message: TOO_MANY_REQUESTS_MESSAGE,
  reason: 'TooManyRequests',
  details: { retryAfterSeconds: 1 },
  code: 429,
});

async function start(): Promise<void> {
  const certs = await makeCertificates();
  const server = createServer({ key: certs.key, cert: certs.cert, keepAliveTimeout: 60_000 }, (req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(429, { 'content-type': 'application/json', 'retry-after': '1', 'content-length': Buffer.byteLength(BODY) });
      res.end(BODY);
    });
  });
  server.listen(0, '127.0.0.1', () => process.send!({ kind: 'listening', port: (server.address() as AddressInfo).port, ca: certs.caCert }));
}

if (process.argv.includes('--help') || process.argv.includes('-h')) {
  console.log('bench/fairness-floor-server.ts: the bare 429 server bench/fairness.ts floods for its floor (started by it over IPC; not run by hand).');
  process.exit(0);
}
if (process.send) {
  process.on('message', (m: { kind: string }) => {
    if (m.kind === 'start') void start();
  });
  process.on('disconnect', () => process.exit(0));
}
