/**
 * The local Lambda runtime: plays what infra/ wires on AWS (Function URLs, DynamoDB Streams event
 * source mappings, EventBridge schedules) and invokes the very same handlers, in this process,
 * with the very same event shapes (@types/aws-lambda). It is never a second implementation of a
 * handler: it only reads the wiring table and delivers events the way Lambda does.
 */
import { randomUUID } from 'node:crypto';
import { request as httpRequest, STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer, request as httpsRequest, type Server } from 'node:https';
import type { Server as NetServer, Socket } from 'node:net';
import { createWriteStream } from 'node:fs';
import { PerformanceObserver } from 'node:perf_hooks';
import { dirname, resolve } from 'node:path';
import { Writable, type Duplex } from 'node:stream';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { DescribeTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  DescribeStreamCommand,
  DynamoDBStreamsClient,
  GetRecordsCommand,
  GetShardIteratorCommand,
  type _Record as SdkRecord,
  type AttributeValue as SdkAttributeValue,
} from '@aws-sdk/client-dynamodb-streams';
import type {
  APIGatewayProxyEventV2,
  AttributeValue as LambdaAttributeValue,
  Context,
  DynamoDBRecord,
  DynamoDBStreamEvent,
  ScheduledEvent,
} from 'aws-lambda';
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import { SQSClient } from '@aws-sdk/client-sqs';
import { controllerTicksQueueName, loadConfig } from '../../shared/config';
import { assertSupported, recordMatches } from '../stream-filter';
import type { FunctionWiring, Trigger } from '../wiring';
import { sleep } from '../../shared/sleep';
import { CheckpointFile } from './checkpoints';
import { QueuePoller } from './queue-poller';
import { flushCostNow } from '../../shared/cost/meter';
import { requestTraces, type RequestTrace } from '../../shared/request-trace';
import { startHttpInstances } from './http-instances';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const ACCOUNT_ID = '000000000000';
/** Lambda's synchronous invocation payload limit. */
const MAX_REQUEST_BYTES = 6 * 1024 * 1024;
/** Longest request target (path and query) the local Function URL takes: longer is 414. */
export const MAX_URL_BYTES = 16 * 1024;
/** Most bytes of request line and headers together (Node's maxHeaderSize): more is 431. */
export const MAX_HEADER_BYTES = 64 * 1024;
const STREAM_IDLE_POLL_MS = 50;
/** STRATUS_TRACE_STREAMS=1: log every stream invocation (records, outcome, duration), to see where stream latency goes. */
const TRACE_STREAMS = process.env.STRATUS_TRACE_STREAMS === '1';
const SHARD_DISCOVERY_MS = 1_000;
/** Empty GetRecords pages (about 5 s) after which a shard DescribeStream calls closed is done. */
const CLOSED_SHARD_EMPTY_POLLS = 100;
const RETRY_BACKOFF_START_MS = 100;
const RETRY_BACKOFF_CAP_MS = 2_000;
/** How long stop() waits for handlers that ignore the end of their world. */
export const STOP_GRACE_MS = 10_000;

export interface LocalRuntimeOptions {
  readonly wiring: readonly FunctionWiring[];
  /** Assigned into process.env before any handler is imported (handlers read config at import). */
  readonly env: Record<string, string>;
  /** Port of the first HTTP function's server; 0 or absent = any free port. */
  readonly httpPort?: number;
  readonly tls: { readonly key: string; readonly cert: string };
  readonly log?: (s: string) => void;
  /** Where stream consumers keep their checkpoints across restarts; absent = from TRIM_HORIZON. */
  readonly checkpointFile?: string;
  /**
   * A listening TCP server (the API's pod-facing address, infra/local/pod-facing.ts) whose
   * connections the first HTTP function's HTTPS server also serves: same TLS, handler and upgrades.
   */
  readonly podListener?: NetServer;
  /**
   * How many instances serve each HTTP function, each a process of its own with its own event
   * loop (infra/local/http-instances.ts), as concurrent requests on AWS run in separate Lambda
   * instances. 0 = in this process, one event loop for every request (handlers' module state
   * then reachable from the caller, as some benches need). Default: STRATUS_API_INSTANCES, else
   * DEFAULT_HTTP_INSTANCES.
   */
  readonly httpInstances?: number;
}

/** Instances per HTTP function when neither the option nor STRATUS_API_INSTANCES says. */
export const DEFAULT_HTTP_INSTANCES = 2;

/** The instance count asked for: the option, else STRATUS_API_INSTANCES, else the default. */
export function httpInstanceCount(option: number | undefined, env: NodeJS.ProcessEnv = process.env): number {
  const raw = option ?? (env.STRATUS_API_INSTANCES !== undefined && env.STRATUS_API_INSTANCES !== '' ? Number(env.STRATUS_API_INSTANCES) : DEFAULT_HTTP_INSTANCES);
  if (!Number.isInteger(raw) || raw < 0 || raw > 64) throw new Error(`api instances must be an integer from 0 to 64, not ${String(option ?? env.STRATUS_API_INSTANCES)}`);
  return raw;
}

export interface LocalRuntime {
  /** https://127.0.0.1:PORT of the first HTTP function (the API). */
  readonly url: string;
  readonly port: number;
  /** Every HTTP function's own origin, by wiring name: on AWS each has its own Function URL. */
  readonly urls: Readonly<Record<string, string>>;
  /** Closes servers and connections, stops pollers and timers, awaits in-flight invocations. */
  stop(): Promise<void>;
}

// ---------------------------------------------------------------------------------------------
// The awslambda global, as the Lambda Node.js runtime provides it.

/** Same symbol the Lambda Node.js runtime uses to mark a streamifyResponse handler. */
const HANDLER_STREAMING = Symbol.for('aws.lambda.runtime.handler.streaming');
const STREAM_RESPONSE = 'response';
const PRELUDE_CONTENT_TYPE = 'application/vnd.awslambda.http-integration-response';

type PlainHandler = (event: unknown, context: Context) => unknown;
type StreamingHandler = (event: unknown, responseStream: Writable, context: Context) => unknown;

/** What HttpResponseStream.from takes: status, headers and cookies of the HTTP response. */
interface ResponsePrelude {
  statusCode?: number;
  headers?: Record<string, string | number | boolean>;
  cookies?: string[];
}

/**
 * The stream handed to a streaming handler. Bytes go to the client as they are written; the
 * prelude (from HttpResponseStream.from) or the content type sets the head, sent before the
 * first byte, as on AWS.
 */
class LocalResponseStream extends Writable {
  private prelude: ResponsePrelude | undefined;
  private contentType = 'application/octet-stream';

  constructor(private readonly res: ServerResponse) {
    super();
  }

  setContentType(contentType: string): void {
    this.contentType = contentType;
  }

  /** Called by HttpResponseStream.from. */
  setPrelude(prelude: ResponsePrelude): void {
    this.contentType = PRELUDE_CONTENT_TYPE;
    this.prelude = prelude;
  }

  private sendHead(): void {
    if (this.res.headersSent) return;
    const p = this.prelude;
    const headers = normaliseHeaders(p?.headers);
    if (!p) headers['content-type'] = this.contentType;
    else if (!headers['content-type']) headers['content-type'] = 'application/octet-stream';
    const cookies = p?.cookies ?? [];
    this.res.writeHead(p?.statusCode ?? 200, cookies.length ? { ...headers, 'set-cookie': cookies } : headers);
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.sendHead();
    if (this.res.write(chunk)) cb();
    else this.res.once('drain', () => cb());
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.sendHead();
    this.res.end(() => cb());
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    if (!this.res.writableEnded) this.res.destroy();
    cb(err);
  }
}

class LocalHttpResponseStream {
  /** Mirrors the Lambda runtime: records the prelude on the stream and returns that stream. */
  static from(stream: Writable, prelude: ResponsePrelude): Writable {
    if (stream instanceof LocalResponseStream) {
      stream.setPrelude(prelude);
      return stream;
    }
    // Not ours: write the wire format the real runtime writes (JSON prelude, 8 NUL bytes).
    stream.write(JSON.stringify(prelude));
    stream.write(new Uint8Array(8));
    return stream;
  }
}

interface AwsLambdaGlobal {
  streamifyResponse<T extends StreamingHandler>(handler: T, options?: { highWaterMark?: number }): T;
  HttpResponseStream: typeof LocalHttpResponseStream;
}

/**
 * Installs awslambda.streamifyResponse and awslambda.HttpResponseStream on globalThis as the
 * Lambda Node.js runtime does, keeping whatever a real runtime already put there. Must run
 * before handlers are imported: middy and handlers call streamifyResponse at module load.
 */
