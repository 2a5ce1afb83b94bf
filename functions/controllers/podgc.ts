import { isConflict, isNotFound } from '../../shared/errors';
import { recordEvent } from '../../shared/events';
import { resourceByName } from '../../shared/resources';
import { systemContext } from '../../shared/registry/context';
import { deleteObject } from '../../shared/registry/generic';
import type { ControllerContext } from './apply';
import { keyString } from './dispatch';

/*
 * Kubernetes' pod garbage collector, orphaned pods (pkg/controller/podgc gcOrphaned): a pod bound
 * to a Node that no longer exists has no kubelet to stop it or report it, so it would stay
 * Running on paper forever and its controllers would never replace it. When a Node is removed
 * (the controllers' stream, dispatch.ts) its pods are force-deleted (grace 0, uid precondition,
 * as PodGC does), and their ReplicaSets, StatefulSets, DaemonSets or Jobs react as to any delete.
 *
 * The node's pods come from the byNode index, which is eventually consistent: a pod bound just
 * before the Node went away may show up a moment later, so one check runs again a little later
 * (a timer), and again only while pods were found.
 */
const nodesRt = resourceByName('nodes');
const podsRt = resourceByName('pods');
/** Kubernetes waits 40 s (quarantineTime) before it trusts that a node is gone; one stream hop is enough here. */
export const RECHECK_AFTER_MS = 15_000;

/**
 * One pass over a removed node's pods. `recheck` is the timer's pass: it looks again only while it
 * still finds pods; the stream's pass always asks for one recheck (the index may lag).
 */
export async function collectOrphanedPods(ctx: ControllerContext, nodeName: string, recheck: boolean): Promise<number> {
  // A node of that name back (re-registered) owns its pods again.
  if (await ctx.store.get(ctx.tenant, nodesRt, undefined, nodeName)) return 0;
  const pods = await ctx.store.listPodsOnNode(ctx.tenant, podsRt, nodeName);
  let deleted = 0;
  for (const pod of pods) {
    const { namespace, name, uid } = pod.metadata;
    try {
      await deleteObject(systemContext(ctx.store, ctx.tenant), { rt: podsRt, namespace, name }, { gracePeriodSeconds: 0, preconditions: { uid } });
      deleted++;
      await recordEvent(ctx.store, ctx.tenant, pod, {
        type: 'Normal',
        reason: 'DeletionByPodGC',
        message: `PodGC: node ${nodeName} no longer exists`,
        component: 'pod-garbage-collector',
      });
    } catch (e) {
      if (!isNotFound(e) && !isConflict(e)) throw e; // gone, or another pod by that name now
    }
  }
  if (!recheck || deleted > 0) await ctx.coordination.requeueAt(ctx.tenant, podGcKey(nodeName, true), new Date(ctx.now.getTime() + RECHECK_AFTER_MS));
  return deleted;
}

/** The controller key (as a string) of a node's pod GC pass; `recheck` for the timer's. */
export const podGcKey = (nodeName: string, recheck: boolean) =>
  keyString({ controller: 'podgc', ...(recheck ? { resource: 'recheck' } : {}), namespace: '', name: nodeName });
