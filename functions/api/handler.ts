import { auditEvent, auditSinkFromEnv, newAuditContext, shouldAudit, type AuditSink } from '../../shared/audit';
import { functionMetrics, MetricUnit, withMetrics } from '../../shared/function-metrics';
import { Readable, type Writable } from 'node:stream';
import middy, { type MiddlewareObj } from '@middy/core';
import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import { loadConfig } from '../../shared/config';
import { internalError, isStatusError } from '../../shared/errors';
import { functionLogger, withRequestContext } from '../../shared/log';
import { createDocumentClient } from '../../shared/store/dynamo';
import { ObjectStore } from '../../shared/store/store';
import { startInvocation } from '../../shared/cost/meter';
import { configureCostMeterFor } from '../../shared/cost/configure';
import { RateLimiter } from '../../shared/rate-limit';
import { LongRunningSlots } from '../../shared/long-running';
import { forClient, type ApiRequest } from './request';
import { auditUser, refusedFromMemory, serve, splitCluster, tooManyRequests, type ApiDeps } from './router';
import { countFailedAuthentication, refusedBySource } from './source-limit';

/*
 * The api function: Lambda Function URL (payload 2.0) → Kubernetes REST. A thin middy adapter
 * around serve() (router.ts): parse the event, serve, and map errors to Kubernetes Status.
 *
 * The Function URL streams responses (RESPONSE_STREAM, infra/wiring.ts): middy's
 * streamifyResponse wraps the handler in awslambda.streamifyResponse, sends statusCode and
 * headers through awslambda.HttpResponseStream.from and pipes the body (a string, or the
 * Readable of a watch) into the response stream. Every response goes that way; errors too.
 */

const logger = functionLogger('stratus-api');

let deps: ApiDeps | undefined;
/** The api's clients, made once per Lambda instance (also used by the exec broker, exec.ts). */
export function getDeps(): ApiDeps {
  if (!deps) {
    const config = loadConfig();
    const doc = createDocumentClient(config);
    deps = {
      config,
      doc,
      store: new ObjectStore(doc, config),
      limiter: new RateLimiter(doc, config, { onError: (error) => logger.warn('rate limit not checked', { error }) }),
      slots: new LongRunningSlots(doc, config, { onError: (error) => logger.warn('long-running cap not checked', { error }) }),
    };
    configureCostMeterFor(deps.store);
  }
  return deps;
}

/**
 * What an instance gives back when it stops: the long-running slots of the streams it still
 * holds (shared/long-running.ts). The local runtime calls it when it stops an api instance
 * (infra/local/runtime.ts LoadedFunction.shutdown); on Lambda nothing calls it, and the slots of
 * an instance that goes away expire instead (SLOT_TTL_MS).
 */
export async function shutdown(): Promise<void> {
  if (!deps?.slots) return;
  await deps.slots.releaseAll();
  await deps.slots.settled();
}

function lowerCased(h: APIGatewayProxyEventV2['headers'] | undefined): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(h ?? {})) if (v !== undefined) headers[k.toLowerCase()] = v;
  return headers;
}

export function toApiRequest(event: APIGatewayProxyEventV2): ApiRequest {
  const { cluster, path } = splitCluster(event.rawPath || '/');
  const headers = lowerCased(event.headers);
  const body = event.body === undefined ? undefined : Buffer.from(event.body, event.isBase64Encoded ? 'base64' : 'utf8');
  return {
    method: event.requestContext.http.method.toUpperCase(),
    path,
    cluster,
    query: new URLSearchParams(event.rawQueryString ?? ''),
    headers,
    body,
    requestId: event.requestContext.requestId,
    sourceIp: event.requestContext.http.sourceIp,
    audit: newAuditContext(event.requestContext.requestId),
  };
}

/** A response as middy's streamifyResponse takes it: the body is a string or a Readable. */
export interface StreamableResult {
  statusCode: number;
  headers: Record<string, string>;
  body: string | Readable;
}

/**
 * A response of serve() in the form middy streams: Buffers and base64 bodies (binary media
 * types) become Readables of their bytes, since a streamed response has no isBase64Encoded.
 */
