/**
 * The service proxy's rule programming at scale (issue #15; run by hand, as root, with nft:
 * `npx tsx bench/service-proxy.ts [--services 10000] [--endpoints 5] [--changes 50]`; figures go
 * to BENCHMARKS.md). Never a test assertion. No containers and no API: a scratch table
 * `ip stratus-bench-svc` (removed at the end) on a bridge name that does not exist; the API's
 * lists are made in memory (objects with resourceVersions, as the API returns them).
 *
 * 1. Initial sync: the lists read into a snapshot (cold cache) + ServiceProxy's first apply (one
 *    `nft -f` transaction writing the table), timed whole.
 * 2. One endpoint change, C times: a random Service's slice gets another endpoint address (a new
 *    resourceVersion) → the snapshot rebuilt with the view's cache + ServiceProxy.update (only
 *    that Service's share rebuilt, its commands through the long-running `nft -i`). User space =
 *    the whole minus the time inside the nft transaction (kernel part = nft -i's answer).
 * 3. Agent restart: a new view cache and a new ServiceProxy (what a restarted agent has) over the
 *    same lists, from the lists to the table replaced (the old table serves meanwhile).
 * 4. The table's size (`nft list table | wc -c`) and the kernel's unreclaimable slab memory
 *    (/proc/meminfo SUnreclaim) with the table minus without it: a host-wide figure, so other
 *    work on the machine adds noise.
 * Progress to stderr, a markdown table to stdout.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { Command, InvalidArgumentError } from 'commander';
import { silentLogger } from '../node-agent/log';
import { buildSnapshot, SnapshotCache, type ClusterLists } from '../node-agent/network/api-cluster-view';
import type { ClusterSnapshot, ClusterView } from '../node-agent/network/cluster-view';
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
  .description('time to program the nftables service proxy: initial sync, one endpoint change, restart, at scale (root, nft)')
  .option('--services <n>', 'Services', positive, 10_000)
  .option('--endpoints <n>', 'ready endpoints per Service', positive, 5)
  .option('--changes <n>', 'single-endpoint changes to time', positive, 50)
  .parse();
const o = program.opts<{ services: number; endpoints: number; changes: number }>();

const BRIDGE = 'stratus-bench';
const TABLE = proxyTableName(BRIDGE);
const ip = (base: number, i: number) => `${base}.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;

/** Service s's endpoint addresses and its slice's resourceVersion (changed by the changes). */
const moved = new Map<number, { addr: string; rv: string }>();

function lists(): ClusterLists {
  const services = [];
  const slices = [];
  for (let s = 0; s < o.services; s++) {
    const name = `s${s}`;
    services.push({ metadata: { namespace: 'default', name, resourceVersion: `${s + 1}` }, spec: { clusterIP: ip(10, 0x600000 + s), ports: [{ port: 80, protocol: 'TCP' }] } });
    const eps = Array.from({ length: o.endpoints }, (_, e) => ({ addresses: [ip(11, s * o.endpoints + e)], conditions: { ready: true } }));
    const m = moved.get(s);
    if (m) eps[0] = { addresses: [m.addr], conditions: { ready: true } };
    slices.push({
      metadata: { namespace: 'default', name: `${name}-x`, resourceVersion: m?.rv ?? `${o.services + s + 1}`, labels: { 'kubernetes.io/service-name': name } },
      addressType: 'IPv4',
      endpoints: eps,
      ports: [{ port: 8080, protocol: 'TCP' }],
    });
  }
  return { services: { items: services }, endpointSlices: { items: slices }, pods: { items: [] } };
}

