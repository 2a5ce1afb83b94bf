import jsonpatch, { type Operation } from 'fast-json-patch';
import {
  badRequest,
  conflict,
  forbidden,
  invalid,
  isConflict,
  isNotFound,
  methodNotAllowed,
  notFound,
  StatusError,
  unsupportedMediaType,
} from '../../shared/errors';
import { canonicalJson } from '../../shared/canonical';
import { jsonMergePatch, strategicMergePatch } from '../../shared/patch/merge';
import { apiVersionOf, resourceByName, resourceTypes, type KubeObject, type ResourceType } from '../../shared/resources';
import { matchesFields, matchesLabels, parseFieldSelector, parseLabelSelector } from '../../shared/selectors';
import type { ObjectStore } from '../../shared/store/store';
import type { PodSpec } from '../../shared/schemas/pod';
import { recordWrite } from '../../shared/registry/managed-fields';
import { admitNew, checkSize, decodeObject, fieldValidationOf, generateNameSuffix, validateObject } from './admission';
import { decodeBody, json, mediaType, type ApiRequest, type ApiResponse } from './request';

const SYSTEM_NAMESPACES = new Set(['default', 'kube-system', 'kube-public', 'kube-node-lease']);
const MAX_PATCH_ATTEMPTS = 20;

export interface Target {
  readonly rt: ResourceType;
  readonly namespace?: string;
  readonly name?: string;
  readonly subresource?: string;
}

export interface RestContext {
  readonly store: ObjectStore;
  readonly tenant: string;
  /** True when the caller is a node agent (group system:nodes). */
  readonly nodeIdentity?: boolean;
}

const nowSeconds = () => new Date().toISOString().replace(/\.\d+Z$/, 'Z');
const namespacesRt = () => resourceByName('namespaces');

function warningHeaders(warnings: string[]): Record<string, string> {
  return warnings.length ? { warning: warnings.map((w) => `299 - "${w.replace(/"/g, "'")}"`).join(', ') } : {};
}


/** The namespace must exist (built-in ones are made on first use) and not be terminating. */
async function requireNamespace(ctx: RestContext, rt: ResourceType, namespace: string, verb = 'create'): Promise<void> {
  let ns = await ctx.store.get(ctx.tenant, namespacesRt(), undefined, namespace);
  if (!ns && SYSTEM_NAMESPACES.has(namespace)) {
    try {
      ns = await ctx.store.create(ctx.tenant, namespacesRt(), namespacesRt().applyDefaults({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } }));
    } catch (e) {
      if (!(e instanceof StatusError && e.reason === 'AlreadyExists')) throw e;
      ns = await ctx.store.get(ctx.tenant, namespacesRt(), undefined, namespace);
    }
  }
  if (!ns) throw notFound('namespaces', namespace);
  if (ns.metadata.deletionTimestamp && verb === 'create')
    throw forbidden(`${rt.resource} is forbidden: unable to create new content in namespace ${namespace} because it is being terminated`, {
      kind: rt.resource,
      causes: [{ reason: 'NamespaceTerminating', message: `namespace ${namespace} is being terminated`, field: 'metadata.namespace' }],
    });
}

/** GET one object. */
export async function getObject(ctx: RestContext, t: Target): Promise<ApiResponse> {
  const obj = await ctx.store.get(ctx.tenant, t.rt, t.namespace, t.name!);
  if (!obj) throw notFound(t.rt.resource, t.name!, t.rt.group);
  return json(200, obj);
}

interface ContinueToken {
  rv: number;
  after: string;
}

