import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Config } from '../config';
import { resourceByName, type KubeObject, type ResourceType } from '../resources';
import { Allocations } from './allocations';
import { BestEffortStore, clockVersion, isBestEffort } from './best-effort';
import { Binder, type PodBinding } from './binding';
import { ChangeLog, type ChangeEvent } from './changelog';
import { systemClock, type Clock } from './clock';
import type { NodeSnapshot } from './items';
import { Objects, type ListOptions, type ListResult, type WriteOptions } from './objects';
import { PodCidrPool } from './pod-cidrs';
import { Sequences, type BeforeCommitHook } from './sequence';

import { bumpGeneration, readGeneration } from './generation';
import { noteObject } from '../cost/meter';
export { BatchBindFailed, bindBatchItems, NodeCapacityChanged, type PodBinding } from './binding';
export type { ChangeEvent, WatchEventType } from './changelog';
export type { Clock } from './clock';
export { nodeCapacity, podRequests, streamAttributes, type NodeSnapshot, type PodAllocation } from './items';
export { partitionKey, sortKey } from './keys';
export type { ListOptions, ListResult, WriteOptions as StoreWriteOptions } from './objects';
export { LogEntryTooLarge, MAX_TRANSACT_ITEMS, WriteTooLate } from './sequence';

/*
 * resourceVersion: design and proof sketch
 * ----------------------------------------
 * Each (tenant, resource type) has a sequence item in the changes table (sk `~seq`, attribute v:
 * the last version reserved) and a change log in the same partition (sk = a version,
 * zero-padded; keys.ts). docs/sequencing.md tells why it is built this way (it was a
 * compare-and-set of the sequence inside every transaction until 2026-11-24, which made writers
 * of different processes retry each other) and what was measured. The code: keys.ts (keys),
 * objects.ts (get/list/create/update/remove), binding.ts (binds and allocation sums),
 * sequence.ts (writers), changelog.ts (readers: watch, watermark, gaps).
 *
 * Writers (sequence.ts). A write of k versions (k = 1; k pods for a batch bind; the writes a
 * process queues meanwhile, grouped) first RESERVES them: one unconditional `SET v = v + k` on
 * the sequence item, which never fails, gives it versions F..F+k-1 that no other writer gets.
 * Then ONE TransactWriteItems writes the object items with those versions, each conditional on
 * the caller's precondition (absent for create, resourceVersion = expected for update and
 * delete), and ONE log entry keyed F holding the k changes (`n`, entryEvents), conditional on
 * the key F being free. If the transaction fails, its writer writes a void entry (`void`, `n`)
 * under F instead (conditional too), so the versions are known never to hold a change; a write's
 * own error goes to it, the others of a group are retried with new versions. If F was taken by a
 * reader's void (below), every write of the group is retried with new versions. A writer sends
 * its transaction only within WRITER_DEADLINE_MS of reserving; later it voids and reserves again.
 * A write may also carry its own send deadline (notAfter: a quota-charged create or update, whose
 * charge counts only so long; shared/quota/recompute.ts): past it, the write fails with 504
 * before it is sent, never reserved again (its versions, if reserved, voided as above).
 * So:
 *   (a) No two writes get the same version: reservations are atomic increments.
 *   (b) A range F..F+k-1 is reserved by one writer and can only ever be committed under key F,
 *       in one transaction, only while no entry holds F; it is committed only within a bounded
 *       time D of its reservation (the deadline plus the SDK's bounded retries), or never.
 *   (c) Per object, versions increase: a write is conditional on the version it read, which was
 *       committed before it reserved, so its own version is higher.
 * Readers (changelog.ts readLog) read the log in version order. At a gap (versions with no entry
 * yet) between the entry E1 ending just before it and the next entry E2:
 *   - E1 written less than TTL - 20 min ago (entries carry their write second in `ttl`), and E2
 *     written longer than the gap timeout (1 s) ago: the gap's writer is dead or late. The
 *     reader VOIDS the gap: a void entry at every version of it, each conditional on its key being
 *     free, up to 100 per transaction, in version order. Every range in the gap has its key F in
 *     the gap, so once the voids land no commit can land there (b); a transaction of voids fails
 *     whole if a commit (or another reader's void) took one of its keys first, and the reader
 *     reads again, so no void ever lands inside a committed range. A late writer's transaction
 *     then fails on its log entry's condition and goes again under new versions: its change is
 *     delivered once, at a version after the gap, in order. Nothing in the gap can have been
 *     committed and expired: it was reserved after E1's versions, so committed at most D before
 *     E1 was written, younger than TTL. Void entries carry E1's write second, not the time of
 *     voiding, so the same holds with a void as E1.
 *   - E1 old or unknown (the log's TTL may have deleted history there): readers wait until E2 is
 *     older than RESOLVED_AFTER_MS (30 s ≫ D; nothing can be committed in the gap any more by (b)),
 *     then a watch gets 410 Expired and a watermark passes it.
 *   - otherwise the gap may be a write in flight: readers stop there and look again.
 *   (d) Watch from X returns every change after X, in version order, none twice, none missed:
 *       it delivers entries in key order and passes a gap only once nothing can ever fill it
 *       (voided by a conditional write, or older than any commit can be).
 *   (e) A list returns the RESOLVED WATERMARK W read before its query of the objects: every
 *       version <= W is committed, void, dead or expired (currentVersion, readLog 'watermark'),
 *       so a watch from W misses nothing the list did not show; it may replay a change the list
 *       already showed (a write committed while the list read), which informers treat as an
 *       update, as Kubernetes' own cache may.
 * The cost is a hot item per sequence (about 1,000 writes/s per item on DynamoDB: one per
 * transaction, which carries up to 97 binds), so each resource type has its own sequence: node
 * Lease renewals never contend with pods. Transactions of one sequence overlap (up to
 * PARALLEL_GROUPS per process; any number across processes). Reader voids cost a write per
 * voided version, only for dead or late writers.
 * Versions of different resource types are not comparable, which Kubernetes allows: clients
 * must treat resourceVersion as opaque and only hand it back for the same resource. Versions of
 * one type may skip numbers (void and dead ones); Kubernetes promises no more.
 * Events are the one exception to all of the above: best-effort, one plain write each, with
 * clock-based versions and no sequence (best-effort.ts, which says what that gives up).
 * Objects are stored compressed (`o`, codec.ts); the attributes indexes and stream filters read
 * (nodeKey, res, gc, capacity and allocation sums) stay plain.
 */

