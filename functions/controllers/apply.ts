import pLimit from 'p-limit';
import { isAlreadyExists, isConflict, isNotFound, isStatusError } from '../../shared/errors';
import { recordEvent } from '../../shared/events';
import { systemContext, type RegistryContext } from '../../shared/registry/context';
import { generateNameSuffix } from '../../shared/registry/decode';
import { createObject, deleteObject, updateWhole } from '../../shared/registry/generic';
import { namespaceOf } from '../../shared/registry/plugins/namespace-lifecycle';
import { resourceByName } from '../../shared/resources';
import type { ObjectStore } from '../../shared/store/store';
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
async function createOne(ctx: ControllerContext, reg: RegistryContext, component: string, a: CreateAction): Promise<boolean> {
  const rt = resourceByName(a.resource);
  for (let attempt = 0; ; attempt++) {
    const obj = structuredClone(a.object);
    if (a.generateName) obj.metadata.name = `${a.generateName}${generateNameSuffix()}`;
    try {
      // The same create an API request makes: defaults, admission, validation (422), size (413).
      const { object: created } = await createObject(reg, { rt, namespace: obj.metadata.namespace }, obj);
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
  const reg = systemContext(ctx.store, ctx.tenant);
  let namespaceChecked = false;
  for (let i = 0; i < actions.length; ) {
    const a = actions[i]!;
    if (a.type === 'create') {
      let j = i;
      while (j < actions.length && actions[j]!.type === 'create' && (actions[j] as CreateAction).resource === a.resource) j++;
      const group = (actions.slice(i, j) as CreateAction[]).slice(0, BURST);
      if (!namespaceChecked && a.object.metadata.namespace) {
        // A namespace gone or going away: create nothing (the lookup is memoised for admission).
        const ns = await namespaceOf(reg, a.object.metadata.namespace);
        if (!ns || ns.metadata.deletionTimestamp) return;
        namespaceChecked = true;
      }
      let size = SLOW_START_INITIAL;
      for (let k = 0; k < group.length; ) {
        const round = group.slice(k, k + size);
        const ok = await Promise.all(round.map((c) => createOne(ctx, reg, component, c)));
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
          await deleteObject(
            reg,
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
        await updateWhole(reg, rt, a.object);
        if (a.event) await event(ctx, component, a.event);
      } catch (e) {
        if (!isNotFound(e)) throw e;
      }
    } else if (a.type === 'event') await event(ctx, component, a.note);
    else if (a.type === 'requeueAt') await ctx.coordination.requeueAt(ctx.tenant, key, a.at);
    i++;
  }
}
