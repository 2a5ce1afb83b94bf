/**
 * The exec broker: decides an upgrade request for `pods/{name}/exec` (kubectl exec) or
 * `pods/{name}/attach` (kubectl attach) before any WebSocket exists, as kube-apiserver does
 * before it proxies to the kubelet:
 *
 *   route → authenticate (bearer token) → authorize `create` on `pods/exec` → the command's
 *   options → the pod (404), its container (400), bound and not finished (400) → the node's
 *   kubelet endpoint (503 when it has none)
 *
 * and answers either "relay to this kubelet URL with these headers" or a Kubernetes Status (the
 * HTTP answer to the failed upgrade; kubectl prints its message).
 *
 * A Lambda Function URL cannot take an Upgrade, so this is not reached through the api
 * function: locally infra/local/runtime.ts calls brokerUpgrade() from its server's `upgrade`
 * event with the same event shape a Function URL request has, then opens the WebSocket to the
 * agent (node-agent/kubelet-server.ts) and pipes frames both ways. On AWS the same decision is
 * the `$connect` route of an API Gateway WebSocket API (docs/exec.md).
 *
 * Why a failed check must be an HTTP answer: kubectl 1.32 first tries WebSocket
 * (v5.channel.k8s.io); on any refused handshake it falls back to SPDY/3.1 (a POST with
 * `Upgrade: SPDY/3.1`) and prints that second answer's Status. So a SPDY upgrade gets the same
 * checks, and only when they all pass the answer that SPDY is not served.
 */
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { z } from 'zod';
import { badRequest, forbidden, internalError, isStatusError, notFound, pathNotFound, StatusError } from '../../shared/errors';
import { resourceByName } from '../../shared/resources';
import { queryBool } from '../../shared/query';
import { authenticate, authorize, requestAttributes } from './auth';
import { impersonate } from './impersonation';
import { audit, getDeps, toApiRequest } from './handler';
import { decodeSegment } from '../../shared/limits';
import { chooseContainer, kubeletEndpoint, kubeletHeaders, PodSchema } from './pod-proxy';
import type { KubeletTls } from '../../shared/auth/kubelet-client';
import { decidePortForward } from './proxy';
import type { ApiRequest } from './request';
import type { ApiDeps } from './router';
import { countFailedAuthentication, refusedBySource } from './source-limit';
import { tooManyRequests } from '../../shared/rate-limit';
import { takeSlot } from './stream-slots';

/** The channel subprotocols the agents speak (node-agent/exec.ts), best first. */
export const EXEC_PROTOCOLS = ['v5.channel.k8s.io', 'v4.channel.k8s.io'] as const;

/** Either relay the upgrade to a kubelet, or answer it with a Status. */
export type UpgradeDecision =
  | {
      readonly relay: true;
      /** ws://host:port/exec/{ns}/{pod}/{container}?command=... of the pod's agent. */
      readonly url: string;
      /** Headers for the agent (the request id; the credential is the TLS client certificate). */
      readonly headers: Readonly<Record<string, string>>;
      /** Mutual TLS with the node (shared/auth/kubelet-client.ts). */
      readonly tls: KubeletTls;
      /** The client's subprotocols that the agent speaks, in the client's order. */
      readonly protocols: readonly string[];
      /** A plain SPDY/3.1 upgrade (port-forward's fallback): relay the HTTP upgrade, then bytes. */
      readonly raw?: boolean;
      /**
       * What the relay calls once the relayed stream has ended (either side closed, an error, a
       * timeout), with the HTTP status the client got if it was not 101 (the agent refused a
       * relayed raw upgrade): writes the request's ResponseComplete audit event. Calls after the
       * first do nothing.
       */
      readonly closed?: (code?: number) => void;
      /** Frees the session's slot of the long-running cap (shared/long-running.ts): the relay calls it when the client's connection closes. */
      readonly release?: () => void;
    }
  | { readonly relay: false; readonly statusCode: number; readonly headers: Readonly<Record<string, string>>; readonly body: string };

const PodStatusSchema = z.looseObject({ status: z.looseObject({ phase: z.string().optional() }).optional() });

