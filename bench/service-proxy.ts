/**
 * The service proxy's rule programming at scale (issue #15; run by hand, as root, with nft:
 * `npx tsx bench/service-proxy.ts [--scales 1000,10000] [--endpoints 5] [--changes 50]`; figures
 * go to BENCHMARKS.md). Never a test assertion. No containers: a scratch table
 * `ip stratus-bench-svc` (removed after each scale) on a bridge name that does not exist. The API
 * is an in-process fake KubeApiClient over objects in memory (each answer goes through
 * JSON.stringify/parse, as an HTTP body would), so one change goes through the agent's real path:
 *
 * 1. Initial sync: the view's whole lists (ApiClusterView.signal() with no keys) → the snapshot →
 *    ServiceProxy's first apply (one `nft -f` transaction writing the table), timed whole.
 * 2. One endpoint change, C times: a random Service's slice gets another endpoint address (a new
 *    resourceVersion) in the fake API → the signal naming that slice (`EndpointSlice/default/sN-x`,
 *    as the controller sends it) → the view's GET of that slice → the snapshot updated by key →
 *    the subscribers: the DNS index (by changes), the health-check scan, ServiceProxy (only that
 *    Service's share rebuilt, its commands through the long-running `nft -i`). Timed from the
 *    signal to nft's answer. User space = the whole minus the time inside the nft transaction.
 * 3. The fallback: F changes each signalled without keys (the view lists everything again, as on
 *    a signal of more than 200 objects, and as every change did before the signal named objects).
 * 4. Agent restart: a new view and a new ServiceProxy over the same API, from the lists to the
 *    table replaced (the old table serves meanwhile).
 * Scales run one after the other in one process, so their figures sit side by side. Progress to
 * stderr, a markdown table to stdout, with the load average at the start and end of each scale.
 */
import { loadavg } from 'node:os';
import { Command, InvalidArgumentError } from 'commander';
import { KubeApiError, type KubeApiClient } from '../node-agent/api-client';
import { silentLogger } from '../node-agent/log';
import { ApiClusterView } from '../node-agent/network/api-cluster-view';
import type { ClusterSnapshot } from '../node-agent/network/cluster-view';
import { DnsIndexer } from '../node-agent/network/dns-records';
import { healthChecks } from '../node-agent/network/health-check';
import { destroyServiceTable, NftInteractive, ServiceProxy, type NftRunner } from '../node-agent/network/service-proxy';
import { proxyTableName } from '../node-agent/network/service-rules';
import { pct } from './lib';

const positive = (v: string): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError('must be a positive integer');
  return n;
};

const program = new Command()
  .name('bench/service-proxy.ts')
  .description('time to program the nftables service proxy through the cluster view: initial sync, one endpoint change, fallback, restart, at several scales (root, nft)')
  .option('--scales <list>', 'numbers of Services, comma-separated', (v) => v.split(',').map(positive), [1000, 10_000])
  .option('--endpoints <n>', 'ready endpoints per Service', positive, 5)
  .option('--changes <n>', 'single-endpoint changes to time (signal naming the slice)', positive, 50)
  .option('--fallback <n>', 'changes signalled without keys (whole lists)', positive, 5)
  .parse();
const o = program.opts<{ scales: number[]; endpoints: number; changes: number; fallback: number }>();

