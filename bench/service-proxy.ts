/**
 * The service proxy's rule programming at scale (issue #15; run by hand, as root, with nft:
 * `npx tsx bench/service-proxy.ts [--services 10000] [--endpoints 5] [--changes 20]`; figures go
 * to BENCHMARKS.md). Never a test assertion. No containers and no API: a scratch table
 * `ip stratus-bench-svc` (removed at the end) on a bridge name that does not exist.
 *
 * 1. Initial sync: a snapshot of S Services × E ready endpoints → ServiceProxy's first apply (one
 *    `nft -f` transaction replacing the table), timed whole.
 * 2. One endpoint change, C times: one Service's slice gets a different endpoint → the snapshot
 *    rebuilt, the ruleset rebuilt and diffed (user space, O(S)), and the diff sent through the
 *    long-running `nft -i` (the kernel's part, O(change)); each part timed.
 * 3. The table's size in the kernel (`nft list table | wc -c`) as a proxy for its memory.
 * Progress to stderr, a markdown table to stdout.
 */
import { execFileSync } from 'node:child_process';
import { Command, InvalidArgumentError } from 'commander';
import { silentLogger } from '../node-agent/log';
import { buildSnapshot } from '../node-agent/network/api-cluster-view';
import type { ClusterSnapshot, ClusterView } from '../node-agent/network/cluster-view';
import { destroyServiceTable, NftInteractive, ServiceProxy } from '../node-agent/network/service-proxy';
import { buildRuleset, diffRulesets, proxyTableName } from '../node-agent/network/service-rules';
import { pct } from './lib';

const positive = (v: string): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError('must be a positive integer');
  return n;
};

const program = new Command()
  .name('bench/service-proxy.ts')
  .description('time to program the nftables service proxy: initial sync and one endpoint change at scale (root, nft)')
  .option('--services <n>', 'Services', positive, 10_000)
  .option('--endpoints <n>', 'ready endpoints per Service', positive, 5)
  .option('--changes <n>', 'single-endpoint changes to time', positive, 20)
  .parse();
const o = program.opts<{ services: number; endpoints: number; changes: number }>();

const BRIDGE = 'stratus-bench';
const TABLE = proxyTableName(BRIDGE);
const ip = (base: number, i: number) => `${base}.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;

function lists(variant: number) {
  const services = [];
  const slices = [];
  for (let s = 0; s < o.services; s++) {
    const name = `s${s}`;
    services.push({ metadata: { namespace: 'default', name }, spec: { clusterIP: ip(10, 0x600000 + s), ports: [{ port: 80, protocol: 'TCP' }] } });
    const eps = Array.from({ length: o.endpoints }, (_, e) => ({ addresses: [ip(11, s * o.endpoints + e)], conditions: { ready: true } }));
    // The change: Service 0's first endpoint moves to another address.
    if (s === 0 && variant > 0) eps[0] = { addresses: [ip(12, variant)], conditions: { ready: true } };
    slices.push({ metadata: { namespace: 'default', name: `${name}-x`, labels: { 'kubernetes.io/service-name': name } }, addressType: 'IPv4', endpoints: eps, ports: [{ port: 8080, protocol: 'TCP' }] });
  }
  return { services: { items: services }, endpointSlices: { items: slices }, pods: { items: [] } };
}

class PushView implements ClusterView {
  constructor(private s: ClusterSnapshot) {}
  current = () => this.s;
  subscribe = () => () => undefined;
}

async function main(): Promise<void> {
  const node = { nodeName: 'bench', bridge: BRIDGE, nodeIPs: ['192.0.2.250'] };
  process.stderr.write(`building a snapshot of ${o.services} Services × ${o.endpoints} endpoints…\n`);
  let t = performance.now();
  const first = buildSnapshot(lists(0));
  const snapshotMs = performance.now() - t;

  process.stderr.write('initial sync (one nft -f transaction)…\n');
  await destroyServiceTable(TABLE);
  const proxy = new ServiceProxy({ view: new PushView(first), node: () => node, log: silentLogger, routeLocalnet: () => Promise.resolve() });
  t = performance.now();
  await proxy.start();
  const initialMs = performance.now() - t;
  const tableBytes = execFileSync('nft', ['list', 'table', 'ip', TABLE], { maxBuffer: 1 << 30 }).length;

  // The change path, its parts timed apart: user space (snapshot, ruleset, diff) and nft -i.
  const nft = new NftInteractive();
  const user: number[] = [];
  const kernel: number[] = [];
  let commands = 0;
  let prev = buildRuleset(first, node);
  for (let c = 1; c <= o.changes; c++) {
    process.stderr.write(`change ${c}/${o.changes}\r`);
    t = performance.now();
    const next = buildRuleset(buildSnapshot(lists(c)), node);
    const diff = diffRulesets(TABLE, prev, next);
    user.push(performance.now() - t);
    t = performance.now();
    await nft.transaction(diff);
    kernel.push(performance.now() - t);
    commands = diff.length;
    prev = next;
  }
  process.stderr.write('\n');
  nft.close();
  proxy.stop();
  await destroyServiceTable(TABLE);

  const f = (n: number) => n.toFixed(1);
  console.log(`| Figure (${o.services} Services × ${o.endpoints} endpoints, ${o.changes} changes) | value |`);
  console.log('|---|---|');
  console.log(`| Snapshot build (${o.services * 2} objects read and frozen) | ${f(snapshotMs)} ms |`);
  console.log(`| Initial sync: ruleset built + one \`nft -f\` transaction | ${f(initialMs)} ms |`);
  console.log(`| Table size (\`nft list table\`) | ${(tableBytes / 1e6).toFixed(1)} MB of text |`);
  console.log(`| One endpoint change, nft -i transaction (${commands} commands) p50 / p99 | ${f(pct(kernel, 50))} / ${f(pct(kernel, 99))} ms |`);
  console.log(`| One endpoint change, user space (snapshot + ruleset + diff, O(Services)) p50 / p99 | ${f(pct(user, 50))} / ${f(pct(user, 99))} ms |`);
}

main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? e.stack : String(e)}\n`);
  process.exit(1);
});
