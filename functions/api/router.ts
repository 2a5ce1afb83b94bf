import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Config } from '../../shared/config';
import { badRequest, forbidden, methodNotAllowed, pathNotFound } from '../../shared/errors';
import { isLongRunning, tooManyRequests, type RateLimiter } from '../../shared/rate-limit';
import { takeAnonymous } from './source-limit';
import { apiVersionOf, findResource, type ResourceType } from '../../shared/resources';
import { decodeObject, fieldValidationOf } from '../../shared/registry/decode';
import { queryBool } from '../../shared/query';
import type { ObjectStore } from '../../shared/store/store';
import { authenticate, authorize, cachedIdentity, pathAttributes, requestAttributes } from './auth';
import { impersonate } from './impersonation';
import type { AuditUser } from '../../shared/audit';
import type { Identity } from '../../shared/auth/tokens';
import { fieldSelectorValue } from '../../shared/auth/node-authorizer';
import { aggregatedContentType, aggregatedDiscovery, aggregatedDiscoveryVersion, apiGroupList, apiGroupOf, apiResourceList, apiVersions, VERSION_INFO } from './discovery';
import { openApiDocument, openApiIndex } from './openapi';
import { OPENAPI_V2_PROTOBUF, openApiV2, wantsProtobufV2 } from './openapi-v2';
import { asTable } from './table';
import { bindPodToNode } from '../../shared/registry/binding';
import { evictPod } from '../../shared/registry/eviction';
import { requestToken } from '../../shared/serviceaccounts/token-request';
import { discoveryRoute, serveOidc } from '../../shared/serviceaccounts/oidc';
import { podLog, type StreamedResponse } from './pod-proxy';
import { proxyTarget, proxyVerb, serveProxy, type ProxyResponse } from './proxy';
import { checkPathNames, decodeSegment } from '../../shared/limits';
import { decodeBody, decodeObjectBody, json, type ApiRequest, type ApiResponse } from './request';
import {
  createObject,
  deleteCollection,
  deleteObject,
  getObject,
  isDryRun,
  listObjects,
  patchObject,
  replaceObject,
  serveOwnRest,
  serveScale,
  type RestContext,
  type Target,
} from './rest';
import { watchCollection, type WatchResponse } from './watch';
import type { LongRunningSlots } from '../../shared/long-running';
import { API_STREAM_MAX_MS, openHolding, takeSlot } from './stream-slots';
import { isOperator } from '../../shared/clusters';
import { isOperatorPath, OPERATOR_PREFIX, serveOperator } from './operator';
import { isNodeJoinPath, serveNodeJoin } from './node-join';
import { isDashboardPath, serveDashboard } from './dashboard';
import { COST_PATH, serveCost } from './cost';
import { attributeTo } from '../../shared/cost/meter';
import { resourceByName } from '../../shared/resources';

export interface ApiDeps {
  readonly doc: DynamoDBDocumentClient;
  readonly store: ObjectStore;
  readonly config: Config;
  /** The instance's side of the shared rate limits (shared/rate-limit.ts); absent, nothing is limited. */
  readonly limiter?: RateLimiter;
  /** The instance's side of the shared cap on open long-running requests (shared/long-running.ts); absent, nothing is capped. */
  readonly slots?: LongRunningSlots;
}

/**
 * Refuses a request over its cluster's or its user's rate limit, as kube-apiserver's flow control
 * refuses one: 429 TooManyRequests, Retry-After. Long-running requests are never limited.
 */
async function enforceRateLimits(req: ApiRequest, deps: ApiDeps, identity: Identity, subresource: string | undefined): Promise<void> {
  if (!deps.limiter || isLongRunning(req.method, subresource, req.query)) return;
  const decision = await deps.limiter.take(identity.tenant, identity.user, await deps.limiter.limitsOf(identity.tenant));
  if (!decision.allowed) throw tooManyRequests(decision.retryAfterSeconds);
}

export { tooManyRequests };

/**
 * A request serve() would refuse with 429 from this instance's memory alone, decided without any
 * await: the same checks in the same order as serve() (the paths served before authentication,
 * the route, authentication from the token cache, the cluster, the operator, long-running
 * requests, then the limiter's memory of an exhausted window with the cluster's cached limits).
 * Undefined whenever serve() must decide. The caller answers the 429 (functions/api/handler.ts);
 * only an authenticated, cached identity can be refused here, so an unauthenticated request
 * never spends or exhausts anyone's budget.
 */