export interface ObjectStoreOptions {
  /** Where the store reads the time. @default the system clock */
  readonly clock?: Clock;
  /** Fault hook for tests, between a writer's reservation and its commit (sequence.ts). @default none */
  readonly beforeCommit?: BeforeCommitHook;
}

/**
 * The object store: Kubernetes objects in DynamoDB with optimistic concurrency and a
 * gap-free change log per resource type (see the design note above).
 * Contract: every method is scoped to one tenant; keys always start with the tenant, so no
 * call can read or write another tenant's items. Errors reaching callers are StatusErrors
 * (NotFound, AlreadyExists, Conflict, Expired) or NodeCapacityChanged.
 */
/** Tells the cost meter which object the current scope works on (shared/cost/meter.ts); returns it. */
function noted(rt: ResourceType, obj: KubeObject): KubeObject {
  noteObject(rt.resource, obj);
  return obj;
}

export class ObjectStore {
  /** Events: best-effort, one plain write each, no sequence (shared/store/best-effort.ts). */
  readonly bestEffort: BestEffortStore;
  /** Allocation items (Service ClusterIPs and NodePorts): shared/store/allocations.ts. */
  readonly allocations: Allocations;
  /** Node IPAM: the deployment-wide pool of per-node pod CIDRs (shared/store/pod-cidrs.ts). */
  readonly podCidrs: PodCidrPool;
  /** Where this store reads the time (the injected one, else the system's). */
  readonly clock: Clock;
  private readonly log: ChangeLog;
  private readonly objects: Objects;
  private readonly binder: Binder;

