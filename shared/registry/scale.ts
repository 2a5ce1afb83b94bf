import { badRequest, conflict, invalid, isConflict } from '../errors';
import { selectorString } from '../kinds/apps';
import { workloadSelector } from '../kinds/replication';
import type { KubeObject, ResourceType } from '../resources';
import { ScaleSchema, type Scale } from '../schemas/apps';
import type { RegistryContext, Target } from './context';
import { decodeObject, validateObject, type FieldValidation } from './decode';
import { getObject, updateWhole, type WriteOptions } from './generic';
import { recordWrite } from './managed-fields';
import { applyPatch, type PatchType } from './patch';

/*
 * The scale subresource (autoscaling/v1 Scale) of the kinds that have one: what `kubectl scale`
 * and autoscalers read and write. GET shows spec.replicas, status.replicas and the selector as a
 * string; PUT and PATCH change only spec.replicas of the parent object, conditional on its
 * resourceVersion like any update, through the same admission; dry-run writes nothing.
 */

const MAX_ATTEMPTS = 20;
/** Scale as a decodable type (its schema and names), for decodeObject. */
const SCALE_TYPE = { group: 'autoscaling', version: 'v1', resource: 'scale', kind: 'Scale', schema: ScaleSchema } as unknown as ResourceType;

/** The Scale view of a scalable object of `rt`. */
export function toScale(obj: KubeObject, rt: ResourceType): Scale {
  const spec = (obj.spec ?? {}) as { replicas?: number };
  const status = (obj.status ?? {}) as { replicas?: number };
  const m = obj.metadata;
  return {
    kind: 'Scale',
    apiVersion: 'autoscaling/v1',
    metadata: { name: m.name, namespace: m.namespace, uid: m.uid, resourceVersion: m.resourceVersion, creationTimestamp: m.creationTimestamp },
    spec: { replicas: spec.replicas ?? 0 },
    status: { replicas: status.replicas ?? 0, selector: selectorString(workloadSelector(rt.resource, obj)) },
  };
}

function decodeScale(raw: unknown, mode: FieldValidation, name: string): Scale {
  const scale = decodeObject(SCALE_TYPE, raw, mode).obj as unknown as Scale;
  if (scale.metadata.name !== undefined && scale.metadata.name !== name)
    throw badRequest(`the name of the object (${scale.metadata.name}) does not match the name on the URL (${name})`);
  const replicas = scale.spec.replicas ?? 0;
  if (replicas < 0)
    throw invalid('Scale', name, [{ reason: 'FieldValueInvalid', message: `Invalid value: ${replicas}: must be greater than or equal to 0`, field: 'spec.replicas' }], 'autoscaling');
  return scale;
}

export async function getScale(ctx: RegistryContext, t: Target): Promise<Scale> {
  return toScale(await getObject(ctx, t), t.rt);
}

/**
 * PUT (a Scale) or PATCH (of the Scale view) of `.../{name}/scale`: the new spec.replicas is
 * written into the parent, conditional on the version the Scale named (409 when it moved), or on
 * the version read when it named none (retried on races).
 */
export async function writeScale(ctx: RegistryContext, t: Target, change: { scale: unknown } | { patchType: PatchType; patch: unknown }, opts: WriteOptions = {}): Promise<Scale> {
  const name = t.name!;
  const mode = opts.fieldValidation ?? 'Strict';
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const old = await getObject(ctx, t);
    let scale: Scale;
    let conditional: boolean;
    if ('scale' in change) {
      scale = decodeScale(change.scale, mode, name);
      conditional = scale.metadata.resourceVersion !== undefined;
    } else {
      scale = decodeScale(applyPatch(change.patchType, toScale(old, t.rt), change.patch), mode, name);
      conditional = (change.patch as { metadata?: { resourceVersion?: string } } | null)?.metadata?.resourceVersion !== undefined;
    }
    if (conditional && scale.metadata.resourceVersion !== old.metadata.resourceVersion) throw conflict(t.rt.resource, name, t.rt.group);
    const replicas = scale.spec.replicas ?? 0;
    if ((old.spec as { replicas?: number } | undefined)?.replicas === replicas) return toScale(old, t.rt);
    let next: KubeObject = { ...old, spec: { ...(old.spec as object), replicas } };
    validateObject(t.rt, next, old);
    if (opts.manager !== undefined) next = recordWrite({ rt: t.rt, subresource: 'scale' }, old, next, opts.manager);
    if (opts.dryRun) return toScale(next, t.rt);
    try {
      return toScale(await updateWhole(ctx, t.rt, next, 'scale'), t.rt);
    } catch (e) {
      if (isConflict(e) && !conditional) continue; // unconditional: retry on the new state
      throw e;
    }
  }
  throw conflict(t.rt.resource, name, t.rt.group);
}
