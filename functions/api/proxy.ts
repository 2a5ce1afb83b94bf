/**
 * The proxy subresources, as kube-apiserver serves them, every HTTP method:
 *
 *   /api/v1/namespaces/{ns}/pods/{name}[:{port}]/proxy[/{path}]
 *   /api/v1/namespaces/{ns}/services/[{scheme}:]{name}[:{port}]/proxy[/{path}]
 *   /api/v1/nodes/{name}/proxy/{metrics,healthz}   (GET only: the node agent's own endpoints)
 *
 * and `pods/{name}/portforward` upgrades (decidePortForward, called by the exec broker).
 *
 * Authorized on pods/proxy, services/proxy and nodes/proxy with the verb of the method (GET and HEAD get,
 * POST create, PUT update, PATCH patch, DELETE delete), then always through the agent that runs
 * the pod: the API never dials a pod (on AWS it cannot reach pods at all), and the agent connects
 * only to localhost:PORT inside that pod's own network namespace (node-agent/pod-connector.ts). A
 * service's endpoint is used only if it names a pod of the same namespace (targetRef) whose own
 * status.podIP is the endpoint's address and which is bound to a node: Endpoints or EndpointSlices
 * a tenant wrote by hand that point at another cluster's pod or at a host address get nothing.
 *
 * The path the pod sees travels to the agent in a header (X-Stratus-Proxy-Path), never in the
 * agent's own route, so `..` (plain or encoded) in it cannot reach another pod or the agent.
 */
import type http from 'node:http';
import type { Readable } from 'node:stream';
import { z } from 'zod';
import { badRequest, forbidden, methodNotAllowed, notFound, pathNotFound, StatusError } from '../../shared/errors';
import { resourceByName } from '../../shared/resources';
import { SERVICE_NAME_LABEL } from '../../shared/services/endpoints-compute';
import { authenticate, authorize, requestAttributes } from './auth';
import { impersonate } from './impersonation';
import type { Identity } from '../../shared/auth/tokens';
import { kubeletEndpoint, kubeletHeaders, PodSchema } from './pod-proxy';
import type { KubeletTls } from '../../shared/auth/kubelet-client';
import https from 'node:https';
import type { ApiRequest } from './request';
import type { ApiDeps } from './router';

/** Where a proxied request goes, as the path names it. */
export interface ProxyTarget {
  readonly kind: 'pods' | 'services' | 'nodes';
  /** '' for a node (cluster-scoped). */
  readonly namespace: string;
  readonly name: string;
  /** https for `services/https:NAME:PORT` (and pods). */
  readonly scheme: 'http' | 'https';
  /** The port part: a number, a port name, or '' (not given). */
  readonly port: string;
  /** The path (and query) the pod sees: what follows /proxy, raw. */
  readonly path: string;
}

/** A DNS-1123 subdomain: the only names a pod, service or namespace can have (and never `.` or `..`). */
const NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const PORT_PART = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

function decodeStrict(seg: string): string | undefined {
  try {
    return decodeURIComponent(seg);
  } catch {
    return undefined;
  }
}

/**
 * The proxy target of a path (without /clusters/...), undefined when the path is not a proxy
 * one, or a 404 Status for a proxy path naming nothing that could exist. The raw query is kept.
 */
export function proxyTarget(path: string, rawQuery = ''): ProxyTarget | undefined {
  const n = /^\/api\/v1\/nodes\/([^/]+)\/proxy(\/.*)?$/.exec(path);
  if (n) {
    const name = decodeStrict(n[1]!);
    // A node is named by its name alone here (kube-apiserver also takes [scheme:]name[:port]).
    if (name === undefined || !NAME.test(name)) throw notFound('nodes', name ?? n[1]!);
    return { kind: 'nodes', namespace: '', name, scheme: 'https', port: '', path: `${n[2] ?? '/'}${rawQuery ? `?${rawQuery}` : ''}` };
  }
  const m = /^\/api\/v1\/namespaces\/([^/]+)\/(pods|services)\/([^/]+)\/proxy(\/.*)?$/.exec(path);
  if (!m) return undefined;
  const namespace = decodeStrict(m[1]!);
  const id = decodeStrict(m[3]!);
  if (namespace === undefined || id === undefined || !NAME.test(namespace)) throw notFound(m[2]!, id ?? m[3]!);
  const parts = id.split(':');
  let scheme: 'http' | 'https' = 'http';
  if (parts.length === 3 || (parts.length === 2 && (parts[0] === 'http' || parts[0] === 'https') && m[2] === 'services')) {
    const s = parts.shift()!;
    if (s !== 'http' && s !== 'https' && s !== '') throw badRequest(`unsupported scheme "${s}"`);
    if (s === 'https') scheme = 'https';
  }
  const [name = '', port = ''] = parts;
  if (parts.length > 2 || !NAME.test(name) || (port !== '' && !PORT_PART.test(port))) throw notFound(m[2]!, id);
  const rest = m[4] ?? '/';
  return { kind: m[2] as 'pods' | 'services', namespace, name, scheme, port, path: `${rest}${rawQuery ? `?${rawQuery}` : ''}` };
}

