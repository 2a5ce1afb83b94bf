import { randomUUID } from 'node:crypto';
import { TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import {
  DeleteCommand,
  GetCommand,
  PutCommand,
  QueryCommand,
  TransactWriteCommand,
  UpdateCommand,
  type DynamoDBDocumentClient,
  type TransactWriteCommandInput,
} from '@aws-sdk/lib-dynamodb';
import { canonicalJson } from '../canonical';
import type { Config } from '../config';
import { alreadyExists, conflict, gone, notFound, StatusError } from '../errors';
import { resourceByName, type KubeObject, type ResourceType } from '../resources';
import { cpuMillis, quantityValue } from '../schemas/quantity';
import { BestEffortStore, clockVersion, isBestEffort } from './best-effort';
import { approximateBytes, decodeObject, decodeValue, encodeObject, encodeValue } from './codec';
import { ALLOC_ONLY_ATTRIBUTE } from './attributes';

/*
 * resourceVersion: design and proof sketch
 * ----------------------------------------
 * Each (tenant, resource type) has a sequence item in the changes table (sk `~seq`, attribute v:
 * the last version reserved) and a change log in the same partition (sk = a version,
 * zero-padded). docs/sequencing.md tells why it is built this way (it was a compare-and-set of
 * the sequence inside every transaction until 2026-11-24, which made writers of different
 * processes retry each other) and what was measured.
 *
 * Writers (SequenceWriter). A write of k versions (k = 1; k pods for a batch bind; the writes a
 * process queues meanwhile, grouped) first RESERVES them: one unconditional `SET v = v + k` on
 * the sequence item, which never fails, gives it versions F..F+k-1 that no other writer gets.
 * Then ONE TransactWriteItems writes the object items with those versions, each conditional on
 * the caller's precondition (absent for create, resourceVersion = expected for update and
 * delete), and ONE log entry keyed F holding the k changes (`n`, entryEvents), conditional on
 * the key being free. If the transaction fails, its writer writes a void entry (`void`, `n`)
 * under F instead, so the versions are known never to hold a change; a write's own error goes
 * to it, the others of a group are retried with new versions. A writer sends its transaction
 * only within WRITER_DEADLINE_MS of reserving; later it voids and reserves again. So:
 *   (a) No two writes get the same version: reservations are atomic increments.
 *   (b) A version is committed, void, or (its writer died) empty; it is committed only within a
 *       bounded time D of its reservation (the deadline plus the SDK's bounded retries).
 *   (c) Per object, versions increase: a write is conditional on the version it read, which was
 *       committed before it reserved, so its own version is higher.
 * Readers (readLog) read the log in version order. A gap (versions with no entry yet) before an
 * entry E2 written less than the gap timeout (30 s ≫ D) ago may be a write in flight: readers
 * stop there and look again. An older gap is either a dead writer's (nothing will ever be
 * committed there: by (b) its reservation, which came before E2's, is past D) or history that
 * the log's TTL deleted. Which of the two is told by the entry E1 just before the gap: if E1 was
 * written less than TTL - 20 min ago, anything committed in the gap (reserved after E1's
 * versions, so at most D before E1 was written) would still be there: the gap is dead and
 * readers pass it; otherwise (E1 old, or gone) a watch gets 410 Expired. Every reader decides
 * from the log alone (entries carry their write second in `ttl`), so all decide alike.
 *   (d) Watch from X returns every change after X, in version order, none twice, none missed:
 *       it delivers entries in key order and passes a gap only once nothing can ever fill it.
 *   (e) A list returns the RESOLVED WATERMARK W read before its query of the objects: every
 *       version <= W is committed, void, dead or expired (currentVersion, readLog 'watermark'),
 *       so a watch from W misses nothing the list did not show; it may replay a change the list
 *       already showed (a write committed while the list read), which informers treat as an
 *       update, as Kubernetes' own cache may.
 * The cost is a hot item per sequence (about 1,000 writes/s per item on DynamoDB: one per
 * transaction, which carries up to 97 binds), so each resource type has its own sequence: node
 * Lease renewals never contend with pods. Transactions of one sequence now overlap (up to
 * PARALLEL_GROUPS per process; any number across processes).
 * Versions of different resource types are not comparable, which Kubernetes allows: clients
 * must treat resourceVersion as opaque and only hand it back for the same resource. Versions of
 * one type may skip numbers (void and dead ones); Kubernetes promises no more.
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
   * reconcile), so the log read that makes it (currentVersion) is skipped and the result's
   * resourceVersion is 0. @default true
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
/** Items a batch bind of `pods` pods onto `nodes` distinct nodes needs: pods, nodes, its log entry, room for a void entry. */
export const bindBatchItems = (pods: number, nodes: number) => 2 + pods + nodes;
/**
 * The most a change-log entry's compressed changes may take: DynamoDB's item limit is 400 KB.
 * A group over it is committed in halves; a single write over it (one object, or one batch
 * bind) fails with LogEntryTooLarge.
 */
const MAX_LOG_ENTRY_BYTES = 380_000;

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
/**
 * Transactions one process keeps in flight per sequence (they no longer exclude each other).
 * 3: the scheduler's bind transactions (~100 items each) kept DynamoDB Local busy only half the
 * time with 2 (BENCHMARKS.md, 2026-11-24).
 */
const PARALLEL_GROUPS = 3;
/** Log entries a watermark read takes per page. */
const WATERMARK_PAGE = 500;
/** A gap after an entry older than the log's TTL minus this may be expired history (410), not a dead writer. */
const EXPIRY_MARGIN_S = 1_200;
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
  /**
   * On a node: its last write changed only the allocation sums (a bind, a release), not the
   * object. Stream filters keep those records from both consumers (infra/wiring.ts); the next
   * write of the node object removes it.
   */
  allocOnly?: boolean;
  /** For stream filters (streamAttributes): the resource, and whether the garbage collector may care. */
  res?: string;
  gc?: boolean;
}