export function installAwsLambdaGlobals(): void {
  // The AWS SDK (via @aws/lambda-invoke-store) already creates globalThis.awslambda = {} for its
  // InvokeStore, so extend the object rather than skip when it exists.
  const g = globalThis as unknown as { awslambda?: Partial<AwsLambdaGlobal> };
  const awslambda = (g.awslambda ??= {});
  awslambda.streamifyResponse ??= (handler) => {
    Object.defineProperty(handler, HANDLER_STREAMING, { value: STREAM_RESPONSE, configurable: true });
    return handler;
  };
  awslambda.HttpResponseStream ??= LocalHttpResponseStream;
}

function isStreamingHandler(fn: unknown): fn is StreamingHandler {
  return typeof fn === 'function' && (fn as unknown as Record<symbol, unknown>)[HANDLER_STREAMING] === STREAM_RESPONSE;
}

// ---------------------------------------------------------------------------------------------
// Invocation: context, deadline, in-flight tracking.

class TimeoutError extends Error {
  constructor(fn: string, seconds: number) {
    super(`Task timed out after ${seconds.toFixed(2)} seconds (${fn})`);
    this.name = 'TimeoutError';
  }
}

/** The Lambda context of one invocation of `w` that must end by `deadline` (ms). */
export function makeContext(w: FunctionWiring, region: string, deadline: number): Context {
  const requestId = randomUUID();
  const unsupported = () => {
    throw new Error('context.done/succeed/fail are not supported: return a result or a promise');
  };
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName: w.name,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:${region}:${ACCOUNT_ID}:function:${w.name}`,
    memoryLimitInMB: String(w.memoryMiB),
    awsRequestId: requestId,
    logGroupName: `/aws/lambda/${w.name}`,
    logStreamName: `${new Date().toISOString().slice(0, 10).replaceAll('-', '/')}/[$LATEST]local`,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: unsupported,
    fail: unsupported,
    succeed: unsupported,
  };
}

export class Invoker {
  private readonly inflight = new Set<Promise<unknown>>();

  constructor(private readonly region: string) {}

  /**
   * Calls a plain handler and settles with its result, or rejects with its error or a
   * TimeoutError after the function's timeout (the handler itself cannot be killed in-process;
   * stop() still waits a grace period for it).
   */
  async invoke(w: FunctionWiring, fn: PlainHandler, event: unknown): Promise<unknown> {
    const deadline = Date.now() + w.timeoutSeconds * 1000;
    const context = makeContext(w, this.region, deadline);
    const run = this.track(Promise.resolve().then(() => fn(event, context)));
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new TimeoutError(w.name, w.timeoutSeconds)), w.timeoutSeconds * 1000);
    });
    try {
      return await Promise.race([run, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Tracks a promise until it settles, so stop() can wait for it. */
  track<T>(p: Promise<T>): Promise<T> {
    this.inflight.add(p);
    const forget = () => this.inflight.delete(p);
    p.then(forget, forget);
    return p;
  }

  context(w: FunctionWiring, deadline: number): Context {
    return makeContext(w, this.region, deadline);
  }

  /** Resolves when every tracked invocation has settled, or after `graceMs`. */
  async drain(graceMs: number): Promise<number> {
    const pending = [...this.inflight];
    if (!pending.length) return 0;
    let timer: NodeJS.Timeout | undefined;
    const grace = new Promise<void>((r) => (timer = setTimeout(r, graceMs)));
    await Promise.race([Promise.allSettled(pending), grace]);
    clearTimeout(timer);
    return this.inflight.size;
  }
}

export const message = (err: unknown) => (err instanceof Error ? (err.stack ?? err.message) : String(err));

// ---------------------------------------------------------------------------------------------
// HTTP trigger: a Lambda Function URL (payload format 2.0).

/** A Kubernetes Status object, the error body every Kubernetes client understands. */
function statusBody(code: number, reason: string, msg: string): string {
  return `${JSON.stringify({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: msg, reason, code })}\n`;
}

function sendStatus(res: ServerResponse, code: number, reason: string, msg: string, close = false): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = statusBody(code, reason, msg);
  res.writeHead(code, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
    ...(close ? { connection: 'close' } : {}),
  });
  res.end(body);
}

function normaliseHeaders(headers: Record<string, unknown> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers ?? {})) {
    if (v === undefined || v === null) continue;
    out[k.toLowerCase()] = String(v);
  }
  return out;
}

/** Function URLs pass these bodies as text; everything else arrives base64-encoded. */
function isTextual(contentType: string | undefined): boolean {
  if (!contentType) return false;
  const type = contentType.split(';')[0].trim().toLowerCase();
  return (
    type.startsWith('text/') ||
    type === 'application/json' ||
    type.endsWith('+json') ||
    type === 'application/yaml' ||
    type === 'application/x-yaml' ||
    type.endsWith('+yaml') ||
    type === 'application/xml' ||
    type.endsWith('+xml') ||
    type === 'application/javascript' ||
    type === 'application/x-www-form-urlencoded'
  );
}

/** "12/Mar/2020:19:03:58 +0000", the requestContext.time format. */
function clfTime(d: Date): string {
  const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  const p = (n: number) => String(n).padStart(2, '0');
  return `${p(d.getUTCDate())}/${months[d.getUTCMonth()]}/${d.getUTCFullYear()}:${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0000`;
}

/** Most bytes of an oversized body read (and dropped) so its sender can read the 413; past it the connection is cut. */
const MAX_DISCARD_BYTES = 64 * 1024 * 1024;

/**
 * Reads the body, or resolves undefined when it exceeds Lambda's limit and answers 413 once the
 * client has sent it all (dropping the bytes), so a client that writes its whole body before it
 * reads gets the answer rather than a reset connection.
 */
function readBody(req: IncomingMessage, res: ServerResponse): Promise<Buffer | undefined> {
  return new Promise((resolveBody, reject) => {
    const tooLarge = () => {
      req.removeAllListeners('data');
      let dropped = 0;
      const answer = () =>
        sendStatus(res, 413, 'RequestEntityTooLarge', `request body exceeds the ${MAX_REQUEST_BYTES} byte limit of a Lambda invocation`, true);
      if (req.complete) answer();
      else {
        req.on('data', (chunk: Buffer) => {
          dropped += chunk.length;
          if (dropped > MAX_DISCARD_BYTES) req.destroy();
        });
        req.once('end', answer);
        req.resume();
      }
      resolveBody(undefined);
    };
    if (Number(req.headers['content-length'] ?? 0) > MAX_REQUEST_BYTES) return tooLarge();
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_REQUEST_BYTES) tooLarge();
      else chunks.push(chunk);
    });
    req.once('end', () => resolveBody(Buffer.concat(chunks)));
    req.once('error', reject);
  });
}

/**
 * A request the HTTP parser refused still gets an answer, not a closed socket: 431 for a request
 * line and headers over MAX_HEADER_BYTES, 408 for one too slow to arrive, 400 for the rest.
 */
function answerClientError(err: Error & { code?: string }, socket: Duplex): void {
  if (!socket.writable || err.code === 'ECONNRESET') {
    socket.destroy();
    return;
  }
  const code = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
  const msg =
    code === 431
      ? `the request line and headers are too large: limit is ${MAX_HEADER_BYTES} bytes`
      : code === 408
        ? 'the request took too long to arrive'
        : `the request could not be parsed: ${err.code ?? err.message}`;
  const body = statusBody(code, code === 408 ? 'Timeout' : code === 400 ? 'BadRequest' : '', msg);
  socket.end(`HTTP/1.1 ${code} ${STATUS_CODES[code]}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
}

/** What functionUrlEvent reads of a request (an IncomingMessage, or a request made up by a bench). */
export type FunctionUrlRequest = Pick<IncomingMessage, 'url' | 'method' | 'httpVersion' | 'headersDistinct'> & { socket: { remoteAddress?: string } };

/** The event a Lambda Function URL sends for this request (payload format version 2.0). */
export function functionUrlEvent(req: FunctionUrlRequest, body: Buffer, urlId: string): APIGatewayProxyEventV2 {
  const now = new Date();
  const rawUrl = req.url ?? '/';
  const q = rawUrl.indexOf('?');
  const rawPath = q < 0 ? rawUrl : rawUrl.slice(0, q);
  const rawQueryString = q < 0 ? '' : rawUrl.slice(q + 1);

  const headers: Record<string, string> = {};
  let cookies: string[] | undefined;
  for (const [name, values] of Object.entries(req.headersDistinct)) {
    if (!values) continue;
    // Function URLs move cookies out of the headers into their own list.
    if (name === 'cookie') {
      cookies = values.flatMap((v) => v.split(';').map((c) => c.trim())).filter(Boolean);
      continue;
    }
    headers[name] = values.join(',');
  }

  let queryStringParameters: Record<string, string> | undefined;
  if (rawQueryString) {
    queryStringParameters = {};
    for (const [k, v] of new URLSearchParams(rawQueryString)) {
      queryStringParameters[k] = k in queryStringParameters ? `${queryStringParameters[k]},${v}` : v;
    }
  }

  const textual = isTextual(headers['content-type']);
  const domainName = headers.host ?? `${urlId}.lambda-url.local`;
  const event: APIGatewayProxyEventV2 = {
    version: '2.0',
    routeKey: '$default',
    rawPath,
    rawQueryString,
    ...(cookies?.length ? { cookies } : {}),
    headers,
    ...(queryStringParameters ? { queryStringParameters } : {}),
    requestContext: {
      accountId: 'anonymous',
      apiId: urlId,
      domainName,
      domainPrefix: domainName.split('.')[0],
      http: {
        method: req.method ?? 'GET',
        path: rawPath,
        protocol: `HTTP/${req.httpVersion}`,
        sourceIp: (req.socket.remoteAddress ?? '127.0.0.1').replace(/^::ffff:/, ''),
        userAgent: headers['user-agent'] ?? '',
      },
      requestId: randomUUID(),
      routeKey: '$default',
      stage: '$default',
      time: clfTime(now),
      timeEpoch: now.getTime(),
    },
    isBase64Encoded: body.length > 0 && !textual,
  };
  if (body.length > 0) event.body = textual ? body.toString('utf8') : body.toString('base64');
  return event;
}

/** Writes a handler's APIGatewayProxyResultV2 the way a Function URL interprets it. */
function writeResult(res: ServerResponse, result: unknown): void {
  if (result !== null && typeof result === 'object' && typeof (result as { statusCode?: unknown }).statusCode === 'number') {
    const r = result as {
      statusCode: number;
      headers?: Record<string, unknown>;
      cookies?: unknown;
      body?: unknown;
      isBase64Encoded?: unknown;
    };
    const headers = normaliseHeaders(r.headers);
    if (!headers['content-type']) headers['content-type'] = 'application/json';
    const body =
      typeof r.body === 'string' ? Buffer.from(r.body, r.isBase64Encoded === true ? 'base64' : 'utf8') : Buffer.alloc(0);
    headers['content-length'] = String(body.length);
    const cookies = Array.isArray(r.cookies) ? r.cookies.map(String) : [];
    res.writeHead(r.statusCode, cookies.length ? { ...headers, 'set-cookie': cookies } : headers);
    res.end(body);
    return;
  }
  // No statusCode: the result itself is the JSON body (a string is used as is).
  const body = typeof result === 'string' ? result : result === undefined ? '' : JSON.stringify(result);
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

export interface LoadedFunction {
  readonly wiring: FunctionWiring;
  readonly fn: PlainHandler | StreamingHandler;
  /**
   * The module's `shutdown` export, if any: what an instance gives back when it stops (the api:
   * its long-running slots). The local runtime calls it when it stops the instance, after its
   * invocations drained. Lambda has no such call worth relying on (a shutdown phase reaches the
   * runtime only with extensions, and then for at most 2 s), so nothing may depend on it there.
   */
  readonly shutdown?: () => Promise<void>;
}

/** Runs the functions' shutdown hooks (LoadedFunction.shutdown), each at most `graceMs`; never throws. */
export async function shutdownFunctions(functions: readonly LoadedFunction[], graceMs: number, log: (s: string) => void): Promise<void> {
  await Promise.all(
    functions.map(async (f) => {
      if (!f.shutdown) return;
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), graceMs)));
      try {
        if ((await Promise.race([f.shutdown(), timeout])) === 'timeout') log(`[${f.wiring.name}] shutdown not done after ${graceMs} ms; not waiting longer`);
      } catch (err) {
        log(`[${f.wiring.name}] shutdown failed: ${message(err)}`);
      } finally {
        clearTimeout(timer);
      }
    }),
  );
}

