/**
 * pods/log: `GET /api/v1/namespaces/{ns}/pods/{name}/log?container&follow&previous&timestamps&
 * tailLines&sinceSeconds&sinceTime&limitBytes`, as kube-apiserver serves it: find the pod's node,
 * check the container name, and proxy to that node's kubelet endpoint
 * (status.addresses InternalIP, status.daemonEndpoints.kubeletEndpoint.Port), whose answer goes
 * back as text/plain, streamed (as a watch is) so `follow` lasts until the container stops or the
 * client goes away (destroying the body closes the connection to the agent, which stops reading).
 *
 * The agent is called over mutual TLS (shared/auth/kubelet-client.ts): the API's kubelet client
 * certificate, and only a serving certificate of the cluster's node CA naming that Node is
 * trusted. The user was authenticated and authorized here already. On AWS the api function must
 * reach the agents' InternalIPs, so it runs in the agents' VPC.
 */
import type http from 'node:http';
import https from 'node:https';
import { kubeletTls, type KubeletTls } from '../../shared/auth/kubelet-client';
import type { Readable } from 'node:stream';
import { z } from 'zod';
import { badRequest, notFound, StatusError, type StatusReason } from '../../shared/errors';
import { resourceByName } from '../../shared/resources';
import { KUBELET_RELAY_ANNOTATION } from '../../shared/relay/session';
import { RELAY_KUBELET_PORT, relayAgent, relayUrl } from '../../shared/relay/api-side';
import { checkPodLogOptions } from './log-options';
import type { ApiRequest, ApiResponse } from './request';
import type { RestContext, Target } from './rest';

/** A streamed text response (same shape as a watch's, which the handler streams). */
export interface StreamedResponse {
  readonly statusCode: 200;
  readonly headers: Record<string, string>;
  readonly body: Readable;
}

const Named = z.looseObject({ name: z.string() });
/** The parts of a pod the proxied subresources (log, exec) read. */
export const PodSchema = z.looseObject({
  metadata: z.looseObject({ name: z.string(), uid: z.string().optional() }),
  spec: z.looseObject({
    nodeName: z.string().optional(),
    containers: z.array(Named).default([]),
    initContainers: z.array(Named).optional(),
    ephemeralContainers: z.array(Named).optional(),
  }),
});
const NodeSchema = z.looseObject({
  metadata: z.looseObject({ annotations: z.record(z.string(), z.string()).optional() }).optional(),
  status: z
    .looseObject({
      addresses: z.array(z.looseObject({ type: z.string(), address: z.string() })).optional(),
      daemonEndpoints: z.looseObject({ kubeletEndpoint: z.looseObject({ Port: z.number().int() }).optional() }).optional(),
    })
    .optional(),
});
const UpstreamStatusSchema = z.looseObject({ kind: z.literal('Status'), message: z.string(), reason: z.string().optional(), code: z.number() });

/** Query parameters passed on to the kubelet (it validates them: PodLogOptions). */
const LOG_PARAMS = ['follow', 'previous', 'timestamps', 'tailLines', 'sinceSeconds', 'sinceTime', 'limitBytes'] as const;

/** How long to wait for the kubelet to answer with headers (a follow then streams for as long as it lasts). */
const CONNECT_TIMEOUT_MS = 10_000;

/** Which container's log: the named one, or the only one; the errors are kube-apiserver's. */
export function chooseContainer(pod: z.infer<typeof PodSchema>, requested: string | null): string {
  const names = pod.spec.containers.map((c) => c.name);
  const inits = (pod.spec.initContainers ?? []).map((c) => c.name);
  const ephemeral = (pod.spec.ephemeralContainers ?? []).map((c) => c.name);
  if (!requested) {
    if (names.length === 1) return names[0]!;
    let message = `a container name must be specified for pod ${pod.metadata.name}, choose one of: [${names.join(' ')}]`;
    if (inits.length) message += ` or one of the init containers: [${inits.join(' ')}]`;
    if (ephemeral.length) message += ` or one of the ephemeral containers: [${ephemeral.join(' ')}]`;
    throw badRequest(message);
  }
  if (![...names, ...inits, ...ephemeral].includes(requested)) throw badRequest(`container ${requested} is not valid for pod ${pod.metadata.name}`);
  return requested;
}

/** Where a node's kubelet endpoint is (host ready for a URL) and the TLS options to call it with (shared with exec.ts). */
export async function kubeletEndpoint(ctx: RestContext, nodeName: string, serves: string): Promise<{ host: string; port: number; tls: KubeletTls }> {
  const node = NodeSchema.parse((await ctx.store.get(ctx.tenant, resourceByName('nodes'), undefined, nodeName)) ?? {});
  // A node in relay mode (no listening port: docs/exec.md) is reached through the relay, with the same mutual TLS.
  if (node.metadata?.annotations?.[KUBELET_RELAY_ANNOTATION] === 'true') return relayEndpoint(ctx, nodeName, serves);
  const address = node.status?.addresses?.find((a) => a.type === 'InternalIP')?.address;
  const port = node.status?.daemonEndpoints?.kubeletEndpoint?.Port ?? 0;
  if (!address || port === 0) {
    throw new StatusError(503, 'ServiceUnavailable', `node "${nodeName}" does not serve ${serves} (it reports no kubelet endpoint)`);
  }
  return { host: address.includes(':') ? `[${address}]` : address, port, tls: await kubeletTls(ctx.store, ctx.tenant, nodeName) };
}

