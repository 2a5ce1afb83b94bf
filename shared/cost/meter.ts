/**
 * The control-plane cost meter (issue #17): what each cluster, and each workload in it, makes the
 * control plane spend. Counted where it is spent, never estimated afterwards:
 * - DynamoDB read and write units: the SDK middleware (sdk.ts) asks each request for its
 *   ReturnConsumedCapacity and adds what DynamoDB answers to the current scope;
 * - SQS requests: the SDK middleware on the SQS client, one per request;
 * - Lambda invocations and GB-seconds: each handler invocation (startInvocation) measures its
 *   duration and multiplies it by the function's configured memory, split evenly among the scopes
 *   (clusters, workloads) it worked for.
 * A scope is the work done for one object: an api request (its target), a controller key, a
 * cluster's scheduler batch. Its counts go to the workload at the top of the object's owner chain
 * (a Pod → its ReplicaSet → its Deployment; an Event → the object it is about) when the invocation
 * ends, into an in-memory aggregate per cluster, hour and workload (aggregate.ts) that is written
 * at most once a minute per cluster (store.ts): never a write per request.
 *
 * The scope travels with the request's async context (AsyncLocalStorage), so the store, the queue
 * and the SDK need no new parameter: outside any scope (the node agent, tests, the CLI) nothing is
 * counted and the middleware does nothing.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { KubeObject } from '../resources';
import { CostAggregator } from './aggregate';
import { addCounts, gbSecondsOf, zeroCounts, type CostCounts } from './prices';

/** A workload: the top of an owner chain (or the object itself when it has no controller). */
export interface WorkloadRef {
  readonly namespace: string;
  readonly kind: string;
  readonly name: string;
}

/** The key a workload's counts are stored under; '' is the cluster's own work for no object (a scheduler pass, the meter). */
export const workloadKey = (w: WorkloadRef | undefined): string => (w ? `${w.namespace}/${w.kind}/${w.name}` : '');

export function parseWorkloadKey(key: string): WorkloadRef | undefined {
  const m = /^([^/]*)\/([^/]+)\/(.+)$/.exec(key);
  return m ? { namespace: m[1]!, kind: m[2]!, name: m[3]! } : undefined;
}

/** Which object a scope works for: matched against the objects the store reads and writes. */
export interface ScopeTarget {
  /** The resource (plural) the object is of; absent: any resource (a controller key names only the object). */
  readonly resource?: string;
  readonly namespace?: string;
  /** Absent: the first object of that resource in that namespace (a create names its object in the body). */
  readonly name?: string;
}

/** An object's controller owner, as its ownerReferences say. */
export interface OwnerRef {
  readonly kind: string;
  readonly name: string;
}

/** One object the scope found: itself, and its controller owner when it has one. */
interface Subject {
  readonly namespace: string;
  readonly kind: string;
  readonly name: string;
  readonly owner?: OwnerRef | null;
}

export class CostScope {
  readonly counts: CostCounts = zeroCounts();
  subject?: Subject;
  /** The workload when it is known without looking at objects (the meter's own flush: none). */
  fixedWorkload?: WorkloadRef | null;
  constructor(
    public cluster: string | undefined,
    public target?: ScopeTarget,
  ) {}
}

class Invocation {
  readonly scopes: CostScope[] = [];
  private ended = false;
  constructor(
    readonly memoryMiB: number,
    readonly started: number,
  ) {}

  /** Runs fn with a fresh root scope of this invocation (cluster unknown until authentication sets it). */
  run<T>(fn: () => Promise<T>, cluster?: string): Promise<T> {
    const scope = new CostScope(cluster);
    this.scopes.push(scope);
    return als.run({ invocation: this, scope }, fn);
  }

  /** Ends the invocation once: its duration and count are shared by its scopes, which go to the aggregate. */
  async end(now = Date.now()): Promise<void> {
    if (this.ended) return;
    this.ended = true;
    const attributed = this.scopes.filter((s) => s.cluster !== undefined);
    if (attributed.length === 0) return;
    const share = 1 / attributed.length;
    const gbs = gbSecondsOf(now - this.started, this.memoryMiB);
    for (const s of attributed) addCounts(s.counts, { invocations: share, gbSeconds: gbs * share });
    await meter.record(attributed, now);
  }
}

const als = new AsyncLocalStorage<{ invocation?: Invocation; scope: CostScope }>();

/** The scope of the code running now, if any. */
export const currentScope = (): CostScope | undefined => als.getStore()?.scope;

/** Lambda's default when a context does not say (the wiring rows' memory is 512 MiB). */
const DEFAULT_MEMORY_MIB = 512;

/**
 * Starts metering one handler invocation. `run` the handler's work in it, then `end` it (after a
 * streamed body has been sent: a watch is billed for as long as it is open).
 */
