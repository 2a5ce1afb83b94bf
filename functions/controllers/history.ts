import { canonicalJson } from '../../shared/canonical';
import type { KubeObject } from '../../shared/resources';
import type { LabelSelector, PodTemplateSpec } from '../../shared/schemas/apps';
import type { Action } from './actions';
import { claim } from './claim';
import { newControllerRef } from './common';

/*
 * ControllerRevisions of DaemonSets and StatefulSets, as Kubernetes' controller history
 * (pkg/controller/history, daemon/update.go constructHistory and cleanupHistory, statefulset
 * truncateHistory) keeps them: one immutable revision per pod template, named
 * `<owner>-<hash>`, labelled with the template's labels and controller-revision-hash, owned by
 * the set. `data` is the strategic merge patch that restores the template, which is what
 * `kubectl rollout history` shows and `kubectl rollout undo` sends back:
 * `{"spec":{"template":{...,"$patch":"replace"}}}`. A template that comes back (an undo) reuses its
 * revision object, whose number moves to the newest; old revisions beyond revisionHistoryLimit
 * that no live pod uses are deleted, oldest first.
 * Not done: hash collisions with another owner's revision (Kubernetes' collisionCount).
 */

export const REVISION_HASH_LABEL = 'controller-revision-hash';

/** The patch a ControllerRevision holds, keys sorted as Kubernetes' (Go map) encoding writes them. */
export function revisionData(template: PodTemplateSpec | undefined): unknown {
  return JSON.parse(canonicalJson({ spec: { template: { ...(template ?? {}), $patch: 'replace' } } }));
}

export const revisionOf = (cr: KubeObject) => (typeof cr.revision === 'number' ? cr.revision : 0);

export interface HistoryInput {
  /** The DaemonSet or StatefulSet (as stored). */
  readonly owner: KubeObject;
  readonly apiVersion: string;
  readonly kind: string;
  readonly selector: LabelSelector | undefined;
  readonly template: PodTemplateSpec | undefined;
  /** The revision name of the current template (`<owner>-<hash>`). */
  readonly name: string;
  /** Its controller-revision-hash label value. */
  readonly hash: string;
  /** The namespace's ControllerRevisions (claiming needs the orphans too). */
  readonly revisions: readonly KubeObject[];
  /** Revision names that live pods or the status still use: never cleaned up. */
  readonly inUse: ReadonlySet<string>;
  /** revisionHistoryLimit: old revisions kept beyond those in use. */
  readonly limit: number;
}

export interface History {
  readonly actions: Action[];
  /** The revision number the current template has (after this reconcile's writes). */
  readonly revision: number;
}

/** Pure: the writes that make the owner's history hold its current template as the newest revision. */
export function reconcileHistory(h: HistoryInput): History {
  const actions: Action[] = [];
  const ref = newControllerRef(h.owner, h.apiVersion, h.kind);
  const c = claim(h.owner, h.selector, h.revisions, ref);
  for (const cr of [...c.adopt, ...c.release]) actions.push({ type: 'update', resource: 'controllerrevisions', object: cr });
  const owned = c.owned.filter((cr) => !cr.metadata.deletionTimestamp);
  const current = owned.find((cr) => cr.metadata.name === h.name);
  const old = owned.filter((cr) => cr !== current);
  const next = Math.max(0, ...old.map(revisionOf)) + 1;
  let revision = current ? revisionOf(current) : next;
  if (h.owner.metadata.deletionTimestamp) return { actions, revision };
  if (!current) {
    actions.push({
      type: 'create',
      resource: 'controllerrevisions',
      object: {
        apiVersion: 'apps/v1',
        kind: 'ControllerRevision',
        metadata: {
          name: h.name,
          namespace: h.owner.metadata.namespace,
          labels: { ...h.template?.metadata?.labels, [REVISION_HASH_LABEL]: h.hash },
          ...(h.owner.metadata.annotations ? { annotations: { ...h.owner.metadata.annotations } } : {}),
          ownerReferences: [ref],
        },
        data: revisionData(h.template),
        revision: next,
      },
    });
  } else if (revisionOf(current) < next) {
    // The template came back (rollout undo): its revision becomes the newest.
    revision = next;
    actions.push({ type: 'update', resource: 'controllerrevisions', object: { ...current, revision: next } });
  }
  // cleanupHistory: the oldest unused revisions beyond the limit go.
  const cleanable = old.filter((cr) => !h.inUse.has(cr.metadata.name!)).sort((a, b) => revisionOf(a) - revisionOf(b));
  for (const cr of cleanable.slice(0, Math.max(0, cleanable.length - h.limit)))
    actions.push({ type: 'delete', resource: 'controllerrevisions', namespace: cr.metadata.namespace!, name: cr.metadata.name!, uid: cr.metadata.uid });
  return { actions, revision };
}
