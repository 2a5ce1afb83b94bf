import { canonicalJson } from '../../shared/canonical';
import { isConflict, isNotFound } from '../../shared/errors';
import type { KubeObject } from '../../shared/resources';
import { PENDING_ANNOTATION, PENDING_TTL_MS, readPending, recomputeUsage, resourceQuotas, withUsage } from '../../shared/quota/recompute';
import type { ObjectChange } from '../../shared/store/changes';
import { formatAmounts } from '../../shared/quota/quantity';
import { updateCharged, usageOf } from '../../shared/quota/usage';
import type { ControllerContext } from './apply';
import type { ControllerKey } from './dispatch';

/*
 * The ResourceQuota controller (Kubernetes' resourcequota controller, stream-driven): recomputes
 * a quota's status.used from scratch and writes it conditional on the version it read, which
 * releases what deleted objects and finished pods held and repairs any drift (a create charged
 * by admission that then failed). Admission's charges stay exact meanwhile: the recomputation
 * counts their pending ledger (shared/quota/recompute.ts). Keys: `resourcequotas||NS|NAME` for
 * one quota (its creation, a spec change, a new charge); `resourcequotas||NS|*` for every quota
 * of a namespace (an object removed there, a pod that finished or is being deleted, a Service or
 * PVC whose usage changed). While a
 * ledger holds charges the quota requeues itself for when they expire.
 */

const ALL = '*';
const MAX_ATTEMPTS = 20;

const quotaKey = (namespace: string, name: string): ControllerKey => ({ controller: 'resourcequotas', namespace, name });

const specOf = (o: KubeObject | undefined) => canonicalJson(o?.spec ?? {});
const ledgerOf = (o: KubeObject | undefined) => o?.metadata.annotations?.[PENDING_ANNOTATION] ?? '';
const podState = (o: KubeObject | undefined) => {
  const phase = (o?.status as { phase?: string } | undefined)?.phase;
  return `${phase === 'Succeeded' || phase === 'Failed'}|${o?.metadata.deletionTimestamp ?? ''}`;
};

const usageKey = (c: ObjectChange, o: KubeObject) => canonicalJson(formatAmounts(usageOf(c, o, 0)));

/** The quota keys one change concerns. */
export function quotaKeysFor(c: ObjectChange): ControllerKey[] {
  const obj = c.newObject ?? c.oldObject;
  const namespace = obj?.metadata.namespace;
  if (!obj || !namespace || c.resource === 'events') return [];
  const keys: ControllerKey[] = [];
  if (c.group === '' && c.resource === 'resourcequotas' && c.eventName !== 'REMOVE') {
    // Created, spec changed, or charged by admission (its ledger grew): recompute it.
    const before = c.oldObject ? readPending(c.oldObject) : {};
    const charged = c.newObject !== undefined && Object.keys(readPending(c.newObject)).some((k) => !(k in before));
    if (c.eventName === 'INSERT' || specOf(c.newObject) !== specOf(c.oldObject) || charged) keys.push(quotaKey(namespace, obj.metadata.name!));
  }
  if (c.eventName === 'REMOVE') keys.push(quotaKey(namespace, ALL));
  if (c.group === '' && c.resource === 'pods' && c.eventName === 'MODIFY' && podState(c.oldObject) !== podState(c.newObject)) keys.push(quotaKey(namespace, ALL));
  // A Service or PVC whose usage changed (type, ports, storage): an increase was charged by
  // admission and its ledger entry can go; a decrease is released here.
  if (c.eventName === 'MODIFY' && updateCharged(c) && c.oldObject && c.newObject && usageKey(c, c.oldObject) !== usageKey(c, c.newObject)) keys.push(quotaKey(namespace, ALL));
  return keys;
}

/** Recomputes one quota until its write lands (or nothing changed); returns when its ledger's next charge expires. */
async function syncOne(ctx: ControllerContext, namespace: string, name: string): Promise<number | undefined> {
  const rt = resourceQuotas();
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const raw = await ctx.store.get(ctx.tenant, rt, namespace, name);
    if (!raw || raw.metadata.deletionTimestamp) return undefined;
    const now = ctx.store.clock.now();
    const { used, ledger } = await recomputeUsage(ctx.store, ctx.tenant, raw, now);
    const next = withUsage(raw, used, ledger);
    const expires = Object.values(ledger).map((e) => e.at + PENDING_TTL_MS);
    const due = expires.length > 0 ? Math.min(...expires) : undefined;
    if (canonicalJson(next.status) === canonicalJson(raw.status ?? null) && ledgerOf(next) === ledgerOf(raw)) return due;
    try {
      await ctx.store.update(ctx.tenant, rt, next, raw.metadata.resourceVersion!);
      return due;
    } catch (e) {
      if (isNotFound(e)) return undefined;
      if (!isConflict(e)) throw e; // charged meanwhile: read and count again
    }
  }
  throw new Error(`resourcequota ${namespace}/${name}: status write kept conflicting`);
}

export async function syncResourceQuotas(ctx: ControllerContext, namespace: string, name: string): Promise<void> {
  const names =
    name === ALL ? (await ctx.store.list(ctx.tenant, resourceQuotas(), { namespace, versioned: false })).items.map((q) => q.metadata.name!) : [name];
  for (const n of names) {
    const due = await syncOne(ctx, namespace, n);
    if (due !== undefined) await ctx.coordination.requeueAt(ctx.tenant, `resourcequotas||${namespace}|${n}` /* dispatch.ts keyString */, new Date(due + 1_000));
  }
}