export function startInvocation(memoryMiB: string | number | undefined, started = Date.now()): Invocation {
  const m = Number(memoryMiB ?? process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE ?? DEFAULT_MEMORY_MIB);
  return new Invocation(Number.isFinite(m) && m > 0 ? m : DEFAULT_MEMORY_MIB, started);
}

/** Runs a whole invocation: fn, then its end (a handler that returns no stream). */
export async function meteredInvocation<T>(memoryMiB: string | number | undefined, fn: () => Promise<T>): Promise<T> {
  const inv = startInvocation(memoryMiB);
  try {
    return await inv.run(fn);
  } finally {
    await inv.end();
  }
}

/**
 * Runs fn in a new scope of the current invocation: work for one cluster and (when target is
 * given) one object of it. Outside an invocation the scope's counts go to the aggregate when fn ends.
 */
export async function inScope<T>(cluster: string, target: ScopeTarget | undefined, fn: () => Promise<T>): Promise<T> {
  const outer = als.getStore();
  const scope = new CostScope(cluster, target);
  if (outer?.invocation) {
    outer.invocation.scopes.push(scope);
    return als.run({ invocation: outer.invocation, scope }, fn);
  }
  try {
    return await als.run({ scope }, fn);
  } finally {
    await meter.record([scope], Date.now());
  }
}

/** Sets the current scope's cluster (the api knows it once the token is authenticated) and target. */
export function attributeTo(cluster: string, target?: ScopeTarget): void {
  const scope = currentScope();
  if (!scope) return;
  scope.cluster = cluster;
  if (target) scope.target = target;
}

/** Adds to the current scope's counts (the SDK middleware). */
export function count(c: Partial<CostCounts>): void {
  const scope = currentScope();
  if (scope) addCounts(scope.counts, c);
}

// --- owner chains -------------------------------------------------------------------------

/** The controller owner of an object, from its ownerReferences (null: it has none). */
export function controllerOwner(obj: KubeObject): OwnerRef | null {
  const ref = obj.metadata.ownerReferences?.find((r) => r.controller === true);
  return ref ? { kind: ref.kind, name: ref.name } : null;
}

/** Owners remembered per process: `${cluster}/${namespace}/${kind}/${name}` → controller owner. */
const OWNER_CACHE_MAX = 20_000;
const owners = new Map<string, OwnerRef | null>();
const ownerKey = (cluster: string, namespace: string, kind: string, name: string) => `${cluster}/${namespace}/${kind}/${name}`;

function rememberOwner(cluster: string, obj: KubeObject): void {
  const { namespace, name } = obj.metadata;
  if (namespace === undefined || name === undefined || !obj.kind) return;
  if (owners.size >= OWNER_CACHE_MAX) owners.clear();
  owners.set(ownerKey(cluster, namespace, obj.kind, name), controllerOwner(obj));
}

/** Kinds whose owner is looked up when a scope's object is owned by one (a Pod's ReplicaSet → its Deployment). */
export const CHAINED_KINDS: Readonly<Record<string, string>> = { ReplicaSet: 'replicasets', Job: 'jobs', Pod: 'pods' };

/** Reads an object's controller owner from the store (set by the process that has a store; see configureCostMeter). */
export type OwnerLookup = (cluster: string, resource: string, namespace: string, name: string) => Promise<KubeObject | undefined>;

/**
 * Notes an object the store read or wrote in the current scope: remembers its owner, and, when it
 * is the scope's target, makes it the scope's subject (an Event's subject is what it is about).
 */
export function noteObject(resource: string, obj: KubeObject | undefined): void {
  const scope = currentScope();
  if (!scope || !obj || scope.cluster === undefined) return;
  rememberOwner(scope.cluster, obj);
  const t = scope.target;
  if (scope.subject || !t) return;
  const { namespace, name } = obj.metadata;
  if (t.resource !== undefined && t.resource !== resource) return;
  if (t.namespace !== undefined && t.namespace !== namespace) return;
  if (t.name !== undefined && t.name !== name) return;
  scope.subject = subjectOf(scope.cluster, obj);
}

function subjectOf(cluster: string, obj: KubeObject): Subject | undefined {
  const namespace = obj.metadata.namespace;
  if (obj.kind === 'Event') {
    const io = obj.involvedObject as { kind?: string; name?: string; namespace?: string } | undefined;
    if (!io?.kind || !io.name) return undefined;
    const ns = io.namespace ?? namespace ?? '';
    const owner = owners.get(ownerKey(cluster, ns, io.kind, io.name));
    return { namespace: ns, kind: io.kind, name: io.name, owner };
  }
  if (!obj.kind || !obj.metadata.name) return undefined;
  return { namespace: namespace ?? '', kind: obj.kind, name: obj.metadata.name, owner: controllerOwner(obj) };
}

/**
 * The workload at the top of a subject's owner chain: up to three steps (Event → Pod → ReplicaSet
 * → Deployment; Pod → Job → CronJob), each from the owner cache or, on a miss, one read of the
 * owner through `lookup` (remembered, also when it has no owner). Without a lookup the chain stops
 * at the last owner known.
 */