/** Imports the handler of `w` and checks it matches its trigger (streaming or not). */
export async function loadFunction(w: FunctionWiring): Promise<LoadedFunction> {
  const mod = (await import(pathToFileURL(resolve(repoRoot, w.entry)).href)) as Record<string, unknown>;
  const fn = mod[w.handler];
  if (typeof fn !== 'function') throw new Error(`${w.entry} has no exported function ${w.handler} (wiring ${w.name})`);
  const streamingHandler = isStreamingHandler(fn);
  const streamingTrigger = w.trigger.type === 'http' && w.trigger.streaming;
  if (streamingHandler !== streamingTrigger) {
    throw new Error(
      streamingTrigger
        ? `${w.name}: wired with streaming: true but ${w.entry} ${w.handler} is not wrapped in awslambda.streamifyResponse`
        : `${w.name}: ${w.entry} ${w.handler} is a streamifyResponse handler but its trigger is not a streaming Function URL`,
    );
  }
  const shutdown = mod.shutdown;
  return { wiring: w, fn: fn as PlainHandler | StreamingHandler, ...(typeof shutdown === 'function' ? { shutdown: shutdown as () => Promise<void> } : {}) };
}

function startHttpFunction(
  f: LoadedFunction,
  streaming: boolean,
  port: number,
  tls: LocalRuntimeOptions['tls'],
  invoker: Invoker,
  log: (s: string) => void,
): Promise<Server> {
  const server = createHttpFunctionServer(f, streaming, tls, invoker, log);
  return new Promise((resolveServer, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      server.on('error', (err) => log(`[${f.wiring.name}] server error: ${message(err)}`));
      resolveServer(server);
    });
  });
}

/**
 * How long the local front stops reading a connection after it answered `statusCode` with
 * `retryAfter` (a Retry-After header): a 429 that asks the client to wait holds the connection
 * until the current one-second window of the rate limits ends (shared/rate-limit.ts windowOf),
 * then to a point `spread` (0 to 1) into the next second; anything else, 0. What it saves: a
 * client over its budget that sends again at once (a flood's open loop) has its next request on
 * that connection read, parsed and handled only in a later window, so its refused requests stop
 * costing the event loop other tenants' requests share (TLS, HTTP parsing, the event, the
 * handler's refusal, the audit line). The spread (random per hold) keeps a flood's held
 * connections from all coming back at the start of each second, as one burst other tenants'
 * requests would queue behind. A client that honours Retry-After (client-go, kubectl) waits a
 * second anyway: it may find its next request held up to one more.
 */
export function refusedHoldMs(statusCode: number, retryAfter: unknown, nowMs: number, spread: number): number {
  if (statusCode !== 429) return 0;
  const seconds = Number(Array.isArray(retryAfter) ? retryAfter[0] : retryAfter);
  if (!Number.isFinite(seconds) || seconds <= 0) return 0;
  return 1000 - (nowMs % 1000) + Math.floor(Math.min(Math.max(spread, 0), 0.999) * 1000);
}

/** Whether the local front holds connections refused 429 (refusedHoldMs): on unless STRATUS_LOCAL_HOLD_REFUSED=0. */
export const holdsRefused = (env: NodeJS.ProcessEnv = process.env): boolean => env.STRATUS_LOCAL_HOLD_REFUSED !== '0';

/** Holds `req`'s connection after its answer is sent, as refusedHoldMs says. */
function holdIfRefused(req: IncomingMessage, res: ServerResponse): void {
  // Headers given to writeHead as an object are not kept for getHeader: note Retry-After on the way.
  let retryAfter: unknown;
  const writeHead = res.writeHead.bind(res) as (...args: unknown[]) => ServerResponse;
  res.writeHead = ((...args: unknown[]) => {
    const headers = args.slice(1).find((a) => a !== null && typeof a === 'object' && !Array.isArray(a)) as Record<string, unknown> | undefined;
    if (headers) for (const [k, v] of Object.entries(headers)) if (k.toLowerCase() === 'retry-after') retryAfter = v;
    return writeHead(...args);
  }) as typeof res.writeHead;
  res.once('finish', () => {
    const ms = refusedHoldMs(res.statusCode, retryAfter ?? res.getHeader('retry-after'), Date.now(), Math.random());
    // Node's HTTP server feeds its parser from the socket's handle directly, not through the
    // stream: stop reading there (no bytes decrypted or parsed until the timer), as its own
    // backpressure for pipelined requests does.
    const socket = req.socket as typeof req.socket & { _handle?: { readStop?: () => number; readStart?: () => number; reading?: boolean } | null };
    const handle = socket._handle;
    if (ms <= 0 || socket.destroyed || typeof handle?.readStop !== 'function' || typeof handle.readStart !== 'function') return;
    handle.readStop();
    handle.reading = false;
    const timer = setTimeout(() => {
      socket.off('close', cancel);
      if (socket.destroyed || socket._handle !== handle) return;
      handle.reading = true;
      handle.readStart!();
    }, ms);
    const cancel = () => clearTimeout(timer);
    socket.once('close', cancel);
  });
}