/** GET a collection: label/field selectors, limit/continue, all namespaces when none given. */
export async function listObjects(ctx: RestContext, t: Target, query: URLSearchParams): Promise<ApiResponse> {
  const labels = parseLabelSelector(query.get('labelSelector') ?? '');
  const fields = parseFieldSelector(t.rt.resource, query.get('fieldSelector') ?? '');
  const limitRaw = query.get('limit');
  const limit = limitRaw ? Number(limitRaw) : undefined;
  if (limit !== undefined && (!Number.isInteger(limit) || limit < 0)) throw badRequest(`invalid limit: ${limitRaw}`);
  let token: ContinueToken | undefined;
  const cont = query.get('continue');
  if (cont) {
    try {
      token = JSON.parse(Buffer.from(cont, 'base64url').toString('utf8')) as ContinueToken;
      if (typeof token.rv !== 'number' || typeof token.after !== 'string') throw new Error('shape');
    } catch {
      throw badRequest('continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)');
    }
  }
  const filter = (o: KubeObject) => matchesLabels(labels, o.metadata.labels) && matchesFields(t.rt.resource, fields, o);
  // Only `spec.nodeName=X` (a node agent's resync, `kubectl get pods --field-selector ...`): the
  // node's pods from the byNode index, not every pod of the tenant.
  const onNode = fields.length === 1 && fields[0]!.field === 'spec.nodeName' && fields[0]!.op === '=' && fields[0]!.value !== '' ? fields[0]!.value : undefined;
  const result =
    t.rt.resource === 'pods' && onNode && !limit && !token
      ? await listPodsOnNode(ctx, t, onNode, filter)
      : await ctx.store.list(ctx.tenant, t.rt, {
          namespace: t.namespace,
          filter,
          limit: limit && limit > 0 ? limit : undefined,
          startAfter: token?.after,
        });
  const rv = token?.rv ?? result.resourceVersion;
  return json(200, {
    kind: `${t.rt.kind}List`,
    apiVersion: apiVersionOf(t.rt),
    metadata: {
      resourceVersion: String(rv),
      ...(result.continueAfter ? { continue: Buffer.from(JSON.stringify({ rv, after: result.continueAfter })).toString('base64url') } : {}),
    },
    items: result.items,
  });
}

/**
 * Pods with spec.nodeName=X from the byNode index (store.listOnNode) instead of every pod of the
 * tenant. The index is eventually consistent; the list's resourceVersion is chosen so that a
 * watch from it misses nothing the index had not caught up with (see listOnNode). Node agents
 * reconcile level-triggered and never watch from it, so they skip the change-log read that
 * choice costs and get the sequence as read before the index.
 */
async function listPodsOnNode(ctx: RestContext, t: Target, nodeName: string, filter: (o: KubeObject) => boolean) {
  const { items, resourceVersion } = await ctx.store.listOnNode(ctx.tenant, t.rt, nodeName, { watchable: !ctx.nodeIdentity });
  return { items: items.filter((o) => (t.namespace === undefined || o.metadata.namespace === t.namespace) && filter(o)), resourceVersion, continueAfter: undefined };
}

/** POST: create. */
export async function createObject(ctx: RestContext, t: Target, req: ApiRequest): Promise<ApiResponse> {
  const mode = fieldValidationOf(req.query);
  const { obj, warnings } = decodeObject(t.rt, decodeBody(req), mode);
  if (t.rt.namespaced) {
    if (obj.metadata.namespace && obj.metadata.namespace !== t.namespace)
      throw badRequest('the namespace of the provided object does not match the namespace sent on the request');
    obj.metadata.namespace = t.namespace;
  } else delete obj.metadata.namespace;
  if (!obj.metadata.name && obj.metadata.generateName) obj.metadata.name = `${obj.metadata.generateName}${generateNameSuffix()}`;
  for (const f of ['uid', 'resourceVersion', 'creationTimestamp', 'deletionTimestamp', 'deletionGracePeriodSeconds', 'generation', 'selfLink'] as const)
    delete obj.metadata[f];
  const next = recordWrite(t, undefined, await admitNew(ctx.store, ctx.tenant, t.rt, obj), req);
  if (t.rt.namespaced) await requireNamespace(ctx, t.rt, t.namespace!);
  if (isDryRun(req.query)) return json(201, next, warningHeaders(warnings));
  const created = await ctx.store.create(ctx.tenant, t.rt, next);
  return json(201, created, warningHeaders(warnings));
}

function isDryRun(query: URLSearchParams): boolean {
  const d = query.getAll('dryRun');
  if (d.some((v) => v !== 'All' && v !== '')) throw badRequest(`unsupported dry run option: ${d.join(',')}`);
  return d.includes('All');
}

/**
 * Merges an incoming object into the stored one for an update of the object or of its
 * status subresource: system metadata is the server's; status changes only through /status
 * and spec only through the main resource.
 */