export async function resolveWorkload(cluster: string, subject: Subject, lookup?: OwnerLookup): Promise<WorkloadRef> {
  let current: WorkloadRef = { namespace: subject.namespace, kind: subject.kind, name: subject.name };
  let owner: OwnerRef | null | undefined = subject.owner;
  for (let step = 0; step < 3; step++) {
    if (owner === undefined) owner = await ownerOf(cluster, current, lookup);
    if (!owner) return current;
    current = { namespace: current.namespace, kind: owner.kind, name: owner.name };
    owner = owners.get(ownerKey(cluster, current.namespace, current.kind, current.name));
  }
  return current;
}

async function ownerOf(cluster: string, w: WorkloadRef, lookup?: OwnerLookup): Promise<OwnerRef | null | undefined> {
  const key = ownerKey(cluster, w.namespace, w.kind, w.name);
  if (owners.has(key)) return owners.get(key);
  const resource = CHAINED_KINDS[w.kind];
  if (!resource || !lookup) return null;
  try {
    const obj = await lookup(cluster, resource, w.namespace, w.name);
    const owner = obj ? controllerOwner(obj) : null;
    if (owners.size >= OWNER_CACHE_MAX) owners.clear();
    owners.set(key, owner);
    return owner;
  } catch {
    return null;
  }
}

/** Forgets remembered owners (tests). */
export const forgetOwners = (): void => owners.clear();

// --- the process's meter --------------------------------------------------------------------

/** Writes a cluster's aggregate (store.ts CostStore.flush). */
export interface CostSink {
  flush(cluster: string, hours: ReadonlyMap<string, ReadonlyMap<string, CostCounts>>): Promise<void>;
}

/** Once a minute per cluster at most (docs/cost.md "The cost meter"). */
export const FLUSH_INTERVAL_MS = 60_000;

class Meter {
  readonly aggregate = new CostAggregator();
  sink?: CostSink;
  lookup?: OwnerLookup;
  private flushing?: Promise<void>;

  /** Resolves each scope's workload and adds its counts to the aggregate, then flushes what is due. */
  async record(scopes: readonly CostScope[], now: number): Promise<void> {
    for (const s of scopes) {
      if (s.cluster === undefined) continue;
      let workload: WorkloadRef | undefined;
      if (s.fixedWorkload !== undefined) workload = s.fixedWorkload ?? undefined;
      else if (s.subject) workload = await this.meterOwnWork(s.cluster, () => resolveWorkload(s.cluster!, s.subject!, this.lookup));
      this.aggregate.add(s.cluster, now, workloadKey(workload), s.counts);
    }
    await this.flushDue(now);
  }

  /** Runs the meter's own reads and writes in a scope of the cluster, counted as the cluster's (workload ''). */
  private async meterOwnWork<T>(cluster: string, fn: () => Promise<T>): Promise<T> {
    const scope = new CostScope(cluster);
    scope.fixedWorkload = null;
    try {
      return await als.run({ scope }, fn);
    } finally {
      this.aggregate.add(cluster, Date.now(), '', scope.counts);
    }
  }

  /** Writes every cluster whose last write is a minute old (one flush at a time per process). */
  async flushDue(now: number, force = false): Promise<void> {
    if (!this.sink) return;
    if (this.flushing) return this.flushing;
    const due = this.aggregate.takeDue(now, force ? 0 : FLUSH_INTERVAL_MS);
    if (due.length === 0) return;
    const sink = this.sink;
    this.flushing = (async () => {
      for (const { cluster, hours } of due) {
        try {
          await this.meterOwnWork(cluster, () => sink.flush(cluster, hours));
        } catch (e) {
          // Not lost: put back and written with the next flush.
          this.aggregate.restore(cluster, hours);
          console.error(`cost meter: flush of cluster ${cluster} failed: ${(e as Error).message}`);
        }
      }
    })().finally(() => {
      this.flushing = undefined;
    });
    return this.flushing;
  }

  /**
   * Writes everything this process has counted and not written yet, after a flush in progress.
   * A cost report reads the store after it, so what one instance answered every instance answers
   * from then on (the figures never go back), instead of this instance's own pending counts that
   * another instance does not have.
   */
  async flushAll(): Promise<void> {
    if (this.flushing) await this.flushing;
    await this.flushDue(Date.now(), true);
  }
}

export const meter = new Meter();

/** Gives the process's meter where to write (and how to read an owner); handlers call it once per instance. */
export function configureCostMeter(sink: CostSink, lookup?: OwnerLookup): void {
  meter.sink = sink;
  meter.lookup = lookup;
}

/** Writes everything pending now, whatever the interval (the local runtime's stop; tests). */
export const flushCostNow = (): Promise<void> => meter.flushDue(Date.now(), true);