/** How many recently read items an instance keeps for itemAt (about 1 KB each). */
const RECENT_ITEMS = 2_000;

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

  /**
   * The resourceVersion of this resource type in this tenant that a list returns: the resolved
   * watermark, the highest version at or below which every version is committed or will never
   * be (0 before any write). See the design note.
   */
  async currentVersion(tenant: string, rt: ResourceType): Promise<number> {
    // Best-effort kinds have no sequence: their versions are clock versions (best-effort.ts).
    if (isBestEffort(rt)) return clockVersion();
    const pk = partitionKey(tenant, rt);
    let w = this.watermarks.get(pk) ?? (await this.coldWatermark(tenant, rt));
    for (;;) {
      const step = await this.readLog(tenant, rt, w, WATERMARK_PAGE, 'watermark');
      w = step.through;
      if (!step.more) break;
    }
    this.watermarks.set(pk, w);
    return w;
  }

  /** Per sequence: the resolved watermark this process found last. */
  private readonly watermarks = new Map<string, number>();
  /** Per sequence: entry ends this process read lately, with their write second (readers continue from them). */
  private readonly ends = new Map<string, Map<number, number>>();

  private rememberEnd(pk: string, version: number, writtenSec: number): void {
    let m = this.ends.get(pk);
    if (!m) this.ends.set(pk, (m = new Map()));
    m.set(version, writtenSec);
    if (m.size > 256) m.delete(m.keys().next().value!);
  }

  /**
   * Where a process that knows nothing of a sequence starts looking for its watermark: the end
   * of the newest entry written more than the gap timeout ago (every version reserved before
   * it is resolved: its writer's deadline is long past), found by reading the log backwards
   * from the last reserved version; 0 when there is none.
   */
  private async coldWatermark(tenant: string, rt: ResourceType): Promise<number> {
    const pk = partitionKey(tenant, rt);
    const seq = await this.doc.send(new GetCommand({ TableName: this.config.changesTable, Key: this.seqKey(tenant, rt), ConsistentRead: true }));
    const reserved = typeof seq.Item?.v === 'number' ? seq.Item.v : 0;
    if (reserved === 0) return 0;
    const { found } = await this.entryWrittenBefore(pk, reserved, Date.now() - this.gapTimeoutMs());
    if (!found) return 0;
    this.rememberEnd(pk, found.last, found.writtenSec);
    return found.last;
  }

  private gapTimeoutMs(): number {
    return this.config.logGapTimeoutMs ?? 30_000;
  }

  /**
   * What a reader does at a gap in the log (versions reserved but never logged) before the
   * entry `next`, after the entry `before` (undefined when unknown): 'wait' while it may be a
   * write in flight; 'skip' when it is a writer's that will never commit; 'expired' when
   * history may have expired there (see the design note).
   */
  private gapVerdict(before: { writtenSec: number } | undefined, next: EntryRange, nowMs: number): 'wait' | 'skip' | 'expired' {
    if (nowMs - (next.writtenSec + 1) * 1000 < this.gapTimeoutMs()) return 'wait';
    const ttl = this.config.changeLogTtlSeconds;
    const young = (ttl - Math.min(EXPIRY_MARGIN_S, ttl / 3)) * 1000;
    return before && nowMs - before.writtenSec * 1000 < young ? 'skip' : 'expired';
  }

  /**
   * Reads the log after version `after` in version order (up to `limit` entries): the changes
   * ('watch'; none for 'watermark', which reads keys only), and `through`, the version through
   * which every version is resolved. Stops at a gap that may be a write in flight; a gap that may
   * be expired history is 410 Expired for 'watch' and passed for 'watermark' (the versions in it
   * were committed long ago or never will be, so a list at a version past it misses nothing).
   */
  private async readLog(
    tenant: string,
    rt: ResourceType,
    after: number,
    limit: number,
    mode: 'watch' | 'watermark',
  ): Promise<{ events: ChangeEvent[]; through: number; more: boolean }> {
    if (after < 0) throw gone(`too old resource version: ${after}`);
    const pk = partitionKey(tenant, rt);
    const ttlSeconds = this.config.changeLogTtlSeconds;
    const keysOnly = mode === 'watermark' ? { ProjectionExpression: 'sk, n, #ttl', ExpressionAttributeNames: { '#ttl': 'ttl' } } : {};
    const knownSec = this.ends.get(pk)?.get(after);
    let before: { writtenSec: number } | undefined = knownSec === undefined ? undefined : { writtenSec: knownSec };
    const items: Record<string, unknown>[] = [];
    if (after > 0 && !before) {
      // Where `after` lies: the entry at or before it may hold later versions too, or end there.
      const back = await this.doc.send(
        new QueryCommand({
          TableName: this.config.changesTable,
          KeyConditionExpression: 'pk = :pk AND sk BETWEEN :from AND :to',
          ExpressionAttributeValues: { ':pk': pk, ':from': pad(1), ':to': pad(after) },
          ScanIndexForward: false,
          Limit: 1,
          ConsistentRead: true,
          ...keysOnly,
        }),
      );
      const item = back.Items?.[0];
      if (item) {
        const r = entryRange(item, ttlSeconds);
        if (r.last > after) items.push(item);
        else if (r.last === after) before = { writtenSec: r.writtenSec };
      }
    }
    const page = await this.doc.send(
      new QueryCommand({
        TableName: this.config.changesTable,
        KeyConditionExpression: 'pk = :pk AND sk BETWEEN :from AND :to',
        ExpressionAttributeValues: { ':pk': pk, ':from': pad(after + 1), ':to': '9'.repeat(VERSION_DIGITS) },
        Limit: limit,
        ConsistentRead: true,
        ...keysOnly,
      }),
    );
    items.push(...(page.Items ?? []));
    const events: ChangeEvent[] = [];
    const now = Date.now();
    let next = after + 1;
    let stopped = false;
    for (const item of items) {
      const r = entryRange(item, ttlSeconds);
      if (r.last < next) continue;
      if (r.first > next) {
        const verdict = this.gapVerdict(before, r, now);
        if (verdict === 'wait' || (verdict === 'expired' && mode === 'watch' && events.length > 0)) {
          stopped = true;
          break;
        }
        if (verdict === 'expired' && mode === 'watch') throw gone(`too old resource version: ${after} (${r.first - 1})`);
        next = r.first;
      }
      if (mode === 'watch') for (const e of entryEvents(item)) if (e.resourceVersion >= next) events.push(e);
      next = r.last + 1;
      before = { writtenSec: r.writtenSec };
      this.rememberEnd(pk, r.last, r.writtenSec); // a reader may continue from here
    }
    const through = next - 1;
    return { events, through, more: !stopped && !!page.LastEvaluatedKey };
  }

  private async getItem(tenant: string, rt: ResourceType, namespace: string | undefined, name: string) {
    const out = await this.doc.send(
      new GetCommand({ TableName: this.config.objectsTable, Key: this.key(tenant, rt, namespace, name), ConsistentRead: true }),
    );
    const item = out.Item as ObjectItem | undefined;
    if (item) this.remember(item);
    return item;
  }

  /**
   * Items this instance read lately, by key, for `itemAt`. An object item's content is fixed by
   * its version: every write of the object (update, bind, release) sets a new `rv`; only a node's
   * allocation sums and their `allocOnly` mark change without one, and writes never read those
   * from here.
   */
  private readonly recentItems = new Map<string, ObjectItem>();

  private static recentKey(key: { pk: string; sk: string }): string {
    return `${key.pk}\n${key.sk}`;
  }

  private remember(item: ObjectItem): void {
    const key = ObjectStore.recentKey(item);
    this.recentItems.delete(key);
    this.recentItems.set(key, item);
    if (this.recentItems.size > RECENT_ITEMS) this.recentItems.delete(this.recentItems.keys().next().value!);
  }

  /**
   * The item as it is at `expectedResourceVersion` when this instance read it at that version
   * lately (the api reads an object, checks the request against it, then writes it: one read,
   * not two), else as read now. Safe because the write that follows is conditional on that
   * version: if the item moved on, it fails as it would have after a fresh read.
   */
  private async itemAt(tenant: string, rt: ResourceType, namespace: string | undefined, name: string, expectedResourceVersion: string | undefined) {
    if (expectedResourceVersion !== undefined) {
      const known = this.recentItems.get(ObjectStore.recentKey(this.key(tenant, rt, namespace, name)));
      if (known && String(known.rv) === expectedResourceVersion) return known;
    }
    return this.getItem(tenant, rt, namespace, name);
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
   * Lists objects. The returned resourceVersion V (the resolved watermark, read before the
   * items) is such that a watch from V misses nothing the list did not show; under concurrent
   * writes it may replay a change the list already showed (informers treat that as an update).
   * `versioned: false` skips the watermark (resourceVersion 0) for callers that never watch.
   */
  async list(tenant: string, rt: ResourceType, opts: ListOptions = {}): Promise<ListResult> {
    if (isBestEffort(rt)) return this.bestEffort.list(tenant, rt, opts);
    // The version first: everything at or below it is in the table by the time the items are read.
    const resourceVersion = opts.versioned !== false ? await this.currentVersion(tenant, rt) : 0;
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
    return { items, resourceVersion, continueAfter };
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
   * commit second); when every entry is younger, the version before the oldest one left; when
   * the log is empty, `atMost`.
   */
  private async versionCommittedBefore(tenant: string, rt: ResourceType, atMost: number, beforeMs: number): Promise<number> {
    const { found, oldestFirst } = await this.entryWrittenBefore(partitionKey(tenant, rt), atMost, beforeMs);
    if (found) return Math.min(found.last, atMost);
    return oldestFirst !== undefined ? oldestFirst - 1 : atMost;
  }

  /**
   * Reading the log backwards from `atMost`: the newest entry written before `beforeMs` (its
   * write second over by then), and the first version of the oldest entry read on the way.
   * Eventually consistent: an entry missed is a recent one, so the answer is at worst older.
   */
  private async entryWrittenBefore(pk: string, atMost: number, beforeMs: number): Promise<{ found?: EntryRange; oldestFirst?: number }> {
    let start: Record<string, unknown> | undefined;
    let oldestFirst: number | undefined;
    do {
      const out = await this.doc.send(
        new QueryCommand({
          TableName: this.config.changesTable,
          KeyConditionExpression: 'pk = :pk AND sk BETWEEN :from AND :to',
          ExpressionAttributeValues: { ':pk': pk, ':from': pad(1), ':to': pad(atMost) },
          ProjectionExpression: 'sk, n, #ttl',
          ExpressionAttributeNames: { '#ttl': 'ttl' },
          ScanIndexForward: false,
          Limit: 25,
          ExclusiveStartKey: start,
        }),
      );
      for (const item of out.Items ?? []) {
        const r = entryRange(item, this.config.changeLogTtlSeconds);
        if ((r.writtenSec + 1) * 1000 <= beforeMs) return { found: r, oldestFirst };
        oldestFirst = r.first;
      }
      start = out.LastEvaluatedKey;
    } while (start);
    return { oldestFirst };
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

  /**
   * Changes after `afterVersion`, oldest first, from up to `limit` log entries; 410 Expired when
   * history is gone. Versions may skip (reserved and never used); the changes returned are every
   * change after `afterVersion` up to the first gap that may still be a write in flight.
   */
  async changesSince(tenant: string, rt: ResourceType, afterVersion: number, limit = 500): Promise<ChangeEvent[]> {
    // Best-effort kinds: time-ordered entries, no gap check (functions/api/watch.ts watches them apart).
    if (isBestEffort(rt)) return this.bestEffort.entriesSince(tenant, rt, afterVersion, limit);
    return (await this.readLog(tenant, rt, afterVersion, limit, 'watch')).events;
  }

  /** Creates several Events at once (best effort: BestEffortStore.createMany). */
  async createEvents(tenant: string, events: readonly KubeObject[]): Promise<KubeObject[]> {
    return this.bestEffort.createMany(tenant, resourceByName('events'), events);
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
    const old = await this.itemAt(tenant, rt, namespace, name, expectedResourceVersion);
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
      // Always on a node: a bind may have set it since our read (binds leave rv alone).
      if (rt.resource === 'nodes') removes.push(ALLOC_ONLY_ATTRIBUTE);
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
      const old = await this.itemAt(tenant, rt, namespace, name, expectedResourceVersion);
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
              UpdateExpression: `SET allocCpu = allocCpu + :cpu, allocMem = allocMem + :mem, allocPods = allocPods + :one, ${ALLOC_ONLY_ATTRIBUTE} = :allocOnly`,
              ConditionExpression:
                'attribute_exists(pk) AND capCpu = :capCpu AND capMem = :capMem AND capPods = :capPods AND allocCpu <= :maxCpu AND allocMem <= :maxMem AND allocPods <= :maxPods',
              ExpressionAttributeValues: {
                ':cpu': req.cpu,
                ':mem': req.memory,
                ':one': 1,
                ':allocOnly': true,
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
      maxItems: k + nodeNames.length,
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
              UpdateExpression: `SET allocCpu = allocCpu + :cpu, allocMem = allocMem + :mem, allocPods = allocPods + :n, ${ALLOC_ONLY_ATTRIBUTE} = :allocOnly`,
              ConditionExpression:
                'attribute_exists(pk) AND capCpu = :capCpu AND capMem = :capMem AND capPods = :capPods AND allocCpu <= :maxCpu AND allocMem <= :maxMem AND allocPods <= :maxPods',
              ExpressionAttributeValues: {
                ':cpu': n.cpu,
                ':mem': n.memory,
                ':n': n.pods,
                ':allocOnly': true,
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
        UpdateExpression: `SET allocCpu = allocCpu - :cpu, allocMem = allocMem - :mem, allocPods = allocPods - :one, ${ALLOC_ONLY_ATTRIBUTE} = :allocOnly`,
        // Never recreate a deleted node as a stub: callers only release on nodes that exist.
        ConditionExpression: 'attribute_exists(pk)',
        ExpressionAttributeValues: { ':cpu': bound.cpu, ':mem': bound.memory, ':one': 1, ':allocOnly': true },
      },
    };
  }

  /** One group-committing writer per sequence (tenant, resource type) in this process. */
  private readonly writers = new Map<string, SequenceWriter>();

  /**
   * The one write path: reserve a version, then apply the object operation(s) and append the log
   * entry in one transaction. Concurrent writes to one sequence from this process are queued and
   * committed together (see SequenceWriter). A failed object condition is mapped by
   * `onConditionFailed` (index among `items`, 0-based).
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
      maxItems: 2, // the object, and a node's allocation sums at most
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
      writer = new SequenceWriter(this.doc, this.config, this.seqKey(tenant, rt), rt);
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
  /** Items `build` returns at most (chooses how many versions to reserve for a group). */
  readonly maxItems: number;
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
/**
 * A writer sends its transaction only this soon after reserving its versions; later, it voids
 * them and reserves again. Readers rely on it: a gap older than the gap timeout (far longer)
 * can only be a writer that will never commit (see the design note).
 */
const WRITER_DEADLINE_MS = 2_000;

function itemIdentity(item: TransactItem): string {
  const op = item.Put ?? item.Update ?? item.Delete ?? item.ConditionCheck;
  const k = (item.Put ? item.Put.Item : (op as { Key?: Record<string, unknown> }).Key) ?? {};
  return `${op?.TableName}|${String(k.pk)}|${String(k.sk)}`;
}

const isConditionFailure = (e: unknown) => (e as Error).name === 'ConditionalCheckFailedException';

/**
 * Group commit for one sequence. Writes queue up; each transaction carries as many as fit (100
 * items, 4 MB, no item twice). Their versions are RESERVED first — one unconditional
 * `SET v = v + :k` on the sequence item, which never fails — and the transaction writes the
 * objects and ONE log entry keyed by the first reserved version, so transactions of this and
 * other processes never make each other retry. Versions a transaction does not use (a write
 * that did not fit after all) are voided inside it; if it fails, its whole range is voided at
 * once, so readers do not wait at the gap (design note above). Up to PARALLEL_GROUPS
 * transactions are in flight at once.
 */
class SequenceWriter {
  private readonly queue: PendingWrite[] = [];
  private inFlight = 0;

  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly config: Config,
    private readonly seqKey: { pk: string; sk: string },
    private readonly rt: ResourceType,
  ) {}

  write<T>(w: Pick<PendingWrite, 'count' | 'maxItems' | 'build' | 'onConditionFailed'>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ ...w, attempts: 0, alone: false, resolve: resolve as (r: unknown) => void, reject });
      this.pump();
    });
  }

  private pump(): void {
    while (this.inFlight < PARALLEL_GROUPS && this.queue.length > 0) {
      this.inFlight++;
      void this.commitGroup()
        .catch((e: unknown) => console.error(JSON.stringify({ level: 'error', message: 'sequence writer failed', error: String(e) })))
        .finally(() => {
          this.inFlight--;
          this.pump();
        });
    }
  }

  /** Reserves `k` versions: the last one reserved (the range is last-k+1..last). */
  private async reserve(k: number): Promise<number> {
    const out = await this.doc.send(
      new UpdateCommand({
        TableName: this.config.changesTable,
        Key: this.seqKey,
        UpdateExpression: 'SET v = if_not_exists(v, :zero) + :k',
        ExpressionAttributeValues: { ':zero': 0, ':k': k },
        ReturnValues: 'UPDATED_NEW',
      }),
    );
    return Number(out.Attributes?.v);
  }

  /** Voids versions first..first+n-1 for readers; false when an entry holds `first` already. */
  private async voidRange(first: number, n: number): Promise<boolean> {
    try {
      await this.doc.send(
        new PutCommand({
          TableName: this.config.changesTable,
          Item: voidEntry(this.seqKey.pk, first, n, this.ttl()),
          ConditionExpression: 'attribute_not_exists(sk)',
        }),
      );
      return true;
    } catch (e) {
      if (isConditionFailure(e)) return false;
      throw e;
    }
  }

  private ttl(): number {
    return Math.floor(Date.now() / 1000) + this.config.changeLogTtlSeconds;
  }

  private async commitGroup(): Promise<void> {
    // Which queued writes go together: their item estimates within the limit, with room for the
    // log entry and a void entry for versions left unused.
    const chosen: PendingWrite[] = [];
    let estimate = 2;
    for (const w of this.queue) {
      if (chosen.length > 0 && (w.alone || chosen[0]!.alone || estimate + w.maxItems > MAX_GROUP_ITEMS)) break;
      chosen.push(w);
      estimate += w.maxItems;
    }
    this.queue.splice(0, chosen.length);
    if (chosen.length === 0) return;
    const reserved = chosen.reduce((n, w) => n + w.count, 0);
    let last: number;
    try {
      last = await this.reserve(reserved);
    } catch (e) {
      // Nothing reserved: the writes go back and the error goes to the first one.
      this.queue.unshift(...chosen.slice(1));
      chosen[0]!.reject(e);
      return;
    }
    const reservedAt = Date.now();
    const first = last - reserved + 1;

    const group: { w: PendingWrite; result: unknown; items: TransactItem[]; from: number }[] = [];
    const seen = new Set<string>();
    const tx: TransactItem[] = [];
    const changes: { type: WatchEventType; object: KubeObject }[] = [];
    let bytes = 0;
    let used = 0;
    let next = 0;
    for (; next < chosen.length; next++) {
      const w = chosen[next]!;
      let built: ReturnType<PendingWrite['build']>;
      try {
        built = w.build(first + used);
        if (built.logs.length !== w.count) throw new Error(`a write of ${w.count} versions built ${built.logs.length} changes`);
      } catch (e) {
        if (group.length > 0) break;
        w.reject(e); // its own error (e.g. invalid); its versions are voided with the rest
        next++;
        break;
      }
      const ids = built.items.map(itemIdentity);
      const size = approximateBytes(built.items);
      const fits = 2 + tx.length + built.items.length <= MAX_GROUP_ITEMS && bytes + size <= MAX_GROUP_BYTES && ids.every((id) => !seen.has(id));
      if (!fits && group.length > 0) break;
      ids.forEach((id) => seen.add(id));
      group.push({ w, result: built.result, items: built.items, from: tx.length });
      tx.push(...built.items);
      changes.push(...built.logs);
      bytes += size;
      used += w.count;
    }
    // Writes that did not fit wait for the next transaction.
    this.queue.unshift(...chosen.slice(next));
    if (group.length === 0) {
      await this.voidRange(first, reserved);
      return;
    }
    let entry = logEntry(this.seqKey.pk, first, changes, this.ttl());
    while ((entry.o as Uint8Array).length > MAX_LOG_ENTRY_BYTES) {
      if (group.length === 1) {
        group[0]!.w.reject(new LogEntryTooLarge((entry.o as Uint8Array).length));
        await this.voidRange(first, reserved);
        return;
      }
      // Rare (large objects written together): the later half waits for the next transaction.
      const back = group.splice(Math.ceil(group.length / 2));
      this.queue.unshift(...back.map((g) => g.w));
      tx.length = back[0]!.from;
      used -= back.reduce((n, g) => n + g.w.count, 0);
      changes.length = used;
      entry = logEntry(this.seqKey.pk, first, changes, this.ttl());
    }
    const logIndex = tx.length;
    tx.push({ Put: { TableName: this.config.changesTable, Item: entry, ConditionExpression: 'attribute_not_exists(sk)' } });
    if (used < reserved)
      tx.push({ Put: { TableName: this.config.changesTable, Item: voidEntry(this.seqKey.pk, first + used, reserved - used, this.ttl()), ConditionExpression: 'attribute_not_exists(sk)' } });

    const retry: PendingWrite[] = [];
    if (Date.now() - reservedAt > WRITER_DEADLINE_MS) {
      // Too late to commit these versions (readers may have given up on them): void, go again.
      await this.voidRange(first, reserved);
      retry.push(...group.map((g) => g.w));
    } else {
      try {
        await this.doc.send(new TransactWriteCommand({ TransactItems: tx }));
        for (const g of group) g.w.resolve(g.result);
        return;
      } catch (e) {
        // Nothing was written (unless the outcome is unknown: the void below tells).
        if (!(await this.voidRange(first, reserved))) {
          const existing = await this.doc.send(new GetCommand({ TableName: this.config.changesTable, Key: { pk: this.seqKey.pk, sk: pad(first) }, ConsistentRead: true }));
          if (existing.Item && !existing.Item.void) {
            for (const g of group) g.w.resolve(g.result); // it did commit
            return;
          }
        }
        if (!(e instanceof TransactionCanceledException)) {
          // Not about conditions (e.g. a validation error): alone, the write owns its error.
          if (group.length === 1) group[0]!.w.reject(e);
          else for (const g of group) retry.push(Object.assign(g.w, { alone: true }));
        } else {
          const reasons = e.CancellationReasons ?? [];
          if (reasons[logIndex]?.Code === 'ConditionalCheckFailed') {
            // Cannot happen (only this writer writes under its reserved versions); say so loudly.
            const bug = new Error(`log entry ${first} of ${this.seqKey.pk} existed before its writer committed`);
            for (const g of group) g.w.reject(bug);
            return;
          }
          for (const g of group) {
            const failed = g.items.flatMap((_, i) => (reasons[g.from + i]?.Code === 'ConditionalCheckFailed' ? [i] : []));
            if (failed.length > 0) g.w.reject(g.w.onConditionFailed(failed));
            else retry.push(g.w);
          }
        }
      }
    }
    for (const w of retry) w.attempts++;
    for (const w of retry.filter((w) => w.attempts >= MAX_COMMIT_ATTEMPTS))
      w.reject(new StatusError(429, 'TooManyRequests', `too many concurrent writes to ${this.rt.resource}; please retry`, { retryAfterSeconds: 1 }));
    this.queue.unshift(...retry.filter((w) => w.attempts < MAX_COMMIT_ATTEMPTS));
  }
}