/**
 * A debugging aid for benchmarks (bench/fairness.ts `--trace`): with STRATUS_TRACE_REQUESTS=FILE
 * each request this process serves appends a JSON line to FILE when its answer is sent: its
 * `x-trace-id` header, when it arrived (epoch ms), how long until the answer was sent, its status,
 * the requests this process had in progress when it arrived, how long until the event loop next
 * turned after its arrival (`lag`), each DynamoDB call it made with its duration
 * (shared/request-trace.ts), and the pid. Off (undefined) without the variable.
 */
function requestTracer(file: string | undefined): ((req: IncomingMessage, res: ServerResponse, serve: () => Promise<void>) => void) | undefined {
  if (!file) return undefined;
  const out = createWriteStream(file, { flags: 'a' });
  let inProgress = 0;
  const pauses = tracedPauses();
  return (req, res, serve) => {
    const at = performance.timeOrigin + performance.now();
    const busy = inProgress++;
    let lag = -1;
    const dynamo: RequestTrace = { calls: [], ms: 0 };
    setImmediate(() => (lag = performance.timeOrigin + performance.now() - at));
    res.once('close', () => {
      inProgress--;
      const id = req.headers['x-trace-id'];
      const end = performance.timeOrigin + performance.now();
      const { gcMs, stallMs, stallCpuMs } = pauses.within(at, end);
      out.write(`${JSON.stringify({ id, path: req.url?.split('?')[0], at, ms: end - at, status: res.statusCode, busy, lag, dynamoMs: dynamo.ms, calls: dynamo.calls, gcMs, stallMs, stallCpuMs, pid: process.pid })}\n`);
    });
    void requestTraces.run(dynamo, serve);
  };
}

/**
 * The trace's record of this process's pauses (tracing only): garbage collections (from the gc
 * performance entries) and event-loop stalls (a 2 ms timer that fired more than 5 ms late), each
 * [start, end] in epoch ms, kept for 5 s; a stall also keeps the CPU time the process used in it
 * (near its length: the loop ran something long; near 0: the process was not scheduled, the
 * machine's CPUs were busy elsewhere). `within` sums their overlap with a request's time.
 */
function tracedPauses(): { within(from: number, to: number): { gcMs: number; stallMs: number; stallCpuMs: number } } {
  const gc: [number, number, number][] = [];
  const stalls: [number, number, number][] = [];
  const keep = (list: [number, number, number][], now: number) => {
    while (list.length && list[0]![1] < now - 5000) list.shift();
  };
  new PerformanceObserver((entries) => {
    for (const e of entries.getEntries()) {
      const start = performance.timeOrigin + e.startTime;
      gc.push([start, start + e.duration, e.duration]);
    }
    keep(gc, Date.now());
  }).observe({ entryTypes: ['gc'] });
  let last = performance.timeOrigin + performance.now();
  let lastCpu = process.cpuUsage();
  setInterval(() => {
    const now = performance.timeOrigin + performance.now();
    const cpu = process.cpuUsage();
    if (now - last > 2 + 5) stalls.push([last + 2, now, (cpu.user - lastCpu.user + cpu.system - lastCpu.system) / 1000]);
    last = now;
    lastCpu = cpu;
    keep(stalls, now);
  }, 2).unref();
  // The part of each pause within [from, to], and that share of its CPU time.
  const overlap = (list: [number, number, number][], from: number, to: number, cpu = false) =>
    list.reduce((sum, [a, b, c]) => {
      const part = Math.max(0, Math.min(b, to) - Math.max(a, from));
      return sum + (cpu ? (b > a ? (c * part) / (b - a) : 0) : part);
    }, 0);
  return { within: (from, to) => ({ gcMs: overlap(gc, from, to), stallMs: overlap(stalls, from, to), stallCpuMs: overlap(stalls, from, to, true) }) };
}

/**
 * The HTTPS server of one HTTP function's Function URL, not listening: startHttpFunction listens
 * on it; an instance process (http-instance-worker.ts) feeds it the connections it is handed.
 */
export function createHttpFunctionServer(
  f: LoadedFunction,
  streaming: boolean,
  tls: LocalRuntimeOptions['tls'],
  invoker: Invoker,
  log: (s: string) => void,
): Server {
  const w = f.wiring;
  const urlId = `local${w.name.replace(/[^a-z0-9]/gi, '').toLowerCase()}`;

  const handleStreaming = async (req: IncomingMessage, res: ServerResponse, event: APIGatewayProxyEventV2) => {
    const deadline = Date.now() + w.timeoutSeconds * 1000;
    const context = invoker.context(w, deadline);
    const stream = new LocalResponseStream(res);
    let clientGone = false;
    // Errors surface through the handler's own writes/pipeline; never as an unhandled 'error'.
    stream.on('error', () => {});
    res.on('close', () => {
      if (!res.writableFinished) {
        clientGone = true;
        stream.destroy();
      }
    });
    // Lambda cuts a streaming response at the function timeout.
    const timer = setTimeout(() => {
      log(`[${w.name}] Task timed out after ${w.timeoutSeconds} s; closing the response stream`);
      stream.destroy();
    }, w.timeoutSeconds * 1000);
    try {
      await invoker.track(Promise.resolve().then(() => (f.fn as StreamingHandler)(event, stream, context)));
      if (!stream.writableEnded && !stream.destroyed) stream.end();
    } catch (err) {
      if (clientGone) log(`[${w.name}] ended after the client went away: ${err instanceof Error ? err.message : String(err)}`);
      else {
        log(`[${w.name}] handler failed: ${message(err)}`);
        if (res.headersSent) stream.destroy();
        else sendStatus(res, 500, 'InternalError', `internal error in ${w.name}: ${err instanceof Error ? err.message : String(err)}`);
      }
    } finally {
      clearTimeout(timer);
    }
  };

  const onRequest = async (req: IncomingMessage, res: ServerResponse) => {
    try {
      if (Buffer.byteLength(req.url ?? '') > MAX_URL_BYTES) {
        sendStatus(res, 414, '', `the request URI is too long: limit is ${MAX_URL_BYTES} bytes`, true);
        res.once('finish', () => req.destroy());
        return;
      }
      const body = await readBody(req, res);
      if (!body) return;
      const event = functionUrlEvent(req, body, urlId);
      if (streaming) return await handleStreaming(req, res, event);
      let result: unknown;
      try {
        result = await invoker.invoke(w, f.fn as PlainHandler, event);
      } catch (err) {
        log(`[${w.name}] handler failed: ${message(err)}`);
        const timedOut = err instanceof TimeoutError;
        sendStatus(res, timedOut ? 504 : 500, timedOut ? 'Timeout' : 'InternalError', `internal error in ${w.name}: ${err instanceof Error ? err.message : String(err)}`);
        return;
      }
      writeResult(res, result);
    } catch (err) {
      log(`[${w.name}] request failed: ${message(err)}`);
      if (!res.writableEnded) sendStatus(res, 500, 'InternalError', 'internal error in the local runtime');
    }
  };

  const hold = holdsRefused();
  const trace = requestTracer(process.env.STRATUS_TRACE_REQUESTS);
  const server = createServer({ key: tls.key, cert: tls.cert, maxHeaderSize: MAX_HEADER_BYTES }, (req, res) => {
    if (hold) holdIfRefused(req, res);
    if (trace) trace(req, res, () => onRequest(req, res));
    else void onRequest(req, res);
  });
  server.on('clientError', answerClientError);
  return server;
}

// ---------------------------------------------------------------------------------------------
// Upgrades: the exec relay (docs/exec.md).

/**
 * HTTP functions whose URL also takes WebSocket upgrades (`kubectl exec`, `kubectl attach`), and the broker that
 * decides each one (a plain function of the Function URL event shape). A Function URL cannot
 * upgrade: on AWS this is the API Gateway WebSocket relay of docs/exec.md, which is not in the
 * wiring table (nor the CDK app) yet, so the local runtime names it here.
 */
const UPGRADE_BROKERS: Readonly<Record<string, { readonly entry: string; readonly handler: string }>> = {
  api: { entry: 'functions/api/exec.ts', handler: 'brokerUpgrade' },
};

/** What a broker answers: relay to a WebSocket URL, or refuse with an HTTP response (a Status). */
type UpgradeDecision =
  | {
      relay: true;
      url: string;
      headers: Record<string, string>;
      protocols: readonly string[];
      raw?: boolean;
      tls?: import('node:tls').ConnectionOptions;
      /** Called once the relayed stream has ended (the request's ResponseComplete audit event); the status when the client got no 101. */
      closed?: (code?: number) => void;
      /** Frees the session's slot of the long-running cap (shared/long-running.ts). */
      release?: () => void;
    }
  | { relay: false; statusCode: number; headers: Record<string, string>; body: string };
