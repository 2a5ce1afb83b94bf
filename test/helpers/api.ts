import { Agent, request } from 'node:https';

// No keep-alive: a pooled socket the server has closed meanwhile fails the next request (EPIPE).
const agent = new Agent({ keepAlive: false });
import { inject } from 'vitest';

/** A response from the Stratus API, body parsed as JSON when it is JSON. */
export interface Reply<T = any> {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: T;
  text: string;
}

/** How an Api client connects. */
export interface ApiOptions {
  /**
   * The local address its requests come from, e.g. 127.0.0.2 (Linux answers all of 127.0.0.0/8 on
   * loopback): the API's per-source budgets count that address, and exempt the suite's own
   * 127.0.0.1. @default the system's choice
   */
  readonly localAddress?: string;
}

/**
 * A minimal HTTPS client for the local stack, as a user's program would talk to it:
 * bearer token, the stack's CA, JSON bodies. A string or Buffer body is sent exactly as given.
 * Every request goes on a connection of its own.
 */
export class Api {
  constructor(
    readonly base: string,
    readonly token: string | undefined,
    readonly ca: string,
    readonly options: ApiOptions = {},
  ) {}

  static forTenant(tenant = 'default', token?: string): Api {
    const stack = inject('stack');
    return new Api(`${stack.apiUrl}/clusters/${tenant}`, token ?? stack.adminToken, stack.caCert);
  }

  send<T = any>(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Reply<T>> {
    const payload = body === undefined ? undefined : typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body);
    const url = new URL(this.base + path);
    return new Promise((resolve, reject) => {
      const req = request(
        url,
        {
          method,
          agent,
          ...(this.options.localAddress ? { localAddress: this.options.localAddress } : {}),
          ca: this.ca,
          headers: {
            ...(this.token ? { authorization: `Bearer ${this.token}` } : {}),
            // Node's client sends DELETE bodies neither chunked nor sized unless told the length.
            ...(payload !== undefined ? { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(payload)) } : {}),
            accept: 'application/json',
            ...headers,
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let parsed: unknown = text;
            try {
              parsed = JSON.parse(text);
            } catch {
              /* not JSON */
            }
            resolve({ status: res.statusCode ?? 0, headers: res.headers, body: parsed as T, text });
          });
        },
      );
      req.on('error', reject);
      if (payload !== undefined) req.write(payload);
      req.end();
    });
  }

  get<T = any>(path: string) {
    return this.send<T>('GET', path);
  }
  post<T = any>(path: string, body: unknown, headers?: Record<string, string>) {
    return this.send<T>('POST', path, body, headers);
  }
  put<T = any>(path: string, body: unknown) {
    return this.send<T>('PUT', path, body);
  }
  patch<T = any>(path: string, body: unknown, type = 'application/merge-patch+json') {
    return this.send<T>('PATCH', path, body, { 'content-type': type });
  }
  delete<T = any>(path: string, body?: unknown) {
    return this.send<T>('DELETE', path, body);
  }
}

/** Polls `fn` until it returns a defined value (or throws after `timeoutMs`). */
export async function eventually<T>(fn: () => Promise<T | undefined>, timeoutMs = 30_000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

let counter = 0;
/** A unique, valid name for test objects. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${process.pid}-${Date.now().toString(36)}-${counter++}`;
}
