/**
 * A small typed client for the Kubernetes REST API, as the node agent uses it: JSON over HTTPS
 * with a bearer token. It knows nothing Stratus-specific, so it works against any API server.
 *
 * Errors from the server are Kubernetes `Status` objects and surface as KubeApiError, which is
 * classified by behaviour (isNotFound, isConflict, isAlreadyExists); transport failures keep
 * their original error as `cause`.
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { z } from 'zod';

export interface KubeApiClientOptions {
  /** The API server URL, possibly with a path prefix (https://host:port/clusters/default). */
  readonly server: string;
  readonly token: string;
  /** PEM file of the CA that signed the server's certificate. */
  readonly caFile?: string;
  /** PEM text; wins over caFile. */
  readonly ca?: string;
  /** Accept any server certificate (development only). @default false */
  readonly insecureSkipTlsVerify?: boolean;
  /** Per-request timeout. @default 30_000 */
  readonly timeoutMs?: number;
  /** Sent as User-Agent. @default 'stratus-node-agent' */
  readonly userAgent?: string;
}

const StatusSchema = z.looseObject({
  kind: z.literal('Status'),
  message: z.string().optional(),
  reason: z.string().optional(),
  code: z.number().optional(),
});

/** A non-2xx answer from the API server, with the Status' code and reason. */
export class KubeApiError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'KubeApiError';
  }
}

export const isNotFound = (e: unknown): boolean => e instanceof KubeApiError && e.code === 404;
export const isConflict = (e: unknown): boolean => e instanceof KubeApiError && e.code === 409 && e.reason !== 'AlreadyExists';
export const isAlreadyExists = (e: unknown): boolean => e instanceof KubeApiError && e.code === 409 && e.reason === 'AlreadyExists';

type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

export interface RequestOptions {
  readonly body?: unknown;
  /** @default 'application/json' when there is a body */
  readonly contentType?: string;
  readonly query?: Readonly<Record<string, string>>;
}

export class KubeApiClient {
  private readonly base: URL;
  private readonly agent: http.Agent;
  private readonly timeoutMs: number;
  private token: string;

  constructor(private readonly opts: KubeApiClientOptions) {
    this.token = opts.token;
    this.base = new URL(opts.server);
    this.timeoutMs = opts.timeoutMs ?? 30_000;
    const ca = opts.ca ?? (opts.caFile ? readFileSync(opts.caFile, 'utf8') : undefined);
    // keepAlive: heartbeats and resyncs reuse one TLS connection instead of a handshake each time.
    this.agent =
      this.base.protocol === 'https:'
        ? new https.Agent({ keepAlive: true, ...(ca ? { ca } : {}), rejectUnauthorized: !opts.insecureSkipTlsVerify })
        : new http.Agent({ keepAlive: true });
  }

  /** Uses `token` from the next request on (a renewed node credential); requests in flight keep theirs. */
  setToken(token: string): void {
    this.token = token;
  }

  /** The server URL this client talks to (with its path prefix). */
  get server(): string {
    return this.opts.server;
  }

  get<T>(path: string, schema: z.ZodType<T>, query?: Record<string, string>): Promise<T> {
    return this.request('GET', path, schema, { query });
  }

  post<T>(path: string, body: unknown, schema: z.ZodType<T>): Promise<T> {
    return this.request('POST', path, schema, { body });
  }

  put<T>(path: string, body: unknown, schema: z.ZodType<T>): Promise<T> {
    return this.request('PUT', path, schema, { body });
  }

  /** JSON merge patch (RFC 7386), e.g. {status: {...}} on a status subresource. */
  mergePatch<T>(path: string, patch: unknown, schema: z.ZodType<T>): Promise<T> {
    return this.request('PATCH', path, schema, { body: patch, contentType: 'application/merge-patch+json' });
  }

  delete(path: string, body?: unknown): Promise<unknown> {
    return this.request('DELETE', path, z.unknown(), { body });
  }

  async request<T>(method: Method, path: string, schema: z.ZodType<T>, ro: RequestOptions = {}): Promise<T> {
    const url = new URL(this.base.href);
    url.pathname = `${this.base.pathname.replace(/\/+$/, '')}${path}`;
    for (const [k, v] of Object.entries(ro.query ?? {})) url.searchParams.set(k, v);
    const payload = ro.body === undefined ? undefined : Buffer.from(JSON.stringify(ro.body));
    const { status, text } = await this.send(method, url, payload, ro.contentType);

    if (status < 200 || status >= 300) throw toApiError(status, text, `${method} ${path}`);
    let json: unknown;
    try {
      json = text === '' ? {} : JSON.parse(text);
    } catch (e) {
      throw new KubeApiError(status, 'InternalError', `${method} ${path}: response is not JSON`, { cause: e });
    }
    const parsed = schema.safeParse(json);
    if (!parsed.success) {
      throw new KubeApiError(status, 'InternalError', `${method} ${path}: unexpected response: ${parsed.error.message}`);
    }
    return parsed.data;
  }

  /** Closes idle keep-alive connections (so a stopping process can exit). */
  close(): void {
    this.agent.destroy();
  }

  private send(method: Method, url: URL, payload: Buffer | undefined, contentType?: string): Promise<{ status: number; text: string }> {
    const lib = url.protocol === 'https:' ? https : http;
    return new Promise((resolve, reject) => {
      const req = lib.request(
        url,
        {
          method,
          agent: this.agent,
          timeout: this.timeoutMs,
          headers: {
            Authorization: `Bearer ${this.token}`,
            Accept: 'application/json',
            'User-Agent': this.opts.userAgent ?? 'stratus-node-agent',
            ...(payload ? { 'Content-Type': contentType ?? 'application/json', 'Content-Length': payload.length } : {}),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(new Error(`${method} ${url.pathname}: timed out after ${this.timeoutMs} ms`)));
      req.on('error', reject);
      req.end(payload);
    });
  }
}

/** Reason for a bare HTTP status, when the body is not a Status (a proxy's error page). */
const REASON_BY_CODE: Record<number, string> = {
  400: 'BadRequest',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'NotFound',
  405: 'MethodNotAllowed',
  409: 'Conflict',
  410: 'Expired',
  422: 'Invalid',
  429: 'TooManyRequests',
  500: 'InternalError',
  503: 'ServiceUnavailable',
  504: 'Timeout',
};

function toApiError(code: number, text: string, what: string): KubeApiError {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  const status = StatusSchema.safeParse(json);
  const reason = (status.success && status.data.reason) || REASON_BY_CODE[code] || 'Unknown';
  const message = (status.success && status.data.message) || text.slice(0, 200) || `HTTP ${code}`;
  return new KubeApiError(code, reason, `${what}: ${message}`);
}
