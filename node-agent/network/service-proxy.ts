/**
 * The service proxy (kube-proxy's role, nftables mode) for the node-bridge pod network: keeps the
 * node's table `ip stratus-0a8005-svc` (service-rules.ts has its layout) in line with the cluster
 * view. Traffic is DNATed in the kernel; nothing is proxied in user space, so existing Services
 * keep working while the agent is stopped or restarting.
 *
 * Applying:
 * - The first snapshot (the view's first list: never the empty one before it) replaces the table
 *   whole in ONE `nft -f` transaction (add table; delete table; table {...}; rules): on a restart
 *   this is the adoption, and there is no moment without rules, so running pods never lose their
 *   Services; conntrack keeps established connections where they are.
 * - Each later snapshot: only the Services whose Service object or EndpointSlices are not the very
 *   objects of the last apply (the cluster view keeps an unchanged object's parse, by
 *   resourceVersion) get their share of the table rebuilt (serviceRules); RulesetState turns what
 *   their shares changed into commands, which go as one line, i.e. one transaction, to a
 *   long-running `nft -i` process. An endpoint change is element commands only (no chain), so nft
 *   needs no chain cache: it costs what it changes. Snapshots arriving during an apply coalesce to the
 *   newest. A transaction that fails (the table was removed by hand, the child died) makes the
 *   next apply a full rebuild.
 * - NodePorts on 127.0.0.1 need route_localnet on the bridge (set at start); martian 127/8 from the
 *   bridge is dropped before NAT.
 * - NodePorts of two clusters on one host (nodeport-conflicts.ts): with the node's cluster known,
 *   a NodePort another cluster's table on this host already has is not programmed here, and the
 *   Service gets a Warning Event `NodePortConflict`. The host's tables are read before an apply that
 *   may add NodePorts (a full one, or one with Service changes), and every conflictRetryMs while
 *   the table holds or was refused any: refused Services are tried again (the other cluster may have
 *   let go), and a port two tables hold (programmed at the same instant) is given up by the table
 *   whose name sorts later.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { errorMessage, type Logger } from '../log';
import { chainChanges, type ClusterSnapshot, type ClusterView, type SnapshotChanges } from './cluster-view';
import { ServiceIndex } from './service-index';
import type { EndpointSlice, Service } from '../../shared/schemas/service';
import { HOST_PORTS_OWNER, hostPortRules, hostPortsOf, proxyTableName, proxyTableScript, RulesetState, serviceId, serviceRules, slicesByService, type ProxyNode, type ProxyRuleset } from './service-rules';
import { foreignNodePorts, nodePortConflictMessage, withoutForeignNodePorts, yields, type ForeignNodePort } from './nodeport-conflicts';

/** Runs nft commands: one transaction per call. */
export interface NftRunner {
  /** Runs `commands` as ONE transaction; rejects with nft's error text. */
  transaction(commands: readonly string[]): Promise<void>;
  /** Runs a whole script with `nft -f -` (one transaction). */
  script(text: string): Promise<void>;
  close(): void;
}

/**
 * One long-running `nft -i` (stdout and stderr merged, so an error comes before what follows it).
 * Each transaction is one line; after it a line naming a table that does not exist, whose error
 * echo (it contains a per-call marker) says the transaction before it is done.
 */
export class NftInteractive implements NftRunner {
  private child: ChildProcessWithoutNullStreams | undefined;
  private buffer = '';
  private seq = 0;
  private queue: Promise<unknown> = Promise.resolve();
  private waiting: { marker: string; resolve: (out: string) => void; reject: (e: Error) => void; timer: NodeJS.Timeout } | undefined;

  constructor(private readonly timeoutMs = 30_000) {}

  private start(): ChildProcessWithoutNullStreams {
    if (this.child && this.child.exitCode === null && !this.child.killed) return this.child;
    const child = spawn('sh', ['-c', 'exec nft -i 2>&1'], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.buffer = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (d: string) => {
      this.buffer += d;
      this.check();
    });
    child.on('exit', () => {
      if (this.child === child) this.child = undefined;
      const w = this.waiting;
      this.waiting = undefined;
      if (w) {
        clearTimeout(w.timer);
        w.reject(new Error(`nft -i exited: ${this.buffer.slice(-500)}`));
      }
    });
    child.stdin.on('error', () => undefined); // an exit is reported above
    this.child = child;
    return child;
  }