function mergeForUpdate(t: Target, old: KubeObject, incoming: KubeObject): KubeObject {
  const hasStatus = t.rt.subresources.includes('status');
  const meta = {
    ...incoming.metadata,
    name: old.metadata.name,
    namespace: old.metadata.namespace,
    uid: old.metadata.uid,
    creationTimestamp: old.metadata.creationTimestamp,
    deletionTimestamp: old.metadata.deletionTimestamp,
    deletionGracePeriodSeconds: old.metadata.deletionGracePeriodSeconds,
    generation: old.metadata.generation,
  };
  for (const k of Object.keys(meta) as (keyof typeof meta)[]) if (meta[k] === undefined) delete meta[k];
  if (t.subresource === 'status') return { ...old, status: incoming.status };
  const next: KubeObject = { ...incoming, metadata: meta };
  if (hasStatus) {
    if (old.status === undefined) delete next.status;
    else next.status = old.status;
  }
  return next;
}

/**
 * Writes an update and applies what follows from it: an object being deleted whose last
 * finalizer is gone (and, for a pod, whose grace period is over) is removed.
 */
async function writeUpdate(ctx: RestContext, t: Target, old: KubeObject, next: KubeObject, expected: string, dryRun: boolean, req?: ApiRequest): Promise<KubeObject> {
  if (t.subresource !== 'status') next = t.rt.applyDefaults(next);
  validateObject(t.rt, next, t.subresource === 'status' ? undefined : old);
  checkSize(next);
  const comparable = (o: KubeObject) => canonicalJson({ ...o, metadata: { ...o.metadata, resourceVersion: undefined } });
  if (comparable(next) === comparable(old)) return old; // no-op: Kubernetes does not bump the version
  if (req) next = recordWrite(t, old, next, req);
  if (dryRun) return next;
  const updated = await ctx.store.update(ctx.tenant, t.rt, next, expected);
  const m = updated.metadata;
  if (m.deletionTimestamp && (m.finalizers ?? []).length === 0 && (t.rt.resource !== 'pods' || m.deletionGracePeriodSeconds === 0)) {
    try {
      return await ctx.store.remove(ctx.tenant, t.rt, m.namespace, m.name!, m.resourceVersion);
    } catch (e) {
      if (!isNotFound(e) && !isConflict(e)) throw e;
    }
  }
  return updated;
}

/** PUT: replace, conditional on metadata.resourceVersion. */
export async function replaceObject(ctx: RestContext, t: Target, req: ApiRequest): Promise<ApiResponse> {
  const mode = fieldValidationOf(req.query);
  const { obj, warnings } = decodeObject(t.rt, decodeBody(req), mode);
  if (obj.metadata.name !== undefined && obj.metadata.name !== t.name)
    throw badRequest(`the name of the object (${obj.metadata.name}) does not match the name on the URL (${t.name})`);
  if (t.rt.namespaced && obj.metadata.namespace && obj.metadata.namespace !== t.namespace)
    throw badRequest('the namespace of the provided object does not match the namespace sent on the request');
  const dryRun = isDryRun(req.query);
  for (;;) {
    const old = await ctx.store.get(ctx.tenant, t.rt, t.namespace, t.name!);
    if (!old) throw notFound(t.rt.resource, t.name!, t.rt.group);
    const expected = obj.metadata.resourceVersion;
    if (expected === undefined && t.rt.resource === 'pods')
      throw invalid(t.rt.kind, t.name!, [{ reason: 'FieldValueInvalid', message: 'Invalid value: 0x0: must be specified for an update', field: 'metadata.resourceVersion' }]);
    if (expected !== undefined && expected !== old.metadata.resourceVersion) throw conflict(t.rt.resource, t.name!, t.rt.group);
    try {
      const next = mergeForUpdate(t, old, obj);
      const out = await writeUpdate(ctx, t, old, next, old.metadata.resourceVersion!, dryRun, req);
      return json(200, out, warningHeaders(warnings));
    } catch (e) {
      if (expected === undefined && isConflict(e)) continue; // unconditional update: retry on the new state
      throw e;
    }
  }
}

function applyPatch(type: string, current: KubeObject, patch: unknown): unknown {
  switch (type) {
    case 'application/merge-patch+json':
      return jsonMergePatch(current, patch);
    case 'application/strategic-merge-patch+json':
      return strategicMergePatch(current, patch);
    case 'application/json-patch+json': {
      if (!Array.isArray(patch)) throw badRequest('json patch must be an array of operations');
      try {
        return jsonpatch.applyPatch(structuredClone(current), patch as Operation[], true, false).newDocument;
      } catch (e) {
        throw new StatusError(422, 'Invalid', `the server rejected our request due to an error in our request: ${(e as Error).message.split('\n')[0]}`);
      }
    }
    default:
      throw unsupportedMediaType(type);
  }
}

