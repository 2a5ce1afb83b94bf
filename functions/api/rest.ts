import { badRequest, methodNotAllowed, StatusError, unsupportedPatchType } from '../../shared/errors';
import { checkListOptions } from './list-options';
import type { RegistryContext, Target } from '../../shared/registry/context';
import { fieldValidationOf } from '../../shared/registry/decode';
import { fieldManagerOf } from '../../shared/registry/managed-fields';
import {
  createObject as create,
  deleteCollection as removeCollection,
  deleteObject as remove,
  getObject as get,
  listObjects as list,
  listOf,
  patchObject as patch,
  updateObject as update,
  type DeleteOptions,
  type ListOutcome,
  type ListQuery,
  type WriteOptions,
} from '../../shared/registry/generic';
import { isPatchType, PATCH_TYPES } from '../../shared/registry/patch';
import type { KubeObject } from '../../shared/resources';
import { podAddressView, scopedToNode } from '../../shared/auth/node-authorizer';
import { nodeNameOf } from '../../shared/auth/node-identity';
import { getScale, writeScale } from '../../shared/registry/scale';
import { parseDeleteOptions } from '../../shared/limits';
import { decodeBody, decodeObjectBody, json, mediaType, type ApiRequest, type ApiResponse } from './request';

/*
 * The REST verbs over HTTP: what the request says (query parameters, body, media type) becomes
 * a call into the generic registry (shared/registry/generic.ts), and its result a response.
 * Nothing here knows a kind: the strategies do.
 */

export type { Target };
/** The registry context an api request runs with. */
export type RestContext = RegistryContext;

function warningHeaders(warnings: string[]): Record<string, string> {
  // RFC 7234 quoted-strings, as k8s.io/apimachinery's NewWarningHeader writes them (kubectl unquotes).
  return warnings.length ? { warning: warnings.map((w) => `299 - "${w.replace(/[\\"]/g, (c) => `\\${c}`)}"`).join(', ') } : {};
}

/** dryRun=All (the only value Kubernetes knows); 400 for anything else. */
export function isDryRun(query: URLSearchParams): boolean {
  const d = query.getAll('dryRun');
  if (d.some((v) => v !== 'All' && v !== '')) throw badRequest(`unsupported dry run option: ${d.join(',')}`);
  return d.includes('All');
}

/** The write options a request carries; its manager (fieldManager or the User-Agent) is recorded in managedFields. */
const writeOptions = (req: ApiRequest): WriteOptions => ({
  dryRun: isDryRun(req.query),
  fieldValidation: fieldValidationOf(req.query),
  manager: fieldManagerOf(req.query, req.headers['user-agent'], req.method === 'POST' ? 'CreateOptions' : req.method === 'PATCH' ? 'PatchOptions' : 'UpdateOptions'),
});

const listQuery = (q: URLSearchParams): ListQuery => ({
  labelSelector: q.get('labelSelector') ?? undefined,
  fieldSelector: q.get('fieldSelector') ?? undefined,
  limit: q.get('limit') ?? undefined,
  continue: q.get('continue') ?? undefined,
});

/** The object as the served version shows it (ResourceType.conversion), else as stored. */
const served = (t: Target, o: KubeObject): KubeObject => (t.rt.conversion ? t.rt.conversion.fromStorage(o) : o);
const servedList = (t: Target, l: ListOutcome): ListOutcome => (t.rt.conversion ? { ...l, items: l.items.map((o) => served(t, o)) } : l);

export async function getObject(ctx: RestContext, t: Target): Promise<ApiResponse> {
  return json(200, served(t, await get(ctx, t)));
}

export async function listObjects(ctx: RestContext, t: Target, query: URLSearchParams): Promise<ApiResponse> {
  checkListOptions(query);
  return json(200, listOf(t.rt, nodeListView(ctx, t, query, servedList(t, await list(ctx, t, listQuery(query))))));
}

/**
 * A node's list of pods not scoped to itself (`spec.nodeName=NAME`) is the cluster's pod
 * addresses only (the node authorizer allows it so: shared/auth/node-authorizer.ts).
 */
function nodeListView(ctx: RestContext, t: Target, query: URLSearchParams, l: ListOutcome): ListOutcome {
  if (t.rt.group !== '' || t.rt.resource !== 'pods' || !ctx.user) return l;
  const node = nodeNameOf({ user: ctx.user.username, groups: ctx.user.groups });
  if (node === undefined || scopedToNode({ fieldSelector: query.get('fieldSelector') ?? undefined }, node)) return l;
  return { ...l, items: l.items.map(podAddressView) };
}