export function refusedFromMemory(req: ApiRequest, deps: ApiDeps): { identity: Identity; retryAfterSeconds: number } | undefined {
  if (!deps.limiter) return undefined;
  if (discoveryRoute(req.path) || isOperatorPath(req) || isNodeJoinPath(req) || isDashboardPath(req.path) || proxyTarget(req.path, req.query.toString())) return undefined;
  let r: Route;
  try {
    r = route(req.path);
  } catch {
    return undefined;
  }
  if (r.kind === 'health') return undefined;
  const identity = cachedIdentity(req);
  if (!identity || (req.cluster !== undefined && req.cluster !== identity.tenant) || isOperator(identity)) return undefined;
  if (isLongRunning(req.method, r.kind === 'resource' ? r.target.subresource : undefined, req.query)) return undefined;
  const limits = deps.limiter.cachedLimits(identity.tenant);
  const decision = limits && deps.limiter.refuseFromMemory(identity.tenant, identity.user, limits);
  return decision && !decision.allowed ? { identity, retryAfterSeconds: decision.retryAfterSeconds } : undefined;
}

/** Kubernetes' path.IsValidPathSegmentName: not `.` or `..`, no `/` or `%`. */
const validPathSegmentName = (name: string): boolean => name !== '' && name !== '.' && name !== '..' && !name.includes('/') && !name.includes('%');

/** Splits `/clusters/{cluster}/rest` into the cluster and the Kubernetes path. */
export function splitCluster(rawPath: string): { cluster?: string; path: string } {
  const m = /^\/clusters\/([^/]+)(\/.*)?$/.exec(rawPath);
  if (!m) return { path: rawPath };
  return { cluster: decodeSegment(m[1]!), path: m[2] ?? '/' };
}

type Route =
  | { kind: 'health' }
  | { kind: 'version' }
  | { kind: 'discovery'; body: unknown; root?: 'api' | 'apis' }
  | { kind: 'openapi'; groupVersion?: string }
  | { kind: 'openapiV2' }
  | { kind: 'cost' }
  | { kind: 'resource'; target: Target };

