import { conflict, forbidden, isConflict, isNotFound } from '../../errors';
import type { KubeObject } from '../../resources';
import { ResourceQuotaSchema, type ResourceQuota as ResourceQuotaObject } from '../../schemas/quota';
import { addAmounts, amountsOf, formatAmounts, minus, prettyPrint, type Amounts } from '../../quota/quantity';
import { CHARGE_SEND_WINDOW_MS, livePending, pendingKey, readPending, recomputeUsage, resourceQuotas, usageKnown, withUsage } from '../../quota/recompute';
import { chargeOf, chargedResources, podConstraintsProblem, positiveDelta, updateCharged } from '../../quota/usage';
import { sleep } from '../../sleep';
import { policyObjects } from '../../quota/presence';
import { sendWriteBy, type AdmissionAttributes, type AdmissionPlugin } from '../admission';
import type { RegistryContext } from '../context';

/*
 * ResourceQuota admission (validating, after LimitRanger, as Kubernetes orders them). A create
 * of a namespaced object in a namespace with quotas is charged to every quota that tracks it:
 * the quota's status.used grows by the object's usage in one write conditional on the quota's
 * resourceVersion as read (re-read and re-decided on a conflict), so concurrent creates are
 * serialised on the quota and can never both take its last unit. Each charge is also entered in
 * the quota's pending ledger until the quota controller has seen the object
 * (shared/quota/recompute.ts tells why), and bounds when the object's write may still be sent
 * (CHARGE_SEND_WINDOW_MS after the charge; later the write fails with 504, nothing written), so
 * the ledger entry outlives any write it pays for. Refusals are Kubernetes' 403s:
 *   exceeded quota: NAME, requested: pods=1, used: pods=2, limited: pods=2
 *   failed quota: NAME: must specify limits.cpu for: c
 * A create refused by a later quota gives back what earlier ones were charged. Releases (deletes,
 * pods that finish) are the controller's (functions/controllers/resourcequota.ts).
 * Updates are charged as Kubernetes charges them (its services and PVC evaluators handle UPDATE;
 * pods and object counts only CREATE): the increase of the object's usage over the stored
 * object's, per resource (a Service made NodePort or LoadBalancer, a PVC grown), same write,
 * same messages; a decrease is released by the controller. The ledger entry of an update is
 * keyed `KIND/NAME@RV` (RV: the version updated), counted by a recomputation only while the
 * listed object still has that version (shared/quota/recompute.ts).
 * Cost: nothing in a namespace without quotas (shared/quota/presence.ts); in one with quotas, a
 * strongly consistent query of them, and per quota that tracks the object one read and one
 * versioned write (more under contention: a conflict is a re-read and another try).
 */

const MAX_ATTEMPTS = 100;

const groupResourceOf = (a: AdmissionAttributes) => (a.rt.group ? `${a.rt.resource}.${a.rt.group}` : a.rt.resource);
const refusal = (a: AdmissionAttributes, why: string) => forbidden(`${groupResourceOf(a)} "${a.name ?? ''}" is forbidden: ${why}`, { name: a.name, kind: a.rt.resource, group: a.rt.group || undefined });

/** The namespace's quotas, by name. */
async function quotasIn(ctx: RegistryContext, namespace: string): Promise<KubeObject[]> {
  const items = await policyObjects(ctx.store, ctx.tenant, 'resourcequotas', namespace, async () => (await ctx.store.list(ctx.tenant, resourceQuotas(), { namespace, versioned: false })).items);
  return [...items].sort((x, y) => (x.metadata.name! < y.metadata.name! ? -1 : 1));
}

/** The ledger key of this write's charge: `KIND/NAME` for a create, `KIND/NAME@RV` for an update of version RV. */
const ledgerKey = (a: AdmissionAttributes) => {
  const base = pendingKey(a.rt, a.name ?? '');
  return a.operation === 'UPDATE' && a.oldObject ? `${base}@${a.oldObject.metadata.resourceVersion ?? ''}` : base;
};

/** A jittered pause before re-reading a quota another create just charged. */
const backoff = (attempt: number) => sleep(Math.floor(Math.random() * Math.min(50, 5 + attempt * 5)));

/**
 * Charges one quota for `obj`: re-reads it, decides on its latest usage and writes the new usage
 * conditional on the version read. Returns what was charged ({} when the quota does not track
 * the object). Throws the 403 when the object does not fit.
 */