class PushView implements ClusterView {
  constructor(private s: ClusterSnapshot) {}
  current = () => this.s;
  subscribe = () => () => undefined;
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

const slabKb = () => Number(/SUnreclaim:\s+(\d+)/.exec(readFileSync('/proc/meminfo', 'utf8'))![1]);

async function main(): Promise<void> {
  const node = { nodeName: 'bench', bridge: BRIDGE, nodeIPs: ['192.0.2.250'] };
  await destroyServiceTable(TABLE);
  const slabBefore = slabKb();

  process.stderr.write(`initial sync of ${o.services} Services × ${o.endpoints} endpoints…\n`);
  let raw = lists();
  let t = performance.now();
  const cache = new SnapshotCache();
  const first = buildSnapshot(raw, undefined, cache);
  const snapshotMs = performance.now() - t;
  const nft = new TimedNft();
  const proxy = new ServiceProxy({ view: new PushView(first), node: () => node, log: silentLogger, nft, routeLocalnet: () => Promise.resolve() });
  await proxy.start();
  const initialMs = performance.now() - t;
  const initialNftMs = nft.ms;
  const slabAfter = slabKb();
  const listed = execFileSync('nft', ['list', 'table', 'ip', TABLE], { maxBuffer: 1 << 30, encoding: 'utf8' });
  const chains = (listed.match(/^\s*chain /gm) ?? []).length;

  const user: number[] = [];
  const kernel: number[] = [];
  const cpu: number[] = [];
  let commands = 0;
  for (let c = 1; c <= o.changes; c++) {
    process.stderr.write(`change ${c}/${o.changes}\r`);
    const s = Math.floor(Math.random() * o.services);
    moved.set(s, { addr: ip(12, c), rv: `c${c}` });
    raw = lists(); // the API's list (not timed: the agent gets it over HTTP)
    t = performance.now();
    const cpu0 = process.cpuUsage();
    const snap = buildSnapshot(raw, undefined, cache);
    await proxy.update(snap);
    const total = performance.now() - t;
    const used = process.cpuUsage(cpu0);
    cpu.push((used.user + used.system) / 1000);
    if (proxy.lastApply?.full) throw new Error('a change applied as a full rebuild');
    kernel.push(nft.ms);
    user.push(total - nft.ms);
    commands = Math.max(commands, proxy.lastApply?.commands ?? 0);
  }
  process.stderr.write('\nrestart…\n');
  proxy.stop();
  // What a restarted agent does: read the lists (no cache yet), write the table whole.
  t = performance.now();
  const again = buildSnapshot(raw, undefined, new SnapshotCache());
  const nft2 = new TimedNft();
  const proxy2 = new ServiceProxy({ view: new PushView(again), node: () => node, log: silentLogger, nft: nft2, routeLocalnet: () => Promise.resolve() });
  await proxy2.start();
  const restartMs = performance.now() - t;
  proxy2.stop();
  await destroyServiceTable(TABLE);
  const slabGone = slabKb();

  const f = (n: number) => n.toFixed(1);
  console.log(`| Figure (${o.services} Services × ${o.endpoints} endpoints, ${o.changes} changes) | value |`);
  console.log('|---|---|');
  console.log(`| Initial sync: lists read (${f(snapshotMs)} ms) + table written (one \`nft -f\`: ${f(initialNftMs)} ms) | ${f(initialMs)} ms |`);
  console.log(`| One endpoint change, kernel part (one \`nft -i\` transaction, ≤ ${commands} commands) p50 / p99 | ${f(pct(kernel, 50))} / ${f(pct(kernel, 99))} ms |`);
  console.log(`| One endpoint change, user space (snapshot with cache + that Service's share + commands) p50 / p99 | ${f(pct(user, 50))} / ${f(pct(user, 99))} ms |`);
  console.log(`| One endpoint change, this process's CPU time (user space; nft is a child) p50 / p99 | ${f(pct(cpu, 50))} / ${f(pct(cpu, 99))} ms |`);
  const both = user.map((u, i) => u + kernel[i]!);
  console.log(`| One endpoint change, whole p50 / p99 | ${f(pct(both, 50))} / ${f(pct(both, 99))} ms |`);
  console.log(`| Agent restart: lists read (cold) + table replaced (one \`nft -f\`: ${f(nft2.ms)} ms) | ${f(restartMs)} ms |`);
  console.log(`| Table: \`nft list table\` text, chains | ${(listed.length / 1e6).toFixed(2)} MB, ${chains} chains |`);
  console.log(`| Kernel memory: SUnreclaim with the table − before (after removal: ${slabGone - slabBefore} KiB from before) | ${((slabAfter - slabBefore) / 1024).toFixed(1)} MiB |`);
}

main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? e.stack : String(e)}\n`);
  process.exit(1);
});