/**
 * The verb a proxied method is authorized as (kube-apiserver's RequestInfo for proxy); also the
 * router's verb for the methods that name one object.
 */
export function proxyVerb(method: string): string {
  switch (method) {
    case 'GET':
    case 'HEAD':
    case 'OPTIONS':
      return 'get';
    case 'POST':
      return 'create';
    case 'PUT':
      return 'update';
    case 'PATCH':
      return 'patch';
    case 'DELETE':
      return 'delete';
    default:
      throw methodNotAllowed(method);
  }
}

const PodStatusSchema = z.looseObject({
  spec: z.looseObject({ nodeName: z.string().optional(), containers: z.array(z.looseObject({ ports: z.array(z.looseObject({ containerPort: z.number(), name: z.string().optional() })).optional() })).default([]) }),
  status: z.looseObject({ phase: z.string().optional(), podIP: z.string().optional(), podIPs: z.array(z.looseObject({ ip: z.string() })).optional() }).optional(),
  metadata: z.looseObject({ uid: z.string().optional(), deletionTimestamp: z.string().optional() }),
});
type PodView = z.infer<typeof PodStatusSchema>;
const ServiceView = z.looseObject({
  spec: z.looseObject({ type: z.string().optional(), ports: z.array(z.looseObject({ name: z.string().optional(), port: z.number() })).default([]) }).default({ ports: [] }),
});
const SliceView = z.looseObject({
  endpoints: z
    .array(
      z.looseObject({
        addresses: z.array(z.string()).default([]),
        conditions: z.looseObject({ ready: z.boolean().optional() }).optional(),
        targetRef: z.looseObject({ kind: z.string().optional(), name: z.string().optional(), namespace: z.string().optional() }).optional(),
      }),
    )
    .default([]),
  ports: z.array(z.looseObject({ name: z.string().optional(), port: z.number().optional() })).optional(),
});

/** One hop to an agent: the pod (by name and uid) and the port in its netns. */
interface Hop {
  readonly nodeName: string;
  readonly namespace: string;
  readonly pod: string;
  readonly uid?: string;
  readonly port: number;
}

function podIPs(pod: PodView): string[] {
  return [...new Set([pod.status?.podIP, ...(pod.status?.podIPs ?? []).map((p) => p.ip)].filter((ip): ip is string => !!ip))];
}

/** The pod's hop for pods/NAME[:PORT]/proxy: the port given, else the first container port, else 80 (kube-apiserver's choice). */
async function podHop(deps: ApiDeps, tenant: string, t: ProxyTarget): Promise<Hop> {
  const stored = await deps.store.get(tenant, resourceByName('pods'), t.namespace, t.name);
  if (!stored) throw notFound('pods', t.name);
  const pod = PodStatusSchema.parse(stored);
  let port: number;
  if (t.port === '') port = pod.spec.containers.flatMap((c) => c.ports ?? [])[0]?.containerPort ?? 80;
  else if (/^\d+$/.test(t.port)) port = Number(t.port);
  else {
    const named = pod.spec.containers.flatMap((c) => c.ports ?? []).find((p) => p.name === t.port);
    if (!named) throw badRequest(`pod ${t.name} has no port named "${t.port}"`);
    port = named.containerPort;
  }
  if (!(port >= 1 && port <= 65535)) throw badRequest(`invalid port ${t.port}`);
  if (!pod.spec.nodeName) throw new StatusError(503, 'ServiceUnavailable', `pod ${t.name} does not have a host assigned`);
  return { nodeName: pod.spec.nodeName, namespace: t.namespace, pod: t.name, ...(pod.metadata.uid ? { uid: pod.metadata.uid } : {}), port };
}

