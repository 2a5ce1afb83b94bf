import { GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { sleep } from '../sleep';
import type { ObjectStore } from '../store/store';

/*
 * Whether a namespace has ResourceQuotas (or LimitRanges), answered for admission without a read
 * per create, so that a namespace with neither costs nothing extra per pod create.
 * A per-cluster generation counter (one item, `${tenant}#~quota-generation` in the changes table,
 * not streamed) is bumped after every committed create of either kind (the kinds' allocate
 * commit hook). Each warm instance remembers which namespaces it listed and found empty, under
 * the generation it read before listing, and re-reads the counter at most once a second: a new
 * quota applies on every instance within STALE_MS (on the instance that created it, at once).
 * So the create of a quota or LimitRange answers only SETTLE_MS (STALE_MS and a margin for the
 * instances' clocks) after its bump (announcePolicy): every instance's remembered "none" for
 * its namespace is stale by then, so a create that starts after the quota's create returned is
 * checked against it (charged), on any instance, as in Kubernetes; only a create concurrent
 * with it may pass uncharged. Before 2026-12-07 the answer came at once, and a pod created
 * right after it on another instance could be admitted uncharged for up to 1 s.
 * Only "none" is remembered; a namespace with quotas is listed on every create (the charge needs
 * their latest state anyway). Kubernetes' quota admission has the same kind of window (its
 * informer, and a 30 s cache of live lookups).
 * Cost: 1 write unit and SETTLE_MS of waiting (≈ 0.55 GB-s at 512 MB) per quota or LimitRange
 * create; per instance and cluster at most one
 * strongly consistent GetItem a second (1 read unit) while creates come in; a namespace's list
 * once per generation.
 */

const STALE_MS = 1_000;
/** How long a quota or LimitRange create waits after its bump: STALE_MS and 100 ms for clocks. */
export const SETTLE_MS = STALE_MS + 100;
const MAX_TENANTS = 10_000;

export type PolicyKind = 'resourcequotas' | 'limitranges';

interface Entry {
  generation: number;
  checkedAt: number;
  /** `${kind}/${namespace}` listed empty under `generation`. */
  readonly none: Set<string>;
}
const cache = new Map<string, Entry>();

const key = (tenant: string) => ({ pk: `${tenant}#~quota-generation`, sk: 'generation' });

export async function bumpQuotaGeneration(store: ObjectStore, tenant: string): Promise<void> {
  await store.doc.send(new UpdateCommand({ TableName: store.config.changesTable, Key: key(tenant), UpdateExpression: 'ADD gen :one', ExpressionAttributeValues: { ':one': 1 } }));
  cache.delete(tenant); // this instance sees its own create at once
}

/**
 * After a committed create of a quota or LimitRange: bumps the generation, then waits until no
 * instance can still take the namespace for one without (SETTLE_MS).
 */
export async function announcePolicy(store: ObjectStore, tenant: string): Promise<void> {
  await bumpQuotaGeneration(store, tenant);
  await sleep(SETTLE_MS);
}

async function readGeneration(store: ObjectStore, tenant: string): Promise<number> {
  const out = await store.doc.send(new GetCommand({ TableName: store.config.changesTable, Key: key(tenant), ConsistentRead: true, ProjectionExpression: 'gen' }));
  return typeof out.Item?.gen === 'number' ? out.Item.gen : 0;
}

/** The cache entry of a tenant, fresh within STALE_MS. */
async function entryOf(store: ObjectStore, tenant: string): Promise<Entry> {
  const now = Date.now();
  const hit = cache.get(tenant);
  if (hit && now - hit.checkedAt < STALE_MS) return hit;
  const generation = await readGeneration(store, tenant);
  if (hit && hit.generation === generation) {
    hit.checkedAt = now;
    return hit;
  }
  if (cache.size > MAX_TENANTS) cache.clear();
  const entry: Entry = { generation, checkedAt: now, none: new Set() };
  cache.set(tenant, entry);
  return entry;
}

/**
 * The namespace's objects of `kind` as `list` returns them, or [] without a read when this
 * instance listed none there under the current generation.
 */
export async function policyObjects<T>(store: ObjectStore, tenant: string, kind: PolicyKind, namespace: string, list: () => Promise<T[]>): Promise<T[]> {
  const entry = await entryOf(store, tenant);
  const k = `${kind}/${namespace}`;
  if (entry.none.has(k)) return [];
  const generation = entry.generation;
  const items = await list();
  if (items.length === 0 && cache.get(tenant) === entry && entry.generation === generation) entry.none.add(k);
  return items;
}
