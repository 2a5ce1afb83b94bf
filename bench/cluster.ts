/**
 * Cluster create latency (run by hand: `npm run bench:cluster`; figures go to BENCHMARKS.md):
 * POST /stratus/v1/clusters through the local HTTPS Function URL with the operator credential,
 * one at a time, timed from request to a 201 with the admin token (registry item, four system
 * namespaces, admin token written). Then, per cluster, the time until its admin token lists its
 * namespaces (usable through the API). DynamoDB Local in memory, warm-up excluded.
 *
 *   BENCH_CLUSTERS (default 100), BENCH_WARMUP (default 10)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startLocalStack } from '../infra/local/stack';
import { call, pct } from './lib';

const N = Number(process.env.BENCH_CLUSTERS ?? 100);
const WARMUP = Number(process.env.BENCH_WARMUP ?? 10);

async function main(): Promise<void> {
  const stateDir = mkdtempSync(join(tmpdir(), 'stratus-bench-cluster-'));
  const stack = await startLocalStack({ stateDir, log: (s) => process.stderr.write(`${s}\n`) });
  try {
    const create: number[] = [];
    const usable: number[] = [];
    for (let i = 0; i < WARMUP + N; i++) {
      const name = `bench-${i}`;
      const t0 = performance.now();
      const res = await call(stack.apiUrl, stack.caCert, stack.operatorToken, 'POST', '/stratus/v1/clusters', { metadata: { name } });
      const t1 = performance.now();
      if (res.status !== 201) throw new Error(`create ${name}: ${res.status} ${JSON.stringify(res.body)}`);
      const token = (res.body as { credentials: { token: string } }).credentials.token;
      const list = await call(`${stack.apiUrl}/clusters/${name}`, stack.caCert, token, 'GET', '/api/v1/namespaces');
      const t2 = performance.now();
      if (list.status !== 200 || (list.body as { items: unknown[] }).items.length !== 4) throw new Error(`list ${name}: ${list.status}`);
      if (i >= WARMUP) {
        create.push(t1 - t0);
        usable.push(t2 - t0);
      }
    }
    const f = (xs: number[]) => `p50 ${pct(xs, 50).toFixed(1)} ms, p99 ${pct(xs, 99).toFixed(1)} ms, max ${Math.max(...xs).toFixed(1)} ms`;
    console.log(`cluster create (${N} clusters, one at a time): ${f(create)}`);
    console.log(`create + first namespace list with its token: ${f(usable)}`);
  } finally {
    await stack.stop();
    rmSync(stateDir, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
