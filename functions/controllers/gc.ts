import { isStored, resourceTypes, type KubeObject, type ResourceType } from '../../shared/resources';
import type { Action } from './actions';
import { applyActions, type ControllerContext } from './apply';
import type { OwnerReference } from './common';

/*
 * The garbage collector, level-triggered from the objects stream:
 * - Background: an owner went away → its dependents that have no live owner left are deleted
 *   (a dependent with other live owners only loses the dangling reference).
 * - Foreground: an owner marked with the foregroundDeletion finalizer → its dependents are
 *   deleted; once none that block owner deletion remain, the finalizer goes (and the owner).
 * - Orphan: an owner marked with the orphan finalizer → dependents lose the reference; then the
 *   finalizer goes.
 * - A dependent created after its owner was gone (a controller that read its owner just before
 *   the delete) is caught on its creation: all owners missing → deleted.
 * Finding dependents lists the namespace's objects of every namespaced kind but events and
 * filters by owner uid: O(objects in the namespace) per owner deletion, fine at this scale (an
 * owner-uid index would make it O(dependents)).
 */

export const COMPONENT = 'garbage-collector';
export const FOREGROUND = 'foregroundDeletion';
export const ORPHAN = 'orphan';

const dependentTypes = () => resourceTypes.filter((rt) => rt.namespaced && rt.resource !== 'events' && isStored(rt));
const refsOf = (o: KubeObject) => (o.metadata.ownerReferences ?? []) as OwnerReference[];

/** The resource type an owner reference names, by apiVersion and kind. */
export function ownerType(ref: OwnerReference): ResourceType | undefined {
  const [group, version] = ref.apiVersion.includes('/') ? ref.apiVersion.split('/') : ['', ref.apiVersion];
  return resourceTypes.find((rt) => rt.group === group && rt.version === version && rt.kind === ref.kind);
}

async function dependentsOf(ctx: ControllerContext, namespace: string, ownerUid: string): Promise<{ rt: ResourceType; obj: KubeObject }[]> {
  const out: { rt: ResourceType; obj: KubeObject }[] = [];
  for (const rt of dependentTypes()) {
    const { items } = await ctx.store.list(ctx.tenant, rt, { namespace, versioned: false, filter: (o) => refsOf(o).some((r) => r.uid === ownerUid) });
    for (const obj of items) out.push({ rt, obj });
  }
  return out;
}

/** Whether the owner a reference names exists (same uid). Unknown kinds count as existing: never delete on doubt. */
async function ownerExists(ctx: ControllerContext, namespace: string | undefined, ref: OwnerReference): Promise<boolean> {
  const rt = ownerType(ref);
  if (!rt) return true;
  const owner = await ctx.store.get(ctx.tenant, rt, rt.namespaced ? namespace : undefined, ref.name);
  return owner?.metadata.uid === ref.uid;
}

/** Pure: what to do with a dependent given which of its owners are still there. */
export function decideDependent(rt: ResourceType, dep: KubeObject, live: ReadonlySet<string>): Action | undefined {
  const refs = refsOf(dep);
  const dangling = refs.filter((r) => !live.has(r.uid));
  if (dangling.length === 0 || dep.metadata.deletionTimestamp) return undefined;
  if (dangling.length === refs.length)
    return { type: 'delete', resource: rt.resource, namespace: dep.metadata.namespace!, name: dep.metadata.name!, uid: dep.metadata.uid, propagationPolicy: 'Background' };
  const copy = structuredClone(dep);
  copy.metadata.ownerReferences = refs.filter((r) => live.has(r.uid));
  return { type: 'update', resource: rt.resource, object: copy };
}

async function liveOwners(ctx: ControllerContext, dep: KubeObject): Promise<Set<string>> {
  const live = new Set<string>();
  for (const r of refsOf(dep)) if (await ownerExists(ctx, dep.metadata.namespace, r)) live.add(r.uid);
  return live;
}

/** An owner is gone: collect its dependents that have no live owner left. */
export async function collectDependents(ctx: ControllerContext, key: string, namespace: string, ownerUid: string): Promise<void> {
  const actions: Action[] = [];
  for (const { rt, obj } of await dependentsOf(ctx, namespace, ownerUid)) {
    const a = decideDependent(rt, obj, await liveOwners(ctx, obj));
    if (a) actions.push(a);
  }
  await applyActions(ctx, COMPONENT, key, actions);
}

/** A new object: if every owner it names is already gone, it is garbage. */
export async function verifyOwners(ctx: ControllerContext, key: string, rt: ResourceType, namespace: string, name: string): Promise<void> {
  const obj = await ctx.store.get(ctx.tenant, rt, namespace, name);
  if (!obj || refsOf(obj).length === 0) return;
  const a = decideDependent(rt, obj, await liveOwners(ctx, obj));
  if (a) await applyActions(ctx, COMPONENT, key, [a]);
}

/** An owner being deleted in Foreground or Orphan mode: process dependents, then drop the finalizer. */
export async function finalizeOwner(ctx: ControllerContext, key: string, rt: ResourceType, namespace: string, name: string): Promise<void> {
  const owner = await ctx.store.get(ctx.tenant, rt, rt.namespaced ? namespace : undefined, name);
  if (!owner?.metadata.deletionTimestamp) return;
  const finalizers = owner.metadata.finalizers ?? [];
  if (!finalizers.includes(FOREGROUND) && !finalizers.includes(ORPHAN)) return;
  const uid = owner.metadata.uid!;
  const deps = rt.namespaced ? await dependentsOf(ctx, namespace, uid) : [];
  const actions: Action[] = [];
  let drop: string;
  if (finalizers.includes(ORPHAN)) {
    for (const { rt: drt, obj } of deps) {
      const copy = structuredClone(obj);
      const refs = refsOf(obj).filter((r) => r.uid !== uid);
      if (refs.length) copy.metadata.ownerReferences = refs;
      else delete copy.metadata.ownerReferences;
      actions.push({ type: 'update', resource: drt.resource, object: copy });
    }
    drop = ORPHAN;
  } else {
    for (const { rt: drt, obj } of deps) {
      if (obj.metadata.deletionTimestamp) continue;
      actions.push({ type: 'delete', resource: drt.resource, namespace: obj.metadata.namespace!, name: obj.metadata.name!, uid: obj.metadata.uid, propagationPolicy: drt.resource === 'pods' ? undefined : 'Foreground' });
    }
    const blocking = deps.filter(({ obj }) => refsOf(obj).some((r) => r.uid === uid && r.blockOwnerDeletion));
    if (blocking.length > 0) {
      // Wait: each blocking dependent's removal comes back on the stream and brings us here.
      await applyActions(ctx, COMPONENT, key, actions);
      return;
    }
    drop = FOREGROUND;
  }
  await applyActions(ctx, COMPONENT, key, actions);
  // Dependents done: drop the finalizer (the applier removes the owner with its last one).
  const fresh = await ctx.store.get(ctx.tenant, rt, rt.namespaced ? namespace : undefined, name);
  if (!fresh || fresh.metadata.uid !== uid) return;
  const next = structuredClone(fresh);
  next.metadata.finalizers = (fresh.metadata.finalizers ?? []).filter((f) => f !== drop);
  await applyActions(ctx, COMPONENT, key, [{ type: 'update', resource: rt.resource, object: next }]);
}