type UpgradeBroker = (event: APIGatewayProxyEventV2) => Promise<UpgradeDecision>;

/**
 * Lets `server` take the upgrades its function's broker decides (UPGRADE_BROKERS), if it has one:
 * answers the function that ends every relay, or undefined.
 */
export async function attachUpgrades(server: Server, name: string, log: (s: string) => void): Promise<(() => void) | undefined> {
  const upgrades = UPGRADE_BROKERS[name];
  if (!upgrades) return undefined;
  const mod = (await import(pathToFileURL(resolve(repoRoot, upgrades.entry)).href)) as Record<string, unknown>;
  const broker = mod[upgrades.handler];
  if (typeof broker !== 'function') throw new Error(`${upgrades.entry} has no exported function ${upgrades.handler} (upgrades of ${name})`);
  return startUpgradeRelay(server, name, broker as UpgradeBroker, log);
}

/** Largest message relayed (an agent sends one Docker read per message, far below this). */
const RELAY_MAX_PAYLOAD = 16 * 1024 * 1024;
/** Stop reading a side while this much waits to be sent to the other (backpressure). */
const RELAY_HIGH_WATER = 1 << 20;
const RELAY_DIAL_TIMEOUT_MS = 10_000;

/** Answers an upgrade with a plain HTTP response on the raw socket (no WebSocket was made). */
function refuseUpgrade(socket: Duplex, statusCode: number, headers: Record<string, string>, body: string): void {
  if (socket.destroyed) return;
  const head = Object.entries({ ...headers, 'content-length': String(Buffer.byteLength(body)), connection: 'close' })
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('');
  socket.end(`HTTP/1.1 ${statusCode} ${STATUS_CODES[statusCode] ?? 'Error'}\r\n${head}\r\n${body}`);
}

/** Closes `ws` the way its peer closed: same code and reason where the wire allows them. */
function closeLike(ws: WebSocket, code: number, reason: Buffer): void {
  if (ws.readyState === WebSocket.CLOSED || ws.readyState === WebSocket.CLOSING) return;
  // 1005 (no code) and 1006 (abnormal) are never sent on the wire; 1004, 1015 neither.
  if (code === 1005) ws.close();
  else if (code >= 1000 && code <= 4999 && ![1004, 1006, 1015].includes(code)) ws.close(code, reason);
  else ws.terminate();
}

/** Forwards one side's messages to the other, with backpressure, and its close. */
function pipeWebSockets(from: WebSocket, to: WebSocket): void {
  from.on('message', (data: RawData, isBinary: boolean) => {
    if (to.readyState !== WebSocket.OPEN) return;
    to.send(data, { binary: isBinary }, () => {
      if (from.isPaused && to.bufferedAmount < RELAY_HIGH_WATER / 2) from.resume();
    });
    if (to.bufferedAmount > RELAY_HIGH_WATER) from.pause();
  });
  from.on('close', (code: number, reason: Buffer) => closeLike(to, code, reason));
  from.on('error', () => to.terminate());
}

/** The client's handshake headers an upgrade relayed as bytes keeps (the WebSocket key and offers, SPDY's stream protocol). */
function relayedUpgradeHeaders(req: IncomingMessage): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.headers)) if (v !== undefined && (k.startsWith('sec-websocket-') || k === 'x-stream-protocol-version')) out[k] = Array.isArray(v) ? v.join(', ') : v;
  return out;
}

/**
 * An upgrade relayed as bytes (port-forward: SPDY/3.1, or a WebSocket whose subprotocol is no token): the same request to
 * the agent, its answer back (101 and its headers, or its refusal), then both sockets piped.
 */
function relayRawUpgrade(
  req: IncomingMessage,
  socket: Duplex,
  head: Buffer,
  decision: { url: string; headers: Record<string, string>; tls?: import('node:tls').ConnectionOptions; closed?: (code?: number) => void },
): void {
  const upReq = (decision.url.startsWith('https:') ? httpsRequest : httpRequest)(decision.url, {
    method: req.method,
    headers: { ...relayedUpgradeHeaders(req), ...decision.headers, connection: 'Upgrade', upgrade: req.headers.upgrade ?? '' },
    agent: false,
    // After agent: a relay-mode node's TLS options carry the agent that dials the relay (shared/relay/api-side.ts).
    ...(decision.tls ?? {}),
    timeout: RELAY_DIAL_TIMEOUT_MS,
  });
  upReq.on('upgrade', (res: IncomingMessage, upSocket: Duplex, upHead: Buffer) => {
    upReq.setTimeout(0);
    const lines = [`HTTP/1.1 101 ${res.statusMessage ?? 'Switching Protocols'}`];
    for (let i = 0; i < res.rawHeaders.length; i += 2) lines.push(`${res.rawHeaders[i]}: ${res.rawHeaders[i + 1]}`);
    socket.write(`${lines.join('\r\n')}\r\n\r\n`);
    if (upHead.length) socket.write(upHead);
    if (head.length) upSocket.write(head);
    upSocket.on('error', () => socket.destroy());
    socket.on('error', () => upSocket.destroy());
    upSocket.pipe(socket);
    socket.pipe(upSocket);
    upSocket.once('close', () => socket.destroy());
    socket.once('close', () => upSocket.destroy());
  });
  upReq.on('response', (res: IncomingMessage) => {
    const chunks: Buffer[] = [];
    res.on('data', (c: Buffer) => chunks.push(c));
    res.once('end', () => {
      decision.closed?.(res.statusCode ?? 502);
      refuseUpgrade(socket, res.statusCode ?? 502, { 'content-type': String(res.headers['content-type'] ?? 'application/json') }, Buffer.concat(chunks).toString('utf8'));
    });
  });
  upReq.on('timeout', () => upReq.destroy(new Error('timed out')));
  upReq.on('error', (err) => {
    decision.closed?.(500);
    refuseUpgrade(socket, 500, { 'content-type': 'application/json' }, statusBody(500, 'InternalError', `error dialing backend: ${err.message}`));
  });
  socket.once('close', () => upReq.destroy());
  upReq.end();
}

/**
 * Lets a Function URL server take upgrades: the broker decides (authn, authz, which agent); the
 * runtime dials the agent's WebSocket first (so the agent's refusal, e.g. a container that is not
 * running, is still the client's HTTP answer), then accepts the client with the subprotocol the
 * agent chose and pipes messages both ways, unchanged. Returns a function that ends every relay.
 */