async function chargeQuota(ctx: RegistryContext, a: AdmissionAttributes, name: string, obj: KubeObject): Promise<Amounts> {
  const rt = resourceQuotas();
  const namespace = a.namespace!;
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const raw = await ctx.store.get(ctx.tenant, rt, namespace, name);
    if (!raw) return {}; // deleted meanwhile: nothing to charge
    const q = ResourceQuotaSchema.parse(raw);
    const now = ctx.store.clock.now();
    const charge = a.oldObject ? positiveDelta(chargeOf(q, a.rt, obj, now), chargeOf(q, a.rt, a.oldObject, now)) : chargeOf(q, a.rt, obj, now);
    if (Object.keys(charge).length === 0) return {};
    let used: Amounts;
    let ledger = livePending(readPending(raw), now);
    if (usageKnown(q)) used = amountsOf(q.status?.used);
    else ({ used, ledger } = await recomputeUsage(ctx.store, ctx.tenant, raw, now));
    const hard = amountsOf(q.spec.hard);
    const exceeded = Object.keys(charge).filter((k) => hard[k] && (used[k]?.milli ?? 0) + charge[k]!.milli > hard[k].milli);
    if (exceeded.length > 0) {
      const pick = (l: Amounts) => Object.fromEntries(exceeded.map((k) => [k, l[k] ?? { milli: 0, binary: false }]));
      throw refusal(a, `exceeded quota: ${name}, requested: ${prettyPrint(pick(charge))}, used: ${prettyPrint(pick(used))}, limited: ${prettyPrint(pick(hard))}`);
    }
    if (a.dryRun) return {};
    const key = ledgerKey(a);
    const next = withUsage(raw, addAmounts(used, charge), { ...ledger, [key]: { at: now, usage: formatAmounts(charge) } });
    try {
      await ctx.store.update(ctx.tenant, rt, next, raw.metadata.resourceVersion!);
      // The object's write must land while this charge still counts (shared/quota/recompute.ts).
      sendWriteBy(a, now + CHARGE_SEND_WINDOW_MS);
      return charge;
    } catch (e) {
      if (isNotFound(e)) return {};
      if (!isConflict(e)) throw e;
      await backoff(attempt);
    }
  }
  throw conflict('resourcequotas', name); // contended beyond reason: the client retries
}

/** Gives back a charge (a create refused by a later quota): used shrinks, the ledger entry goes. */
async function refund(ctx: RegistryContext, a: AdmissionAttributes, name: string, charge: Amounts): Promise<void> {
  const rt = resourceQuotas();
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const raw = await ctx.store.get(ctx.tenant, rt, a.namespace!, name);
    if (!raw) return;
    const q = ResourceQuotaSchema.parse(raw);
    const used = amountsOf(q.status?.used);
    for (const [k, v] of Object.entries(charge)) if (used[k]) used[k] = minus(used[k], v);
    const ledger = { ...readPending(raw) };
    delete ledger[ledgerKey(a)];
    try {
      await ctx.store.update(ctx.tenant, rt, withUsage(raw, used, ledger), raw.metadata.resourceVersion!);
      return;
    } catch (e) {
      if (isNotFound(e)) return;
      if (!isConflict(e)) throw e; // the controller repairs what a failed refund leaves
      await backoff(attempt);
    }
  }
}

export const ResourceQuota: AdmissionPlugin = {
  name: 'ResourceQuota',
  async validate(a, ctx) {
    if (a.subresource || !a.rt.namespaced || a.namespace === undefined || !a.object) return;
    if (a.operation !== 'CREATE' && !(a.operation === 'UPDATE' && a.oldObject && updateCharged(a.rt))) return;
    const quotas = await quotasIn(ctx, a.namespace);
    if (quotas.length === 0) return;
    const obj = a.object;
    // Constraints first (the pods evaluator's): a compute quota needs each container to say.
    if (a.operation === 'CREATE' && a.rt.group === '' && a.rt.resource === 'pods')
      for (const raw of quotas) {
        const q: ResourceQuotaObject = ResourceQuotaSchema.parse(raw);
        const problem = podConstraintsProblem(obj as Parameters<typeof podConstraintsProblem>[0], chargedResources(q, a.rt, obj));
        if (problem) throw refusal(a, `failed quota: ${q.metadata.name}: ${problem}`);
      }
    const charged: [string, Amounts][] = [];
    try {
      for (const raw of quotas) {
        const name = raw.metadata.name!;
        const charge = await chargeQuota(ctx, a, name, obj);
        if (Object.keys(charge).length > 0) charged.push([name, charge]);
      }
    } catch (e) {
      for (const [name, charge] of charged) await refund(ctx, a, name, charge).catch(() => undefined);
      throw e;
    }
  },
};
