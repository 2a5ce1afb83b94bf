import jsonpatch, { type Operation } from 'fast-json-patch';
import { badRequest, conflict, invalid, isConflict, methodNotAllowed, notFound, StatusError, unsupportedMediaType } from '../../shared/errors';
import { selectorString } from '../../shared/kinds/apps';
import { workloadSelector } from '../../shared/kinds/replication';
import { jsonMergePatch, strategicMergePatch } from '../../shared/patch/merge';
import type { KubeObject } from '../../shared/resources';
import { ScaleSchema, type Scale } from '../../shared/schemas/apps';
import { decodeObject, fieldValidationOf, validateObject } from './admission';
import { decodeBody, json, mediaType, type ApiRequest, type ApiResponse } from './request';
import type { RestContext, Target } from './rest';

/*
 * The scale subresource (autoscaling/v1 Scale) of Deployments, ReplicaSets, StatefulSets and
 * ReplicationControllers: what `kubectl scale` and autoscalers read and write. GET shows
 * spec.replicas, status.replicas and the selector as a string; PUT and PATCH change only
 * spec.replicas of the parent object, conditional on its resourceVersion like any update.
 */

const MAX_ATTEMPTS = 20;
const PATCH_TYPES = ['application/merge-patch+json', 'application/strategic-merge-patch+json', 'application/json-patch+json'];
const SCALE_TYPE = { group: 'autoscaling', version: 'v1', resource: 'scale', kind: 'Scale' };

/** The Scale view of a scalable object of `resource`. */
export function toScale(obj: KubeObject, resource: string): Scale {
  const spec = (obj.spec ?? {}) as { replicas?: number };
  const status = (obj.status ?? {}) as { replicas?: number };
  const m = obj.metadata;
  return {
    kind: 'Scale',
    apiVersion: 'autoscaling/v1',
    metadata: { name: m.name, namespace: m.namespace, uid: m.uid, resourceVersion: m.resourceVersion, creationTimestamp: m.creationTimestamp },
    spec: { replicas: spec.replicas ?? 0 },
    status: { replicas: status.replicas ?? 0, selector: selectorString(workloadSelector(resource, obj)) },
  };
}

function decodeScale(raw: unknown, req: ApiRequest, name: string): Scale {
  const rtLike = { ...SCALE_TYPE, schema: ScaleSchema, group: 'autoscaling' } as unknown as Parameters<typeof decodeObject>[0];
  const { obj } = decodeObject(rtLike, raw, fieldValidationOf(req.query));
  const scale = obj as unknown as Scale;
  if (scale.metadata.name !== undefined && scale.metadata.name !== name)
    throw badRequest(`the name of the object (${scale.metadata.name}) does not match the name on the URL (${name})`);
  const replicas = scale.spec.replicas ?? 0;
  if (replicas < 0)
    throw invalid('Scale', name, [{ reason: 'FieldValueInvalid', message: `Invalid value: ${replicas}: must be greater than or equal to 0`, field: 'spec.replicas' }], 'autoscaling');
  return scale;
}

function applyPatch(type: string, current: Scale, patch: unknown): unknown {
  if (type === 'application/merge-patch+json') return jsonMergePatch(current, patch);
  if (type === 'application/strategic-merge-patch+json') return strategicMergePatch(current, patch);
  if (type === 'application/json-patch+json') {
    if (!Array.isArray(patch)) throw badRequest('json patch must be an array of operations');
    try {
      return jsonpatch.applyPatch(structuredClone(current), patch as Operation[], true, false).newDocument;
    } catch (e) {
      throw new StatusError(422, 'Invalid', `the server rejected our request due to an error in our request: ${(e as Error).message.split('\n')[0]}`);
    }
  }
  throw unsupportedMediaType(type);
}

/** Writes the new replica count into the parent, conditional on the version it was read at. */
async function setReplicas(ctx: RestContext, t: Target, old: KubeObject, replicas: number): Promise<KubeObject> {
  if ((old.spec as { replicas?: number } | undefined)?.replicas === replicas) return old;
  const next = { ...old, spec: { ...(old.spec as object), replicas } };
  validateObject(t.rt, next, old);
  return ctx.store.update(ctx.tenant, t.rt, next, old.metadata.resourceVersion!);
}

/** GET, PUT or PATCH of `.../{name}/scale`. */
export async function serveScale(ctx: RestContext, t: Target, verb: string, req: ApiRequest): Promise<ApiResponse> {
  const name = t.name!;
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const old = await ctx.store.get(ctx.tenant, t.rt, t.namespace, name);
    if (!old) throw notFound(t.rt.resource, name, t.rt.group);
    if (verb === 'get') return json(200, toScale(old, t.rt.resource));
    let scale: Scale;
    let conditional: boolean;
    if (verb === 'update') {
      scale = decodeScale(decodeBody(req), req, name);
      conditional = scale.metadata.resourceVersion !== undefined;
    } else if (verb === 'patch') {
      const type = mediaType(req);
      if (!PATCH_TYPES.includes(type)) throw unsupportedMediaType(type || '(none)');
      const patch = decodeBody(req, PATCH_TYPES);
      scale = decodeScale(applyPatch(type, toScale(old, t.rt.resource), patch), req, name);
      conditional = (patch as { metadata?: { resourceVersion?: string } } | null)?.metadata?.resourceVersion !== undefined;
    } else throw methodNotAllowed(req.method);
    if (conditional && scale.metadata.resourceVersion !== old.metadata.resourceVersion) throw conflict(t.rt.resource, name, t.rt.group);
    try {
      return json(200, toScale(await setReplicas(ctx, t, old, scale.spec.replicas ?? 0), t.rt.resource));
    } catch (e) {
      if (isConflict(e) && !conditional) continue; // unconditional: retry on the new state
      throw e;
    }
  }
  throw conflict(t.rt.resource, name, t.rt.group);
}
