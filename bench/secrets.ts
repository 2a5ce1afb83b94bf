/**
 * Cost of Secrets encryption at rest (issue #16), run by hand: `npm run bench:secrets`
 * (`-- --help`); figures go to BENCHMARKS.md. One local stack (DynamoDB Local), one process (the
 * handlers run in it, so `setSecretsEncryption` switches what the API writes), one client:
 * Secret create (POST) and get (GET) latency with encryption off and on, in alternating rounds
 * so that the machine's load drifts over both alike, then p50/p99 side by side and their ratio.
 * Also the pure cost in-process (seal and open of the same object, no I/O) and the stored size
 * of one Secret in each form (what its write units follow). Rate limits are off for the run.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { startLocalStack } from '../infra/local/stack';
import { loadConfig } from '../shared/config';
import { open, seal } from '../shared/secrets/envelope';
import { setSecretsEncryption } from '../shared/secrets/store-codec';
import { encodeObject } from '../shared/store/codec';
import { call, pct } from './lib';

const HELP = `bench/secrets.ts: Secret create/get p50/p99 with and without encryption at rest, in one run.
Usage: npm run bench:secrets [-- --help]
Environment:
  BENCH_SECRETS   Secrets created (and read) per mode, default 300
  BENCH_ROUNDS    alternating rounds the samples are split into, default 10
  BENCH_BYTES     size of each Secret's value before base64, default 512`;

if (process.argv.includes('--help') || process.argv.includes('-h')) {
  console.log(HELP);
  process.exit(0);
}

const PER_MODE = Number(process.env.BENCH_SECRETS ?? 300);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 10);
const BYTES = Number(process.env.BENCH_BYTES ?? 512);
const progress = (s: string) => process.stderr.write(`${s}\n`);

type Mode = 'plain' | 'encrypted';
const ms = (x: number) => `${x.toFixed(2)} ms`;

async function main() {
  // One client sends as fast as it can: the per-cluster and per-user rate limits (100 and 50
  // requests/s by default) would answer 429, so they are off for this run (both modes alike).
  process.env.STRATUS_DEFAULT_RATE_LIMIT ??= '0';
  process.env.STRATUS_DEFAULT_USER_RATE_LIMIT ??= '0';
  const stack = await startLocalStack({ stateDir: mkdtempSync(join(tmpdir(), 'stratus-bench-secrets-')), apiInstances: 0 });
  try {
    const base = `${stack.apiUrl}/clusters/default`;
    const api = (method: string, path: string, body?: unknown) => call(base, stack.caCert, stack.adminToken, method, path, body);
    const secret = (name: string) => ({ apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace: 'default' }, type: 'Opaque', data: { value: randomBytes(BYTES).toString('base64') } });
    const samples: Record<Mode, { create: number[]; get: number[] }> = { plain: { create: [], get: [] }, encrypted: { create: [], get: [] } };
    const timed = async (f: () => Promise<{ status: number }>, want: number) => {
      const t0 = performance.now();
      const r = await f();
      const dt = performance.now() - t0;
      if (r.status !== want) throw new Error(`status ${r.status}, wanted ${want}`);
      return dt;
    };
    // Warm-up in both modes (TLS session, the data key's first load, the JIT).
    for (const mode of ['encrypted', 'plain'] as Mode[]) {
      setSecretsEncryption(mode === 'encrypted');
      for (let i = 0; i < 20; i++) {
        await api('POST', '/api/v1/namespaces/default/secrets', secret(`warm-${mode}-${i}`));
        await api('GET', `/api/v1/namespaces/default/secrets/warm-${mode}-${i}`);
      }
    }
    const perRound = Math.ceil(PER_MODE / ROUNDS);
    let n = 0;
    for (let round = 0; round < ROUNDS; round++) {
      // Alternate which mode goes first, so neither always follows the other.
      const order: Mode[] = round % 2 === 0 ? ['plain', 'encrypted'] : ['encrypted', 'plain'];
      for (const mode of order) {
        setSecretsEncryption(mode === 'encrypted');
        for (let i = 0; i < perRound; i++) {
          const name = `s-${mode}-${n++}`;
          samples[mode].create.push(await timed(() => api('POST', '/api/v1/namespaces/default/secrets', secret(name)), 201));
          samples[mode].get.push(await timed(() => api('GET', `/api/v1/namespaces/default/secrets/${name}`), 200));
        }
      }
      progress(`round ${round + 1}/${ROUNDS} done`);
    }
    setSecretsEncryption(true);

    // The pure cost: seal/open of one compressed Secret, in-process.
    const obj = { ...secret('x'), metadata: { name: 'x', namespace: 'default', uid: '00000000-0000-0000-0000-000000000000' } };
    const compressed = encodeObject(obj as never);
    const key = randomBytes(32);
    const id = { cluster: 'default', namespace: 'default', name: 'x', uid: obj.metadata.uid };
    const sealed = seal(compressed, id, 'dk-bench', key);
    const N = 20_000;
    let t0 = performance.now();
    for (let i = 0; i < N; i++) seal(compressed, id, 'dk-bench', key);
    const sealUs = ((performance.now() - t0) * 1000) / N;
    t0 = performance.now();
    for (let i = 0; i < N; i++) open(sealed, 'default', () => key);
    const openUs = ((performance.now() - t0) * 1000) / N;

    const row = (what: string, p: number[], e: number[]) =>
      `| ${what} | ${ms(pct(p, 50))} | ${ms(pct(e, 50))} | ${(pct(e, 50) / pct(p, 50)).toFixed(2)}x | ${ms(pct(p, 99))} | ${ms(pct(e, 99))} | ${(pct(e, 99) / pct(p, 99)).toFixed(2)}x |`;
    const config = loadConfig();
    console.log(
      [
        `Secrets encryption at rest: ${samples.plain.create.length} Secrets per mode, ${ROUNDS} alternating rounds, ${BYTES}-byte values, one sequential client, DynamoDB Local (${config.objectsTable})`,
        `load average at the end: ${loadavg().map((x) => x.toFixed(2)).join(', ')}`,
        '',
        '| | p50 plain | p50 encrypted | ratio | p99 plain | p99 encrypted | ratio |',
        '|---|---|---|---|---|---|---|',
        row('Secret create (POST)', samples.plain.create, samples.encrypted.create),
        row('Secret get (GET)', samples.plain.get, samples.encrypted.get),
        '',
        `in-process: seal ${sealUs.toFixed(1)} µs, open ${openUs.toFixed(1)} µs per Secret; stored body ${compressed.length} B plain, ${sealed.length} B sealed (+${sealed.length - compressed.length} B)`,
      ].join('\n'),
    );
  } finally {
    await stack.stop();
  }
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