  private check(): void {
    const w = this.waiting;
    if (!w) return;
    const at = this.buffer.indexOf(w.marker);
    if (at < 0) return;
    // Wait for the caret line under the marker's echo.
    const end = this.buffer.indexOf('\n', this.buffer.indexOf('\n', at) + 1);
    if (end < 0) return;
    const lines = this.buffer.slice(0, at).split('\n');
    // Drop the marker's own "Error: ..." line (the last full line before its echo).
    lines.pop();
    lines.pop();
    const out = lines.join('\n');
    this.buffer = this.buffer.slice(end + 1);
    this.waiting = undefined;
    clearTimeout(w.timer);
    w.resolve(out);
  }

  transaction(commands: readonly string[]): Promise<void> {
    if (!commands.length) return Promise.resolve();
    const run = async () => {
      const child = this.start();
      const marker = `stratus-nft-sync-${process.pid}-${++this.seq}`;
      const out = await new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => {
          this.waiting = undefined;
          child.kill();
          reject(new Error('nft -i did not answer'));
        }, this.timeoutMs);
        this.waiting = { marker, resolve, reject, timer };
        // Commands are separated by ";" on one line: one transaction.
        child.stdin.write(`${commands.join('; ')}\nlist table ip ${marker}\n`);
      });
      if (/Error:/.test(out)) throw new Error(`nft: ${out.trim().slice(0, 2000)}`);
    };
    const next = this.queue.then(run, run);
    this.queue = next.catch(() => undefined);
    return next;
  }

  script(text: string): Promise<void> {
    const run = () =>
      new Promise<void>((resolve, reject) => {
        const child = spawn('nft', ['-f', '-'], { stdio: ['pipe', 'ignore', 'pipe'] });
        let err = '';
        child.stderr.setEncoding('utf8');
        child.stderr.on('data', (d: string) => (err += d));
        child.on('error', reject);
        child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`nft -f: ${err.trim().slice(0, 2000)}`))));
        child.stdin.end(text);
      });
    const next = this.queue.then(run, run);
    this.queue = next.catch(() => undefined);
    return next;
  }

  close(): void {
    this.child?.stdin.end();
    this.child = undefined;
  }
}

export interface ServiceProxyOptions {
  readonly view: ClusterView;
  /** The node's bridge and addresses: read at the first apply (the bridge exists by then). */
  readonly node: () => ProxyNode;
  readonly log: Logger;
  /** @default a long-running nft -i */
  readonly nft?: NftRunner;
  /** Sets route_localnet on the bridge (NodePorts on 127.0.0.1). @default writes /proc/sys */
  readonly routeLocalnet?: (bridge: string) => Promise<void>;
  /** The host's other service tables' node_ports maps, as `nft -j list maps ip` answers them. @default runs nft */
  readonly listNodePortMaps?: (ownTable: string) => Promise<unknown>;
  /** Records an Event on a Service (the NodePortConflict warnings). @default none */
  readonly serviceEvent?: (svc: Service, type: 'Normal' | 'Warning', reason: string, message: string) => void;
  /** How often Services with refused NodePorts are tried again. @default 30 s */
  readonly conflictRetryMs?: number;
}

/** Timings of the last apply (what bench/ and the logs report). */
export interface ApplyStats {
  readonly full: boolean;
  readonly commands: number;
  readonly ms: number;
}

/**
 * What the service proxy and the NetworkPolicy enforcer share: following the cluster view with
 * one nft table. Snapshots are applied one at a time, those arriving during an apply coalesced to
 * the newest; a failed apply is logged and `reset` makes the next one a rebuild.
 */
export abstract class NftTableFollower {
  protected readonly nft: NftRunner;
  private pending: ClusterSnapshot | undefined;
  private running: Promise<void> | undefined;
  private unsubscribe: (() => void) | undefined;
  private stopped = false;

  constructor(
    private readonly follow: { readonly view: ClusterView; readonly log: Logger; readonly nft?: NftRunner },
    /** The warning logged when an apply fails. */
    private readonly failure: string,
  ) {
    this.nft = follow.nft ?? new NftInteractive();
  }