const BRIDGE = 'stratus-bench';
const TABLE = proxyTableName(BRIDGE);
const ip = (base: number, i: number) => `${base}.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;

/** The API's objects, answered as JSON bodies would be (a fresh parse per answer). */
class FakeApi {
  rv = 1;
  readonly services = new Map<string, unknown>();
  readonly slices = new Map<string, unknown>();
  gets = 0;
  lists = 0;

  constructor(readonly count: number) {
    for (let s = 0; s < count; s++) {
      const name = `s${s}`;
      this.services.set(name, { metadata: { namespace: 'default', name, resourceVersion: String(this.rv++) }, spec: { clusterIP: ip(10, 0x600000 + s), ports: [{ port: 80, protocol: 'TCP' }] } });
      this.setSlice(s, Array.from({ length: o.endpoints }, (_, e) => ip(11, s * o.endpoints + e)));
    }
  }

  setSlice(s: number, addresses: string[]): void {
    const name = `s${s}`;
    this.slices.set(`${name}-x`, {
      metadata: { namespace: 'default', name: `${name}-x`, resourceVersion: String(this.rv++), labels: { 'kubernetes.io/service-name': name } },
      addressType: 'IPv4',
      endpoints: addresses.map((a) => ({ addresses: [a], conditions: { ready: true } })),
      ports: [{ port: 8080, protocol: 'TCP' }],
    });
  }

  readonly client = {
    get: async (path: string) => {
      await Promise.resolve();
      const list = (items: Iterable<unknown>) => {
        this.lists++;
        return JSON.parse(JSON.stringify({ metadata: { resourceVersion: String(this.rv) }, items: [...items] })) as unknown;
      };
      if (path === '/api/v1/services') return list(this.services.values());
      if (path === '/apis/discovery.k8s.io/v1/endpointslices') return list(this.slices.values());
      if (!path.includes('/namespaces/') && path.split('/').length <= 5) return list([]); // pods, policies, ingresses, classes
      this.gets++;
      const m = /\/namespaces\/default\/(services|endpointslices)\/([^/]+)$/.exec(path);
      const obj = m && (m[1] === 'services' ? this.services : this.slices).get(m[2]!);
      if (!obj) throw new KubeApiError(404, 'NotFound', `${path} not found`);
      return JSON.parse(JSON.stringify(obj)) as unknown;
    },
  } as unknown as KubeApiClient;
}

/** An NftRunner that times what it runs (the kernel's part: nft's own work and the kernel's). */
class TimedNft implements NftRunner {
  readonly inner = new NftInteractive(600_000);
  ms = 0;
  async transaction(commands: readonly string[]) {
    const t = performance.now();
    await this.inner.transaction(commands);
    this.ms = performance.now() - t;
  }
  async script(text: string) {
    const t = performance.now();
    await this.inner.script(text);
    this.ms = performance.now() - t;
  }
  close() {
    this.inner.close();
  }
}

const node = { nodeName: 'bench', bridge: BRIDGE, nodeIPs: ['192.0.2.250'] };
const load = () =>
  loadavg()
    .map((l) => l.toFixed(1))
    .join(' / ');

/** The agent's consumers on one view: the DNS index, the health-check scan, the service proxy (its apply awaited). */
function follow(view: ApiClusterView, nft: NftRunner) {
  const proxy = new ServiceProxy({ view, node: () => node, log: silentLogger, nft, routeLocalnet: () => Promise.resolve() });
  const dns = new DnsIndexer();
  let applied: Promise<void> = Promise.resolve();
  view.subscribe((s: ClusterSnapshot) => {
    dns.update(s);
    healthChecks(s, node.nodeName);
    applied = proxy.update(s);
  });
  return { proxy, applied: () => applied };
}

interface Figures {
  initialMs: number;
  initialNftMs: number;
  whole: number[];
  kernel: number[];
  user: number[];
  gets: number;
  commands: number;
  fallback: number[];
  restartMs: number;
  restartNftMs: number;
  load: string;
}

async function scale(count: number): Promise<Figures> {
  const started = load();
  await destroyServiceTable(TABLE);
  process.stderr.write(`${count} Services × ${o.endpoints} endpoints: initial sync…\n`);
  const api = new FakeApi(count);
  const nft = new TimedNft();
  const view = new ApiClusterView({ api: api.client, log: silentLogger });
  const f = follow(view, nft);
  let t = performance.now();
  await view.signal();
  await f.applied();
  const initialMs = performance.now() - t;
  const initialNftMs = nft.ms;

  const whole: number[] = [];
  const kernel: number[] = [];
  const user: number[] = [];
  let commands = 0;
  const gets0 = api.gets;
  for (let c = 1; c <= o.changes; c++) {
    process.stderr.write(`change ${c}/${o.changes}\r`);
    const s = Math.floor(Math.random() * count);
    api.setSlice(s, [ip(12, c), ...Array.from({ length: o.endpoints - 1 }, (_, e) => ip(11, s * o.endpoints + e + 1))]);
    nft.ms = 0;
    t = performance.now();
    await view.signal([`EndpointSlice/default/s${s}-x`]);
    await f.applied();
    const ms = performance.now() - t;
    if (f.proxy.lastApply?.full) throw new Error('a change applied as a full rebuild');
    whole.push(ms);
    kernel.push(nft.ms);
    user.push(ms - nft.ms);
    commands = Math.max(commands, f.proxy.lastApply?.commands ?? 0);
  }
  const gets = (api.gets - gets0) / o.changes;
  process.stderr.write('\nfallback (whole lists)…\n');
  const fallback: number[] = [];
  for (let c = 1; c <= o.fallback; c++) {
    const s = Math.floor(Math.random() * count);
    api.setSlice(s, [ip(13, c), ...Array.from({ length: o.endpoints - 1 }, (_, e) => ip(11, s * o.endpoints + e + 1))]);
    t = performance.now();
    await view.signal();
    await f.applied();
    fallback.push(performance.now() - t);
  }
  process.stderr.write('restart…\n');
  f.proxy.stop();
  const nft2 = new TimedNft();
  const view2 = new ApiClusterView({ api: api.client, log: silentLogger });
  const f2 = follow(view2, nft2);
  t = performance.now();
  await view2.signal();
  await f2.applied();
  const restartMs = performance.now() - t;
  f2.proxy.stop();
  await destroyServiceTable(TABLE);
  return { initialMs, initialNftMs, whole, kernel, user, gets, commands, fallback, restartMs, restartNftMs: nft2.ms, load: `${started} → ${load()}` };
}

async function main(): Promise<void> {
  const results: Figures[] = [];
  for (const n of o.scales) results.push(await scale(n));
  const f = (n: number) => n.toFixed(1);
  const s = (ms: number) => (ms / 1000).toFixed(2);
  const row = (label: string, cell: (r: Figures) => string) => console.log(`| ${label} | ${results.map(cell).join(' | ')} |`);
  console.log(`| Figure (${o.endpoints} endpoints per Service; ${o.changes} changes, ${o.fallback} fallbacks) | ${o.scales.map((n) => `${n.toLocaleString('en')} Services`).join(' | ')} |`);
  console.log(`|---|${o.scales.map(() => '---').join('|')}|`);
  row('load average (1 / 5 / 15 min) at the start → end', (r) => r.load);
  row('Initial sync: whole lists → snapshot → table written (one `nft -f`)', (r) => `${s(r.initialMs)} s (nft ${s(r.initialNftMs)} s)`);
  row('**One endpoint change: signal naming the slice → its GET → snapshot → DNS, ServiceProxy → nft answered, p50 / p99**', (r) => `**${f(pct(r.whole, 50))} / ${f(pct(r.whole, 99))} ms**`);
  row('… of which user space (GET, snapshot, consumers, commands), p50 / p99', (r) => `${f(pct(r.user, 50))} / ${f(pct(r.user, 99))} ms`);
  row('… of which the `nft -i` transaction, p50 / p99', (r) => `${f(pct(r.kernel, 50))} / ${f(pct(r.kernel, 99))} ms (≤ ${r.commands} commands)`);
  row('GETs per change', (r) => f(r.gets));
  row('Fallback change (signal without keys: whole lists), p50 / max', (r) => `${f(pct(r.fallback, 50))} / ${f(Math.max(...r.fallback))} ms`);
  row('Agent restart: whole lists → table replaced (one `nft -f`)', (r) => `${s(r.restartMs)} s (nft ${s(r.restartNftMs)} s)`);
}

main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? e.stack : String(e)}\n`);
  process.exit(1);
});
