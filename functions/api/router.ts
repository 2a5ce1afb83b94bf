import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Config } from '../../shared/config';
import { badRequest, methodNotAllowed, pathNotFound } from '../../shared/errors';
import { findResource, type ResourceType } from '../../shared/resources';
import type { ObjectStore } from '../../shared/store/store';
import { authenticate, authorize } from './auth';
import { apiGroupList, apiGroupOf, apiResourceList, apiVersions, VERSION_INFO } from './discovery';
import { json, type ApiRequest, type ApiResponse } from './request';
import {
  createObject,
  deleteCollection,
  deleteObject,
  getObject,
  listObjects,
  patchObject,
  replaceObject,
  type RestContext,
  type Target,
} from './rest';

export interface ApiDeps {
  readonly doc: DynamoDBDocumentClient;
  readonly store: ObjectStore;
  readonly config: Config;
}

/** Splits `/clusters/{cluster}/rest` into the cluster and the Kubernetes path. */
export function splitCluster(rawPath: string): { cluster?: string; path: string } {
  const m = /^\/clusters\/([^/]+)(\/.*)?$/.exec(rawPath);
  if (!m) return { path: rawPath };
  return { cluster: decodeURIComponent(m[1]!), path: m[2] ?? '/' };
}

type Route =
  | { kind: 'health' }
  | { kind: 'version' }
  | { kind: 'discovery'; body: unknown }
  | { kind: 'resource'; target: Target };

function route(path: string): Route {
  const segs = path.split('/').filter(Boolean).map(decodeURIComponent);
  if (segs.length === 1 && ['healthz', 'livez', 'readyz'].includes(segs[0]!)) return { kind: 'health' };
  if (segs.length === 1 && segs[0] === 'version') return { kind: 'version' };
  let group: string;
  let version: string;
  let rest: string[];
  if (segs[0] === 'api') {
    if (segs.length === 1) return { kind: 'discovery', body: apiVersions() };
    group = '';
    version = segs[1]!;
    rest = segs.slice(2);
  } else if (segs[0] === 'apis') {
    if (segs.length === 1) return { kind: 'discovery', body: apiGroupList() };
    if (segs.length === 2) {
      const g = apiGroupOf(segs[1]!);
      if (!g) throw pathNotFound(path);
      return { kind: 'discovery', body: g };
    }
    group = segs[1]!;
    version = segs[2]!;
    rest = segs.slice(3);
  } else throw pathNotFound(path);
  if (rest.length === 0) {
    const list = apiResourceList(group, version);
    if (!list) throw pathNotFound(path);
    return { kind: 'discovery', body: list };
  }
  let rt: ResourceType | undefined;
  let target: Target;
  const nested = rest[0] === 'namespaces' && rest.length >= 3 ? findResource(group, version, rest[2]!) : undefined;
  if (nested?.namespaced) {
    if (rest.length > 5) throw pathNotFound(path);
    rt = nested;
    target = { rt, namespace: rest[1], name: rest[3], subresource: rest[4] };
  } else {
    rt = findResource(group, version, rest[0]!);
    if (!rt || rest.length > 3) throw pathNotFound(path);
    target = { rt, name: rest[1], subresource: rest[2] };
  }
  if (target.subresource && !(rt.subresources as readonly string[]).includes(target.subresource)) throw pathNotFound(path);
  return { kind: 'resource', target };
}

function verbOf(method: string, t: Target, query: URLSearchParams): string {
  const watch = query.get('watch') === 'true' || query.get('watch') === '1';
  switch (method) {
    case 'GET':
      return t.name ? 'get' : watch ? 'watch' : 'list';
    case 'POST':
      return 'create';
    case 'PUT':
      return 'update';
    case 'PATCH':
      return 'patch';
    case 'DELETE':
      return t.name ? 'delete' : 'deletecollection';
    default:
      throw methodNotAllowed(method);
  }
}

/**
 * Serves one request: route → authenticate → authorize → admission and storage (in rest.ts).
 * Throws StatusError for every client-visible failure; the handler turns them into responses.
 */
export async function serve(req: ApiRequest, deps: ApiDeps): Promise<ApiResponse> {
  const r = route(req.path);
  if (r.kind === 'health') return { statusCode: 200, headers: { 'content-type': 'text/plain' }, body: 'ok' };
  const identity = await authenticate(req, deps.doc, deps.config);
  if (r.kind === 'version') return json(200, VERSION_INFO);
  if (r.kind === 'discovery') {
    if (req.method !== 'GET') throw methodNotAllowed(req.method);
    return json(200, r.body);
  }
  const t = r.target;
  const verb = verbOf(req.method, t, req.query);
  if (t.rt.namespaced && t.namespace === undefined && t.name !== undefined) throw pathNotFound(req.path);
  if (t.rt.namespaced && t.namespace === undefined && verb === 'create') throw methodNotAllowed('POST');
  if (!t.rt.namespaced && t.namespace !== undefined) throw pathNotFound(req.path);
  if (t.subresource && !['get', 'update', 'patch'].includes(verb)) throw methodNotAllowed(req.method);
  authorize(identity, { verb, resource: t.rt.resource, subresource: t.subresource, namespace: t.namespace, name: t.name });
  const ctx: RestContext = { store: deps.store, tenant: identity.tenant };
  switch (verb) {
    case 'get':
      return getObject(ctx, t);
    case 'list':
      return listObjects(ctx, t, req.query);
    case 'watch':
      throw badRequest('watch is not supported yet; poll with list');
    case 'create':
      if (t.name) throw methodNotAllowed('POST');
      return createObject(ctx, t, req);
    case 'update':
      if (!t.name) throw methodNotAllowed('PUT');
      return replaceObject(ctx, t, req);
    case 'patch':
      if (!t.name) throw methodNotAllowed('PATCH');
      return patchObject(ctx, t, req);
    case 'delete':
      return deleteObject(ctx, t, req);
    default:
      return deleteCollection(ctx, t, req);
  }
}
