import pLimit from 'p-limit';
import { isAlreadyExists, isConflict, isNotFound, isStatusError } from '../../shared/errors';
import { recordEvent } from '../../shared/events';
import { resourceByName, type KubeObject } from '../../shared/resources';
import type { ObjectStore } from '../../shared/store/store';
import { admitNew, generateNameSuffix } from '../api/admission';
import { deleteAs, requireNamespace } from '../api/rest';
import type { Action, EventNote } from './actions';
import type { Coordination } from './coordination';

/** What a controller run needs: one tenant's store, the leases/timers, and the time it reconciles at. */
export interface ControllerContext {
  readonly store: ObjectStore;
  readonly coordination: Coordination;
  readonly tenant: string;
  readonly now: Date;
}

/** Kubernetes' burstReplicas: at most this many creates per reconcile. */
export const BURST = 500;
/** Creates start with one and double per round, so a broken template fails once, not 500 times. */
const SLOW_START_INITIAL = 1;
const DELETE_CONCURRENCY = 16;

/**
 * The very admission an API create applies (admitNew), for objects that controllers create:
 * defaults, system-owned pod status, scheduling admission, validation (422) and size (413).
 */
export async function admit(store: ObjectStore, tenant: string, resource: string, obj: KubeObject): Promise<KubeObject> {
  return admitNew(store, tenant, resourceByName(resource), structuredClone(obj));
}

async function event(ctx: ControllerContext, component: string, note: EventNote) {
  await recordEvent(ctx.store, ctx.tenant, note.about, { type: note.type, reason: note.reason, message: note.message, component });
}

/** fn over every item, at most `size` at once. */
async function eachBounded<T>(items: readonly T[], size: number, fn: (item: T) => Promise<void>) {
  const limit = pLimit(size);
  await Promise.all(items.map((item) => limit(() => fn(item))));
}

type CreateAction = Extract<Action, { type: 'create' }>;

/** Returns false when the create failed in a way only a spec change can fix (recorded as an event). */
async function createOne(ctx: ControllerContext, component: string, a: CreateAction): Promise<boolean> {
  const rt = resourceByName(a.resource);
  for (let attempt = 0; ; attempt++) {
    const obj = structuredClone(a.object);
    if (a.generateName) obj.metadata.name = `${a.generateName}${generateNameSuffix()}`;
    try {
      const created = await ctx.store.create(ctx.tenant, rt, await admit(ctx.store, ctx.tenant, a.resource, obj));
      if (a.event) await event(ctx, component, { ...a.event, about: a.event.about ?? created, message: a.event.message.replace('$NAME', created.metadata.name!) });
      return true;
    } catch (e) {
      if (a.generateName && isAlreadyExists(e) && attempt < 3) continue;
      // A fixed name that exists already: an earlier (replayed) run made it; the next reconcile sees it.
      if (!a.generateName && isAlreadyExists(e)) return true;
      if (isStatusError(e) && (e.code === 422 || e.code === 403) && a.event) {
        await event(ctx, component, { about: a.event.about ?? a.object, type: 'Warning', reason: 'FailedCreate', message: `Error creating: ${e.message}` });
        return false;
      }
      throw e;
    }
  }
}

/**
 * Carries out a reconcile's actions in order. Creates run in slow-start rounds (1, 2, 4, ...);
 * deletes run concurrently. A Conflict is thrown (the caller re-reads and reconciles again);
 * NotFound on update/delete means done. Objects whose last finalizer an update removed are
 * removed, as an API update would.
 */
export async function applyActions(ctx: ControllerContext, component: string, key: string, actions: readonly Action[]): Promise<void> {
  let namespaceChecked = false;
  for (let i = 0; i < actions.length; ) {
    const a = actions[i]!;
    if (a.type === 'create') {
      let j = i;
      while (j < actions.length && actions[j]!.type === 'create' && (actions[j] as CreateAction).resource === a.resource) j++;
      const group = (actions.slice(i, j) as CreateAction[]).slice(0, BURST);
      if (!namespaceChecked && a.object.metadata.namespace) {
        try {
          await requireNamespace({ store: ctx.store, tenant: ctx.tenant }, resourceByName(a.resource), a.object.metadata.namespace);
        } catch (e) {
          if (isStatusError(e) && (e.code === 403 || e.code === 404)) return; // namespace going away: create nothing
          throw e;
        }
        namespaceChecked = true;
      }
      let size = SLOW_START_INITIAL;
      for (let k = 0; k < group.length; ) {
        const round = group.slice(k, k + size);
        const ok = await Promise.all(round.map((c) => createOne(ctx, component, c)));
        if (ok.includes(false)) break; // the rest would fail the same way
        k += round.length;
        size *= 2;
      }
      i = j;
      continue;
    }
    if (a.type === 'delete') {
      let j = i;
      while (j < actions.length && actions[j]!.type === 'delete') j++;
      const group = actions.slice(i, j) as Extract<Action, { type: 'delete' }>[];
      await eachBounded(group, DELETE_CONCURRENCY, async (d) => {
        try {
          await deleteAs(
            { store: ctx.store, tenant: ctx.tenant },
            { rt: resourceByName(d.resource), namespace: d.namespace, name: d.name },
            { propagationPolicy: d.propagationPolicy, preconditions: d.uid ? { uid: d.uid } : undefined },
          );
          if (d.event) await event(ctx, component, d.event);
        } catch (e) {
          if (isNotFound(e)) return;
          if (isConflict(e) && d.uid) return; // a different object by that name now: not ours to delete
          throw e;
        }
      });
      i = j;
      continue;
    }
    if (a.type === 'update') {
      const rt = resourceByName(a.resource);
      try {
        const updated = await ctx.store.update(ctx.tenant, rt, a.object, a.object.metadata.resourceVersion!);
        const m = updated.metadata;
        if (m.deletionTimestamp && (m.finalizers ?? []).length === 0 && (a.resource !== 'pods' || m.deletionGracePeriodSeconds === 0)) {
          await ctx.store.remove(ctx.tenant, rt, m.namespace, m.name!, m.resourceVersion).catch((e) => {
            if (!isNotFound(e) && !isConflict(e)) throw e;
          });
        }
        if (a.event) await event(ctx, component, a.event);
      } catch (e) {
        if (!isNotFound(e)) throw e;
      }
    } else if (a.type === 'event') await event(ctx, component, a.note);
    else if (a.type === 'requeueAt') await ctx.coordination.requeueAt(ctx.tenant, key, a.at);
    i++;
  }
}