  /** Follows the view from now on (its current snapshot first, if it has one); resolves once that is applied. */
  start(): Promise<void> {
    this.unsubscribe = this.follow.view.subscribe((s) => void this.update(s));
    return this.update(this.follow.view.current());
  }

  /** Stops following the view; the table stays (pods keep their rules while the agent is away). */
  stop(): void {
    this.stopped = true;
    this.unsubscribe?.();
    this.nft.close();
  }

  /** Applies a snapshot (coalesced with any that arrive meanwhile); resolves once it is applied. */
  update(snapshot: ClusterSnapshot): Promise<void> {
    if (snapshot.version === '') return Promise.resolve(); // never the view's empty start
    // One waiting already: the two deltas chained into one (else the newest alone, compared whole).
    const chained = this.pending && chainChanges(this.pending, snapshot);
    this.pending = chained ? Object.freeze({ ...snapshot, changes: chained }) : snapshot;
    this.running ??= (async () => {
      while (this.pending && !this.stopped) {
        const s = this.pending;
        this.pending = undefined;
        try {
          await this.apply(s);
        } catch (e) {
          this.reset();
          this.follow.log.warn(this.failure, { version: s.version, error: errorMessage(e) });
        }
      }
    })().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  protected abstract apply(snapshot: ClusterSnapshot): Promise<void>;
  /** Forgets what was applied: the next apply rebuilds the table whole. */
  protected abstract reset(): void;
}

/**
 * One nft transaction that replaces table `name` whole with its static part and `commands`: added
 * first so that the delete always finds it, so the table is never absent.
 */
export const replaceTableScript = (stat: { readonly name: string; readonly hash: string; readonly body: string }, commands: readonly string[]): string =>
  [`add table ip ${stat.name}`, `delete table ip ${stat.name}`, `table ip ${stat.name} {`, `  comment "${stat.hash}"`, stat.body, `}`, ...commands, ''].join('\n');

export class ServiceProxy extends NftTableFollower {
  /** The table's content as applied last (undefined: the next apply rebuilds the table whole). */
  private applied: RulesetState | undefined;
  /** Per Service: the objects its share was built from (same objects: same share). */
  private built = new Map<string, { svc: Service; slices: readonly EndpointSlice[] }>();
  /** The version applied last: a snapshot whose changes are since it is applied by those alone. */
  private appliedVersion = '';
  /** The snapshot's Services (by namespace/name) and their slices (for applying changes). */
  private readonly index = new ServiceIndex((ns, name) => `${ns}/${name}`);
  private hostPortsKey = '';
  private table: string | undefined;
  private staticHash: string | undefined;
  /** The last apply's figures. */
  lastApply: ApplyStats | undefined;
  /** NodePorts other clusters' tables hold on this host, as read last. */
  private foreign: ReadonlyMap<string, ForeignNodePort> = new Map();
  /** Services with NodePorts left out for another cluster's: id → the message reported. */
  private readonly refused = new Map<string, string>();
  /** NodePorts this table holds, by Service id (what its shares kept). */
  private readonly held = new Map<string, ReadonlySet<string>>();
  /** Services to build again at the next apply (they hold a port a table sorting first holds too). */
  private readonly contested = new Set<string>();
  private retryTimer: NodeJS.Timeout | undefined;

  constructor(private readonly opts: ServiceProxyOptions) {
    super(opts, 'service proxy rules not applied');
  }

  override start(): Promise<void> {
    this.retryTimer = setInterval(() => {
      void this.recheck().catch((e: unknown) => this.opts.log.warn('NodePort check failed', { error: errorMessage(e) }));
    }, this.opts.conflictRetryMs ?? 30_000);
    this.retryTimer.unref();
    return super.start();
  }

  override stop(): void {
    if (this.retryTimer) clearInterval(this.retryTimer);
    this.retryTimer = undefined;
    super.stop();
  }

  /**
   * The periodic check: refused Services are tried again; Services holding a NodePort that another
   * cluster's table holds too (two agents that programmed it at once) are built again, and the
   * table sorting later gives it up.
   */
  async recheck(): Promise<void> {
    const node = this.opts.node();
    if (node.cluster === undefined || !this.table || (!this.refused.size && !this.held.size)) return;
    if (!this.refused.size) {
      const foreign = foreignNodePorts(await (this.opts.listNodePortMaps ?? listNodePortMaps)(this.table), this.table, node.cluster);
      for (const [id, keys] of this.held) for (const k of keys) if (foreign.has(k) && yields(foreign.get(k)!, this.table, true)) this.contested.add(id);
      if (!this.contested.size) return;
    }
    await this.update(this.opts.view.current());
  }