/**
 * A ready endpoint of the service's port, chosen at random among those that are pods of this
 * namespace whose own address is the endpoint's (kube-apiserver's ResourceLocation, over
 * EndpointSlices, with the pod check that keeps the proxy inside the cluster's own pods).
 */
async function serviceHop(deps: ApiDeps, tenant: string, t: ProxyTarget): Promise<Hop> {
  const stored = await deps.store.get(tenant, resourceByName('services'), t.namespace, t.name);
  if (!stored) throw notFound('services', t.name);
  const svc = ServiceView.parse(stored);
  if (svc.spec.type === 'ExternalName') throw badRequest(`no endpoints available for service "${t.name}"`);
  const svcPort = t.port === '' ? svc.spec.ports[0] : svc.spec.ports.find((p) => p.name === t.port || String(p.port) === t.port);
  if (!svcPort) throw new StatusError(503, 'ServiceUnavailable', `no service port "${t.port}" found for service "${t.name}"`);
  const portName = svcPort.name ?? '';
  const { items } = await deps.store.list(tenant, resourceByName('endpointslices'), {
    namespace: t.namespace,
    versioned: false,
    filter: (s) => s.metadata.labels?.[SERVICE_NAME_LABEL] === t.name,
  });
  const candidates: { pod: string; address: string; port: number }[] = [];
  for (const raw of items) {
    const slice = SliceView.parse(raw);
    const port = (slice.ports ?? []).find((p) => (p.name ?? '') === portName)?.port;
    if (!port) continue;
    for (const e of slice.endpoints) {
      if (e.conditions?.ready === false) continue;
      const ref = e.targetRef;
      if (ref?.kind !== 'Pod' || !ref.name || (ref.namespace && ref.namespace !== t.namespace)) continue;
      for (const address of e.addresses) candidates.push({ pod: ref.name, address, port });
    }
  }
  // Random order, then the first that is really that pod (a hand-written slice may lie).
  for (let i = candidates.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [candidates[i], candidates[j]] = [candidates[j]!, candidates[i]!];
  }
  for (const c of candidates) {
    const podObj = await deps.store.get(tenant, resourceByName('pods'), t.namespace, c.pod);
    if (!podObj) continue;
    const pod = PodStatusSchema.parse(podObj);
    if (!pod.spec.nodeName || pod.metadata.deletionTimestamp || !podIPs(pod).includes(c.address)) continue;
    return { nodeName: pod.spec.nodeName, namespace: t.namespace, pod: c.pod, ...(pod.metadata.uid ? { uid: pod.metadata.uid } : {}), port: c.port };
  }
  throw new StatusError(503, 'ServiceUnavailable', `no endpoints available for service "${t.name}"`);
}

/** Request headers never passed to the pod: our credentials and the caller's. */
const DROP_REQUEST = new Set(['authorization', 'host', 'connection', 'keep-alive', 'upgrade', 'transfer-encoding', 'te', 'trailer', 'proxy-authorization', 'content-length', 'x-request-id']);
const DROP_RESPONSE = new Set(['connection', 'keep-alive', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'proxy-authenticate']);

/** How long to wait for the pod's response headers. */
const PROXY_TIMEOUT_MS = 30_000;

export interface ProxyResponse {
  readonly statusCode: number;
  readonly headers: Record<string, string>;
  readonly body: Readable;
}

