/**
 * One endpoint change through the cluster view against the REAL local stack (issue #15; run by
 * hand, as root, with nft: `npx tsx bench/cluster-view-api.ts [--services 2000] [--changes 30]`;
 * figures go to BENCHMARKS.md beside bench/service-proxy.ts's in-process ones). Starts its own local
 * stack (DynamoDB Local, the runtime; no node agent), creates S selector-less Services each with
 * an EndpointSlice of 5 endpoints written by the admin, and runs an ApiClusterView with a node
 * credential (the node authorizer decides its GETs and lists, over HTTPS) feeding a ServiceProxy
 * on a scratch table `ip stratus-benchv-svc`. The signal is handed to the view directly (the
 * stream and SQS hops are bench/network.ts's): from the signal naming the changed slice to nft's
 * answer. Also: the initial sync (whole lists over HTTPS → table) and a restart.
 */
import { mkdtempSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { KubeApiClient } from '../node-agent/api-client';
import { silentLogger } from '../node-agent/log';
import { ApiClusterView } from '../node-agent/network/api-cluster-view';
import { destroyServiceTable, NftInteractive, ServiceProxy } from '../node-agent/network/service-proxy';
import { proxyTableName } from '../node-agent/network/service-rules';
import { startLocalStack } from '../infra/local/stack';
import { createNodeToken } from '../shared/auth/node-identity';
import { loadConfig } from '../shared/config';
import { createDocumentClient } from '../shared/store/dynamo';
import { call, pct } from './lib';

const positive = (v: string): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError('must be a positive integer');
  return n;
};
const o = new Command()
  .name('bench/cluster-view-api.ts')
  .option('--services <n>', 'Services (each with one EndpointSlice of 5 endpoints)', positive, 2000)
  .option('--changes <n>', 'single-endpoint changes to time', positive, 30)
  .option('--concurrency <n>', 'creates at once', positive, 8)
  .option('--settle <ms>', 'wait after each slice update before the signal (the stack\'s stream consumers run in this process)', (v) => Number(v), 0)
  .parse()
  .opts<{ services: number; changes: number; concurrency: number; settle: number }>();