/** Query parameters of PodExecOptions (PodAttachOptions without command) the agent reads; the container goes into its path. */
const EXEC_PARAMS = ['command', 'stdin', 'stdout', 'stderr', 'tty'] as const;


/**
 * The decision for one upgrade request (path without the /clusters prefix, as the router sees
 * it). Throws StatusError for every refusal.
 */
export async function decideUpgrade(req: ApiRequest, deps: ApiDeps): Promise<UpgradeDecision & { relay: true }> {
  const segs = req.path.split('/').filter(Boolean).map(decodeSegment);
  const m = segs.length === 7 && segs[0] === 'api' && segs[1] === 'v1' && segs[2] === 'namespaces' && segs[4] === 'pods';
  // pods/portforward: functions/api/proxy.ts.
  if (m && segs[6] === 'portforward') return decidePortForward(req, deps, segs[3]!, segs[5]!);
  // Nothing else upgrades: an unknown pods subresource is not found, as on the router.
  if (!m || (segs[6] !== 'exec' && segs[6] !== 'attach')) {
    if (m) throw pathNotFound(req.path);
    throw badRequest(`the server does not upgrade connections for ${req.path}; only pods/exec and pods/attach do`);
  }
  const [, , , namespace, , name, subresource] = segs as [string, string, string, string, string, string, string];
  const identity = await impersonate(req, await authenticate(req, deps.doc, deps.config, deps.store), deps.store);
  await authorize(deps.store, identity.tenant, requestAttributes(identity, 'create', { rt: resourceByName('pods'), subresource, namespace, name }));
  // Kubernetes' node authorizer never lets a kubelet exec into pods; ours allows nodes all of pods.
  if (identity.groups.includes('system:nodes'))
    throw forbidden(`pods "${name}" is forbidden: User "${identity.user}" cannot create resource "pods/${subresource}" in the namespace "${namespace}"`);

  const websocket = (req.headers.upgrade ?? '').toLowerCase() === 'websocket';
  const offered = (req.headers['sec-websocket-protocol'] ?? '').split(',').map((p) => p.trim());
  const protocols = offered.filter((p) => (EXEC_PROTOCOLS as readonly string[]).includes(p));

  // PodExecOptions (PodAttachOptions: no command), checked as kube-apiserver does before it looks at the pod.
  const command = req.query.getAll('command');
  if (subresource === 'exec' && (command.length === 0 || command[0] === '')) throw badRequest('you must specify at least 1 command');
  if (!['stdin', 'stdout', 'stderr'].some((k) => queryBool(req.query, k))) throw badRequest('you must specify at least 1 of stdin, stdout, stderr');

  const ctx = { store: deps.store, tenant: identity.tenant };
  const stored = await deps.store.get(identity.tenant, resourceByName('pods'), namespace, name);
  if (!stored) throw notFound('pods', name);
  const pod = PodSchema.parse(stored);
  const container = chooseContainer(pod, req.query.get('container'));
  const phase = PodStatusSchema.parse(stored).status?.phase;
  if (phase === 'Succeeded' || phase === 'Failed')
    throw badRequest(`cannot ${subresource === 'exec' ? 'exec into' : 'attach to'} a container in a completed pod; current phase is ${phase}`);
  if (!pod.spec.nodeName) throw badRequest(`pod ${name} does not have a host assigned`);
  const { host, port, tls } = await kubeletEndpoint(ctx, pod.spec.nodeName, subresource);

  // Every check passed: what is left is the protocol. kubectl only falls back to SPDY when the
  // WebSocket handshake failed, and its SPDY request lands here.
  if (!websocket) throw badRequest(`the ${req.headers.upgrade ?? 'requested'} upgrade is not supported; exec is served over WebSocket (${EXEC_PROTOCOLS.join(', ')})`);
  if (protocols.length === 0) throw badRequest(`the client must offer one of the WebSocket subprotocols ${EXEC_PROTOCOLS.join(', ')}`);

  const query = new URLSearchParams();
  for (const k of EXEC_PARAMS) if (k !== 'command' || subresource === 'exec') for (const v of req.query.getAll(k)) query.append(k, v);
  if (pod.metadata.uid) query.set('podUID', pod.metadata.uid);
  const path = `/${subresource}/${[namespace, name, container].map(encodeURIComponent).join('/')}?${query.toString()}`;
  return { relay: true, url: `wss://${host}:${port}${path}`, headers: kubeletHeaders(req.requestId), protocols, tls };
}