const PATCH_TYPES = ['application/merge-patch+json', 'application/strategic-merge-patch+json', 'application/json-patch+json'];

/** PATCH: merge, strategic merge or JSON patch, applied to the latest state (retried on races). */
export async function patchObject(ctx: RestContext, t: Target, req: ApiRequest): Promise<ApiResponse> {
  const type = mediaType(req);
  if (type === 'application/apply-patch+yaml')
    throw new StatusError(415, 'UnsupportedMediaType', 'server-side apply is not supported yet; use client-side kubectl apply');
  const patch = decodeBody(req, PATCH_TYPES);
  const mode = fieldValidationOf(req.query);
  const dryRun = isDryRun(req.query);
  for (let attempt = 0; attempt < MAX_PATCH_ATTEMPTS; attempt++) {
    const old = await ctx.store.get(ctx.tenant, t.rt, t.namespace, t.name!);
    if (!old) throw notFound(t.rt.resource, t.name!, t.rt.group);
    const patched = applyPatch(type, old, patch);
    const { obj, warnings } = decodeObject(t.rt, patched, mode);
    const expected = obj.metadata.resourceVersion;
    if (expected !== undefined && expected !== old.metadata.resourceVersion) throw conflict(t.rt.resource, t.name!, t.rt.group);
    if (obj.metadata.name !== old.metadata.name) throw badRequest('metadata.name cannot be changed by a patch');
    try {
      const out = await writeUpdate(ctx, t, old, mergeForUpdate(t, old, obj), old.metadata.resourceVersion!, dryRun, req);
      return json(200, out, warningHeaders(warnings));
    } catch (e) {
      if (isConflict(e) && (patch as { metadata?: { resourceVersion?: string } })?.metadata?.resourceVersion === undefined) continue;
      throw e;
    }
  }
  throw conflict(t.rt.resource, t.name!, t.rt.group);
}

export interface DeleteOptions {
  gracePeriodSeconds?: number;
  propagationPolicy?: string;
  /** Deprecated form of propagationPolicy (true: Orphan, false: Background). */
  orphanDependents?: boolean;
  preconditions?: { uid?: string; resourceVersion?: string };
  dryRun?: string[];
}

/**
 * The propagation a delete asks for. Kubernetes' default is Background, but batch/v1 Jobs orphan
 * their pods unless told otherwise (kept for compatibility; kubectl always sends Background).
 */
function propagationOf(rt: ResourceType, opts: DeleteOptions): string {
  if (opts.propagationPolicy) return opts.propagationPolicy;
  if (opts.orphanDependents !== undefined) return opts.orphanDependents ? 'Orphan' : 'Background';
  return rt.group === 'batch' && rt.resource === 'jobs' ? 'Orphan' : 'Background';
}

function deleteOptions(req: ApiRequest): DeleteOptions {
  const opts: DeleteOptions = {};
  if (req.body && req.body.length > 0 && req.body.toString('utf8').trim()) {
    const raw = decodeBody(req, ['application/json', 'application/yaml', '']) as Record<string, unknown>;
    if (typeof raw !== 'object' || raw === null) throw badRequest('DeleteOptions must be an object');
    Object.assign(opts, raw);
  }
  const g = req.query.get('gracePeriodSeconds');
  if (g !== null) opts.gracePeriodSeconds = Number(g);
  const p = req.query.get('propagationPolicy');
  if (p !== null) opts.propagationPolicy = p;
  if (opts.gracePeriodSeconds !== undefined && (!Number.isInteger(opts.gracePeriodSeconds) || opts.gracePeriodSeconds < 0))
    throw badRequest(`invalid gracePeriodSeconds: ${String(opts.gracePeriodSeconds)}`);
  if (opts.propagationPolicy && !['Orphan', 'Background', 'Foreground'].includes(opts.propagationPolicy))
    throw badRequest(`propagationPolicy must be one of Orphan, Background, Foreground (got ${opts.propagationPolicy})`);
  return opts;
}