function route(path: string): Route {
  const segs = path.split('/').filter(Boolean).map(decodeSegment);
  if (segs.length === 1 && ['healthz', 'livez', 'readyz'].includes(segs[0]!)) return { kind: 'health' };
  if (segs.length === 1 && segs[0] === 'version') return { kind: 'version' };
  if (path === COST_PATH) return { kind: 'cost' };
  if (segs.length === 2 && segs[0] === 'openapi' && segs[1] === 'v2') return { kind: 'openapiV2' };
  if (segs[0] === 'openapi' && segs[1] === 'v3') return { kind: 'openapi', groupVersion: segs.length > 2 ? segs.slice(2).join('/') : undefined };
  let group: string;
  let version: string;
  let rest: string[];
  if (segs[0] === 'api') {
    if (segs.length === 1) return { kind: 'discovery', body: apiVersions(), root: 'api' };
    group = '';
    version = segs[1]!;
    rest = segs.slice(2);
  } else if (segs[0] === 'apis') {
    if (segs.length === 1) return { kind: 'discovery', body: apiGroupList(), root: 'apis' };
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
  if (method === 'GET') return queryBool(query, 'watch') ? 'watch' : t.name ? 'get' : 'list';
  if (method === 'DELETE' && !t.name) return 'deletecollection';
  // HEAD and OPTIONS are served only by the proxy subresources.
  if (method === 'HEAD' || method === 'OPTIONS') throw methodNotAllowed(method);
  return proxyVerb(method);
}

/**
 * The verb a request is authorized as, after checking the method fits the target: subresources
 * serve only some verbs (log: get; exec/attach: create, from a GET or POST; eviction and binding:
 * create; status and scale: get, update, patch); a named create or an unnamed update is 405.
 */
function servedVerb(t: Target, verb: string, method: string): string {
  switch (t.subresource) {
    case undefined:
      if ((verb === 'create' && t.name) || ((verb === 'update' || verb === 'patch') && !t.name)) throw methodNotAllowed(method);
      return verb;
    case 'log':
      if (verb !== 'get') throw methodNotAllowed(method);
      return verb;
    case 'exec':
    case 'attach':
    case 'portforward':
      if (!t.name || (verb !== 'get' && verb !== 'create')) throw methodNotAllowed(method);
      return 'create';
    case 'eviction':
    case 'binding':
    case 'token':
      if (verb !== 'create' || !t.name) throw methodNotAllowed(method);
      return verb;
    default:
      if (!['get', 'update', 'patch'].includes(verb)) throw methodNotAllowed(method);
      return verb;
  }
}

export const auditUser = (i: Identity): AuditUser => ({ username: i.user, ...(i.uid ? { uid: i.uid } : {}), groups: i.groups, ...(i.extra && Object.keys(i.extra).length ? { extra: i.extra } : {}) });

/** Runs an authorization, recording its decision for the audit event. */
async function audited(req: ApiRequest, check: () => Promise<void>): Promise<void> {
  try {
    await check();
    if (req.audit) req.audit.decision = 'allow';
  } catch (e) {
    if (req.audit) {
      req.audit.decision = 'forbid';
      if (e instanceof Error) req.audit.reason = e.message;
    }
    throw e;
  }
}

/**
 * Serves one request: route → authenticate → authorize → admission and storage (in rest.ts).
 * Throws StatusError for every client-visible failure; the handler turns them into responses.
 */
export async function serve(req: ApiRequest, deps: ApiDeps): Promise<ApiResponse | WatchResponse | StreamedResponse | ProxyResponse> {
  // OIDC discovery of the cluster's service account issuer: served without authentication.
  const oidc = discoveryRoute(req.path);
  if (oidc) {
    // Anonymous and reading the store: counted against the client's address first (source-limit.ts).
    await takeAnonymous(req, deps);
    return serveOidc(oidc, req, deps.store);
  }
  if (isOperatorPath(req)) return serveOperator(req, deps);
  // A node agent's join with its bootstrap token (functions/api/node-join.ts).
  if (isNodeJoinPath(req)) return serveNodeJoin(req, deps);
  // The dashboard's static files hold no data: served without authentication (dashboard.ts).
  if (isDashboardPath(req.path)) return serveDashboard(req);
  // pods/proxy and services/proxy: any method, any path below (functions/api/proxy.ts).
  const proxied = proxyTarget(req.path, req.query.toString());
  if (proxied) return serveProxy(proxied, req, deps);
  // As in kube-apiserver, authentication comes first: an unauthenticated request is 401 whatever
  // its path (a path not served is 404 only to a caller the API knows).
  let r: Route;
  try {
    r = route(req.path);
  } catch (e) {
    await authenticate(req, deps.doc, deps.config, deps.store);
    throw e;
  }
  if (r.kind === 'health') return { statusCode: 200, headers: { 'content-type': 'text/plain' }, body: 'ok' };
  const authenticated = await authenticate(req, deps.doc, deps.config, deps.store);
  // The operator credential manages clusters and reaches none.
  if (isOperator(authenticated)) throw forbidden(`User "${authenticated.user}" cannot access clusters: the operator credential only manages them (${OPERATOR_PREFIX})`);
  if (req.audit) {
    req.audit.cluster = authenticated.tenant;
    req.audit.user = auditUser(authenticated);
  }
  // Fairness, before any other read: the user is the authenticated one, as APF's flow distinguisher.
  await enforceRateLimits(req, deps, authenticated, r.kind === 'resource' ? r.target.subresource : undefined);
  const identity = await impersonate(req, authenticated, deps.store);
  if (req.audit && identity !== authenticated) req.audit.impersonatedUser = auditUser(identity);
  // From here the invocation's cost is the cluster's (shared/cost/meter.ts); before, no one's.
  attributeTo(identity.tenant);
  // The cost meter's figures: whoever may list every pod may read them.
  if (r.kind === 'cost') {
    await audited(req, () => authorize(deps.store, identity.tenant, requestAttributes(identity, 'list', { rt: resourceByName('pods') })));
    return serveCost(req.method, identity.tenant, deps);
  }
  // Non-resource requests are authorized by path (the system:discovery role grants them).
  if (r.kind !== 'resource') await audited(req, () => authorize(deps.store, identity.tenant, pathAttributes(identity, req.method === 'GET' ? 'get' : req.method.toLowerCase(), req.path)));
  if (r.kind === 'version') return json(200, VERSION_INFO);
  if (r.kind === 'discovery') {
    if (req.method !== 'GET') throw methodNotAllowed(req.method);
    const aggregated = r.root ? aggregatedDiscoveryVersion(req.headers.accept) : undefined;
    if (r.root && aggregated) return json(200, aggregatedDiscovery(r.root, aggregated), { 'content-type': aggregatedContentType(aggregated) });
    return json(200, r.body);
  }
  if (r.kind === 'openapiV2') {
    if (req.method !== 'GET') throw methodNotAllowed(req.method);
    const v2 = openApiV2();
    if (!wantsProtobufV2(req.headers.accept)) return json(200, v2.json);
    return { statusCode: 200, headers: { 'content-type': OPENAPI_V2_PROTOBUF }, body: v2.proto.toString('base64'), isBase64Encoded: true } as ApiResponse;
  }
  if (r.kind === 'openapi') {
    if (req.method !== 'GET') throw methodNotAllowed(req.method);
    if (!r.groupVersion) return json(200, openApiIndex(req.cluster === undefined ? '' : `/clusters/${encodeURIComponent(req.cluster)}`));
    const entry = openApiDocument(r.groupVersion);
    if (!entry) throw pathNotFound(req.path);
    return json(200, entry.doc, { etag: `"${entry.hash}"` });
  }
  const verb = verbOf(req.method, r.target, req.query);
  const t = checkPathNames(r.target, verb); // before the store: names it could never hold
  if (t.rt.namespaced && t.namespace === undefined && t.name !== undefined) throw pathNotFound(req.path);
  if (t.rt.namespaced && t.namespace === undefined && verb === 'create') throw methodNotAllowed('POST');
  if (!t.rt.namespaced && t.namespace !== undefined) throw pathNotFound(req.path);
  const served = servedVerb(t, verb, req.method);
  if (req.audit) {
    req.audit.resourceRequest = true;
    req.audit.verb = served;
    req.audit.objectRef = {
      resource: t.rt.resource,
      ...(t.namespace !== undefined ? { namespace: t.namespace } : {}),
      ...(t.name !== undefined ? { name: t.name } : {}),
      apiGroup: t.rt.group,
      apiVersion: t.rt.version,
      ...(t.subresource ? { subresource: t.subresource } : {}),
    };
  }
  attributeTo(identity.tenant, { resource: t.rt.resource, namespace: t.namespace, name: t.name });
  // Authorization, once, with the request's complete attributes.
  const fieldSelector = req.query.get('fieldSelector') ?? undefined;
  // kube-apiserver's RequestInfo: a list or watch whose field selector requires metadata.name=X
  // names X, so a role limited by resourceNames may list and watch that one object (kubectl get
  // secret X -w); the selector then keeps every other object out of the answer.
  const selectedName = !t.name && (served === 'list' || served === 'watch') ? fieldSelectorValue(fieldSelector, 'metadata.name') : undefined;
  const named = selectedName !== undefined && validPathSegmentName(selectedName) ? { ...t, name: selectedName } : t;
  await audited(req, () => authorize(deps.store, identity.tenant, { ...requestAttributes(identity, served, named), fieldSelector }));
  const ctx: RestContext = {
    store: deps.store,
    tenant: identity.tenant,
    user: { username: identity.user, groups: identity.groups, extra: identity.extra, uid: identity.uid },
    nodeIdentity: identity.groups.includes('system:nodes'),
  };
  if (t.rt.createOnly) {
    // Computed answers, never stored (SelfSubjectAccessReview and the like): create only.
    if (verb !== 'create' || t.subresource) throw methodNotAllowed(req.method);
    const { obj } = decodeObject(t.rt, decodeObjectBody(req, t.rt), fieldValidationOf(req.query));
    return json(201, await t.rt.createOnly(ctx, { ...obj, apiVersion: apiVersionOf(t.rt), kind: t.rt.kind }));
  }
  if (t.rt.rest) return asTable(t.rt, req, await serveOwnRest(ctx, t, verb, req));
  switch (t.subresource) {
    case 'log':
      // A followed log holds a slot of the long-running cap while it streams (stream-slots.ts).
      if (!queryBool(req.query, 'follow')) return podLog(ctx, t, req);
      return openHolding(await takeSlot(deps, authenticated, API_STREAM_MAX_MS), () => podLog(ctx, t, req));
    case 'exec':
    case 'attach':
    case 'portforward':
      // Served only as an upgrade (functions/api/exec.ts, reached through the runtime's upgrade
      // path); a plain request gets kube-apiserver's answer once it is authorized.
      throw badRequest('Upgrade request required');
    case 'eviction':
      return json(201, await evictPod(ctx, t, decodeBody(req), isDryRun(req.query)));
    case 'binding':
      return json(201, await bindPodToNode(ctx, t, decodeBody(req), isDryRun(req.query)));
    case 'token':
      return json(201, await requestToken(ctx, t, decodeBody(req), isDryRun(req.query)));
    case 'scale':
      return serveScale(ctx, t, verb, req);
  }
  switch (verb) {
    case 'get':
      return asTable(t.rt, req, await getObject(ctx, t));
    case 'list':
      return asTable(t.rt, req, await listObjects(ctx, t, req.query));
    case 'watch': {
      // Parameters are checked first (a bad one costs no slot); the stream starts when read.
      const res = watchCollection(ctx, t, req);
      try {
        return await openHolding(await takeSlot(deps, authenticated, API_STREAM_MAX_MS), () => res);
      } catch (e) {
        res.body.destroy();
        throw e;
      }
    }
    case 'create':
      return createObject(ctx, t, req);
    case 'update':
      return replaceObject(ctx, t, req);
    case 'patch':
      return patchObject(ctx, t, req);
    case 'delete':
      return deleteObject(ctx, t, req);
    default:
      return deleteCollection(ctx, t, req);
  }
}
