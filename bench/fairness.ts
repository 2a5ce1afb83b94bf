/**
 * Fairness under a flood (run by hand: `npm run bench:fairness`; figures go to BENCHMARKS.md):
 * does one tenant flooding the API at 10x its rate limit slow another tenant down?
 *
 * Two clusters through the local HTTPS Function URL (one process: the stack's server, the api
 * handlers and this client; DynamoDB Local in memory, another process). The quiet tenant GETs one
 * ConfigMap open-loop at BENCH_QUIET_RATE req/s (default 40: within its default limits, 100 per
 * cluster and 50 per user) for BENCH_SECONDS (default 20) in each phase, in the same run:
 *
 *   1. alone;
 *   2. while the noisy tenant (rate limit BENCH_LIMIT req/s, default 50, per user too) sends
 *      GETs open-loop at 10x that (500 req/s), most refused with 429 before any object read;
 *   3. the same flood with the noisy tenant's limit lifted (0), for comparison: what the limit saves.
 *
 * For each phase: the quiet tenant's GET p50/p99/throughput, and the flood's sent/admitted/refused.
 * The goal (issue #16): the limited flood raises the quiet tenant's p99 by at most 20%.
 * Progress to stderr, a markdown table to stdout.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startLocalStack } from '../infra/local/stack';
import { call, pct } from './lib';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 20);
const LIMIT = Number(process.env.BENCH_LIMIT ?? 50);
const QUIET_RATE = Number(process.env.BENCH_QUIET_RATE ?? 40);
/** The flood's requests in flight at most (an open loop must not grow without bound if the server slows down). */
const FLOOD_MAX_IN_FLIGHT = 256;

const progress = (s: string) => process.stderr.write(`[fairness ${new Date().toISOString().slice(11, 19)}] ${s}\n`);

interface Phase {
  name: string;
  quiet: number[];
  quietErrors: number;
  sent: number;
  admitted: number;
  refused: number;
  skipped: number;
}

async function main(): Promise<void> {
  const stateDir = mkdtempSync(join(tmpdir(), 'stratus-bench-fairness-'));
  const stack = await startLocalStack({ stateDir, log: (s) => progress(s) });
  try {
    const cluster = async (name: string, spec: Record<string, unknown>) => {
      const res = await call(stack.apiUrl, stack.caCert, stack.operatorToken, 'POST', '/stratus/v1/clusters', { metadata: { name }, spec });
      if (res.status !== 201) throw new Error(`create ${name}: ${res.status} ${JSON.stringify(res.body)}`);
      const token = (res.body as { credentials: { token: string } }).credentials.token;
      const api = (method: string, path: string, body?: unknown) => call(`${stack.apiUrl}/clusters/${name}`, stack.caCert, token, method, path, body);
      const cm = await api('POST', '/api/v1/namespaces/default/configmaps', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'probe' }, data: { k: 'v' } });
      if (cm.status !== 201) throw new Error(`configmap in ${name}: ${cm.status}`);
      return api;
    };
    // The quiet tenant keeps the default limits (100 req/s, 50 per user) and stays below them.
    const quiet = await cluster('quiet', {});
    const noisy = await cluster('noisy', { rateLimit: LIMIT, userRateLimit: LIMIT });
    const setNoisyLimit = async (n: number) => {
      const r = await call(stack.apiUrl, stack.caCert, stack.operatorToken, 'PATCH', '/stratus/v1/clusters/noisy', { spec: { rateLimit: n, userRateLimit: n } }, 'application/merge-patch+json');
      if (r.status !== 200) throw new Error(`set limit: ${r.status} ${JSON.stringify(r.body)}`);
      // Each instance caches a cluster's limits for 10 s; the local stack is one instance, and the PATCH forgot them there.
    };

    const runPhase = async (name: string, flood: boolean): Promise<Phase> => {
      progress(`phase: ${name} (${SECONDS} s)`);
      const phase: Phase = { name, quiet: [], quietErrors: 0, sent: 0, admitted: 0, refused: 0, skipped: 0 };
      const end = performance.now() + SECONDS * 1000;
      let inFlight = 0;
      const floodDone: Promise<void>[] = [];
      let timer: NodeJS.Timeout | undefined;
      if (flood) {
        // 10x the limit, open loop: a batch every 10 ms.
        const perTick = Math.max(1, Math.round((LIMIT * 10) / 100));
        timer = setInterval(() => {
          for (let i = 0; i < perTick; i++) {
            if (inFlight >= FLOOD_MAX_IN_FLIGHT) {
              phase.skipped++;
              continue;
            }
            inFlight++;
            phase.sent++;
            floodDone.push(
              noisy('GET', '/api/v1/namespaces/default/configmaps/probe').then(
                (r) => {
                  inFlight--;
                  if (r.status === 429) phase.refused++;
                  else if (r.status === 200) phase.admitted++;
                },
                () => {
                  inFlight--;
                },
              ),
            );
          }
        }, 10);
      }
      const quietDone: Promise<void>[] = [];
      while (performance.now() < end) {
        const t0 = performance.now();
        quietDone.push(
          quiet('GET', '/api/v1/namespaces/default/configmaps/probe').then(
            (r) => {
              if (r.status === 200) phase.quiet.push(performance.now() - t0);
              else phase.quietErrors++;
            },
            () => {
              phase.quietErrors++;
            },
          ),
        );
        await new Promise((r) => setTimeout(r, Math.max(0, t0 + 1000 / QUIET_RATE - performance.now())));
      }
      await Promise.all(quietDone);
      if (timer) clearInterval(timer);
      await Promise.all(floodDone);
      return phase;
    };

    // Warm-up: both tenants' first requests (token lookups, caches, JIT).
    await runPhase('warm-up', true).catch(() => undefined);
    await new Promise((r) => setTimeout(r, 1500));
    const phases: Phase[] = [];
    phases.push(await runPhase('quiet tenant alone', false));
    await new Promise((r) => setTimeout(r, 1500));
    phases.push(await runPhase(`noisy tenant flooding at 10x its limit (${LIMIT * 10} req/s vs ${LIMIT} req/s)`, true));
    await setNoisyLimit(0);
    await new Promise((r) => setTimeout(r, 1500));
    phases.push(await runPhase(`the same flood, noisy tenant unlimited`, true));

    const base = pct(phases[0]!.quiet, 99);
    console.log(`| phase | quiet GETs | quiet p50 ms | quiet p99 ms | p99 vs alone | quiet errors | flood sent (req/s) | admitted | refused 429 | not sent (client cap) |`);
    console.log(`|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|`);
    for (const p of phases) {
      const p99 = pct(p.quiet, 99);
      console.log(
        `| ${p.name} | ${p.quiet.length} | ${pct(p.quiet, 50).toFixed(1)} | ${p99.toFixed(1)} | ${p === phases[0] ? '-' : `${(((p99 - base) / base) * 100).toFixed(0)}%`} | ${p.quietErrors} | ${p.sent} (${(p.sent / SECONDS).toFixed(0)}) | ${p.admitted} | ${p.refused} | ${p.skipped} |`,
      );
    }
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