/** Serves one proxied request: authn, authz on {pods,services,nodes}/proxy, the hop, the agent. */
export async function serveProxy(t: ProxyTarget, req: ApiRequest, deps: ApiDeps): Promise<ProxyResponse> {
  if (t.kind === 'nodes') return serveNodeProxy(t, req, deps);
  const identity: Identity = await impersonate(req, await authenticate(req, deps.doc, deps.config, deps.store), deps.store);
  const rt = resourceByName(t.kind);
  const verb = proxyVerb(req.method);
  await authorize(deps.store, identity.tenant, requestAttributes(identity, verb, { rt, subresource: 'proxy', namespace: t.namespace, name: t.name }));
  if (identity.groups.includes('system:nodes'))
    throw forbidden(`${t.kind} "${t.name}" is forbidden: User "${identity.user}" cannot ${verb} resource "${t.kind}/proxy" in the namespace "${t.namespace}"`);
  const hop = t.kind === 'pods' ? await podHop(deps, identity.tenant, t) : await serviceHop(deps, identity.tenant, t);
  const { host, port, tls } = await kubeletEndpoint({ store: deps.store, tenant: identity.tenant }, hop.nodeName, 'proxy');
  const query = new URLSearchParams({ tenant: identity.tenant, ...(hop.uid ? { podUID: hop.uid } : {}), ...(t.scheme === 'https' ? { scheme: 'https' } : {}) });
  const url = `https://${host}:${port}/podProxy/${[hop.namespace, hop.pod, String(hop.port)].map(encodeURIComponent).join('/')}?${query.toString()}`;
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.headers)) if (v !== undefined && !DROP_REQUEST.has(k) && !k.startsWith('impersonate-') && !k.startsWith('x-stratus-')) headers[k] = v;
  Object.assign(headers, kubeletHeaders(req.requestId), { 'x-stratus-proxy-path': t.path });
  return callAgent(url, req.method, headers, req.body ?? Buffer.alloc(0), tls);
}

/** The node agent's own endpoints that nodes/NAME/proxy reaches: its Prometheus metrics and its health. */
const NODE_PROXY_PATHS: ReadonlySet<string> = new Set(['/metrics', '/healthz']);

/**
 * nodes/NAME/proxy/{metrics,healthz} (`kubectl get --raw /api/v1/nodes/NAME/proxy/metrics`):
 * authorized as kube-apiserver does, the method's verb on nodes/proxy at the cluster scope
 * (cluster-admin has it, view and edit do not), then GET only and only those two paths (the
 * agent serves more, such as containerLogs and podProxy, whose own subresources check the pod
 * they name: never reachable from here). Through the same mutual TLS (or relay) as logs and exec.
 */
async function serveNodeProxy(t: ProxyTarget, req: ApiRequest, deps: ApiDeps): Promise<ProxyResponse> {
  const identity: Identity = await impersonate(req, await authenticate(req, deps.doc, deps.config, deps.store), deps.store);
  const verb = proxyVerb(req.method);
  await authorize(deps.store, identity.tenant, requestAttributes(identity, verb, { rt: resourceByName('nodes'), subresource: 'proxy', name: t.name }));
  if (identity.groups.includes('system:nodes')) throw forbidden(`nodes "${t.name}" is forbidden: User "${identity.user}" cannot ${verb} resource "nodes/proxy" in API group "" at the cluster scope`);
  if (req.method !== 'GET') throw methodNotAllowed(req.method);
  const path = t.path.split('?')[0]!;
  if (!NODE_PROXY_PATHS.has(path)) throw pathNotFound(path);
  if (!(await deps.store.get(identity.tenant, resourceByName('nodes'), undefined, t.name))) throw notFound('nodes', t.name);
  const { host, port, tls } = await kubeletEndpoint({ store: deps.store, tenant: identity.tenant }, t.name, path.slice(1));
  return callAgent(`https://${host}:${port}${path}`, 'GET', kubeletHeaders(req.requestId), Buffer.alloc(0), tls);
}

/** One request to an agent's kubelet endpoint; its answer streamed back (hop-by-hop headers dropped), or 503 when it cannot be reached. */
async function callAgent(url: string, method: string, headers: Record<string, string>, body: Buffer, tls: KubeletTls): Promise<ProxyResponse> {
  if (body.length) headers['content-length'] = String(body.length);
  const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
    const r = https.request(url, { method, headers, agent: false, ...tls }, (up) => {
      clearTimeout(timer);
      resolve(up);
    });
    const timer = setTimeout(() => r.destroy(new Error('timed out waiting for the backend')), PROXY_TIMEOUT_MS);
    r.once('error', (e) => {
      clearTimeout(timer);
      reject(new StatusError(503, 'ServiceUnavailable', `error trying to reach service: ${e.message}`, undefined, { cause: e }));
    });
    r.end(body);
  });
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(res.headers)) if (v !== undefined && !DROP_RESPONSE.has(k)) out[k] = Array.isArray(v) ? v.join(', ') : v;
  return { statusCode: res.statusCode ?? 502, headers: out, body: res };
}