function startUpgradeRelay(server: Server, name: string, broker: UpgradeBroker, log: (s: string) => void): () => void {
  const urlId = `local${name.replace(/[^a-z0-9]/gi, '').toLowerCase()}`;
  const chosen = new WeakMap<IncomingMessage, string>();
  const wss = new WebSocketServer({
    noServer: true,
    perMessageDeflate: false,
    maxPayload: RELAY_MAX_PAYLOAD,
    handleProtocols: (_offered, req) => chosen.get(req) ?? false,
  });
  const sockets = new Set<Duplex>();
  const upstreams = new Set<WebSocket>();

  const relay = async (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const decision = await broker(functionUrlEvent(req, Buffer.alloc(0), urlId));
    if (!decision.relay) return refuseUpgrade(socket, decision.statusCode, decision.headers, decision.body);
    // However the relay ends (either side closes, an error, a timeout), the client's socket
    // closes: the request is complete then (its ResponseComplete audit event).
    if (decision.closed) {
      const closed = decision.closed;
      if (socket.destroyed) closed();
      else socket.once('close', () => closed());
    }
    // The session's slot of the long-running cap is freed when the client's connection closes, whatever closes it.
    if (decision.release) {
      if (socket.destroyed) decision.release();
      else socket.once('close', decision.release);
    }
    if (decision.raw) return relayRawUpgrade(req, socket, head, decision);
    const upstream = new WebSocket(decision.url, [...decision.protocols], {
      headers: decision.headers,
      ...(decision.tls ?? {}),
      perMessageDeflate: false,
      maxPayload: RELAY_MAX_PAYLOAD,
      handshakeTimeout: RELAY_DIAL_TIMEOUT_MS,
    });
    upstreams.add(upstream);
    upstream.once('close', () => upstreams.delete(upstream));
    // Errors are handled where they matter (below, and by pipeWebSockets); never unhandled.
    upstream.on('error', () => undefined);
    // What the agent says (and whether it closes) before the client's handshake is done: an
    // agent that refuses in band sends its Status and closes at once.
    const early: { data: RawData; isBinary: boolean }[] = [];
    let earlyClose: { code: number; reason: Buffer } | undefined;
    const onEarlyMessage = (data: RawData, isBinary: boolean) => early.push({ data, isBinary });
    const onEarlyClose = (code: number, reason: Buffer) => (earlyClose = { code, reason });
    upstream.on('message', onEarlyMessage);
    upstream.once('close', onEarlyClose);
    // The agent's answer: open, or why not (what it said, or why it could not be reached).
    const failure = await new Promise<string | undefined>((resolveOpen) => {
      upstream.once('open', () => resolveOpen(undefined));
      upstream.once('unexpected-response', (upReq, res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.once('end', () => {
          upReq.destroy();
          let said = Buffer.concat(chunks).toString('utf8').slice(0, 1024);
          try {
            said = String((JSON.parse(said) as { message?: unknown }).message ?? said);
          } catch {
            // not a Status: quote it as it is
          }
          resolveOpen(`unable to upgrade connection: ${said || `${res.statusCode} ${res.statusMessage}`}`);
        });
        res.once('error', (err) => resolveOpen(`unable to upgrade connection: ${err.message}`));
      });
      // kube-apiserver's words when the kubelet cannot be reached.
      upstream.once('error', (err) => resolveOpen(`error dialing backend: ${err.message}`));
    });
    if (socket.destroyed) return upstream.terminate();
    // Past the broker the client's upgrade succeeds, as kube-apiserver's does before it calls
    // the kubelet; a failure from here is the session's Status on the error channel (3), which
    // kubectl prints (a refused upgrade would send it to its SPDY fallback instead).
    chosen.set(req, failure ? decision.protocols[0]! : upstream.protocol);
    // A handshake ws rejects (say, no Sec-WebSocket-Key) never reaches the callback: drop the agent's side then.
    let accepted = false;
    socket.once('close', () => accepted || upstream.terminate());
    wss.handleUpgrade(req, socket, head, (client) => {
      accepted = true;
      client.on('error', () => undefined);
      if (failure) {
        const status = JSON.parse(statusBody(500, 'InternalError', `Internal error occurred: ${failure}`)) as Record<string, unknown>;
        client.send(Buffer.concat([Buffer.from([3]), Buffer.from(JSON.stringify({ ...status, details: { causes: [{ message: failure }] } }))]), () => client.close(1000));
        return;
      }
      upstream.off('message', onEarlyMessage);
      upstream.off('close', onEarlyClose);
      for (const m of early) client.send(m.data, { binary: m.isBinary });
      if (earlyClose) return closeLike(client, earlyClose.code, earlyClose.reason);
      pipeWebSockets(client, upstream);
      pipeWebSockets(upstream, client);
    });
  };

  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    relay(req, socket, head).catch((err) => {
      log(`[${name}] upgrade failed: ${message(err)}`);
      refuseUpgrade(socket, 500, { 'content-type': 'application/json' }, statusBody(500, 'InternalError', 'internal error in the local runtime'));
    });
  });
  return () => {
    for (const u of upstreams) u.terminate();
    for (const s of sockets) s.destroy();
  };
}

// ---------------------------------------------------------------------------------------------
// Stream trigger: a DynamoDB Streams event source mapping.

function toLambdaAttribute(v: SdkAttributeValue): LambdaAttributeValue {
  if (v.S !== undefined) return { S: v.S };
  if (v.N !== undefined) return { N: v.N };
  if (v.B !== undefined) return { B: Buffer.from(v.B).toString('base64') };
  if (v.BOOL !== undefined) return { BOOL: v.BOOL };
  if (v.NULL !== undefined) return { NULL: v.NULL };
  if (v.SS !== undefined) return { SS: v.SS };
  if (v.NS !== undefined) return { NS: v.NS };
  if (v.BS !== undefined) return { BS: v.BS.map((b) => Buffer.from(b).toString('base64')) };
  if (v.L !== undefined) return { L: v.L.map(toLambdaAttribute) };
  if (v.M !== undefined) return { M: toLambdaImage(v.M) };
  return { NULL: true };
}

function toLambdaImage(image: Record<string, SdkAttributeValue>): Record<string, LambdaAttributeValue> {
  const out: Record<string, LambdaAttributeValue> = {};
  for (const [k, v] of Object.entries(image)) out[k] = toLambdaAttribute(v);
  return out;
}

/** The record exactly as Lambda's DynamoDB event source mapping delivers it. */
export function toLambdaRecord(r: SdkRecord, streamArn: string, region: string): DynamoDBRecord {
  const d = r.dynamodb ?? {};
  const record: DynamoDBRecord = {
    eventID: r.eventID,
    eventName: r.eventName,
    eventVersion: '1.1',
    eventSource: 'aws:dynamodb',
    // DynamoDB Local says "ddblocal"; Lambda reports the function's region.
    awsRegion: region,
    dynamodb: {
      ...(d.ApproximateCreationDateTime
        ? { ApproximateCreationDateTime: Math.floor(d.ApproximateCreationDateTime.getTime() / 1000) }
        : {}),
      ...(d.Keys ? { Keys: toLambdaImage(d.Keys) } : {}),
      ...(d.NewImage ? { NewImage: toLambdaImage(d.NewImage) } : {}),
      ...(d.OldImage ? { OldImage: toLambdaImage(d.OldImage) } : {}),
      SequenceNumber: d.SequenceNumber,
      SizeBytes: d.SizeBytes,
      StreamViewType: d.StreamViewType,
    },
    eventSourceARN: streamArn,
  };
  if (r.userIdentity) record.userIdentity = { type: r.userIdentity.Type, principalId: r.userIdentity.PrincipalId };
  return record;
}

type BatchOutcome = { kind: 'ok' } | { kind: 'partial'; index: number } | { kind: 'error'; error: unknown };

interface ShardState {
  readonly id: string;
  readonly parentId: string | undefined;
  status: 'waiting' | 'running' | 'done';
  /** Set once DescribeStream reports the shard closed. */
  endingSeq: string | undefined;
  /** Sequence number of the last record delivered (or given up on): where a new iterator resumes. */
  checkpoint: string | undefined;
}

/** Stream sequence numbers are decimal strings of up to 40 digits. */
function seqAtLeast(seq: string | undefined, than: string): boolean {
  if (!seq) return false;
  try {
    return BigInt(seq) >= BigInt(than);
  } catch {
    return false;
  }
}

const errorName = (err: unknown) => (err instanceof Error ? err.name : '');

/**
 * One event source mapping: follows a table's stream shard by shard, one invocation at a time
 * per shard (ParallelizationFactor 1), children only after their parent is exhausted, so each
 * item's changes arrive in order. Retries follow Lambda's rules for ReportBatchItemFailures,
 * BisectBatchOnFunctionError and MaximumRetryAttempts.
 */
class StreamPoller {
  private readonly shards = new Map<string, ShardState>();
  private readonly workers = new Set<Promise<void>>();
  private readonly abort = new AbortController();
  private wake = new AbortController();
  private loop: Promise<void> | undefined;

  constructor(
    private readonly f: LoadedFunction & { fn: PlainHandler },
    private readonly trigger: Extract<Trigger, { type: 'stream' }>,
    private readonly streamArn: string,
    private readonly streams: DynamoDBStreamsClient,
    private readonly invoker: Invoker,
    private readonly region: string,
    private readonly log: (s: string) => void,
    /** Checkpoints saved by an earlier run, by shard id. */
    private readonly initial: ReadonlyMap<string, string> = new Map(),
  ) {}

  /** Each known shard's checkpoint, for CheckpointFile. */
  snapshot(): Record<string, string | undefined> {
    return Object.fromEntries([...this.shards.values()].map((s) => [s.id, s.checkpoint]));
  }

  start(): void {
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.abort.abort();
    this.wake.abort();
    await this.loop;
    await Promise.allSettled([...this.workers]);
  }

  private get stopping() {
    return this.abort.signal.aborted;
  }

  private async run(): Promise<void> {
    while (!this.stopping) {
      try {
        await this.discover();
      } catch (err) {
        this.log(`[${this.f.wiring.name}] DescribeStream failed: ${message(err)}`);
      }
      for (const shard of this.shards.values()) {
        if (shard.status !== 'waiting') continue;
        const parent = shard.parentId ? this.shards.get(shard.parentId) : undefined;
        // A parent we never saw (trimmed before we started) cannot hold anything back.
        if (parent && parent.status !== 'done') continue;
        shard.status = 'running';
        const worker = this.runShard(shard).catch((err) => {
          this.log(`[${this.f.wiring.name}] shard ${shard.id} worker failed: ${message(err)}`);
          shard.status = 'waiting';
        });
        this.workers.add(worker);
        void worker.finally(() => this.workers.delete(worker));
      }
      await sleep(SHARD_DISCOVERY_MS, this.wake.signal);
      if (this.wake.signal.aborted && !this.stopping) this.wake = new AbortController();
    }
  }

