/**
 * Where a slow GET's time goes (BENCHMARKS.md "Slow GET tail"; run by hand:
 * `npx tsx bench/api-get-trace.ts`). Starts the local stack in this process, optionally creates
 * SERVICES Services with one EndpointSlice each, then GETs one object N times one after another
 * (PACE ms apart): a ConfigMap as the admin, or with AS_NODE=1 an EndpointSlice with a node credential
 * (as the node agent's cluster view does). Every AWS SDK call of the process (the api's DynamoDB
 * reads and writes, the stream pollers', SQS), Node's GC pauses and event-loop stalls are recorded
 * with their times; each GET slower than SLOW ms is printed with what overlapped it, and the GETs
 * that waited for a cost-meter flush are counted. Environment: N (2000), PACE (0), SLOW (40),
 * SERVICES (0), AS_NODE. The SDK is observed by wrapping its clients' shared send(): a bench only.
 */
import { mkdtempSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay, PerformanceObserver } from 'node:perf_hooks';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { startLocalStack } from '../infra/local/stack';
import { call, pct } from './lib';
import { createNodeToken } from '../shared/auth/node-identity';
import { loadConfig } from '../shared/config';
import { createDocumentClient } from '../shared/store/dynamo';

const N = Number(process.env.N ?? 2000);
const SLOW = Number(process.env.SLOW ?? 40);
const SERVICES = Number(process.env.SERVICES ?? 0);
type Ev = { what: string; t0: number; t1: number };
const sdk: Ev[] = [];
const base = Object.getPrototypeOf(DynamoDBClient.prototype);
const orig = base.send;
base.send = function (this: any, cmd: any, ...rest: any[]) {
  const t0 = performance.now();
  const what = `${this.constructor.name}.${cmd.constructor.name}` + (cmd.input?.Key ? ` ${cmd.input.TableName?.slice(-12)} ${JSON.stringify(cmd.input.Key).slice(0, 80)}` : cmd.input?.KeyConditionExpression ? ` ${JSON.stringify(cmd.input.ExpressionAttributeValues).slice(0, 80)}` : '');
  const p = orig.call(this, cmd, ...rest);
  if (p && typeof p.then === 'function') p.then(() => sdk.push({ what, t0, t1: performance.now() }), () => sdk.push({ what: what + '!err', t0, t1: performance.now() }));
  return p;
};
const gcs: Ev[] = [];
new PerformanceObserver((l) => { for (const e of l.getEntries()) gcs.push({ what: `gc kind ${(e as any).detail?.kind}`, t0: e.startTime, t1: e.startTime + e.duration }); }).observe({ entryTypes: ['gc'] });
// event-loop lag samples every 10 ms
const lags: Ev[] = [];
let last = performance.now();
setInterval(() => { const n = performance.now(); if (n - last > 30) lags.push({ what: `loop blocked ${(n - last - 10).toFixed(0)} ms`, t0: last, t1: n }); last = n; }, 10).unref();