/**
 * Deletes one object. Pods on a node are deleted gracefully: deletionTimestamp is set and the
 * node agent stops the containers, then removes the pod with gracePeriodSeconds=0. Objects with
 * finalizers stay, marked for deletion, until their finalizers are gone. Namespaces go
 * Terminating and take everything in them along.
 */
export async function deleteObject(ctx: RestContext, t: Target, req: ApiRequest, optsIn?: DeleteOptions): Promise<ApiResponse> {
  const opts = optsIn ?? deleteOptions(req);
  const dryRun = isDryRun(req.query) || (opts.dryRun ?? []).includes('All');
  for (let attempt = 0; attempt < MAX_PATCH_ATTEMPTS; attempt++) {
    const old = await ctx.store.get(ctx.tenant, t.rt, t.namespace, t.name!);
    if (!old) throw notFound(t.rt.resource, t.name!, t.rt.group);
    if (opts.preconditions?.uid && opts.preconditions.uid !== old.metadata.uid)
      throw conflict(t.rt.resource, t.name!, t.rt.group, `Precondition failed: UID in precondition: ${opts.preconditions.uid}, UID in object meta: ${old.metadata.uid}`);
    if (opts.preconditions?.resourceVersion && opts.preconditions.resourceVersion !== old.metadata.resourceVersion)
      throw conflict(t.rt.resource, t.name!, t.rt.group, `Precondition failed: ResourceVersion in precondition: ${opts.preconditions.resourceVersion}, ResourceVersion in object meta: ${old.metadata.resourceVersion}`);
    if (dryRun) return json(200, old);
    try {
      const out = await deleteOnce(ctx, t, old, opts);
      return json(200, out);
    } catch (e) {
      if (isConflict(e)) continue;
      if (isNotFound(e)) throw notFound(t.rt.resource, t.name!, t.rt.group);
      throw e;
    }
  }
  throw conflict(t.rt.resource, t.name!, t.rt.group);
}

async function deleteOnce(ctx: RestContext, t: Target, old: KubeObject, opts: DeleteOptions): Promise<KubeObject> {
  const rv = old.metadata.resourceVersion!;
  const finalizers = old.metadata.finalizers ?? [];
  if (t.rt.resource === 'namespaces') return deleteNamespace(ctx, t, old);
  if (t.rt.resource === 'pods') {
    const spec = (old.spec ?? {}) as PodSpec;
    const phase = (old.status as { phase?: string } | undefined)?.phase;
    const running = !!spec.nodeName && phase !== 'Succeeded' && phase !== 'Failed';
    let grace = opts.gracePeriodSeconds ?? spec.terminationGracePeriodSeconds ?? 30;
    if (!running) grace = 0;
    const current = old.metadata.deletionGracePeriodSeconds;
    if (grace > 0 || finalizers.length > 0) {
      // Graceful: the node agent finishes the job. A second delete may only shorten the grace.
      if (current !== undefined && current <= grace) return old;
      const meta = {
        ...old.metadata,
        deletionTimestamp: old.metadata.deletionTimestamp ?? new Date(Date.now() + grace * 1000).toISOString().replace(/\.\d+Z$/, 'Z'),
        deletionGracePeriodSeconds: grace,
      };
      const updated = await ctx.store.update(ctx.tenant, t.rt, { ...old, metadata: meta }, rv);
      if (grace === 0 && finalizers.length === 0) return ctx.store.remove(ctx.tenant, t.rt, t.namespace, t.name!, updated.metadata.resourceVersion);
      return updated;
    }
    return ctx.store.remove(ctx.tenant, t.rt, t.namespace, t.name!, rv);
  }
  const policy = propagationOf(t.rt, opts);
  if (policy !== 'Background' && !old.metadata.deletionTimestamp) {
    // Foreground/Orphan: the garbage collector (functions/controllers) deletes or orphans the
    // dependents, then removes this finalizer, and with the last finalizer the object goes.
    const finalizer = policy === 'Foreground' ? 'foregroundDeletion' : 'orphan';
    const meta = { ...old.metadata, finalizers: [...finalizers.filter((f) => f !== finalizer), finalizer], deletionTimestamp: nowSeconds(), deletionGracePeriodSeconds: 0 };
    return ctx.store.update(ctx.tenant, t.rt, { ...old, metadata: meta }, rv);
  }
  if (finalizers.length > 0) {
    if (old.metadata.deletionTimestamp) return old;
    const meta = { ...old.metadata, deletionTimestamp: nowSeconds(), deletionGracePeriodSeconds: 0 };
    return ctx.store.update(ctx.tenant, t.rt, { ...old, metadata: meta }, rv);
  }
  // Background: the object goes now; the garbage collector deletes dependents left without an owner.
  return ctx.store.remove(ctx.tenant, t.rt, t.namespace, t.name!, rv);
}