export function toStreamable(res: { statusCode: number; headers: Record<string, string>; body: unknown; isBase64Encoded?: boolean }): StreamableResult {
  const { statusCode, headers, body } = res;
  if (body instanceof Readable) return { statusCode, headers, body };
  if (Buffer.isBuffer(body) || body instanceof Uint8Array) return { statusCode, headers, body: Readable.from([Buffer.from(body)]) };
  if (typeof body === 'string' && res.isBase64Encoded) return { statusCode, headers, body: Readable.from([Buffer.from(body, 'base64')]) };
  return { statusCode, headers, body: typeof body === 'string' ? body : '' };
}

const metrics = functionMetrics('stratus-api');

/** The request each event became (read again by the error handler, for the audit event). */
const requests = new WeakMap<APIGatewayProxyEventV2, ApiRequest>();
let auditSink: AuditSink | null | undefined;

/** Writes the request's audit event when the policy logs it (shared/audit.ts); never fails the request. Also the exec broker's (exec.ts). */
export function audit(event: APIGatewayProxyEventV2, req: ApiRequest | undefined, res: { code: number; reason?: string; message?: string; streamed?: boolean }): void {
  if (auditSink === undefined) auditSink = auditSinkFromEnv(process.env, (error) => logger.error('audit events not written', { error })) ?? null;
  if (!auditSink) return;
  const ctx = req?.audit ?? newAuditContext(event.requestContext?.requestId);
  const method = event.requestContext?.http?.method?.toUpperCase() ?? 'GET';
  if (!shouldAudit(ctx, method, res.code)) return;
  try {
    const requestURI = `${event.rawPath || '/'}${event.rawQueryString ? `?${event.rawQueryString}` : ''}`;
    auditSink.write(auditEvent(ctx, { method, requestURI, sourceIP: event.requestContext?.http?.sourceIp, userAgent: event.requestContext?.http?.userAgent }, res));
  } catch (error) {
    logger.error('audit event not written', { error });
  }
}

/** Each event's metered invocation, ended by the handler once the response has been sent. */
const invocations = new WeakMap<APIGatewayProxyEventV2, ReturnType<typeof startInvocation>>();

/**
 * One metered invocation (shared/cost/meter.ts): the router attributes it to the authenticated
 * cluster and the request's object; a streamed body (a watch, logs) is counted until it ends.
 * It is ended after the response (handler below), never before: ending it may write the
 * cluster's cost aggregate (once a minute, many UpdateItems), which a client must not wait for.
 */
async function metered(event: APIGatewayProxyEventV2, context: Context): Promise<StreamableResult> {
  const invocation = startInvocation(context?.memoryLimitInMB);
  invocations.set(event, invocation);
  const res = await invocation.run(() => core(event));
  if (typeof res.body !== 'string') res.body.once('close', () => void invocation.end());
  return res;
}

async function core(event: APIGatewayProxyEventV2): Promise<StreamableResult> {
  metrics.addMetric('Requests', MetricUnit.Count, 1);
  const req = toApiRequest(event);
  requests.set(event, req);
  const res = forClient(await serve(req, getDeps()), req);
  // A create names its object in the body: the event names it as kube-apiserver's does.
  const ref = req.audit?.objectRef;
  if (req.audit?.verb === 'create' && ref && ref.name === undefined && res.statusCode < 300 && typeof res.body === 'string' && !('isBase64Encoded' in res && res.isBase64Encoded)) {
    try {
      const name = (JSON.parse(res.body) as { metadata?: { name?: unknown } }).metadata?.name;
      if (typeof name === 'string') req.audit.objectRef = { ...ref, name };
    } catch {
      // not JSON (a Table or protobuf answer): the event keeps no name
    }
  }
  audit(event, req, { code: res.statusCode, streamed: typeof res.body !== 'string' });
  return toStreamable(res);
}

/** Turns any error into a Kubernetes Status response; only StatusErrors reveal their message. */
const statusErrors = (): MiddlewareObj<APIGatewayProxyEventV2, StreamableResult, Error, Context> => ({
  onError: async function statusErrorsOnError(request) {
    const error = request.error;
    let status = isStatusError(error) ? error : undefined;
    if (!status) {
      logger.error('unhandled error', { error });
      status = internalError();
    }
    metrics.addMetric(status.code >= 500 ? 'ServerErrors' : 'ClientErrors', MetricUnit.Count, 1);
    // A failed authentication spends its source address's budget (source-limit.ts); a 401 is
    // thrown only by authentication (a proxied pod's own 401 is a response, not counted).
    if (status.code === 401) {
      try {
        await countFailedAuthentication(requests.get(request.event) ?? toApiRequest(request.event), getDeps());
      } catch (error) {
        logger.warn('failed authentication not counted', { error });
      }
    }
    audit(request.event, requests.get(request.event), { code: status.code, reason: status.reason, message: status.message });
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (status.code === 401) headers['www-authenticate'] = 'Bearer realm="stratus"';
    if (status.details?.retryAfterSeconds) headers['retry-after'] = String(status.details.retryAfterSeconds);
    const query = new URLSearchParams(request.event.rawQueryString ?? '');
    request.response = forClient({ statusCode: status.code, headers, body: `${JSON.stringify(status.toStatus())}\n` }, { query, headers: lowerCased(request.event.headers) });
  },
});