  /** Services whose NodePorts are not programmed here for another cluster's, by namespace/name. */
  refusedServices(): string[] {
    return [...this.refused.keys()];
  }

  /** One Service's share, without the NodePorts another cluster holds on this host (reported once per change). */
  private share(svc: Service, slices: readonly EndpointSlice[], node: ProxyNode): ProxyRuleset {
    const all = serviceRules(svc, slices, node);
    if (node.cluster === undefined) return all;
    const id = serviceId(svc);
    const was = this.held.get(id);
    const { rules, refused } = withoutForeignNodePorts(all, this.foreign, proxyTableName(node.bridge), (k) => !!was?.has(k));
    if (rules.node_ports.size) this.held.set(id, new Set(rules.node_ports.keys()));
    else this.held.delete(id);
    if (!refused.length) {
      this.refused.delete(id);
      return rules;
    }
    const message = nodePortConflictMessage(refused, node.nodeName);
    if (this.refused.get(id) !== message) {
      this.refused.set(id, message);
      this.opts.log.warn('NodePort held by another cluster on this host: not programmed', { service: id, ports: refused.map((f) => f.key), tables: [...new Set(refused.map((f) => f.table))] });
      this.opts.serviceEvent?.(svc, 'Warning', 'NodePortConflict', message);
    }
    return rules;
  }

  protected reset(): void {
    this.applied = undefined;
    this.appliedVersion = '';
  }

  /** Re-reads the whole snapshot: every Service whose objects are not those of the last apply is rebuilt (O(Services)). */
  private walk(snapshot: ClusterSnapshot, state: RulesetState, node: ProxyNode): number {
    let services = 0;
    const slices = slicesByService(snapshot.endpointSlices);
    const seen = new Set<string>();
    this.index.rebuild(snapshot.services, snapshot.endpointSlices);
    for (const svc of snapshot.services) {
      const id = serviceId(svc);
      seen.add(id);
      const own = slices.get(id) ?? [];
      const was = this.built.get(id);
      if (was && was.svc === svc && was.slices.length === own.length && was.slices.every((s, i) => s === own[i])) continue;
      this.built.set(id, { svc, slices: own });
      state.replace(id, this.share(svc, own, node));
      services++;
    }
    for (const id of this.refused.keys()) if (!seen.has(id)) this.refused.delete(id);
    for (const id of this.held.keys()) if (!seen.has(id)) this.held.delete(id);
    for (const id of this.built.keys()) {
      if (seen.has(id)) continue;
      this.built.delete(id);
      state.replace(id, undefined);
      services++;
    }
    return services;
  }

  /** Applies the snapshot's changes alone: only the Services they name or whose slices they name are rebuilt (O(changes)). */
  private applyChanges(changes: SnapshotChanges, state: RulesetState, node: ProxyNode): number {
    const affected = this.index.applyChanges(changes);
    for (const id of affected) {
      const svc = this.index.service(id);
      if (!svc) {
        this.refused.delete(id);
        this.held.delete(id);
        if (this.built.delete(id)) state.replace(id, undefined);
        continue;
      }
      // In the snapshot's order (namespace/name of the slice), as the whole walk has them.
      const own = this.index.slicesOf(id);
      const was = this.built.get(id);
      if (was && was.svc === svc && was.slices.length === own.length && was.slices.every((s, i) => s === own[i])) continue;
      this.built.set(id, { svc, slices: own });
      state.replace(id, this.share(svc, own, node));
    }
    return affected.size;
  }