/** What a log entry covers: versions first..last, and when it was written (its ttl's second). */
interface EntryRange {
  readonly first: number;
  readonly last: number;
  readonly writtenSec: number;
}

function entryRange(item: Record<string, unknown>, ttlSeconds: number): EntryRange {
  const first = Number(item.sk);
  return { first, last: first + (typeof item.n === 'number' ? item.n : 1) - 1, writtenSec: Number(item.ttl) - ttlSeconds };
}

/**
 * The changes one log entry holds, oldest first. An entry is keyed by the FIRST version it
 * holds (sk); a single change stores `type` and `o` (the object), a group of `n` changes (one
 * transaction's, versions sk..sk+n-1) stores `n` and `o` = the list of [type, object]; a void
 * entry (`void`, `n`) holds versions that were reserved and never used.
 */
function entryEvents(item: Record<string, unknown>): ChangeEvent[] {
  const first = Number(item.sk);
  if (item.void) return [];
  if (typeof item.n !== 'number') return [{ type: item.type as WatchEventType, resourceVersion: first, object: parseObject(item) }];
  const changes = decodeValue(item.o) as [WatchEventType, KubeObject][];
  return changes.map(([type, object], i) => ({ type, resourceVersion: first + i, object }));
}

/** The change-log entry of one transaction's changes (versions first..first+changes-1); see entryEvents. */
function logEntry(pk: string, first: number, changes: readonly { type: WatchEventType; object: KubeObject }[], ttl: number): Record<string, unknown> {
  const sk = pad(first);
  if (changes.length === 1) return { pk, sk, type: changes[0]!.type, o: encodeObject(changes[0]!.object), ttl };
  return { pk, sk, n: changes.length, o: encodeValue(changes.map((c) => [c.type, c.object])), ttl };
}

/** The entry saying versions first..first+n-1 were reserved and will never hold a change. */
function voidEntry(pk: string, first: number, n: number, ttl: number): Record<string, unknown> {
  return { pk, sk: pad(first), n, void: true, ttl };
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