// ---------------------------------------------------------------------------------------------
// pods/portforward (an upgrade; the broker in exec.ts routes it here).

export const PORT_FORWARD_WS_PROTOCOLS = ['SPDY/3.1+portforward.k8s.io', 'v4.channel.k8s.io'] as const;

export interface PortForwardRelay {
  readonly relay: true;
  readonly url: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly protocols: readonly string[];
  /** A plain SPDY upgrade: relay the HTTP upgrade and then raw bytes, not WebSocket messages. */
  readonly raw?: boolean;
  /** Mutual TLS with the node (shared/auth/kubelet-client.ts). */
  readonly tls: KubeletTls;
}

/**
 * The decision for `pods/{name}/portforward` (namespace and name decoded): authorize create on
 * pods/portforward, the pod bound to a node, its agent; then the protocol: WebSocket
 * (`SPDY/3.1+portforward.k8s.io` or `v4.channel.k8s.io`) or plain SPDY/3.1.
 */
export async function decidePortForward(req: ApiRequest, deps: ApiDeps, namespace: string, name: string): Promise<PortForwardRelay> {
  const identity = await impersonate(req, await authenticate(req, deps.doc, deps.config, deps.store), deps.store);
  await authorize(deps.store, identity.tenant, requestAttributes(identity, 'create', { rt: resourceByName('pods'), subresource: 'portforward', namespace, name }));
  if (identity.groups.includes('system:nodes'))
    throw forbidden(`pods "${name}" is forbidden: User "${identity.user}" cannot create resource "pods/portforward" in the namespace "${namespace}"`);
  const stored = await deps.store.get(identity.tenant, resourceByName('pods'), namespace, name);
  if (!stored) throw notFound('pods', name);
  const pod = PodSchema.parse(stored);
  if (!pod.spec.nodeName) throw badRequest(`pod ${name} does not have a host assigned`);
  const { host, port, tls } = await kubeletEndpoint({ store: deps.store, tenant: identity.tenant }, pod.spec.nodeName, 'port-forward');
  const query = new URLSearchParams({ tenant: identity.tenant, ...(pod.metadata.uid ? { podUID: pod.metadata.uid } : {}) });
  for (const p of req.query.getAll('ports')) query.append('ports', p);
  const path = `/portForward/${[namespace, name].map(encodeURIComponent).join('/')}?${query.toString()}`;
  const headers = kubeletHeaders(req.requestId);
  const upgrade = (req.headers.upgrade ?? '').toLowerCase();
  if (upgrade === 'spdy/3.1') {
    const versions = (req.headers['x-stream-protocol-version'] ?? '').split(',').map((v) => v.trim());
    if (!versions.includes('portforward.k8s.io')) throw badRequest('unable to upgrade: the client must offer the stream protocol portforward.k8s.io');
    return { relay: true, raw: true, url: `https://${host}:${port}${path}`, headers: { ...headers, 'x-stream-protocol-version': 'portforward.k8s.io' }, protocols: [], tls };
  }
  if (upgrade !== 'websocket') throw badRequest('Upgrade request required');
  const offered = (req.headers['sec-websocket-protocol'] ?? '').split(',').map((p) => p.trim());
  const protocols = offered.filter((p) => (PORT_FORWARD_WS_PROTOCOLS as readonly string[]).includes(p));
  if (protocols.length === 0) throw badRequest(`the client must offer one of the WebSocket subprotocols ${PORT_FORWARD_WS_PROTOCOLS.join(', ')}`);
  // Relayed as bytes too: `SPDY/3.1+portforward.k8s.io` is no RFC 7230 token, and WebSocket
  // libraries (ws among them) refuse it, so the agent answers the handshake itself.
  return { relay: true, raw: true, url: `https://${host}:${port}${path}`, headers, protocols, tls };
}
