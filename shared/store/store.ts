import { randomUUID } from 'node:crypto';
import { TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import {
  DeleteCommand,
  GetCommand,
  QueryCommand,
  TransactWriteCommand,
  type DynamoDBDocumentClient,
  type TransactWriteCommandInput,
} from '@aws-sdk/lib-dynamodb';
import { canonicalJson } from '../canonical';
import type { Config } from '../config';
import { alreadyExists, conflict, gone, notFound, StatusError } from '../errors';
import type { KubeObject, ResourceType } from '../resources';
import { cpuMillis, quantityValue } from '../schemas/quantity';
import { BestEffortStore, clockVersion, isBestEffort } from './best-effort';
import { approximateBytes, decodeObject, decodeValue, encodeObject, encodeValue } from './codec';

/*
 * resourceVersion: design and proof sketch
 * ----------------------------------------
 * Each (tenant, resource type) has a sequence item in the changes table (sk `~seq`, attribute v).
 * Every write of an object is ONE TransactWriteItems that
 *   1. advances the sequence from S to S+1, conditional on it still being S (compare-and-set),
 *   2. writes the object item with resourceVersion S+1, conditional on the caller's
 *      precondition (absent for create, resourceVersion = expected for update/delete),
 *   3. puts the change-log entry (sk = S+1 zero-padded) holding the event type and the object.
 *      A transaction of k versions (below) puts ONE entry holding all k changes, keyed by its
 *      last version S+k (entryEvents); readers expand it, so the log still reads as one entry
 *      per version.
 * Claims, for one (tenant, resource type):
 *   (a) No two writes get the same version: both would have to move the sequence from the same S,
 *       and the condition lets exactly one transaction do so.
 *   (b) The log has no gaps: the sequence only reaches S+1 in the transaction that also writes log
 *       entry S+1; transactions are all-or-nothing, so every value the sequence ever held below
 *       its current value has its entry (until the TTL expires it, which watch reports as 410).
 *   (c) Order: entry S+1 is written after the sequence read S, i.e. after the write that produced
 *       S committed, so log order is a total order consistent with real time per resource type.
 *   (d) A watcher that reads the sequence as V (strongly consistent) and then queries the log
 *       (strongly consistent) for (X, V] sees every entry in that range, because each committed
 *       atomically before V was readable. Watch from X therefore returns every change after X, in
 *       order, none missed, none twice, even under concurrent writers.
 * The cost is a hot item per sequence (about 1,000 writes/s per item on DynamoDB), so each
 * resource type has its own sequence: node Lease renewals never contend with pods.
 * Batch bind (bindPods) is the one write that changes k objects at once: it moves the sequence
 * from S to S+k (same compare-and-set), gives pod i version S+i and writes the log entry holding
 * S+1..S+k in the same transaction. (a)-(d) hold unchanged: the k versions are claimed together or not
 * at all, and every value the sequence skips over has its entry in that transaction. It also
 * amortizes the hot sequence item and the log: one sequence write and one log item per k binds,
 * so a transaction of 100 items binds up to 97 pods (2 + pods + nodes items).
 * Group commit (SequenceWriter) applies the same rule to ordinary writes: the writes queued in
 * one process while a transaction is in flight go together in the next one, S → S+k, each with
 * its own preconditions. If any precondition fails the transaction writes nothing; that write
 * gets its error and the others are retried with fresh versions, so (a)-(d) still hold. Batch
 * binds go through the same writer as one write of k versions.
 * Versions of different resource types are not comparable, which Kubernetes allows: clients
 * must treat resourceVersion as opaque and only hand it back for the same resource.
 * Events are the one exception to all of the above: best-effort, one plain write each, with
 * clock-based versions and no sequence (best-effort.ts, which says what that gives up).
 * Objects are stored compressed (`o`, codec.ts); the attributes indexes and stream filters read
 * (nodeKey, res, gc, capacity and allocation sums) stay plain.
 */

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface ChangeEvent {
  readonly type: WatchEventType;
  readonly resourceVersion: number;
  readonly object: KubeObject;
}

/** What a bound pod holds on its node; released when the pod ends or goes away. */
export interface PodAllocation {
  readonly node: string;
  readonly cpu: number;
  readonly memory: number;
}

/** A node as the scheduler sees it: object plus the allocation sums kept beside it. */
export interface NodeSnapshot {
  readonly node: KubeObject;
  readonly capacity: { cpu: number; memory: number; pods: number };
  readonly allocated: { cpu: number; memory: number; pods: number };
}

export interface ListOptions {
  readonly namespace?: string;
  /** Only objects for which this returns true count towards `limit`. */
  readonly filter?: (obj: KubeObject) => boolean;
  readonly limit?: number;
  /** Sort key after which to continue (from a previous page). */
  readonly startAfter?: string;
  /**
   * false: the caller never watches from the list's version (a controller reading what to
   * reconcile), so the two sequence reads that make it (1 RRU each) are skipped and the
   * result's resourceVersion is 0. @default true
   */
  readonly versioned?: boolean;
}

export interface ListResult {
  readonly items: KubeObject[];
  readonly resourceVersion: number;
  /** Sort key of the last item returned, when more items may follow. */
  readonly continueAfter?: string;
}

/** One pod of a batch bind: the pod as read, the node chosen on a snapshot, the bound pod's shape. */
export interface PodBinding {
  readonly pod: KubeObject;
  readonly target: NodeSnapshot;
  readonly transform: (pod: KubeObject) => KubeObject;
}

/** Raised when a batch bind loses a race: nothing was written; reschedule those pods afresh. */
export class BatchBindFailed extends Error {
  constructor(
    /** Indexes (into the bindings) of pods that changed or are bound already. */
    readonly podIndexes: readonly number[],
    /** Nodes whose capacity no longer fits their share of the batch. */
    readonly nodeNames: readonly string[],
  ) {
    super(`batch bind failed: ${podIndexes.length} pod(s) changed, ${nodeNames.length} node(s) full or changed`);
    this.name = 'BatchBindFailed';
  }
}

/** DynamoDB's limit on the items of one TransactWriteItems. */
export const MAX_TRANSACT_ITEMS = 100;
/** Items a batch bind of `pods` pods onto `nodes` distinct nodes needs: sequence, pods, nodes, one log entry. */
export const bindBatchItems = (pods: number, nodes: number) => 2 + pods + nodes;
/**
 * The most a change-log entry's compressed changes may take: DynamoDB's item limit is 400 KB.
 * A group over it is committed in halves; a single write over it (one object, or one batch
 * bind) fails with LogEntryTooLarge.
 */
const MAX_LOG_ENTRY_BYTES = 380_000;

/**
 * Raised when a batch write (bindPods) lost the sequence's compare-and-set MAX_BATCH_ATTEMPTS
 * times to other processes' writes: nothing was written; write fewer at once (the scheduler
 * halves the batch), as a smaller transaction commits sooner and so wins sooner.
 */
export class SequenceContended extends Error {
  constructor(resource: string, attempts: number) {
    super(`batch write to ${resource} lost the sequence to other writers ${attempts} times`);
    this.name = 'SequenceContended';
  }
}

/** Raised when one write's changes do not fit one change-log entry (413): write (or bind) less at once. */
export class LogEntryTooLarge extends StatusError {
  constructor(bytes: number) {
    super(413, 'RequestEntityTooLarge', `the object (or batch) is too large to store: ${bytes} bytes compressed, at most ${MAX_LOG_ENTRY_BYTES}`);
  }
}

/** Partition of the per-tenant "has nodes" markers (no '#': stream consumers skip it). */
const NODE_TENANTS_PK = '~node-tenants';

/** Raised when a bind loses the race for a node's capacity: reschedule from a fresh snapshot. */
export class NodeCapacityChanged extends Error {
  constructor(readonly nodeName: string) {
    super(`node ${nodeName} changed while binding`);
    this.name = 'NodeCapacityChanged';
  }
}

const VERSION_DIGITS = 20;
/** How far behind the base table the byNode index may be, at most, for listOnNode's version. */
const GSI_LAG_BOUND_MS = 2_000;
const pad = (n: number) => String(n).padStart(VERSION_DIGITS, '0');
const MAX_COMMIT_ATTEMPTS = 200;
/** Lost compare-and-sets after which a batch write gives up with SequenceContended. */
const MAX_BATCH_ATTEMPTS = 3;
const TERMINAL_PHASES = new Set(['Succeeded', 'Failed']);

type TransactItem = NonNullable<TransactWriteCommandInput['TransactItems']>[number];

interface ObjectItem {
  pk: string;
  sk: string;
  /** The object (codec.ts: brotli-compressed JSON). */
  o: Uint8Array | string;
  rv: number;
  uid?: string;
  nodeKey?: string;
  bound?: PodAllocation;
  capCpu?: number;
  capMem?: number;
  capPods?: number;
  allocCpu?: number;
  allocMem?: number;
  allocPods?: number;
  /** For stream filters (streamAttributes): the resource, and whether the garbage collector may care. */
  res?: string;
  gc?: boolean;
}

export const partitionKey = (tenant: string, rt: ResourceType) => `${tenant}#${rt.resource}`;
export const sortKey = (namespace: string | undefined, name: string) => `${namespace ?? ''}/${name}`;

/** Sum of a pod's container requests, as the scheduler counts them (init containers: max). */
export function podRequests(pod: KubeObject): { cpu: number; memory: number } {
  const spec = (pod.spec ?? {}) as {
    containers?: { resources?: { requests?: Record<string, string> } }[];
    initContainers?: { resources?: { requests?: Record<string, string> } }[];
    overhead?: Record<string, string>;
  };
  let cpu = 0;
  let memory = 0;
  for (const c of spec.containers ?? []) {
    cpu += cpuMillis(c.resources?.requests?.cpu);
    memory += quantityValue(c.resources?.requests?.memory);
  }
  for (const c of spec.initContainers ?? []) {
    cpu = Math.max(cpu, cpuMillis(c.resources?.requests?.cpu));
    memory = Math.max(memory, quantityValue(c.resources?.requests?.memory));
  }
  cpu += cpuMillis(spec.overhead?.cpu);
  memory += quantityValue(spec.overhead?.memory);
  return { cpu, memory };
}

/** What a node offers pods (allocatable, else capacity; 110 pods when unstated), as bindPod checks it. */
export function nodeCapacity(node: KubeObject): { cpu: number; memory: number; pods: number } {
  const status = (node.status ?? {}) as { allocatable?: Record<string, string>; capacity?: Record<string, string> };
  const list = status.allocatable ?? status.capacity ?? {};
  return { cpu: cpuMillis(list.cpu), memory: quantityValue(list.memory), pods: quantityValue(list.pods ?? '110') };
}

/** The object of an item or log entry (`o`: compressed JSON, or JSON from before compression; codec.ts). */
const parseObject = (item: Record<string, unknown>): KubeObject => decodeObject(item.o);

/**
 * The object store: Kubernetes objects in DynamoDB with optimistic concurrency and a
 * gap-free change log per resource type (see the design note above).
 * Contract: every method is scoped to one tenant; keys always start with the tenant, so no
 * call can read or write another tenant's items. Errors reaching callers are StatusErrors
 * (NotFound, AlreadyExists, Conflict, Expired) or NodeCapacityChanged.
 */
export class ObjectStore {
  /** Events: best-effort, one plain write each, no sequence (shared/store/best-effort.ts). */
  readonly bestEffort: BestEffortStore;

  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly config: Config,
  ) {
    this.bestEffort = new BestEffortStore(doc, config);
  }

  private key(tenant: string, rt: ResourceType, namespace: string | undefined, name: string) {
    return { pk: partitionKey(tenant, rt), sk: sortKey(rt.namespaced ? namespace : undefined, name) };
  }

  private seqKey(tenant: string, rt: ResourceType) {
    return { pk: partitionKey(tenant, rt), sk: '~seq' };
  }

  /** The latest resourceVersion of this resource type in this tenant (0 before any write). */
  async currentVersion(tenant: string, rt: ResourceType): Promise<number> {
    // Best-effort kinds have no sequence: their versions are clock versions (best-effort.ts).
    if (isBestEffort(rt)) return clockVersion();
    const out = await this.doc.send(
      new GetCommand({ TableName: this.config.changesTable, Key: this.seqKey(tenant, rt), ConsistentRead: true }),
    );
    return typeof out.Item?.v === 'number' ? out.Item.v : 0;
  }

  private async getItem(tenant: string, rt: ResourceType, namespace: string | undefined, name: string) {
    const out = await this.doc.send(
      new GetCommand({ TableName: this.config.objectsTable, Key: this.key(tenant, rt, namespace, name), ConsistentRead: true }),
    );
    return out.Item as ObjectItem | undefined;
  }

  /** The object, or undefined when it does not exist. */
  async get(tenant: string, rt: ResourceType, namespace: string | undefined, name: string): Promise<KubeObject | undefined> {
    if (isBestEffort(rt)) return this.bestEffort.get(tenant, rt, namespace, name);
    const item = await this.getItem(tenant, rt, namespace, name);
    return item ? parseObject(item as unknown as Record<string, unknown>) : undefined;
  }

  private async *queryItems(tenant: string, rt: ResourceType, namespace: string | undefined, startAfter?: string) {
    const pk = partitionKey(tenant, rt);
    let exclusiveStartKey: Record<string, unknown> | undefined = startAfter ? { pk, sk: startAfter } : undefined;
    const prefix = rt.namespaced && namespace !== undefined ? `${namespace}/` : undefined;
    do {
      const out = await this.doc.send(
        new QueryCommand({
          TableName: this.config.objectsTable,
          KeyConditionExpression: prefix ? 'pk = :pk AND begins_with(sk, :prefix)' : 'pk = :pk',
          ExpressionAttributeValues: prefix ? { ':pk': pk, ':prefix': prefix } : { ':pk': pk },
          ExclusiveStartKey: exclusiveStartKey,
          ConsistentRead: true,
        }),
      );
      for (const item of out.Items ?? []) yield item as unknown as ObjectItem;
      exclusiveStartKey = out.LastEvaluatedKey;
    } while (exclusiveStartKey);
  }

  /**
   * Lists objects. The returned resourceVersion V is such that a watch from V misses nothing
   * that the list did not show: the sequence is read before and after the read of the items;
   * when nothing was written in between, the list is exactly the state at V. Under constant
   * writes it falls back to the earlier V, so a watch from V may replay a change the list
   * already showed (informers treat that as an update), but never misses one.
   */
  async list(tenant: string, rt: ResourceType, opts: ListOptions = {}): Promise<ListResult> {
    if (isBestEffort(rt)) return this.bestEffort.list(tenant, rt, opts);
    let result: ListResult | undefined;
    const versioned = opts.versioned !== false;
    for (let attempt = 0; attempt < 3; attempt++) {
      const before = versioned ? await this.currentVersion(tenant, rt) : 0;
      const items: KubeObject[] = [];
      let continueAfter: string | undefined;
      let lastSk: string | undefined;
      for await (const item of this.queryItems(tenant, rt, opts.namespace, opts.startAfter)) {
        const obj = parseObject(item as unknown as Record<string, unknown>);
        if (opts.filter && !opts.filter(obj)) continue;
        if (opts.limit !== undefined && items.length >= opts.limit) {
          continueAfter = lastSk; // one more match exists beyond the page
          break;
        }
        items.push(obj);
        lastSk = item.sk;
      }
      if (!versioned) return { items, resourceVersion: 0, continueAfter };
      const after = await this.currentVersion(tenant, rt);
      result = { items, resourceVersion: before, continueAfter };
      if (before === after) break;
    }
    return result!;
  }

  /** Pods bound to one node, through the byNode index (what a node agent reconciles). */
  async listPodsOnNode(tenant: string, rt: ResourceType, nodeName: string): Promise<KubeObject[]> {
    const items: KubeObject[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const out = await this.doc.send(
        new QueryCommand({
          TableName: this.config.objectsTable,
          IndexName: 'byNode',
          KeyConditionExpression: 'nodeKey = :k',
          ExpressionAttributeValues: { ':k': `${tenant}#${nodeName}` },
          ExclusiveStartKey: start,
        }),
      );
      for (const item of out.Items ?? []) if (String(item.pk) === partitionKey(tenant, rt)) items.push(parseObject(item));
      start = out.LastEvaluatedKey;
    } while (start);
    return items;
  }

  /**
   * Pods bound to one node (the `spec.nodeName=X` list) from the byNode index, with a
   * resourceVersion a watch can continue from.
   *
   * The index is eventually consistent: a write can take a moment to reach it (DynamoDB: "within
   * a fraction of a second" normally). So the version returned is not the sequence as read, but
   * the last version committed at least GSI_LAG_BOUND_MS before the index was read (found in the
   * change log, whose entries carry their commit second in `ttl`): every write up to it is in the
   * index, and every write after it is replayed by a watch from it. A watch may therefore replay
   * a change the list already showed (as `list` does under concurrent writes; informers treat it
   * as an update) but misses nothing, as long as the index is never further behind than the
   * bound. `watchable: false` (node agents: they reconcile level-triggered and never watch from
   * the list) skips the log read and returns the sequence as read before the index query.
   */
  async listOnNode(tenant: string, rt: ResourceType, nodeName: string, opts: { watchable: boolean }): Promise<ListResult> {
    const startedAt = Date.now();
    const current = await this.currentVersion(tenant, rt);
    const items = await this.listPodsOnNode(tenant, rt, nodeName);
    items.sort((a, b) => sortKey(a.metadata.namespace, a.metadata.name!).localeCompare(sortKey(b.metadata.namespace, b.metadata.name!)));
    const resourceVersion = opts.watchable ? await this.versionCommittedBefore(tenant, rt, current, startedAt - GSI_LAG_BOUND_MS) : current;
    return { items, resourceVersion };
  }

  /**
   * The highest version at most `atMost` whose log entry was committed before `beforeMs` (by its
   * commit second), reading the log backwards; when every entry is younger, the version before
   * the oldest one left; when the log is empty, `atMost`.
   */
  private async versionCommittedBefore(tenant: string, rt: ResourceType, atMost: number, beforeMs: number): Promise<number> {
    // An entry's ttl is its commit second + changeLogTtlSeconds; committed before `beforeMs` for sure
    // when that second ended by then.
    const ttlBound = Math.floor(beforeMs / 1000) - 1 + this.config.changeLogTtlSeconds;
    let start: Record<string, unknown> | undefined;
    let oldest: number | undefined;
    do {
      const out = await this.doc.send(
        new QueryCommand({
          TableName: this.config.changesTable,
          KeyConditionExpression: 'pk = :pk AND sk BETWEEN :from AND :to',
          ExpressionAttributeValues: { ':pk': partitionKey(tenant, rt), ':from': pad(1), ':to': pad(atMost) },
          ProjectionExpression: 'sk, n, #ttl',
          ExpressionAttributeNames: { '#ttl': 'ttl' },
          ScanIndexForward: false,
          Limit: 8,
          ExclusiveStartKey: start,
        }),
      );
      for (const item of out.Items ?? []) {
        const version = Number(item.sk);
        if (Number(item.ttl) <= ttlBound) return version;
        oldest = version - (typeof item.n === 'number' ? item.n : 1) + 1;
      }
      start = out.LastEvaluatedKey;
    } while (start);
    return oldest !== undefined ? oldest - 1 : atMost;
  }

  /** Nodes with their capacity and allocation sums, as the scheduler needs them. */
  async listNodeSnapshots(tenant: string, nodes: ResourceType): Promise<NodeSnapshot[]> {
    const out: NodeSnapshot[] = [];
    for await (const item of this.queryItems(tenant, nodes, undefined)) {
      out.push({
        node: parseObject(item as unknown as Record<string, unknown>),
        capacity: { cpu: item.capCpu ?? 0, memory: item.capMem ?? 0, pods: item.capPods ?? 0 },
        allocated: { cpu: item.allocCpu ?? 0, memory: item.allocMem ?? 0, pods: item.allocPods ?? 0 },
      });
    }
    return out;
  }

  /** Change-log entries after `afterVersion`, oldest first; 410 Expired when history is gone. */
  async changesSince(tenant: string, rt: ResourceType, afterVersion: number, limit = 500): Promise<ChangeEvent[]> {
    // Best-effort kinds: time-ordered entries, no gap check (functions/api/watch.ts watches them apart).
    if (isBestEffort(rt)) return this.bestEffort.entriesSince(tenant, rt, afterVersion, limit);
    const out = await this.doc.send(
      new QueryCommand({
        TableName: this.config.changesTable,
        KeyConditionExpression: 'pk = :pk AND sk BETWEEN :from AND :to',
        ExpressionAttributeValues: {
          ':pk': partitionKey(tenant, rt),
          ':from': pad(afterVersion + 1),
          ':to': '9'.repeat(VERSION_DIGITS),
        },
        Limit: limit,
        ConsistentRead: true,
      }),
    );
    // A group entry (keyed by its last version) may begin at or before afterVersion: drop those.
    const events = (out.Items ?? []).flatMap(entryEvents).filter((e) => e.resourceVersion > afterVersion);
    if (events.length > 0 && events[0]!.resourceVersion !== afterVersion + 1)
      throw gone(`too old resource version: ${afterVersion} (${events[0]!.resourceVersion - 1})`);
    return events;
  }

  /**
   * Creates `obj` (metadata.name set by the caller). Sets uid, creationTimestamp, generation
   * and resourceVersion. 409 AlreadyExists when the name is taken.
   */
  async create(tenant: string, rt: ResourceType, obj: KubeObject): Promise<KubeObject> {
    if (isBestEffort(rt)) return this.bestEffort.create(tenant, rt, obj);
    const name = obj.metadata.name!;
    const namespace = rt.namespaced ? obj.metadata.namespace : undefined;
    const key = this.key(tenant, rt, namespace, name);
    const base: KubeObject = {
      ...obj,
      metadata: {
        ...obj.metadata,
        uid: randomUUID(),
        creationTimestamp: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
        generation: 1,
      },
    };
    delete base.metadata.deletionTimestamp;
    delete base.metadata.deletionGracePeriodSeconds;
    return this.commit(tenant, rt, 'ADDED', (rv) => {
      const stored = withVersion(base, rv);
      // No copy of the uid beside `o`: nothing reads it, and every byte counts towards the 1 KB steps.
      const item: ObjectItem = { ...key, o: encodeObject(stored), rv, ...indexAttributes(tenant, rt, stored) };
      if (rt.resource === 'nodes') Object.assign(item, { allocCpu: 0, allocMem: 0, allocPods: 0 });
      const items: TransactItem[] = [{ Put: { TableName: this.config.objectsTable, Item: item, ConditionExpression: 'attribute_not_exists(pk)' } }];
      // The node lifecycle controller finds tenants with nodes through these markers (no scan).
      if (rt.resource === 'nodes') items.push({ Put: { TableName: this.config.objectsTable, Item: { pk: NODE_TENANTS_PK, sk: tenant, at: Date.now() } } });
      return { object: stored, items };
    }, () => alreadyExists(rt.resource, name, rt.group));
  }

  /**
   * Replaces the object, conditional on `expectedResourceVersion` (409 Conflict when stale,
   * 404 when gone). `metadata.generation` advances when anything outside metadata/status changed.
   * A pod reaching a terminal phase releases what it held on its node in the same transaction.
   */
  async update(tenant: string, rt: ResourceType, obj: KubeObject, expectedResourceVersion: string): Promise<KubeObject> {
    if (isBestEffort(rt)) return this.bestEffort.update(tenant, rt, obj, expectedResourceVersion);
    const name = obj.metadata.name!;
    const namespace = rt.namespaced ? obj.metadata.namespace : undefined;
    const old = await this.getItem(tenant, rt, namespace, name);
    if (!old) throw notFound(rt.resource, name, rt.group);
    if (String(old.rv) !== expectedResourceVersion) throw conflict(rt.resource, name, rt.group);
    const oldObj = parseObject(old as unknown as Record<string, unknown>);
    const next: KubeObject = {
      ...obj,
      metadata: {
        ...obj.metadata,
        uid: oldObj.metadata.uid,
        creationTimestamp: oldObj.metadata.creationTimestamp,
        generation: (oldObj.metadata.generation ?? 1) + (specChanged(oldObj, obj) ? 1 : 0),
      },
    };
    const release = rt.resource === 'pods' && old.bound && TERMINAL_PHASES.has(String((next.status as { phase?: string } | undefined)?.phase));
    const releaseOnNode = release && (await this.nodeExists(tenant, old.bound!.node));
    return this.commit(tenant, rt, 'MODIFIED', (rv) => {
      const stored = withVersion(next, rv);
      const idx = indexAttributes(tenant, rt, stored);
      const sets: string[] = ['o = :o', 'rv = :rv'];
      const removes: string[] = [];
      const values: Record<string, unknown> = { ':o': encodeObject(stored), ':rv': rv, ':expected': old.rv };
      for (const attr of ['nodeKey', 'capCpu', 'capMem', 'capPods', 'res', 'gc'] as const) {
        if (idx[attr] !== undefined) {
          sets.push(`${attr} = :${attr}`);
          values[`:${attr}`] = idx[attr];
        } else if (old[attr] !== undefined) removes.push(attr);
      }
      if (release) removes.push('bound');
      const items: TransactItem[] = [
        {
          Update: {
            TableName: this.config.objectsTable,
            Key: { pk: old.pk, sk: old.sk },
            UpdateExpression: `SET ${sets.join(', ')}${removes.length ? ` REMOVE ${removes.join(', ')}` : ''}`,
            ConditionExpression: 'rv = :expected',
            ExpressionAttributeValues: values,
          },
        },
      ];
      if (releaseOnNode) items.push(this.releaseItem(tenant, old.bound!));
      return { object: stored, items };
    }, () => conflict(rt.resource, name, rt.group));
  }

  /**
   * Removes the object for good (the caller has handled graceful deletion and finalizers).
   * Returns the last state, with a fresh resourceVersion, as watchers see it in DELETED.
   * A bound pod's allocation is released in the same transaction.
   */
  async remove(tenant: string, rt: ResourceType, namespace: string | undefined, name: string, expectedResourceVersion?: string): Promise<KubeObject> {
    if (isBestEffort(rt)) return this.bestEffort.remove(tenant, rt, namespace, name, expectedResourceVersion);
    for (;;) {
      const old = await this.getItem(tenant, rt, namespace, name);
      if (!old) throw notFound(rt.resource, name, rt.group);
      if (expectedResourceVersion !== undefined && String(old.rv) !== expectedResourceVersion)
        throw conflict(rt.resource, name, rt.group, `the ResourceVersion in the precondition (${expectedResourceVersion}) does not match the ResourceVersion in record (${old.rv}). The object might have been modified`);
      const oldObj = parseObject(old as unknown as Record<string, unknown>);
      const releaseOnNode = rt.resource === 'pods' && !!old.bound && (await this.nodeExists(tenant, old.bound.node));
      try {
        return await this.commit(tenant, rt, 'DELETED', (rv) => {
          const items: TransactItem[] = [
            {
              Delete: {
                TableName: this.config.objectsTable,
                Key: { pk: old.pk, sk: old.sk },
                ConditionExpression: 'rv = :expected',
                ExpressionAttributeValues: { ':expected': old.rv },
              },
            },
          ];
          if (releaseOnNode) items.push(this.releaseItem(tenant, old.bound!));
          return { object: withVersion(oldObj, rv), items };
        }, () => conflict(rt.resource, name, rt.group));
      } catch (e) {
        // Changed between our read and our delete: unconditional deletes retry on the new state.
        if (expectedResourceVersion === undefined && e instanceof StatusError && e.reason === 'Conflict') continue;
        throw e;
      }
    }
  }

  /**
   * Binds a pod to a node: sets spec.nodeName (only if still unset and unchanged) and adds its
   * requests to the node's allocation sums (only if they stay within allocatable), in one
   * transaction, so concurrent schedulers can never overcommit a node or bind a pod twice.
   * Throws Conflict when the pod changed, NodeCapacityChanged when the node no longer fits.
   */
  async bindPod(tenant: string, pods: ResourceType, nodes: ResourceType, pod: KubeObject, target: NodeSnapshot, transform: (pod: KubeObject) => KubeObject): Promise<KubeObject> {
    const name = pod.metadata.name!;
    const nodeName = target.node.metadata.name!;
    const req = podRequests(pod);
    const key = this.key(tenant, pods, pod.metadata.namespace, name);
    const bound: PodAllocation = { node: nodeName, cpu: req.cpu, memory: req.memory };
    return this.commit(tenant, pods, 'MODIFIED', (rv) => {
      const stored = withVersion(transform(pod), rv);
      return {
        object: stored,
        items: [
          {
            Update: {
              TableName: this.config.objectsTable,
              Key: key,
              UpdateExpression: 'SET o = :o, rv = :rv, nodeKey = :nodeKey, bound = :bound',
              ConditionExpression: 'rv = :expected AND attribute_not_exists(nodeKey)',
              ExpressionAttributeValues: {
                ':o': encodeObject(stored),
                ':rv': rv,
                ':nodeKey': `${tenant}#${nodeName}`,
                ':bound': bound,
                ':expected': Number(pod.metadata.resourceVersion),
              },
            },
          },
          {
            Update: {
              TableName: this.config.objectsTable,
              Key: this.key(tenant, nodes, undefined, nodeName),
              UpdateExpression: 'SET allocCpu = allocCpu + :cpu, allocMem = allocMem + :mem, allocPods = allocPods + :one',
              ConditionExpression:
                'attribute_exists(pk) AND capCpu = :capCpu AND capMem = :capMem AND capPods = :capPods AND allocCpu <= :maxCpu AND allocMem <= :maxMem AND allocPods <= :maxPods',
              ExpressionAttributeValues: {
                ':cpu': req.cpu,
                ':mem': req.memory,
                ':one': 1,
                ':capCpu': target.capacity.cpu,
                ':capMem': target.capacity.memory,
                ':capPods': target.capacity.pods,
                ':maxCpu': target.capacity.cpu - req.cpu,
                ':maxMem': target.capacity.memory - req.memory,
                ':maxPods': target.capacity.pods - 1,
              },
            },
          },
        ],
      };
    }, (index) => (index === 1 ? new NodeCapacityChanged(nodeName) : conflict(pods.resource, name, pods.group)));
  }

  /**
   * Binds several pods in ONE transaction (see the design note): each pod only if still unset
   * and unchanged, each node's share only if it stays within allocatable. All or nothing: on a
   * lost race nothing is written and BatchBindFailed names the pods and nodes that failed.
   * At most MAX_TRANSACT_ITEMS items (bindBatchItems); returns the bound pods in order.
   */
  async bindPods(tenant: string, pods: ResourceType, nodes: ResourceType, bindings: readonly PodBinding[]): Promise<KubeObject[]> {
    if (bindings.length === 0) return [];
    const perNode = new Map<string, { target: NodeSnapshot; cpu: number; memory: number; pods: number }>();
    const requests = bindings.map((b) => podRequests(b.pod));
    bindings.forEach((b, i) => {
      const name = b.target.node.metadata.name!;
      const n = perNode.get(name) ?? { target: b.target, cpu: 0, memory: 0, pods: 0 };
      n.cpu += requests[i]!.cpu;
      n.memory += requests[i]!.memory;
      n.pods += 1;
      perNode.set(name, n);
    });
    const nodeNames = [...perNode.keys()];
    if (bindBatchItems(bindings.length, nodeNames.length) > MAX_TRANSACT_ITEMS)
      throw new Error(`batch bind of ${bindings.length} pods on ${nodeNames.length} nodes exceeds ${MAX_TRANSACT_ITEMS} transaction items`);
    const k = bindings.length;
    // Through the pods' sequence writer, so binds group-commit with (and never race) the other
    // pod writes of this instance.
    return this.writerFor(tenant, pods).write<KubeObject[]>({
      count: k,
      build: (first) => {
        const stored = bindings.map((b, i) => withVersion(b.transform(b.pod), first + i));
        const podItems: TransactItem[] = bindings.map((b, i) => {
          const nodeName = b.target.node.metadata.name!;
          const bound: PodAllocation = { node: nodeName, cpu: requests[i]!.cpu, memory: requests[i]!.memory };
          return {
            Update: {
              TableName: this.config.objectsTable,
              Key: this.key(tenant, pods, b.pod.metadata.namespace, b.pod.metadata.name!),
              UpdateExpression: 'SET o = :o, rv = :rv, nodeKey = :nodeKey, bound = :bound',
              ConditionExpression: 'rv = :expected AND attribute_not_exists(nodeKey)',
              ExpressionAttributeValues: {
                ':o': encodeObject(stored[i]),
                ':rv': first + i,
                ':nodeKey': `${tenant}#${nodeName}`,
                ':bound': bound,
                ':expected': Number(b.pod.metadata.resourceVersion),
              },
            },
          };
        });
        const nodeItems: TransactItem[] = nodeNames.map((name) => {
          const n = perNode.get(name)!;
          const cap = n.target.capacity;
          return {
            Update: {
              TableName: this.config.objectsTable,
              Key: this.key(tenant, nodes, undefined, name),
              UpdateExpression: 'SET allocCpu = allocCpu + :cpu, allocMem = allocMem + :mem, allocPods = allocPods + :n',
              ConditionExpression:
                'attribute_exists(pk) AND capCpu = :capCpu AND capMem = :capMem AND capPods = :capPods AND allocCpu <= :maxCpu AND allocMem <= :maxMem AND allocPods <= :maxPods',
              ExpressionAttributeValues: {
                ':cpu': n.cpu,
                ':mem': n.memory,
                ':n': n.pods,
                ':capCpu': cap.cpu,
                ':capMem': cap.memory,
                ':capPods': cap.pods,
                ':maxCpu': cap.cpu - n.cpu,
                ':maxMem': cap.memory - n.memory,
                ':maxPods': cap.pods - n.pods,
              },
            },
          };
        });
        return { result: stored, logs: stored.map((object) => ({ type: 'MODIFIED' as const, object })), items: [...podItems, ...nodeItems] };
      },
      onConditionFailed: (failed) =>
        new BatchBindFailed(
          failed.filter((i) => i < k),
          failed.filter((i) => i >= k).map((i) => nodeNames[i - k]!),
        ),
    });
  }

  /** Tenants that have registered nodes, with when their marker was (re)written (ms). */
  async listNodeTenants(): Promise<{ tenant: string; at: number }[]> {
    const out: { tenant: string; at: number }[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const page = await this.doc.send(
        new QueryCommand({
          TableName: this.config.objectsTable,
          KeyConditionExpression: 'pk = :pk',
          ExpressionAttributeValues: { ':pk': NODE_TENANTS_PK },
          ExclusiveStartKey: start,
        }),
      );
      for (const item of page.Items ?? []) out.push({ tenant: String(item.sk), at: Number(item.at ?? 0) });
      start = page.LastEvaluatedKey;
    } while (start);
    return out;
  }

  /** Drops a tenant's marker once it has no nodes, unless a node was registered since `seenAt`. */
  async forgetNodeTenant(tenant: string, seenAt: number): Promise<void> {
    try {
      await this.doc.send(
        new DeleteCommand({
          TableName: this.config.objectsTable,
          Key: { pk: NODE_TENANTS_PK, sk: tenant },
          ConditionExpression: 'attribute_not_exists(pk) OR #at <= :seen',
          ExpressionAttributeNames: { '#at': 'at' },
          ExpressionAttributeValues: { ':seen': seenAt },
        }),
      );
    } catch (e) {
      if ((e as Error).name !== 'ConditionalCheckFailedException') throw e;
    }
  }

  private async nodeExists(tenant: string, nodeName: string): Promise<boolean> {
    const out = await this.doc.send(
      new GetCommand({
        TableName: this.config.objectsTable,
        Key: { pk: `${tenant}#nodes`, sk: sortKey(undefined, nodeName) },
        ProjectionExpression: 'pk',
        ConsistentRead: true,
      }),
    );
    return !!out.Item;
  }

  private releaseItem(tenant: string, bound: PodAllocation): TransactItem {
    return {
      Update: {
        TableName: this.config.objectsTable,
        Key: { pk: `${tenant}#nodes`, sk: sortKey(undefined, bound.node) },
        UpdateExpression: 'SET allocCpu = allocCpu - :cpu, allocMem = allocMem - :mem, allocPods = allocPods - :one',
        // Never recreate a deleted node as a stub: callers only release on nodes that exist.
        ConditionExpression: 'attribute_exists(pk)',
        ExpressionAttributeValues: { ':cpu': bound.cpu, ':mem': bound.memory, ':one': 1 },
      },
    };
  }

  /** One group-committing writer per sequence (tenant, resource type) in this process. */
  private readonly writers = new Map<string, SequenceWriter>();

  /**
   * The one write path: advance the sequence, apply the object operation(s), append the log
   * entry, all in one transaction. Concurrent writes to one sequence from this process are
   * queued and committed together (see SequenceWriter), so they never race each other for the
   * hot sequence item. A failed object condition is mapped by `onConditionFailed` (index among
   * `items`, 0-based).
   */
  private commit(
    tenant: string,
    rt: ResourceType,
    type: WatchEventType,
    build: (rv: number) => { object: KubeObject; items: TransactItem[] },
    onConditionFailed: (index: number) => Error,
  ): Promise<KubeObject> {
    return this.writerFor(tenant, rt).write<KubeObject>({
      count: 1,
      build: (rv) => {
        const { object, items } = build(rv);
        return { result: object, logs: [{ type, object }], items };
      },
      onConditionFailed: (failed) => onConditionFailed(failed[0]!),
    });
  }

  private writerFor(tenant: string, rt: ResourceType): SequenceWriter {
    const key = partitionKey(tenant, rt);
    let writer = this.writers.get(key);
    if (!writer) {
      writer = new SequenceWriter(this.doc, this.config, this.seqKey(tenant, rt), rt, () => this.currentVersion(tenant, rt));
      this.writers.set(key, writer);
    }
    return writer;
  }
}