/**
 * GET of a kind with its own read-only storage (ResourceType.rest, e.g. metrics.k8s.io): get and
 * list only, 405 for any other verb (a watch too, as metrics-server answers).
 */
export async function serveOwnRest(ctx: RestContext, t: Target, verb: string, req: ApiRequest): Promise<ApiResponse> {
  const own = t.rt.rest;
  if (own && verb === 'get') return json(200, await own.get(ctx, t));
  if (own && verb === 'list') return json(200, listOf(t.rt, await own.list(ctx, t, listQuery(req.query))));
  throw methodNotAllowed(req.method);
}

/** POST: create. */
export async function createObject(ctx: RestContext, t: Target, req: ApiRequest): Promise<ApiResponse> {
  const { object, warnings } = await create(ctx, t, decodeObjectBody(req, t.rt), writeOptions(req));
  return json(201, served(t, object), warningHeaders(warnings));
}

/** PUT: replace (201 when the kind allows a PUT to create and it did). */
export async function replaceObject(ctx: RestContext, t: Target, req: ApiRequest): Promise<ApiResponse> {
  const { object, warnings, created } = await update(ctx, t, decodeObjectBody(req, t.rt), writeOptions(req));
  return json(created ? 201 : 200, served(t, object), warningHeaders(warnings));
}

/** PATCH: merge, strategic merge or JSON patch. */
export async function patchObject(ctx: RestContext, t: Target, req: ApiRequest): Promise<ApiResponse> {
  const type = mediaType(req);
  if (type === 'application/apply-patch+yaml')
    throw new StatusError(415, 'UnsupportedMediaType', 'server-side apply is not supported yet; use client-side kubectl apply');
  if (!isPatchType(type)) throw unsupportedPatchType();
  const body = decodeBody(req, PATCH_TYPES);
  const { object, warnings } = await patch(ctx, t, type, body, writeOptions(req));
  return json(200, served(t, object), warningHeaders(warnings));
}

/** DeleteOptions from the body (when there is one) and the query, which wins. */
export function deleteOptions(req: ApiRequest): DeleteOptions {
  const opts: DeleteOptions = {};
  if (req.body && req.body.length > 0 && req.body.toString('utf8').trim()) {
    Object.assign(opts, parseDeleteOptions(decodeBody(req, ['application/json', 'application/yaml', ''])));
  }
  const g = req.query.get('gracePeriodSeconds');
  if (g !== null) opts.gracePeriodSeconds = Number(g);
  const p = req.query.get('propagationPolicy');
  if (p !== null) opts.propagationPolicy = p;
  if (opts.gracePeriodSeconds !== undefined && (!Number.isInteger(opts.gracePeriodSeconds) || opts.gracePeriodSeconds < 0))
    throw badRequest(`invalid gracePeriodSeconds: ${String(opts.gracePeriodSeconds)}`);
  if (opts.propagationPolicy && !['Orphan', 'Background', 'Foreground'].includes(opts.propagationPolicy))
    throw badRequest(`propagationPolicy must be one of Orphan, Background, Foreground (got ${opts.propagationPolicy})`);
  if (isDryRun(req.query)) opts.dryRun = [...new Set([...(opts.dryRun ?? []), 'All'])];
  return opts;
}

export async function deleteObject(ctx: RestContext, t: Target, req: ApiRequest): Promise<ApiResponse> {
  return json(200, served(t, await remove(ctx, t, deleteOptions(req))));
}

export async function deleteCollection(ctx: RestContext, t: Target, req: ApiRequest): Promise<ApiResponse> {
  return json(200, listOf(t.rt, servedList(t, await removeCollection(ctx, t, listQuery(req.query), deleteOptions(req)))));
}

/** GET, PUT or PATCH of `.../{name}/scale`. */
export async function serveScale(ctx: RestContext, t: Target, verb: string, req: ApiRequest): Promise<ApiResponse> {
  if (verb === 'get') return json(200, await getScale(ctx, t));
  if (verb === 'update') return json(200, await writeScale(ctx, t, { scale: decodeBody(req) }, writeOptions(req)));
  const type = mediaType(req);
  if (!isPatchType(type)) throw unsupportedPatchType();
  return json(200, await writeScale(ctx, t, { patchType: type, patch: decodeBody(req, PATCH_TYPES) }, writeOptions(req)));
}