const fullHandler = middy<APIGatewayProxyEventV2, StreamableResult>({ streamifyResponse: true }).use(withRequestContext(logger)).use(withMetrics(metrics)).use(statusErrors()).handler(metered);

type StreamingHandler = (event: APIGatewayProxyEventV2, responseStream: Writable, context: Context) => Promise<void>;
interface AwsLambdaStreaming {
  streamifyResponse<T extends StreamingHandler>(handler: T): T;
  HttpResponseStream: { from(stream: Writable, prelude: { statusCode: number; headers: Record<string, string> }): Writable };
}
const awslambda = (globalThis as unknown as { awslambda: AwsLambdaStreaming }).awslambda;

/**
 * The fast refusal: a request whose source address has spent its budget for the current second
 * (source-limit.ts refusedBySource), or one this instance already knows is over its limit for the current
 * second (router.ts refusedFromMemory: authenticated from the token cache, its window exhausted
 * by the shared counter) is answered here, before middy, the cost meter and the router's promise
 * chain: the same 429 Status, Retry-After and audit event as the full path, for a fraction of its
 * CPU (BENCHMARKS.md "Fairness under a flood"). Its metrics are added to the instance's store and
 * published with the next full invocation's. Everything else goes the full way.
 */
async function fastRefusal(event: APIGatewayProxyEventV2, responseStream: Writable): Promise<boolean> {
  const limiter = getDeps().limiter;
  // Nothing is exhausted this second: no work at all for the request's fast path.
  if (!limiter?.someExhaustedNow() && !limiter?.someSourceExhaustedNow()) return false;
  let req: ApiRequest;
  let refused: ReturnType<typeof refusedFromMemory>;
  let retryAfter: number | undefined;
  try {
    req = toApiRequest(event);
    // The client's address over its budget (failed authentications, joins, anonymous requests):
    // refused before its token is verified or anything read (source-limit.ts).
    retryAfter = refusedBySource(req, getDeps());
    refused = retryAfter === undefined ? refusedFromMemory(req, getDeps()) : undefined;
  } catch {
    return false;
  }
  if (refused) retryAfter = refused.retryAfterSeconds;
  if (retryAfter === undefined) return false;
  const status = tooManyRequests(retryAfter);
  metrics.addMetric('Invocations', MetricUnit.Count, 1);
  metrics.addMetric('Requests', MetricUnit.Count, 1);
  metrics.addMetric('ClientErrors', MetricUnit.Count, 1);
  if (req.audit && refused) {
    req.audit.cluster = refused.identity.tenant;
    req.audit.user = auditUser(refused.identity);
  }
  audit(event, req, { code: status.code, reason: status.reason, message: status.message });
  const res = forClient({ statusCode: status.code, headers: { 'content-type': 'application/json', 'retry-after': String(retryAfter) }, body: `${JSON.stringify(status.toStatus())}\n` }, req);
  const out = awslambda.HttpResponseStream.from(responseStream, { statusCode: res.statusCode, headers: res.headers });
  await new Promise<void>((resolve, reject) => {
    out.once('error', reject);
    out.end(res.body, () => resolve());
  });
  return true;
}

export const handler = awslambda.streamifyResponse(async (event: APIGatewayProxyEventV2, responseStream: Writable, context: Context): Promise<void> => {
  if (await fastRefusal(event, responseStream)) return;
  try {
    return await (fullHandler as unknown as StreamingHandler)(event, responseStream, context);
  } finally {
    // The response stream has ended (middy pipes the body, then resolves): the client has its
    // answer, and the invocation (its metering, a cost flush when one is due) ends before this
    // handler returns, as Lambda needs (work after the return may never run). So do the deletes
    // of the slots a closed watch or log follow held (shared/long-running.ts).
    await invocations.get(event)?.end();
    await deps?.slots?.settled();
  }
});
