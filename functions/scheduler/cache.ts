import { isStatusError } from '../../shared/errors';
import type { KubeObject, ResourceType } from '../../shared/resources';
import type { ObjectStore } from '../../shared/store/store';
import { MutableSnapshot } from './snapshot';

const PAGE = 500;

/** Told of each change a cache applies, in order; `reset` before a fresh list refills it. */
export interface CacheListener {
  set(o: KubeObject): void;
  delete(o: KubeObject): void;
  reset(): void;
}

/**
 * A watch-fed copy of one resource type of one tenant, as an informer keeps it: listed once,
 * then brought up to date from the change log (store.changesSince, strongly consistent) each
 * time it is used. A warm scheduler therefore reads only what changed since its last
 * invocation instead of every node and pod. Contract: after `sync()` resolves the cache holds
 * at least the state as of the moment sync() started; 410 Expired falls back to a fresh list.
 */
export class ObjectCache {
  private readonly objects = new Map<string, KubeObject>();
  private version: number | undefined;
  private listener: CacheListener | undefined;

  constructor(
    private readonly store: ObjectStore,
    private readonly tenant: string,
    readonly rt: ResourceType,
  ) {}

  private static key(o: KubeObject): string {
    return `${o.metadata.namespace ?? ''}/${o.metadata.name}`;
  }

  async sync(): Promise<void> {
    if (this.version !== undefined) {
      try {
        for (;;) {
          const events = await this.store.changesSince(this.tenant, this.rt, this.version, PAGE);
          for (const e of events) {
            if (e.type === 'DELETED') this.remove(e.object);
            else this.put(e.object);
            this.version = e.resourceVersion;
          }
          if (events.length < PAGE) return;
        }
      } catch (e) {
        if (!(isStatusError(e) && e.code === 410)) throw e;
      }
    }
    const listed = await this.store.list(this.tenant, this.rt);
    this.objects.clear();
    this.listener?.reset();
    for (const o of listed.items) this.put(o);
    this.version = listed.resourceVersion;
    // The list may lag a concurrent write by one version (see store.list); replay from there.
    await this.sync();
  }

  /** The one listener told of every change (the scheduler's snapshot keeps itself up to date). */
  subscribe(listener: CacheListener): void {
    this.listener = listener;
    for (const o of this.objects.values()) listener.set(o);
  }

  get(namespace: string | undefined, name: string): KubeObject | undefined {
    return this.objects.get(`${namespace ?? ''}/${name}`);
  }

  /** Records what we just wrote, so the next decision sees it without waiting for the log. */
  put(o: KubeObject): void {
    const key = ObjectCache.key(o);
    const have = this.objects.get(key);
    if (have && Number(have.metadata.resourceVersion) >= Number(o.metadata.resourceVersion)) return;
    this.objects.set(key, o);
    this.listener?.set(o);
  }

  private remove(o: KubeObject): void {
    const key = ObjectCache.key(o);
    const have = this.objects.get(key);
    if (have && Number(have.metadata.resourceVersion) > Number(o.metadata.resourceVersion)) return; // recreated since
    this.objects.delete(key);
    this.listener?.delete(o);
  }

  values(): IterableIterator<KubeObject> {
    return this.objects.values();
  }

  get size(): number {
    return this.objects.size;
  }
}

/**
 * One tenant's scheduler cache: the node and pod caches plus the snapshot they keep up to date
 * incrementally (every change the caches apply is applied to the snapshot too), so a warm
 * scheduler decides on it without rebuilding it from all pods.
 */
export class SchedulerCache {
  readonly nodes: ObjectCache;
  readonly pods: ObjectCache;
  readonly snapshot = new MutableSnapshot();

  constructor(store: ObjectStore, tenant: string, nodes: ResourceType, pods: ResourceType) {
    this.nodes = new ObjectCache(store, tenant, nodes);
    this.pods = new ObjectCache(store, tenant, pods);
    const snapshot = this.snapshot;
    this.nodes.subscribe({ set: (n) => snapshot.setNode(n), delete: (n) => snapshot.removeNode(n.metadata.name!), reset: () => snapshot.clearNodes() });
    this.pods.subscribe({ set: (p) => snapshot.setPod(p), delete: (p) => snapshot.deletePod(p), reset: () => snapshot.clearPods() });
  }

  /** Brings nodes and pods (and so the snapshot) up to date from the change log. */
  async sync(): Promise<void> {
    await Promise.all([this.nodes.sync(), this.pods.sync()]);
  }
}

/** Per-tenant caches of a warm function instance (bounded: idle tenants are dropped first). */
export class TenantCaches {
  private readonly caches = new Map<string, SchedulerCache>();

  constructor(
    private readonly store: ObjectStore,
    private readonly nodes: ResourceType,
    private readonly pods: ResourceType,
    private readonly maxTenants = 50,
  ) {}

  of(tenant: string): SchedulerCache {
    let c = this.caches.get(tenant);
    if (c) this.caches.delete(tenant); // re-insert: Map order is our LRU order
    else c = new SchedulerCache(this.store, tenant, this.nodes, this.pods);
    this.caches.set(tenant, c);
    while (this.caches.size > this.maxTenants) this.caches.delete(this.caches.keys().next().value!);
    return c;
  }
}