  constructor(
    /** The client and tables it writes with (for items beside objects: signing keys). */
    readonly doc: DynamoDBDocumentClient,
    readonly config: Config,
    options: ObjectStoreOptions = {},
  ) {
    const clock = options.clock ?? systemClock;
    this.clock = clock;
    const sequences = new Sequences(doc, config, clock, options.beforeCommit);
    this.bestEffort = new BestEffortStore(doc, config);
    this.allocations = new Allocations(doc, config);
    this.podCidrs = new PodCidrPool(doc, config);
    this.log = new ChangeLog(doc, config, clock);
    this.objects = new Objects(doc, config, clock, this.log, sequences);
    this.binder = new Binder(config, sequences);
  }

  /**
   * The resourceVersion of this resource type in this tenant that a list returns: the resolved
   * watermark, the highest version at or below which every version is committed or will never
   * be (0 before any write). See the design note.
   */
  async currentVersion(tenant: string, rt: ResourceType): Promise<number> {
    // Best-effort kinds have no sequence: their versions are clock versions (best-effort.ts).
    if (isBestEffort(rt)) return clockVersion();
    return this.log.currentVersion(tenant, rt);
  }

  /** The object, or undefined when it does not exist. */
  async get(tenant: string, rt: ResourceType, namespace: string | undefined, name: string): Promise<KubeObject | undefined> {
    const obj = isBestEffort(rt) ? await this.bestEffort.get(tenant, rt, namespace, name) : await this.objects.get(tenant, rt, namespace, name);
    noteObject(rt.resource, obj);
    return obj;
  }

  /**
   * Lists objects. The returned resourceVersion V (the resolved watermark, read before the
   * items) is such that a watch from V misses nothing the list did not show; under concurrent
   * writes it may replay a change the list already showed (informers treat that as an update).
   * `versioned: false` skips the watermark (resourceVersion 0) for callers that never watch.
   */
  async list(tenant: string, rt: ResourceType, opts: ListOptions = {}): Promise<ListResult> {
    if (isBestEffort(rt)) return this.bestEffort.list(tenant, rt, opts);
    return this.objects.list(tenant, rt, opts);
  }

  /** Pods bound to one node, through the byNode index (what a node agent reconciles). */
  async listPodsOnNode(tenant: string, rt: ResourceType, nodeName: string): Promise<KubeObject[]> {
    return this.objects.listPodsOnNode(tenant, rt, nodeName);
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
    return this.objects.listOnNode(tenant, rt, nodeName, opts);
  }

  /** Nodes with their capacity and allocation sums, as the scheduler needs them. */
  async listNodeSnapshots(tenant: string, nodes: ResourceType): Promise<NodeSnapshot[]> {
    return this.objects.listNodeSnapshots(tenant, nodes);
  }

  /**
   * Changes after `afterVersion`, oldest first, from up to `limit` log entries; 410 Expired when
   * history is gone. Versions may skip (reserved and never used); the changes returned are every
   * change after `afterVersion` up to the first gap that may still be a write in flight.
   */
  async changesSince(tenant: string, rt: ResourceType, afterVersion: number, limit = 500): Promise<ChangeEvent[]> {
    // Best-effort kinds: time-ordered entries, no gap check (functions/api/watch.ts watches them apart).
    if (isBestEffort(rt)) return this.bestEffort.entriesSince(tenant, rt, afterVersion, limit);
    return this.log.changesSince(tenant, rt, afterVersion, limit);
  }

  /** Creates several Events at once (best effort: BestEffortStore.createMany). */
  async createEvents(tenant: string, events: readonly KubeObject[]): Promise<KubeObject[]> {
    return this.bestEffort.createMany(tenant, resourceByName('events'), events);
  }

  /**
   * Creates `obj` (metadata.name set by the caller). Sets uid, creationTimestamp, generation
   * and resourceVersion. 409 AlreadyExists when the name is taken. `opts.notAfter`: the write is
   * sent no later than then (this store's clock), else 504 WriteTooLate and nothing is written
   * (not for the best-effort kinds, whose one plain write goes at once).
   */
  async create(tenant: string, rt: ResourceType, obj: KubeObject, opts: WriteOptions = {}): Promise<KubeObject> {
    if (isBestEffort(rt)) return noted(rt, await this.bestEffort.create(tenant, rt, obj));
    return noted(rt, await this.bumped(tenant, rt, await this.objects.create(tenant, rt, obj, opts)));
  }