  private async discover(): Promise<void> {
    let start: string | undefined;
    do {
      const out = await this.streams.send(
        new DescribeStreamCommand({ StreamArn: this.streamArn, ExclusiveStartShardId: start }),
      );
      for (const s of out.StreamDescription?.Shards ?? []) {
        if (!s.ShardId) continue;
        const endingSeq = s.SequenceNumberRange?.EndingSequenceNumber;
        const known = this.shards.get(s.ShardId);
        if (known) known.endingSeq ??= endingSeq;
        else this.shards.set(s.ShardId, { id: s.ShardId, parentId: s.ParentShardId, status: 'waiting', checkpoint: this.initial.get(s.ShardId), endingSeq });
      }
      start = out.StreamDescription?.LastEvaluatedShardId;
    } while (start && !this.stopping);
  }

  private async iterator(shard: ShardState): Promise<string | undefined> {
    const get = (type: 'TRIM_HORIZON' | 'AFTER_SEQUENCE_NUMBER') =>
      this.streams.send(
        new GetShardIteratorCommand({
          StreamArn: this.streamArn,
          ShardId: shard.id,
          ShardIteratorType: type,
          SequenceNumber: type === 'AFTER_SEQUENCE_NUMBER' ? shard.checkpoint : undefined,
        }),
      );
    if (!shard.checkpoint) return (await get('TRIM_HORIZON')).ShardIterator;
    try {
      return (await get('AFTER_SEQUENCE_NUMBER')).ShardIterator;
    } catch (err) {
      if (errorName(err) !== 'TrimmedDataAccessException') throw err;
      this.log(`[${this.f.wiring.name}] shard ${shard.id}: checkpoint trimmed away; resuming at TRIM_HORIZON (records lost)`);
      return (await get('TRIM_HORIZON')).ShardIterator;
    }
  }

  private async runShard(shard: ShardState): Promise<void> {
    const { batchSize, maxBatchingWindowMs } = this.trigger;
    let iterator: string | undefined = await this.iterator(shard);
    let closed = !iterator;
    let buffer: SdkRecord[] = [];
    let firstBufferedAt = 0;
    let failures = 0;
    let lastFetchedSeq: string | undefined;
    let emptyPolls = 0;

    while (!this.stopping) {
      let full = false;
      if (!closed && iterator) {
        try {
          const limit = Math.min(1000, Math.max(1, batchSize - buffer.length));
          const out = await this.streams.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: limit }));
          const records = out.Records ?? [];
          // Lambda applies the row's filter criteria to each record before it joins a batch;
          // a record no pattern matches is never delivered and counts as processed.
          const matching = records.filter((r) => this.wanted(r));
          if (matching.length && !buffer.length) firstBufferedAt = Date.now();
          if (records.length && !matching.length && !buffer.length) {
            // Nothing pending before these: the checkpoint may move past them at once.
            shard.checkpoint = records.at(-1)?.dynamodb?.SequenceNumber ?? shard.checkpoint;
          }
          buffer.push(...matching);
          lastFetchedSeq = records.at(-1)?.dynamodb?.SequenceNumber ?? lastFetchedSeq;
          emptyPolls = records.length ? 0 : emptyPolls + 1;
          full = records.length >= limit;
          iterator = out.NextShardIterator;
          // No next iterator: the shard is closed and we have read all of it.
          if (!iterator) closed = true;
          // Belt and braces for engines that keep handing out iterators on a closed shard: past
          // its ending sequence number, or long empty once closed, there is nothing more to read.
          if (shard.endingSeq && (seqAtLeast(lastFetchedSeq, shard.endingSeq) || emptyPolls >= CLOSED_SHARD_EMPTY_POLLS)) {
            closed = true;
          }
          failures = 0;
        } catch (err) {
          const name = errorName(err);
          if (name === 'ExpiredIteratorException' || name === 'TrimmedDataAccessException') {
            // Re-read from the last delivered record; anything buffered comes again.
            buffer = [];
            iterator = await this.iterator(shard);
            continue;
          }
          failures++;
          this.log(`[${this.f.wiring.name}] GetRecords on ${shard.id} failed: ${message(err)}`);
          await sleep(Math.min(RETRY_BACKOFF_CAP_MS, RETRY_BACKOFF_START_MS * 2 ** failures), this.abort.signal);
          continue;
        }
      }

      const windowOver = Date.now() - firstBufferedAt >= maxBatchingWindowMs;
      if (buffer.length && (buffer.length >= batchSize || closed || windowOver)) {
        await this.deliver(shard, buffer.splice(0, batchSize));
        if (buffer.length) firstBufferedAt = Date.now();
        continue;
      }
      if (closed && !buffer.length) {
        shard.status = 'done';
        // Its children may start now.
        this.wake.abort();
        return;
      }
      if (!full) await sleep(STREAM_IDLE_POLL_MS, this.abort.signal);
    }
  }

  /** Whether the row's filter criteria let this record through (infra/stream-filter.ts). */
  private wanted(r: SdkRecord): boolean {
    return recordMatches(toLambdaRecord(r, this.streamArn, this.region), this.trigger.filters);
  }

  private async invokeBatch(records: SdkRecord[]): Promise<BatchOutcome> {
    const event: DynamoDBStreamEvent = { Records: records.map((r) => toLambdaRecord(r, this.streamArn, this.region)) };
    let result: unknown;
    try {
      result = await this.invoker.invoke(this.f.wiring, this.f.fn, event);
    } catch (error) {
      return { kind: 'error', error };
    }
    const failures =
      result !== null && typeof result === 'object' ? (result as { batchItemFailures?: unknown }).batchItemFailures : undefined;
    if (!Array.isArray(failures) || failures.length === 0) return { kind: 'ok' };
    let index = records.length;
    for (const f of failures) {
      const id = f !== null && typeof f === 'object' ? (f as { itemIdentifier?: unknown }).itemIdentifier : undefined;
      const i = typeof id === 'string' && id ? records.findIndex((r) => r.dynamodb?.SequenceNumber === id) : -1;
      // Lambda treats a missing or unknown identifier as a failure of the whole batch.
      if (i < 0) return { kind: 'error', error: new Error(`invalid batchItemFailures itemIdentifier ${JSON.stringify(id)}`) };
      index = Math.min(index, i);
    }
    return { kind: 'partial', index };
  }

  /** Delivers `records` until they succeed or run out of retries; checkpoints as they go. */
  private async deliver(shard: ShardState, records: SdkRecord[], attempts = 0): Promise<void> {
    const { maxRetryAttempts, bisectOnError } = this.trigger;
    const name = this.f.wiring.name;
    let pending = records;
    while (pending.length && !this.stopping) {
      const started = performance.now();
      const outcome = await this.invokeBatch(pending);
      if (TRACE_STREAMS) this.log(`[${name}] ${shard.id}: ${pending.length} record(s), ${outcome.kind}, ${(performance.now() - started).toFixed(0)} ms`);
      if (outcome.kind === 'ok') {
        shard.checkpoint = pending[pending.length - 1].dynamodb?.SequenceNumber;
        return;
      }
      if (outcome.kind === 'partial') {
        // Records before the lowest failed one are done; retry from it.
        if (outcome.index > 0) shard.checkpoint = pending[outcome.index - 1].dynamodb?.SequenceNumber;
        pending = pending.slice(outcome.index);
        this.log(`[${name}] batch item failure at ${pending[0].dynamodb?.SequenceNumber}; retrying ${pending.length} record(s)`);
      } else {
        this.log(`[${name}] invocation failed for ${pending.length} record(s): ${message(outcome.error)}`);
      }
      attempts++;
      if (attempts > maxRetryAttempts) {
        this.dropped(pending, attempts);
        shard.checkpoint = pending[pending.length - 1].dynamodb?.SequenceNumber;
        return;
      }
      await sleep(Math.min(RETRY_BACKOFF_CAP_MS, RETRY_BACKOFF_START_MS * 2 ** (attempts - 1)), this.abort.signal);
      if (outcome.kind === 'error' && bisectOnError && pending.length > 1) {
        // Splitting does not count as a retry; each half carries on with the attempts so far.
        const mid = Math.ceil(pending.length / 2);
        await this.deliver(shard, pending.slice(0, mid), attempts);
        if (!this.stopping) await this.deliver(shard, pending.slice(mid), attempts);
        return;
      }
    }
  }

  /** Lambda would send these to the on-failure destination; locally they are shouted about. */
  private dropped(records: SdkRecord[], attempts: number): void {
    const keys = records.map((r) => `${r.dynamodb?.SequenceNumber} ${r.eventName} ${JSON.stringify(r.dynamodb?.Keys ?? {})}`);
    this.log(
      `[${this.f.wiring.name}] !!! DROPPED ${records.length} stream record(s) after ${attempts} failed attempt(s) ` +
        `(on AWS these go to the on-failure destination):\n  ${keys.join('\n  ')}`,
    );
  }
}