/**
 * A relay-mode node's endpoint: a host name standing for the node in URLs (the relay agent
 * ignores it; only the node name is checked, in the serving certificate) and TLS options whose
 * agent dials a relay session per call (shared/relay/api-side.ts).
 */
async function relayEndpoint(ctx: RestContext, nodeName: string, serves: string): Promise<{ host: string; port: number; tls: KubeletTls }> {
  const url = relayUrl();
  if (!url) throw new StatusError(503, 'ServiceUnavailable', `node "${nodeName}" does not serve ${serves} (it is reached through the kubelet relay, which this deployment does not run)`);
  const tls = await kubeletTls(ctx.store, ctx.tenant, nodeName);
  return { host: nodeName, port: RELAY_KUBELET_PORT, tls: { ...tls, agent: relayAgent({ doc: ctx.store.doc, config: ctx.store.config, tenant: ctx.tenant, node: nodeName, url, kubeletTls: tls }) } };
}

/** GET pods/{name}/log. */
export async function podLog(ctx: RestContext, t: Target, req: ApiRequest): Promise<ApiResponse | StreamedResponse> {
  checkPodLogOptions(req.query, t.name!);
  const stored = await ctx.store.get(ctx.tenant, t.rt, t.namespace, t.name!);
  if (!stored) throw notFound('pods', t.name!);
  const pod = PodSchema.parse(stored);
  const container = chooseContainer(pod, req.query.get('container'));
  // Not scheduled yet: nothing has run, so the log is empty (kube-apiserver answers the same).
  if (!pod.spec.nodeName) return { statusCode: 200, headers: { 'content-type': 'text/plain' }, body: '' };

  const { host, port, tls } = await kubeletEndpoint(ctx, pod.spec.nodeName, 'container logs');

  const query = new URLSearchParams();
  for (const k of LOG_PARAMS) {
    const v = req.query.get(k);
    if (v !== null) query.set(k, v);
  }
  if (pod.metadata.uid) query.set('podUID', pod.metadata.uid);
  const path = `/containerLogs/${[t.namespace!, pod.metadata.name, container].map(encodeURIComponent).join('/')}?${query.toString()}`;
  const res = await kubeletGet(`https://${host}:${port}${path}`, kubeletHeaders(req.requestId), tls);
  if (res.statusCode !== 200) throw await upstreamError(res, `${host}:${port}`);
  return { statusCode: 200, headers: { 'content-type': 'text/plain', 'cache-control': 'no-cache, private' }, body: res };
}

/** The headers of an API → agent call: the request id its log lines carry (the credential is the TLS client certificate). */
export function kubeletHeaders(requestId: string | undefined): Record<string, string> {
  return { 'user-agent': 'stratus-apiserver', ...(requestId ? { 'x-request-id': requestId } : {}) };
}

function kubeletGet(url: string, headers: Record<string, string>, tls: KubeletTls): Promise<http.IncomingMessage> {
  return new Promise((resolve, reject) => {
    const req = https.get(url, { headers, agent: false, ...tls }, (res) => {
      clearTimeout(timer);
      resolve(res);
    });
    // Only until headers: a follow may then stay quiet for as long as the container does.
    const timer = setTimeout(() => req.destroy(new Error('timed out waiting for the kubelet')), CONNECT_TIMEOUT_MS);
    req.once('error', (e) => {
      clearTimeout(timer);
      // kube-apiserver's words when the kubelet cannot be reached.
      reject(new StatusError(500, 'InternalError', `Get "${url.replace(/\?.*$/, '')}": ${e.message}`, undefined, { cause: e }));
    });
  });
}

/** The kubelet's Status, passed through with its code; anything else becomes a 500. */
async function upstreamError(res: http.IncomingMessage, hostPort: string): Promise<StatusError> {
  const chunks: Buffer[] = [];
  for await (const c of res) chunks.push(c as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  const s = UpstreamStatusSchema.safeParse(json);
  if (s.success && s.data.code >= 400 && s.data.code < 500 && s.data.code !== 401 && s.data.code !== 403) {
    return new StatusError(s.data.code, (s.data.reason ?? 'BadRequest') as StatusReason, s.data.message);
  }
  // 401/403 from the kubelet means our certificate was refused: a server problem, not the client's.
  return new StatusError(500, 'InternalError', `the kubelet at ${hostPort} answered ${res.statusCode}: ${s.success ? s.data.message : text.slice(0, 200)}`);
}