const BRIDGE = 'stratus-benchv';
const TABLE = proxyTableName(BRIDGE);
const NODE = 'bench-view';
const ip = (base: number, i: number) => `${base}.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
const load = () =>
  loadavg()
    .map((l) => l.toFixed(1))
    .join(' / ');
const sliceOf = (s: number, first: string) => ({
  apiVersion: 'discovery.k8s.io/v1',
  kind: 'EndpointSlice',
  metadata: { name: `s${s}-x`, labels: { 'kubernetes.io/service-name': `s${s}` } },
  addressType: 'IPv4',
  endpoints: [first, ...Array.from({ length: 4 }, (_, e) => ip(11, s * 5 + e + 1))].map((a) => ({ addresses: [a], conditions: { ready: true } })),
  ports: [{ port: 8080, protocol: 'TCP' }],
});

async function main(): Promise<void> {
  const stateDir = mkdtempSync(join(tmpdir(), 'stratus-benchv-'));
  process.stderr.write(`starting the local stack in ${stateDir}\n`);
  const stack = await startLocalStack({ stateDir });
  try {
    Object.assign(process.env, stack.env);
    const base = `${stack.apiUrl}/clusters/default`;
    // The cluster's rate limit (100 requests/s) answers 429 when the creates go faster: waited out.
    const admin = async (method: string, path: string, body?: unknown) => {
      for (;;) {
        const r = await call(base, stack.caCert, stack.adminToken, method, path, body);
        if (r.status !== 429) return r;
        await new Promise((res) => setTimeout(res, 1000));
      }
    };
    const nodeToken = await createNodeToken(createDocumentClient(loadConfig()), loadConfig(), 'default', NODE);
    const api = new KubeApiClient({ server: base, token: nodeToken, ca: stack.caCert });
    let t = performance.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: o.concurrency }, async () => {
        while (next < o.services) {
          const s = next++;
          if (s % 200 === 0) process.stderr.write(`creating ${s}/${o.services}\r`);
          const r = await admin('POST', '/api/v1/namespaces/default/services', { apiVersion: 'v1', kind: 'Service', metadata: { name: `s${s}` }, spec: { ports: [{ port: 80, targetPort: 8080 }] } });
          if (r.status !== 201) throw new Error(`Service s${s}: ${r.status} ${JSON.stringify(r.body).slice(0, 300)}`);
          const e = await admin('POST', '/apis/discovery.k8s.io/v1/namespaces/default/endpointslices', sliceOf(s, ip(11, s * 5)));
          if (e.status !== 201) throw new Error(`slice s${s}: ${e.status} ${JSON.stringify(e.body).slice(0, 300)}`);
        }
      }),
    );
    const createS = (performance.now() - t) / 1000;
    process.stderr.write(`\ncreated in ${createS.toFixed(0)} s; initial sync…\n`);
    const loadStart = load();
    await destroyServiceTable(TABLE);
    const node = { nodeName: NODE, bridge: BRIDGE, nodeIPs: ['192.0.2.251'] };
    const start = async () => {
      const view = new ApiClusterView({ api, log: silentLogger });
      const proxy = new ServiceProxy({ view, node: () => node, log: silentLogger, nft: new NftInteractive(600_000), routeLocalnet: () => Promise.resolve() });
      let applied: Promise<void> = Promise.resolve();
      view.subscribe((s) => {
        applied = proxy.update(s);
      });
      const t0 = performance.now();
      await view.signal();
      await applied;
      return { view, proxy, applied: () => applied, ms: performance.now() - t0 };
    };
    const first = await start();
    if (first.view.current().services.length < o.services) throw new Error(`the view has ${first.view.current().services.length} Services`);
    const whole: number[] = [];
    const getMs: number[] = [];
    for (let c = 1; c <= o.changes; c++) {
      process.stderr.write(`change ${c}/${o.changes}\r`);
      const s = Math.floor(Math.random() * o.services);
      const cur = await admin('GET', `/apis/discovery.k8s.io/v1/namespaces/default/endpointslices/s${s}-x`);
      const r = await admin('PUT', `/apis/discovery.k8s.io/v1/namespaces/default/endpointslices/s${s}-x`, { ...sliceOf(s, ip(12, c)), metadata: { ...cur.body.metadata } });
      if (r.status !== 200) throw new Error(`update: ${r.status}`);
      if (o.settle) await new Promise((res) => setTimeout(res, o.settle));
      t = performance.now();
      await first.view.signal([`EndpointSlice/default/s${s}-x`]);
      getMs.push(first.view.lastRound?.ms ?? NaN);
      await first.applied();
      whole.push(performance.now() - t);
      if (first.proxy.lastApply?.full) throw new Error('a full rebuild');
    }
    process.stderr.write('\nrestart…\n');
    first.proxy.stop();
    const again = await start();
    again.proxy.stop();
    await destroyServiceTable(TABLE);
    const f = (n: number) => n.toFixed(1);
    console.log(`| Against the local stack (HTTPS, node credential), ${o.services.toLocaleString('en')} Services × 5, ${o.changes} changes${o.settle ? `, ${o.settle} ms settle` : ''} | value |`);
    console.log('|---|---|');
    console.log(`| load average at the start → end | ${loadStart} → ${load()} |`);
    console.log(`| Initial sync: whole lists over HTTPS → snapshot → table written | ${(first.ms / 1000).toFixed(2)} s |`);
    console.log(`| **One endpoint change: signal → GET of the slice → snapshot → ServiceProxy → nft answered, p50 / p99** | **${f(pct(whole, 50))} / ${f(pct(whole, 99))} ms** |`);
    console.log(`| … of which the view's round (the GET over HTTPS, snapshot, subscribers called), p50 / p99 | ${f(pct(getMs, 50))} / ${f(pct(getMs, 99))} ms |`);
    console.log(`| … the slowest rounds (the view's round in brackets) | ${[...whole.keys()].sort((a, b) => whole[b]! - whole[a]!).slice(0, 3).map((i) => `${f(whole[i]!)} (${f(getMs[i]!)})`).join(', ')} ms |`);
    console.log(`| Agent restart: whole lists → table replaced | ${(again.ms / 1000).toFixed(2)} s |`);
    console.log(`| (set-up: ${o.services} Services + slices created in ${createS.toFixed(0)} s) | |`);
  } finally {
    await stack.stop();
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? e.stack : String(e)}\n`);
  process.exit(1);
});
