import { resourceByName } from '../resources';
import type { Binding, Role } from '../schemas/rbac';
import type { ObjectStore } from '../store/store';
import { ensureBootstrapPolicy } from './bootstrap-policy';
import { buildRbacData, type RbacData } from './rbac';

/*
 * The RBAC objects of each cluster, cached per api function instance. Instances never see stream
 * events, so an entry is trusted for at most STALENESS_MS; after that the next request reads the
 * cluster's RBAC generation (one strongly consistent GetItem: shared/store/generation.ts) and
 * lists the four kinds again only if it moved (or the entry is older than MAX_AGE_MS, which
 * covers a writer that died between its commit and its bump). So a change of RBAC takes effect
 * on every instance within STALENESS_MS plus one read; see docs/cost.md for what it costs.
 */

export const STALENESS_MS = 1_000;
export const MAX_AGE_MS = 60_000;

interface Entry {
  data: RbacData;
  generation: number;
  checkedAt: number;
  loadedAt: number;
}

export class RbacCache {
  private readonly entries = new Map<string, Entry>();
  private readonly inflight = new Map<string, Promise<RbacData>>();
  private readonly healed = new Set<string>();

  constructor(private readonly now: () => number = Date.now) {}

  /** The cluster's RBAC snapshot, at most STALENESS_MS behind its last write. */
  async get(store: ObjectStore, tenant: string): Promise<RbacData> {
    const e = this.entries.get(tenant);
    const now = this.now();
    if (e && now - e.checkedAt < STALENESS_MS) return e.data;
    const running = this.inflight.get(tenant);
    if (running) return running;
    const p = this.refresh(store, tenant, e).finally(() => this.inflight.delete(tenant));
    this.inflight.set(tenant, p);
    return p;
  }

  /** Forgets a cluster (tests, and the writes of this instance that must show at once). */
  invalidate(tenant: string): void {
    this.entries.delete(tenant);
  }

  private async refresh(store: ObjectStore, tenant: string, e: Entry | undefined): Promise<RbacData> {
    const started = this.now();
    const generation = await store.rbacGeneration(tenant);
    if (e && e.generation === generation && started - e.loadedAt < MAX_AGE_MS) {
      e.checkedAt = started;
      return e.data;
    }
    let data = await load(store, tenant);
    // A cluster made before its default policy was (or that lost cluster-admin): made again, once
    // per instance, as kube-apiserver reconciles the bootstrap policy when it starts.
    if (!data.clusterRoles.has('cluster-admin') && !this.healed.has(tenant)) {
      this.healed.add(tenant);
      await ensureBootstrapPolicy(store, tenant);
      data = await load(store, tenant);
    }
    this.entries.set(tenant, { data, generation, checkedAt: started, loadedAt: started });
    if (this.entries.size > 10_000) this.entries.clear();
    return data;
  }
}

async function load(store: ObjectStore, tenant: string): Promise<RbacData> {
  const list = async <T>(resource: string) => (await store.list(tenant, resourceByName(resource), { versioned: false })).items as unknown as T[];
  const [roles, clusterRoles, roleBindings, clusterRoleBindings] = await Promise.all([
    list<Role>('roles'),
    list<Role>('clusterroles'),
    list<Binding>('rolebindings'),
    list<Binding>('clusterrolebindings'),
  ]);
  return buildRbacData({ roles, clusterRoles, roleBindings, clusterRoleBindings });
}

/** The instance's cache (one per process, as the token cache). */
export const rbacCache = new RbacCache();
