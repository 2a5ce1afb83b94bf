/**
 * One instance of an HTTP function (infra/local/http-instances.ts forks it): loads the handler
 * as the in-process runtime does, and serves, on its own event loop, the connections the parent
 * hands it (HTTPS, the Function URL event, streaming, WebSocket upgrades). Its log lines and audit
 * lines go to the parent; it stops when told to (or when the parent goes away).
 */
import type { Socket } from 'node:net';
import type { Server } from 'node:https';
import { loadConfig } from '../../shared/config';
import { flushCostNow } from '../../shared/cost/meter';
import { flushForwardedAudit } from '../../shared/audit';
import { attachUpgrades, createHttpFunctionServer, installAwsLambdaGlobals, Invoker, loadFunction, message, STOP_GRACE_MS } from './runtime';
import type { FromInstance, ToInstance } from './http-instances';

/** Response header naming the instance that served a request (pid too): local only, for tests and benches. */
export const INSTANCE_HEADER = 'x-stratus-local-instance';

const send = (m: FromInstance, cb?: () => void) => {
  if (process.connected) process.send!(m, undefined, {}, cb ? () => cb() : undefined);
  else cb?.();
};
const log = (line: string) => send({ type: 'log', line });

let server: Server | undefined;
let invoker: Invoker | undefined;
let closeUpgrades: (() => void) | undefined;
let stopping: Promise<void> | undefined;

async function init(m: Extract<ToInstance, { type: 'init' }>): Promise<void> {
  installAwsLambdaGlobals();
  const config = loadConfig(process.env);
  invoker = new Invoker(config.region);
  const f = await loadFunction(m.wiring);
  const streaming = m.wiring.trigger.type === 'http' && m.wiring.trigger.streaming;
  const s = createHttpFunctionServer(f, streaming, m.tls, invoker, log);
  const id = `${m.instance}/${process.pid}`;
  s.prependListener('request', (_req, res) => res.setHeader(INSTANCE_HEADER, id));
  s.on('error', (err) => log(`[${m.wiring.name}#${m.instance}] server error: ${message(err)}`));
  closeUpgrades = await attachUpgrades(s, m.wiring.name, log);
  server = s;
}

async function stop(): Promise<void> {
  closeUpgrades?.();
  if (server) {
    const s = server;
    await new Promise<void>((r) => {
      s.close(() => r());
      // Open watches and keep-alive sockets would hold close() forever.
      s.closeAllConnections();
    });
  }
  const left = (await invoker?.drain(STOP_GRACE_MS)) ?? 0;
  if (left) log(`local runtime instance ${process.pid}: ${left} invocation(s) still running after ${STOP_GRACE_MS} ms; not waiting longer`);
  await flushCostNow().catch((e: Error) => log(`local runtime instance ${process.pid}: cost meter flush failed: ${e.message}`));
  flushForwardedAudit();
}

process.on('message', (m: ToInstance, handle?: Socket) => {
  switch (m.type) {
    case 'init':
      init(m).then(
        () => send({ type: 'ready', pid: process.pid }),
        (err: unknown) => send({ type: 'failed', error: message(err) }, () => process.exit(1)),
      );
      break;
    case 'conn': {
      if (!handle) return;
      if (!server || stopping) {
        handle.destroy();
        send({ type: 'closed' });
        return;
      }
      handle.once('close', () => send({ type: 'closed' }));
      server.emit('connection', handle);
      break;
    }
    case 'stop':
      stopping ??= stop()
        .catch((err: unknown) => log(`local runtime instance ${process.pid}: stop failed: ${message(err)}`))
        .finally(() => send({ type: 'stopped' }, () => process.exit(0)));
      break;
  }
});

// The parent gone (killed, or it exited without stopping us): nothing can reach this instance.
process.on('disconnect', () => {
  if (!stopping) process.exit(0);
});