async function main() {
  const stack = await startLocalStack({ stateDir: mkdtempSync(join(tmpdir(), 'slowget-')) });
  try {
    Object.assign(process.env, stack.env);
    const b = `${stack.apiUrl}/clusters/default`;
    const api = (m: string, p: string, body?: unknown) => call(b, stack.caCert, stack.adminToken, m, p, body);
    let next = 0;
    await Promise.all(Array.from({ length: 6 }, async () => {
      while (next < SERVICES) {
        const s = next++;
        for (;;) { const r = await api('POST', '/api/v1/namespaces/default/services', { apiVersion: 'v1', kind: 'Service', metadata: { name: `s${s}` }, spec: { ports: [{ port: 80 }] } }); if (r.status !== 429) break; await new Promise((r) => setTimeout(r, 1000)); }
        for (;;) { const r = await api('POST', '/apis/discovery.k8s.io/v1/namespaces/default/endpointslices', { apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', metadata: { name: `s${s}-x`, labels: { 'kubernetes.io/service-name': `s${s}` } }, addressType: 'IPv4', endpoints: [{ addresses: ['10.1.1.1'] }], ports: [{ port: 80, protocol: 'TCP' }] }); if (r.status !== 429) break; await new Promise((r) => setTimeout(r, 1000)); }
      }
    }));
    console.log(`created ${SERVICES} services`);
    const nodeToken = await createNodeToken(createDocumentClient(loadConfig()), loadConfig(), 'default', 'diag-node');
    const getter = process.env.AS_NODE ? (p: string) => call(b, stack.caCert, nodeToken, 'GET', p) : (p: string) => api('GET', p);
    const PATH = process.env.AS_NODE ? '/apis/discovery.k8s.io/v1/namespaces/default/endpointslices/s0-x' : '/api/v1/namespaces/default/configmaps/q';
    const cm = await api('POST', '/api/v1/namespaces/default/configmaps', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'q' }, data: { a: 'b' } });
    if (cm.status !== 201) throw new Error(String(cm.status));
    await new Promise((r) => setTimeout(r, 3000));
    sdk.length = 0; gcs.length = 0; lags.length = 0;
    const h = monitorEventLoopDelay({ resolution: 5 }); h.enable();
    const ms: number[] = [];
    const slow: { i: number; t0: number; t1: number }[] = [];
    const T = performance.now();
    for (let i = 0; i < N; i++) {
      const t0 = performance.now();
      const r = await getter(PATH);
      const t1 = performance.now();
      if (r.status === 429) { await new Promise((r) => setTimeout(r, 1000)); continue; }
      if (r.status !== 200) throw new Error(String(r.status));
      ms.push(t1 - t0);
      ((globalThis as any).__all ??= []).push({ t0, t1 });
      if (t1 - t0 > SLOW) slow.push({ i, t0, t1 });
      if (process.env.PACE) await new Promise((r) => setTimeout(r, Number(process.env.PACE)));
    }
    const f = (n: number) => n.toFixed(1);
    console.log(`GETs ${ms.length} in ${((performance.now() - T) / 1000).toFixed(1)} s: p50 ${f(pct(ms, 50))} p90 ${f(pct(ms, 90))} p99 ${f(pct(ms, 99))} max ${f(Math.max(...ms))} ms; > ${SLOW} ms: ${slow.length}; load ${loadavg().map((x) => x.toFixed(1)).join('/')}`);
    console.log(`event loop delay p50 ${f(h.percentile(50) / 1e6)} p99 ${f(h.percentile(99) / 1e6)} max ${f(h.max / 1e6)}`);
    // SDK call stats over the whole window
    const by = new Map<string, number[]>();
    for (const e of sdk) { const k0 = e.what.split(' ')[0]!; const a = by.get(k0) ?? []; a.push(e.t1 - e.t0); by.set(k0, a); }
    for (const [k, a] of [...by].sort((x, y) => y[1].length - x[1].length)) console.log(`  sdk ${k}: n ${a.length} p50 ${f(pct(a, 50))} p99 ${f(pct(a, 99))} max ${f(Math.max(...a))}`);
    // GETs that waited for the cost meter's flush: a cost UpdateItem wholly inside the GET's window.
    const all = (globalThis as any).__all as { t0: number; t1: number }[];
    const costs = sdk.filter((e) => e.what.includes('stratus.cost'));
    const waited = all.filter((r) => costs.some((c) => c.t0 >= r.t0 && c.t1 <= r.t1));
    console.log(`  cost-meter UpdateItems ${costs.length}; GETs with one inside their window: ${waited.length} (${waited.map((r) => f(r.t1 - r.t0)).join(', ')} ms)`);
    const gcd = gcs.map((g) => g.t1 - g.t0);
    console.log(`  node gc: n ${gcs.length} p99 ${f(pct(gcd, 99))} max ${f(Math.max(0, ...gcd))} ms`);
    for (const s of slow.slice(0, 15)) {
      console.log(`SLOW #${s.i} at ${f((s.t0 - T) / 1000)} s: ${f(s.t1 - s.t0)} ms`);
      const ov = (e: Ev) => e.t1 > s.t0 - 5 && e.t0 < s.t1 + 5;
      for (const e of [...sdk.filter(ov), ...gcs.filter(ov), ...lags.filter(ov)].sort((a, b) => a.t0 - b.t0))
        console.log(`    ${e.what} +${f(e.t0 - s.t0)} .. +${f(e.t1 - s.t0)} (${f(e.t1 - e.t0)} ms)`);
    }
  } finally { await stack.stop(); }
}
main().catch((e) => { console.error(e); process.exit(1); });