// ---------------------------------------------------------------------------------------------
// Entry point.

/**
 * Loads every handler in `opts.wiring` (after putting opts.env into process.env and installing
 * the awslambda global) and starts its trigger: an HTTPS server per HTTP function, a stream
 * poller per stream function, a timer per scheduled function. Rejects if a handler cannot be
 * loaded, does not match its trigger, or a stream-triggered table has no stream.
 */
export async function startLocalRuntime(opts: LocalRuntimeOptions): Promise<LocalRuntime> {
  const log = opts.log ?? ((s: string) => console.error(s));
  Object.assign(process.env, opts.env);
  installAwsLambdaGlobals();
  const config = loadConfig(process.env);
  const region = config.region;
  const invoker = new Invoker(region);

  const instances = httpInstanceCount(opts.httpInstances);
  const loaded: LoadedFunction[] = [];
  for (const w of opts.wiring) {
    // Served by instance processes: they load it (and check it) themselves.
    if (w.trigger.type === 'http' && instances > 0) loaded.push({ wiring: w, fn: () => undefined });
    else loaded.push(await loadFunction(w));
  }

  const servers: { name: string; close: () => Promise<void>; url: string; port: number }[] = [];
  /** Ends the exec relays (upgraded sockets are no longer the servers' to close). */
  const relayClosers: (() => void)[] = [];
  const pollers: StreamPoller[] = [];
  const queuePollers: QueuePoller[] = [];
  const checkpoints = opts.checkpointFile ? new CheckpointFile(opts.checkpointFile) : undefined;
  const timers: NodeJS.Timeout[] = [];
  let stopping = false;
  const clientOptions = {
    region,
    credentials: {
      accessKeyId: process.env.AWS_ACCESS_KEY_ID ?? 'local',
      secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY ?? 'local',
    },
  };
  const ddbEndpoint = process.env.AWS_ENDPOINT_URL_DYNAMODB ?? process.env.AWS_ENDPOINT_URL;
  const dynamodb = new DynamoDBClient({ ...clientOptions, endpoint: ddbEndpoint });
  // Long polls (queue-poller.ts) wait up to 2 s: the request timeout must outlast them.
  const sqs = new SQSClient({ ...clientOptions, endpoint: process.env.AWS_ENDPOINT_URL_SQS ?? process.env.AWS_ENDPOINT_URL, requestHandler: { requestTimeout: 10_000 } });
  const streams = new DynamoDBStreamsClient({
    ...clientOptions,
    endpoint: process.env.AWS_ENDPOINT_URL_DYNAMODB_STREAMS ?? ddbEndpoint,
  });

  const stop = async () => {
    stopping = true;
    for (const t of timers) clearInterval(t);
    for (const closeRelays of relayClosers) closeRelays();
    await Promise.all(servers.map(({ close }) => close()));
    await Promise.all(pollers.map((p) => p.stop()));
    await Promise.all(queuePollers.map((p) => p.stop()));
    sqs.destroy();
    checkpoints?.close();
    const left = await invoker.drain(STOP_GRACE_MS);
    if (left) log(`local runtime: ${left} invocation(s) still running after ${STOP_GRACE_MS} ms; not waiting longer`);
    // What the functions served in this process give back (the api's long-running slots).
    await shutdownFunctions(loaded, STOP_GRACE_MS, log);
    // The cost meter's counts not yet written (at most a minute's): written before the store goes.
    await flushCostNow().catch((e: Error) => log(`local runtime: cost meter flush failed: ${e.message}`));
    dynamodb.destroy();
    streams.destroy();
  };

  try {
    for (const f of loaded) {
      const w = f.wiring;
      const t = w.trigger;
      switch (t.type) {
        case 'http': {
          const port = servers.length === 0 ? (opts.httpPort ?? 0) : 0;
          if (instances > 0) {
            const pool = await startHttpInstances({
              wiring: w,
              count: instances,
              port,
              tls: opts.tls,
              log,
              ...(servers.length === 0 && opts.podListener ? { podListener: opts.podListener } : {}),
              // The first HTTP function is the API: its URL (the stack sets it once we return).
              ...(servers.length === 0 ? { envFor: (p: number) => ({ STRATUS_API_URL: `https://127.0.0.1:${p}` }) } : {}),
            });
            servers.push({ name: w.name, close: () => pool.close(), url: `https://127.0.0.1:${pool.port}`, port: pool.port });
            log(`[${w.name}] Function URL https://127.0.0.1:${pool.port}${t.streaming ? ' (response streaming)' : ''}, ${instances} instance(s): pids ${pool.pids().join(', ')}`);
            break;
          }
          const server = await startHttpFunction(f, t.streaming, port, opts.tls, invoker, log);
          const address = server.address();
          const actual = typeof address === 'object' && address ? address.port : port;
          if (servers.length === 0 && opts.podListener) {
            const podListener = opts.podListener;
            const accept = (socket: Socket) => server.emit('connection', socket);
            podListener.on('connection', accept);
            relayClosers.push(() => podListener.off('connection', accept));
          }
          const close = () =>
            new Promise<void>((r) => {
              server.close(() => r());
              // Open watches and keep-alive sockets would hold close() forever.
              server.closeAllConnections();
            });
          servers.push({ name: w.name, close, url: `https://127.0.0.1:${actual}`, port: actual });
          const closeUpgrades = await attachUpgrades(server, w.name, log);
          if (closeUpgrades) relayClosers.push(closeUpgrades);
          log(`[${w.name}] Function URL https://127.0.0.1:${actual}${t.streaming ? ' (response streaming)' : ''}`);
          break;
        }
        case 'stream': {
          const tableName = t.table === 'objects' ? config.objectsTable : config.changesTable;
          const out = await dynamodb.send(new DescribeTableCommand({ TableName: tableName }));
          const streamArn = out.Table?.LatestStreamArn;
          if (!streamArn) throw new Error(`${w.name}: table ${tableName} has no stream`);
          assertSupported(t.filters ?? []);
          const poller = new StreamPoller(
            f as LoadedFunction & { fn: PlainHandler },
            t,
            streamArn,
            streams,
            invoker,
            region,
            log,
            checkpoints?.initial(w.name, streamArn),
          );
          checkpoints?.track(w.name, streamArn, poller);
          poller.start();
          pollers.push(poller);
          log(`[${w.name}] consuming the ${tableName} stream (batch ${t.batchSize}${t.filters?.length ? `, ${t.filters.length} filter pattern(s)` : ''})`);
          break;
        }
        case 'schedule': {
          let running = false;
          const tick = () => {
            if (running || stopping) return; // EventBridge may overlap; we choose not to.
            running = true;
            const now = new Date();
            const event: ScheduledEvent<Record<string, never>> = {
              version: '0',
              id: randomUUID(),
              'detail-type': 'Scheduled Event',
              source: 'aws.events',
              account: ACCOUNT_ID,
              time: now.toISOString().replace(/\.\d{3}Z$/, 'Z'),
              region,
              resources: [`arn:aws:events:${region}:${ACCOUNT_ID}:rule/${w.name}`],
              detail: {},
            };
            invoker
              .invoke(w, f.fn as PlainHandler, event)
              .catch((err) => log(`[${w.name}] scheduled invocation failed: ${message(err)}`))
              .finally(() => (running = false));
          };
          timers.push(setInterval(tick, t.everySeconds * 1000));
          log(`[${w.name}] scheduled every ${t.everySeconds} s`);
          break;
        }
        case 'queue': {
          const queueName = controllerTicksQueueName(config.queuePrefix);
          const poller = new QueuePoller({
            sqs,
            queueName,
            batchSize: t.batchSize,
            visibilityTimeoutSeconds: w.timeoutSeconds,
            region,
            accountId: ACCOUNT_ID,
            invoke: (event) => invoker.invoke(w, f.fn as PlainHandler, event),
            log,
          });
          await poller.start();
          queuePollers.push(poller);
          log(`[${w.name}] consuming queue ${queueName} (batch ${t.batchSize})`);
          break;
        }
        case 'websocket':
          // Served by the stack's API Gateway WebSocket emulator (infra/local/kubelet-relay.ts),
          // which runs this row's handler itself.
          log(`[${w.name}] websocket API: the stack's kubelet relay`);
          break;
        default: {
          const never: never = t;
          throw new Error(`${w.name}: unsupported trigger ${JSON.stringify(never)}`);
        }
      }
    }
  } catch (err) {
    await stop();
    throw err;
  }

  const first = servers[0];
  let stopped: Promise<void> | undefined;
  return {
    url: first?.url ?? '',
    port: first?.port ?? 0,
    urls: Object.fromEntries(servers.map((s) => [s.name, s.url])),
    stop: () => (stopped ??= stop()),
  };
}