/**
 * One queued write: `count` consecutive versions starting at the one `build` receives, one
 * change per version (`logs`, in order; the group's changes share one log entry), and the
 * object operations (`items`).
 */
interface PendingWrite {
  readonly count: number;
  readonly build: (firstRv: number) => { result: unknown; logs: { type: WatchEventType; object: KubeObject }[]; items: TransactItem[] };
  /** Maps the indexes (among `items`) whose condition failed to the caller's error. */
  readonly onConditionFailed: (failed: number[]) => Error;
  attempts: number;
  /** Set after a non-condition failure inside a group: retry alone to learn whose it was. */
  alone: boolean;
  resolve(result: unknown): void;
  reject(err: unknown): void;
}

/** DynamoDB's limits on one TransactWriteItems: 100 items, 4 MB. */
const MAX_GROUP_ITEMS = 100;
const MAX_GROUP_BYTES = 3_500_000;
/** How long a writer trusts the sequence value it last wrote or saw (see commitGroup). */
const KNOWN_FRESH_MS = 1_000;

function itemIdentity(item: TransactItem): string {
  const op = item.Put ?? item.Update ?? item.Delete ?? item.ConditionCheck;
  const k = (item.Put ? item.Put.Item : (op as { Key?: Record<string, unknown> }).Key) ?? {};
  return `${op?.TableName}|${String(k.pk)}|${String(k.sk)}`;
}