  protected async apply(snapshot: ClusterSnapshot): Promise<void> {
    const started = performance.now();
    const node = this.opts.node();
    const stat = proxyTableScript(node);
    const full = !this.applied || this.staticHash !== stat.hash || this.table !== stat.name;
    if (full) {
      this.applied = new RulesetState();
      this.built = new Map();
      this.hostPortsKey = '';
    }
    const state = this.applied!;
    // Only the Services whose objects changed: the rest keep their share as it is.
    let changes = !full && snapshot.changes && snapshot.changes.since === this.appliedVersion ? snapshot.changes : undefined;
    if (node.cluster !== undefined && (full || !changes || changes.Service || this.refused.size || this.contested.size)) {
      // This apply may add NodePorts: which does another cluster hold on this host now?
      this.foreign = foreignNodePorts(await (this.opts.listNodePortMaps ?? listNodePortMaps)(stat.name), stat.name, node.cluster);
      if (this.refused.size || this.contested.size) {
        // Refused and contested Services are built again, against what the host holds now (the whole walk).
        for (const id of [...this.refused.keys(), ...this.contested]) this.built.delete(id);
        this.contested.clear();
        changes = undefined;
      }
    }
    const services = changes ? this.applyChanges(changes, state, node) : this.walk(snapshot, state, node);
    if (!changes || changes.Pod) {
      const hostPorts = hostPortsOf(snapshot, node.nodeName);
      const hostPortsKey = JSON.stringify(hostPorts);
      if (hostPortsKey !== this.hostPortsKey) {
        this.hostPortsKey = hostPortsKey;
        state.replace(HOST_PORTS_OWNER, hostPortRules(hostPorts));
      }
    }
    const commands = state.takeCommands(stat.name);
    // Failing from here, reset() makes the next apply a rebuild (what the walk state says is not applied).
    this.appliedVersion = '';
    if (full) {
      await (this.opts.routeLocalnet ?? setRouteLocalnet)(node.bridge);
      // One transaction: the table replaced, never absent (add first so the delete always finds it).
      await this.nft.script(replaceTableScript(stat, commands));
      this.table = stat.name;
      this.staticHash = stat.hash;
      this.appliedVersion = snapshot.version;
      this.lastApply = { full: true, commands: commands.length, ms: performance.now() - started };
      this.opts.log.info('service proxy table written', { table: stat.name, version: snapshot.version, services: this.built.size, ms: Math.round(this.lastApply.ms) });
      return;
    }
    await this.nft.transaction(commands);
    this.appliedVersion = snapshot.version;
    this.lastApply = { full: false, commands: commands.length, ms: performance.now() - started };
    if (commands.length) this.opts.log.info('service proxy rules changed', { table: stat.name, version: snapshot.version, services, commands: commands.length, ...(changes ? { byChanges: true } : {}), ms: Math.round(this.lastApply.ms) });
  }
}

async function setRouteLocalnet(bridge: string): Promise<void> {
  await writeFile(`/proc/sys/net/ipv4/conf/${bridge}/route_localnet`, '1');
}

/**
 * The node_ports maps of the host's service tables other than `ownTable`, in the shape of `nft -j
 * list maps ip`: one `list tables` and one `list map` per other `*-svc` table (small maps, unlike
 * the endpoint maps a whole `list maps` would bring).
 */
export async function listNodePortMaps(ownTable: string): Promise<unknown> {
  const nftJson = (args: string[]) =>
    new Promise<{ nftables?: unknown[] }>((resolve) => {
      const child = spawn('nft', ['-j', ...args], { stdio: ['ignore', 'pipe', 'ignore'] });
      let out = '';
      child.stdout.setEncoding('utf8');
      child.stdout.on('data', (d: string) => (out += d));
      child.on('error', () => resolve({}));
      // A table removed meanwhile: nothing of it.
      child.on('exit', (code) => {
        try {
          resolve(code === 0 ? (JSON.parse(out) as { nftables?: unknown[] }) : {});
        } catch {
          resolve({});
        }
      });
    });
  const tables = ((await nftJson(['list', 'tables', 'ip'])).nftables ?? [])
    .map((x) => (x as { table?: { name?: unknown } }).table?.name)
    .filter((n): n is string => typeof n === 'string' && n.endsWith('-svc') && n !== ownTable);
  const maps = await Promise.all(tables.map(async (t) => (await nftJson(['list', 'map', 'ip', t, 'node_ports'])).nftables ?? []));
  return { nftables: maps.flat() };
}

/** Removes a node's service or policy table (tests; a node gone for good). */
export async function destroyServiceTable(table: string): Promise<void> {
  const runner = new NftInteractive();
  await runner.script(`add table ip ${table}\ndelete table ip ${table}\n`).catch(() => undefined);
  runner.close();
}