/** Deletes as a DELETE request with these options would: for controllers and the garbage collector. */
export async function deleteAs(ctx: RestContext, t: Target, opts: DeleteOptions): Promise<KubeObject> {
  const res = await deleteObject(ctx, t, { method: 'DELETE', path: '', query: new URLSearchParams(), headers: {} }, opts);
  return JSON.parse(res.body) as KubeObject;
}

/** Namespaced resource types, deleted along with their namespace. */
function namespacedTypes(): ResourceType[] {
  return resourceTypes.filter((rt) => rt.namespaced);
}

/**
 * Namespace deletion: mark Terminating, delete everything inside (pods gracefully), and remove
 * the namespace once empty. If pods are still stopping, the scheduler function's namespace
 * finalizer removes it when the last one is gone.
 */
async function deleteNamespace(ctx: RestContext, t: Target, old: KubeObject): Promise<KubeObject> {
  let ns = old;
  if (!old.metadata.deletionTimestamp) {
    ns = await ctx.store.update(
      ctx.tenant,
      t.rt,
      { ...old, metadata: { ...old.metadata, deletionTimestamp: nowSeconds(), deletionGracePeriodSeconds: 0 }, status: { ...(old.status as object), phase: 'Terminating' } },
      old.metadata.resourceVersion!,
    );
  }
  const name = old.metadata.name!;
  return (await finalizeNamespace(ctx, name)) ?? ns;
}

/**
 * Deletes what is left in a terminating namespace; removes the namespace when nothing is.
 * Returns the removed namespace, or undefined while content remains. Safe to repeat.
 */
export async function finalizeNamespace(ctx: RestContext, name: string): Promise<KubeObject | undefined> {
  let remaining = 0;
  for (const rt of namespacedTypes()) {
    const { items } = await ctx.store.list(ctx.tenant, rt, { namespace: name, versioned: false });
    for (const item of items) {
      if (item.metadata.deletionTimestamp) continue; // already on its way out
      try {
        await deleteOnce(ctx, { rt, namespace: name, name: item.metadata.name }, item, { propagationPolicy: 'Background' });
      } catch (e) {
        if (!isNotFound(e) && !isConflict(e)) throw e;
      }
    }
    remaining += (await ctx.store.list(ctx.tenant, rt, { namespace: name, limit: 1, versioned: false })).items.length;
  }
  if (remaining > 0) return undefined;
  try {
    const ns = await ctx.store.get(ctx.tenant, namespacesRt(), undefined, name);
    if (!ns?.metadata.deletionTimestamp) return undefined;
    return await ctx.store.remove(ctx.tenant, namespacesRt(), undefined, name, ns.metadata.resourceVersion);
  } catch (e) {
    if (isNotFound(e) || isConflict(e)) return undefined;
    throw e;
  }
}

/** DELETE on a collection: each matching object, as a single delete would. */
export async function deleteCollection(ctx: RestContext, t: Target, req: ApiRequest): Promise<ApiResponse> {
  if (t.rt.resource === 'namespaces') throw methodNotAllowed('DELETE');
  const opts = deleteOptions(req);
  const listed = JSON.parse((await listObjects(ctx, t, req.query)).body) as { items: KubeObject[]; metadata: object };
  const out: KubeObject[] = [];
  for (const item of listed.items) {
    try {
      const res = await deleteObject(ctx, { ...t, namespace: item.metadata.namespace, name: item.metadata.name }, req, opts);
      out.push(JSON.parse(res.body) as KubeObject);
    } catch (e) {
      if (!isNotFound(e)) throw e;
    }
  }
  return json(200, { kind: `${t.rt.kind}List`, apiVersion: apiVersionOf(t.rt), metadata: listed.metadata, items: out });
}

export { requireNamespace };