  /**
   * Replaces the object, conditional on `expectedResourceVersion` (409 Conflict when stale,
   * 404 when gone). `metadata.generation` advances when anything outside metadata/status changed.
   * A pod reaching a terminal phase releases what it held on its node in the same transaction.
   * `opts.notAfter` as for create.
   */
  async update(tenant: string, rt: ResourceType, obj: KubeObject, expectedResourceVersion: string, opts: WriteOptions = {}): Promise<KubeObject> {
    if (isBestEffort(rt)) return noted(rt, await this.bestEffort.update(tenant, rt, obj, expectedResourceVersion));
    return noted(rt, await this.bumped(tenant, rt, await this.objects.update(tenant, rt, obj, expectedResourceVersion, opts)));
  }

  /**
   * Removes the object for good (the caller has handled graceful deletion and finalizers).
   * Returns the last state, with a fresh resourceVersion, as watchers see it in DELETED.
   * A bound pod's allocation is released in the same transaction.
   */
  async remove(tenant: string, rt: ResourceType, namespace: string | undefined, name: string, expectedResourceVersion?: string): Promise<KubeObject> {
    if (isBestEffort(rt)) return noted(rt, await this.bestEffort.remove(tenant, rt, namespace, name, expectedResourceVersion));
    const removed = await this.objects.remove(tenant, rt, namespace, name, expectedResourceVersion);
    // A removed Node gives its pod CIDR back (a lost release is reclaimed later: pod-cidrs.ts).
    const podCIDR = rt.group === '' && rt.resource === 'nodes' ? (removed.spec as { podCIDR?: string } | undefined)?.podCIDR : undefined;
    if (podCIDR) await this.podCidrs.release(tenant, name, podCIDR).catch(() => undefined);
    return noted(rt, await this.bumped(tenant, rt, removed));
  }

  /** After a committed write of an RBAC kind: the cluster's RBAC generation moves (generation.ts). */
  private async bumped(tenant: string, rt: ResourceType, obj: KubeObject): Promise<KubeObject> {
    if (rt.bumpsRbacGeneration) await bumpGeneration(this.doc, this.config, tenant);
    return obj;
  }

  /** The cluster's RBAC generation (the authorizer cache's check; generation.ts). */
  async rbacGeneration(tenant: string): Promise<number> {
    return readGeneration(this.doc, this.config, tenant);
  }

  /**
   * Binds a pod to a node: sets spec.nodeName (only if still unset and unchanged) and adds its
   * requests to the node's allocation sums (only if they stay within allocatable), in one
   * transaction, so concurrent schedulers can never overcommit a node or bind a pod twice.
   * Throws Conflict when the pod changed, NodeCapacityChanged when the node no longer fits.
   */
  async bindPod(tenant: string, pods: ResourceType, nodes: ResourceType, pod: KubeObject, target: NodeSnapshot, transform: (pod: KubeObject) => KubeObject): Promise<KubeObject> {
    return this.binder.bindPod(tenant, pods, nodes, pod, target, transform);
  }

  /**
   * Binds several pods in ONE transaction (see the design note): each pod only if still unset
   * and unchanged, each node's share only if it stays within allocatable. All or nothing: on a
   * lost race nothing is written and BatchBindFailed names the pods and nodes that failed.
   * At most MAX_TRANSACT_ITEMS items (bindBatchItems); returns the bound pods in order.
   */
  async bindPods(tenant: string, pods: ResourceType, nodes: ResourceType, bindings: readonly PodBinding[]): Promise<KubeObject[]> {
    return this.binder.bindPods(tenant, pods, nodes, bindings);
  }

  /** Tenants that have registered nodes, with when their marker was (re)written (ms). */
  async listNodeTenants(): Promise<{ tenant: string; at: number }[]> {
    return this.objects.listNodeTenants();
  }

  /** Drops a tenant's marker once it has no nodes, unless a node was registered since `seenAt`. */
  async forgetNodeTenant(tenant: string, seenAt: number): Promise<void> {
    return this.objects.forgetNodeTenant(tenant, seenAt);
  }
}