/**
 * The audit event of an upgrade (exec, attach, port-forward), as for any other request: verb
 * `create` on pods/SUBRESOURCE, the authenticated user (from the per-instance token cache the
 * decision just filled), stage ResponseStarted with 101 when relayed (the stream may stay open
 * for hours), then ResponseComplete with 101 and the same auditID when the relayed stream ends
 * (the decision's `closed`, called by the relay), as kube-apiserver audits a long-running request;
 * ResponseComplete with the Status code when refused.
 */
async function auditUpgrade(event: APIGatewayProxyEventV2, req: ApiRequest, res: { code: number; reason?: string; message?: string; streamed?: boolean }): Promise<void> {
  const ctx = req.audit;
  if (!ctx) return;
  const segs = req.path.split('/').filter(Boolean).map((s) => {
    try {
      return decodeSegment(s);
    } catch {
      return s;
    }
  });
  if (segs.length === 7 && segs[0] === 'api' && segs[2] === 'namespaces' && segs[4] === 'pods') {
    ctx.resourceRequest = true;
    ctx.verb = 'create';
    ctx.objectRef = { resource: 'pods', namespace: segs[3], name: segs[5], apiGroup: '', apiVersion: 'v1', subresource: segs[6] };
  }
  try {
    const deps = getDeps();
    const identity = await authenticate(req, deps.doc, deps.config, deps.store);
    ctx.cluster = identity.tenant;
    ctx.user = { username: identity.user, ...(identity.uid ? { uid: identity.uid } : {}), groups: identity.groups };
  } catch {
    // unauthenticated: the event names the anonymous user
  }
  if (res.code === 101) ctx.decision = 'allow';
  else if (res.code === 403) {
    ctx.decision = 'forbid';
    if (res.message) ctx.reason = res.message;
  }
  audit(event, req, res);
}

/**
 * The broker as the local runtime calls it: the upgrade request in a Function URL event's
 * shape (no body), the decision back. Never throws: refusals are Status answers, and anything
 * unexpected a 500 (logged), as the api function's handler does.
 */
export async function brokerUpgrade(event: APIGatewayProxyEventV2): Promise<UpgradeDecision> {
  const req = toApiRequest(event);
  try {
    // The client's address over its budget: refused before its token is verified (source-limit.ts).
    const retryAfter = refusedBySource(req, getDeps());
    if (retryAfter !== undefined) throw tooManyRequests(retryAfter);
    const deps = getDeps();
    const decision = await decideUpgrade(req, deps);
    // The session holds a slot of its user's and cluster's cap on open long-running requests
    // (the identity the decision authenticated, from the token cache).
    const slot = await takeSlot(deps, await authenticate(req, deps.doc, deps.config, deps.store));
    try {
      await auditUpgrade(event, req, { code: 101, streamed: true });
    } catch (e) {
      void slot?.release();
      throw e;
    }
    let ended = false;
    const closed = (code = 101) => {
      if (ended) return;
      ended = true;
      audit(event, req, { code });
    };
    return slot ? { ...decision, closed, release: () => void slot.release() } : { ...decision, closed };
  } catch (e) {
    let status: StatusError;
    if (isStatusError(e)) status = e;
    else {
      console.error(JSON.stringify({ level: 'error', message: 'exec broker failed', error: String(e), stack: (e as Error | undefined)?.stack }));
      status = internalError();
    }
    if (status.code === 401) await countFailedAuthentication(req, getDeps());
    // A source over its budget is not verified again for the audit event's user.
    if (status.code === 429) audit(event, req, { code: status.code, reason: status.reason, message: status.message });
    else await auditUpgrade(event, req, { code: status.code, reason: status.reason, message: status.message });
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (status.code === 401) headers['www-authenticate'] = 'Bearer realm="stratus"';
    if (status.details?.retryAfterSeconds) headers['retry-after'] = String(status.details.retryAfterSeconds);
    return { relay: false, statusCode: status.code, headers, body: `${JSON.stringify(status.toStatus())}\n` };
  }
}
