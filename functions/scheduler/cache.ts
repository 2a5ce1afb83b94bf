import { isStatusError } from '../../shared/errors';
import type { KubeObject, ResourceType } from '../../shared/resources';
import type { ObjectStore } from '../../shared/store/store';

const PAGE = 500;

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
            if (e.type === 'DELETED') this.objects.delete(ObjectCache.key(e.object));
            else this.objects.set(ObjectCache.key(e.object), e.object);
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
    for (const o of listed.items) this.objects.set(ObjectCache.key(o), o);
    this.version = listed.resourceVersion;
    // The list may lag a concurrent write by one version (see store.list); replay from there.
    await this.sync();
  }

  get(namespace: string | undefined, name: string): KubeObject | undefined {
    return this.objects.get(`${namespace ?? ''}/${name}`);
  }

  /** Records what we just wrote, so the next decision sees it without waiting for the log. */
  put(o: KubeObject): void {
    const key = ObjectCache.key(o);
    const have = this.objects.get(key);
    if (!have || Number(have.metadata.resourceVersion) < Number(o.metadata.resourceVersion)) this.objects.set(key, o);
  }

  values(): IterableIterator<KubeObject> {
    return this.objects.values();
  }

  get size(): number {
    return this.objects.size;
  }
}

/** Per-tenant caches of a warm function instance (bounded: idle tenants are dropped first). */
export class TenantCaches {
  private readonly caches = new Map<string, { nodes: ObjectCache; pods: ObjectCache }>();

  constructor(
    private readonly store: ObjectStore,
    private readonly nodes: ResourceType,
    private readonly pods: ResourceType,
    private readonly maxTenants = 50,
  ) {}

  of(tenant: string): { nodes: ObjectCache; pods: ObjectCache } {
    let c = this.caches.get(tenant);
    if (c) this.caches.delete(tenant); // re-insert: Map order is our LRU order
    else c = { nodes: new ObjectCache(this.store, tenant, this.nodes), pods: new ObjectCache(this.store, tenant, this.pods) };
    this.caches.set(tenant, c);
    while (this.caches.size > this.maxTenants) this.caches.delete(this.caches.keys().next().value!);
    return c;
  }
}
