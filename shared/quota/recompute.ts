import { canonicalJson } from '../canonical';
import { isStored, resourceByName, resourceTypes, type KubeObject, type ResourceType } from '../resources';
import { ResourceQuotaSchema, type ResourceQuota } from '../schemas/quota';
import type { ObjectStore } from '../store/store';
import { groupResource } from '../store/keys';
import { addAmounts, amountsOf, count, formatAmounts, type Amounts } from './quantity';
import { chargeOf, matchingResources } from './usage';

/*
 * A ResourceQuota's status.used, exact under concurrency. Admission charges a create with a write
 * of the quota conditional on the resourceVersion it read (shared/registry/plugins/resource-quota.ts),
 * so two racing creates can never both take the last unit. The charge lands before the object
 * is written, so a recomputation from the objects alone would miss creates in flight (charged,
 * not yet stored) and let the next ones past the limit. So each charge is also written, in the
 * same conditional write, to the quota's pending ledger (annotation PENDING_ANNOTATION: object →
 * when and what it was charged). A recomputation (the quota controller; admission when status
 * is missing) counts the objects it lists, plus each pending charge whose object it did not
 * list and that is younger than PENDING_TTL_MS, and writes the result conditional on the version
 * it read before listing. An entry whose object was listed, or that is older than the TTL (its
 * create failed), is dropped. That a charge older than the TTL belongs to a failed write is
 * enforced, not assumed: the charged write is sent only within CHARGE_SEND_WINDOW_MS of the
 * charge (admission sets the write's deadline; the store's writer fails it with 504 Timeout
 * after that, writing nothing: shared/store/sequence.ts); a transaction once sent must land
 * within the TTL's remaining 5 s (the store's design note assumes such a bound D for every
 * write, store.ts (b): one transaction and the SDK's retries of it). (A longer TTL would hold a pod deleted before any
 * recomputation listed it that much longer: its entry counts until the TTL.) Before 2026-12-07 it was assumed (a create was taken to reach
 * its write within 2 s); on a loaded machine a pod's write came after the TTL (the writer's
 * queue, re-reservations), the controller's recomputation at the entry's expiry (it requeues
 * itself for then) dropped the charge without listing the pod, and the pod was stored charged
 * nowhere: used 0 right after a 201 (issue #16's flake; test/integration/quota-ledger.test.ts). An update's charge (the increase it adds: a Service made
 * NodePort, a PVC grown) is keyed `KIND/NAME@RV` with RV the version it updates: counted while
 * the object is listed at that version (its write not landed yet), dropped once the listed
 * object has another version (the listing counts the update, or whatever replaced it) or is gone.
 */

export const PENDING_ANNOTATION = 'quota.stratus.io/pending';
export const PENDING_TTL_MS = 15_000;
/** How long after its charge a charged write may still be sent (the rest of the TTL: its transaction in flight). */
export const CHARGE_SEND_WINDOW_MS = 10_000;

export interface PendingCharge {
  /** When it was charged (ms). */
  readonly at: number;
  /** What was charged (a resource list). */
  readonly usage: Record<string, string>;
}
export type PendingLedger = Record<string, PendingCharge>;

/** The ledger key of an object: `pods/web-1`, `deployments.apps/web`. */
export const pendingKey = (rt: Pick<ResourceType, 'group' | 'resource'>, name: string) => `${groupResource(rt)}/${name}`;

export function readPending(q: KubeObject): PendingLedger {
  const raw = q.metadata.annotations?.[PENDING_ANNOTATION];
  if (!raw) return {};
  try {
    const parsed = JSON.parse(raw) as unknown;
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return {};
    const out: PendingLedger = {};
    for (const [k, v] of Object.entries(parsed as Record<string, unknown>)) {
      const e = v as Partial<PendingCharge> | null;
      if (e && typeof e.at === 'number' && typeof e.usage === 'object' && e.usage !== null) out[k] = { at: e.at, usage: e.usage };
    }
    return out;
  } catch {
    return {};
  }
}

/** Entries younger than the TTL. */
export const livePending = (ledger: PendingLedger, now: number): PendingLedger => Object.fromEntries(Object.entries(ledger).filter(([, e]) => now - e.at <= PENDING_TTL_MS));

/** The quota with this status and ledger (the annotation dropped when the ledger is empty). */
export function withUsage(q: KubeObject, used: Amounts, ledger: PendingLedger): KubeObject {
  const hard = ((q.spec as ResourceQuota['spec'] | undefined)?.hard ?? {}) as Record<string, string>;
  const annotations = { ...(q.metadata.annotations ?? {}) };
  if (Object.keys(ledger).length > 0) annotations[PENDING_ANNOTATION] = JSON.stringify(ledger);
  else delete annotations[PENDING_ANNOTATION];
  const metadata: KubeObject['metadata'] = { ...q.metadata, annotations };
  if (Object.keys(annotations).length === 0) delete metadata.annotations;
  return { ...q, metadata, status: { hard: { ...hard }, used: formatAmounts(used) } };
}

/** Whether status.used is known for every resource of spec.hard and status.hard is spec.hard. */
export function usageKnown(q: ResourceQuota): boolean {
  const hard = q.spec.hard ?? {};
  const used = q.status?.used ?? {};
  return canonicalJson(q.status?.hard ?? {}) === canonicalJson(hard) && Object.keys(hard).every((k) => used[k] !== undefined);
}

/**
 * status.used from scratch: the namespace's objects of every kind the quota tracks, plus live
 * pending charges of objects not (yet) listed. Returns the usage (zero for each tracked resource
 * nothing uses) and the ledger to keep.
 */
export async function recomputeUsage(store: ObjectStore, tenant: string, raw: KubeObject, now: number): Promise<{ used: Amounts; ledger: PendingLedger }> {
  const q = ResourceQuotaSchema.parse(raw);
  const hardNames = Object.keys(q.spec.hard ?? {});
  let used: Amounts = Object.fromEntries(hardNames.map((n) => [n, count(0)]));
  const listed = new Map<string, string>();
  const namespace = q.metadata.namespace!;
  for (const rt of resourceTypes.filter((r) => r.namespaced && isStored(r) && !r.conversion)) {
    if (matchingResources(rt, hardNames).length === 0) continue;
    const { items } = await store.list(tenant, rt, { namespace, versioned: false });
    for (const o of items) {
      listed.set(pendingKey(rt, o.metadata.name!), o.metadata.resourceVersion ?? '');
      used = addAmounts(used, chargeOf(q, rt, o, now));
    }
  }
  const ledger: PendingLedger = {};
  for (const [k, e] of Object.entries(livePending(readPending(raw), now))) {
    if (!pendingCounts(k, listed)) continue;
    ledger[k] = e;
    used = addAmounts(used, amountsOf(e.usage));
  }
  return { used, ledger };
}

/** Whether a live ledger entry still adds to what the listing counted (`listed`: key → resourceVersion). */
export function pendingCounts(key: string, listed: ReadonlyMap<string, string>): boolean {
  const at = key.lastIndexOf('@');
  if (at < 0) return !listed.has(key); // a create: until its object is listed
  return listed.get(key.slice(0, at)) === key.slice(at + 1); // an update: while its version is still the one listed
}

export const resourceQuotas = () => resourceByName('resourcequotas');