/**
 * Group commit for one sequence. Writes queue up while a transaction is in flight; the next
 * transaction carries as many of them as fit (100 items, 4 MB, no item twice), with consecutive
 * versions S+1..S+k and one compare-and-set of the sequence from S to S+k, so the log stays
 * gap-free (design note above). The last version written is remembered for a moment
 * (KNOWN_FRESH_MS), and a failed compare-and-set returns the current one
 * (ReturnValuesOnConditionCheckFailure), so a burst of writes needs no read before writing;
 * after a pause the writer reads the sequence first rather than bet a transaction on it. Writers in other processes (other Lambda instances)
 * still race through the compare-and-set; the loser retries with the version it learnt.
 */
class SequenceWriter {
  private readonly queue: PendingWrite[] = [];
  private draining = false;
  private known: number | undefined;
  /** When `known` was learnt (ms). */
  private knownAt = 0;

  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly config: Config,
    private readonly seqKey: { pk: string; sk: string },
    private readonly rt: ResourceType,
    private readonly readVersion: () => Promise<number>,
  ) {}

  write<T>(w: Pick<PendingWrite, 'count' | 'build' | 'onConditionFailed'>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ ...w, attempts: 0, alone: false, resolve: resolve as (r: unknown) => void, reject });
      if (!this.draining) void this.drain();
    });
  }

  private async drain(): Promise<void> {
    this.draining = true;
    try {
      while (this.queue.length > 0) await this.commitGroup();
    } finally {
      this.draining = false;
    }
  }

  private async commitGroup(): Promise<void> {
    // A version learnt a moment ago is likely still current (a burst from this process); an
    // older one has likely been moved on by another process (the api and the scheduler take
    // turns on the pods' sequence), and a transaction that fails its compare-and-set is billed
    // and retried: one strongly consistent read of the sequence item (1 RRU) is cheaper.
    if (this.known !== undefined && Date.now() - this.knownAt > KNOWN_FRESH_MS) this.known = undefined;
    const current = this.known ?? (await this.readVersion());
    this.knownAt = Date.now();
    const group: { w: PendingWrite; result: unknown; items: TransactItem[]; from: number }[] = [];
    const seen = new Set<string>();
    const tx: TransactItem[] = [];
    const changes: { type: WatchEventType; object: KubeObject }[] = [];
    let bytes = 0;
    let versions = 0;
    const ttl = Math.floor(Date.now() / 1000) + this.config.changeLogTtlSeconds;
    for (const w of this.queue) {
      if (group.length > 0 && (w.alone || group[0]!.w.alone)) break;
      const first = current + 1 + versions;
      let built: ReturnType<PendingWrite['build']>;
      try {
        built = w.build(first);
      } catch (e) {
        if (group.length === 0) {
          this.queue.shift();
          w.reject(e);
          return;
        }
        break;
      }
      if (built.logs.length !== w.count) throw new Error(`a write of ${w.count} versions built ${built.logs.length} changes`);
      const ids = built.items.map(itemIdentity);
      const size = approximateBytes(built.items);
      // Sequence + object items + ONE log entry for the whole group.
      const fits = 2 + tx.length + built.items.length <= MAX_GROUP_ITEMS && bytes + size <= MAX_GROUP_BYTES && ids.every((id) => !seen.has(id));
      if (!fits && group.length > 0) break;
      ids.forEach((id) => seen.add(id));
      group.push({ w, result: built.result, items: built.items, from: 1 + tx.length });
      tx.push(...built.items);
      changes.push(...built.logs);
      bytes += size;
      versions += w.count;
    }
    let entry = logEntry(this.seqKey.pk, current + 1, changes, ttl);
    while ((entry.o as Uint8Array).length > MAX_LOG_ENTRY_BYTES) {
      if (group.length === 1) {
        this.queue.shift();
        group[0]!.w.reject(new LogEntryTooLarge((entry.o as Uint8Array).length));
        return;
      }
      // Rare (large objects written together): the later half waits for the next transaction.
      const back = group.splice(Math.ceil(group.length / 2));
      tx.length = back[0]!.from - 1;
      versions -= back.reduce((n, g) => n + g.w.count, 0);
      changes.length = versions;
      entry = logEntry(this.seqKey.pk, current + 1, changes, ttl);
    }
    tx.push({ Put: { TableName: this.config.changesTable, Item: entry } });
    this.queue.splice(0, group.length);
    const next = current + versions;
    const seq: TransactItem = {
      Update: {
        TableName: this.config.changesTable,
        Key: this.seqKey,
        UpdateExpression: 'SET v = :next',
        ConditionExpression: current === 0 ? 'attribute_not_exists(v)' : 'v = :current',
        ExpressionAttributeValues: current === 0 ? { ':next': next } : { ':next': next, ':current': current },
        ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
      },
    };
    try {
      await this.doc.send(new TransactWriteCommand({ TransactItems: [seq, ...tx] }));
      this.known = next;
      for (const g of group) g.w.resolve(g.result);
      return;
    } catch (e) {
      const retry: PendingWrite[] = [];
      if (!(e instanceof TransactionCanceledException)) {
        this.known = undefined;
        // Not about conditions (e.g. a validation error): alone, the write owns its error.
        if (group.length === 1) group[0]!.w.reject(e);
        else for (const g of group) retry.push({ ...g.w, alone: true });
      } else {
        const reasons = e.CancellationReasons ?? [];
        const seqReason = reasons[0];
        if (seqReason?.Code === 'ConditionalCheckFailed') {
          const v = (seqReason.Item as Record<string, { N?: string } | number> | undefined)?.v;
          this.known = typeof v === 'number' ? v : v?.N !== undefined ? Number(v.N) : undefined;
        } else this.known = undefined;
        for (const g of group) {
          const failed = g.items.flatMap((_, i) => (reasons[g.from + i]?.Code === 'ConditionalCheckFailed' ? [i] : []));
          if (failed.length > 0) g.w.reject(g.w.onConditionFailed(failed));
          else retry.push(g.w);
        }
      }
      for (const w of retry) w.attempts++;
      const exhausted = retry.filter((w) => w.attempts >= MAX_COMMIT_ATTEMPTS);
      for (const w of exhausted)
        w.reject(new StatusError(429, 'TooManyRequests', `too many concurrent writes to ${this.rt.resource}; please retry`, { retryAfterSeconds: 1 }));
      // A multi-version write (a batch bind) that keeps losing the compare-and-set to other
      // processes' small writes would keep losing: its transaction is the slowest to commit.
      const contended = retry.filter((w) => w.count > 1 && w.attempts >= MAX_BATCH_ATTEMPTS && w.attempts < MAX_COMMIT_ATTEMPTS);
      for (const w of contended) w.reject(new SequenceContended(this.rt.resource, w.attempts));
      this.queue.unshift(...retry.filter((w) => w.attempts < MAX_COMMIT_ATTEMPTS && !contended.includes(w)));
      // Another process won the sequence: back off a little before trying with the new version.
      const attempts = Math.max(0, ...retry.map((w) => w.attempts));
      if (attempts > 1) await sleep(Math.min(50, 2 + attempts * 2) * Math.random());
    }
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * The changes one log entry holds, oldest first. An entry is keyed by the last version it holds
 * (sk); a single change stores `type` and `o` (the object), a group of `n` changes (one
 * transaction's, versions sk-n+1..sk) stores `n` and `o` = the list of [type, object].
 */
function entryEvents(item: Record<string, unknown>): ChangeEvent[] {
  const last = Number(item.sk);
  if (typeof item.n !== 'number') return [{ type: item.type as WatchEventType, resourceVersion: last, object: parseObject(item) }];
  const changes = decodeValue(item.o) as [WatchEventType, KubeObject][];
  const first = last - changes.length + 1;
  return changes.map(([type, object], i) => ({ type, resourceVersion: first + i, object }));
}

/** The change-log entry of one transaction's changes (versions first..first+changes-1); see entryEvents. */
function logEntry(pk: string, first: number, changes: readonly { type: WatchEventType; object: KubeObject }[], ttl: number): Record<string, unknown> {
  const sk = pad(first + changes.length - 1);
  if (changes.length === 1) return { pk, sk, type: changes[0]!.type, o: encodeObject(changes[0]!.object), ttl };
  return { pk, sk, n: changes.length, o: encodeValue(changes.map((c) => [c.type, c.object])), ttl };
}

function withVersion(obj: KubeObject, rv: number): KubeObject {
  return { ...obj, metadata: { ...obj.metadata, resourceVersion: String(rv) } };
}

function specChanged(a: KubeObject, b: KubeObject): boolean {
  const strip = (o: KubeObject) => {
    const { metadata: _m, status: _s, apiVersion: _a, kind: _k, ...rest } = o;
    return canonicalJson(rest);
  };
  return strip(a) !== strip(b);
}

/**
 * Attributes the stream consumers' filter criteria look at (infra/wiring.ts, infra/stream-filter.ts),
 * since a filter cannot parse `o`: `res`, the resource; `gc`, present (true) when the object has
 * a controller owner reference or is being deleted with finalizers pending — the two things that
 * make an ordinary update interesting to the controllers (the owner's controller, gc-finalize).
 */
export function streamAttributes(rt: ResourceType, obj: KubeObject): Pick<ObjectItem, 'res' | 'gc'> {
  const refs = (obj.metadata.ownerReferences ?? []) as { controller?: boolean }[];
  const gc = refs.some((r) => r.controller === true) || (!!obj.metadata.deletionTimestamp && (obj.metadata.finalizers ?? []).length > 0);
  return { res: rt.resource, ...(gc ? { gc: true } : {}) };
}

/**
 * Attributes derived from the object: the byNode index for pods, capacity for nodes, and the
 * stream filters' `res` and `gc`.
 */
function indexAttributes(tenant: string, rt: ResourceType, obj: KubeObject): Partial<ObjectItem> {
  const stream = streamAttributes(rt, obj);
  if (rt.resource === 'pods') {
    const nodeName = (obj.spec as { nodeName?: string } | undefined)?.nodeName;
    return nodeName ? { ...stream, nodeKey: `${tenant}#${nodeName}` } : stream;
  }
  if (rt.resource === 'nodes') {
    const cap = nodeCapacity(obj);
    return { ...stream, capCpu: cap.cpu, capMem: cap.memory, capPods: cap.pods };
  }
  return stream;
}
