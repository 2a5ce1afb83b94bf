import type { KubeObject } from '../../shared/resources';

/** An Event a controller records about an object once the action it describes succeeded. */
export interface EventNote {
  readonly about: KubeObject;
  readonly type: 'Normal' | 'Warning';
  readonly reason: string;
  readonly message: string;
}

/**
 * What a reconcile decides; the applier (apply.ts) carries it out with conditional writes.
 * Contract: reconcile functions are pure — (desired, observed, now) → Action[] — and never
 * mutate what they were given; tests assert these lists.
 */
export type Action =
  /**
   * Create through the same admission as an API create (defaults, validation, pod status).
   * With `generateName`, the name is `${generateName}${5 random characters}` (retried once on a clash).
   */
  | { readonly type: 'create'; readonly resource: string; readonly object: KubeObject; readonly generateName?: string; readonly event?: Omit<EventNote, 'about'> & { about?: KubeObject } }
  /** Replace, conditional on object.metadata.resourceVersion (a Conflict re-runs the reconcile). */
  | { readonly type: 'update'; readonly resource: string; readonly object: KubeObject; readonly event?: EventNote }
  /** Delete as a DELETE request would (pods gracefully), only if the uid still matches. */
  | {
      readonly type: 'delete';
      readonly resource: string;
      readonly namespace: string;
      readonly name: string;
      readonly uid?: string;
      readonly propagationPolicy?: 'Background' | 'Foreground' | 'Orphan';
      readonly event?: EventNote;
    }
  | { readonly type: 'event'; readonly note: EventNote }
  /** Reconcile this key again at `at` (the schedule function's timers): time-driven work. */
  | { readonly type: 'requeueAt'; readonly at: Date };

export const creates = (actions: readonly Action[], resource = 'pods') => actions.filter((a): a is Extract<Action, { type: 'create' }> => a.type === 'create' && a.resource === resource);
export const deletes = (actions: readonly Action[], resource = 'pods') => actions.filter((a): a is Extract<Action, { type: 'delete' }> => a.type === 'delete' && a.resource === resource);
export const updates = (actions: readonly Action[], resource: string) => actions.filter((a): a is Extract<Action, { type: 'update' }> => a.type === 'update' && a.resource === resource);
