/**
 * The dashboard's one way to the cluster: the normal Kubernetes API of the page's own cluster,
 * with the signed-in bearer token in the Authorization header (never in a URL), so RBAC decides
 * exactly as it does for kubectl. Errors carry the API's Status message, shown as the API wrote it.
 */

const TOKEN_KEY = 'stratus.token';

/** The API base of the page's cluster: `/clusters/NAME` when served under it, else the root. */
export const apiBase: string = (() => {
  const i = location.pathname.lastIndexOf('/dashboard/');
  return i > 0 ? location.pathname.slice(0, i) : '';
})();

export const getToken = (): string | null => sessionStorage.getItem(TOKEN_KEY);
export const setToken = (token: string): void => sessionStorage.setItem(TOKEN_KEY, token);
export const clearToken = (): void => sessionStorage.removeItem(TOKEN_KEY);

/** An error answer of the API: its HTTP code and its Status message. */
export class ApiError extends Error {
  constructor(
    readonly code: number,
    message: string,
    readonly reason?: string,
  ) {
    super(message);
  }
}

/** Called when the API answers 401 (the token expired or was revoked): back to sign-in. */
let onUnauthorized: () => void = () => undefined;
export const setUnauthorizedHandler = (f: () => void): void => {
  onUnauthorized = f;
};

async function errorOf(res: Response): Promise<ApiError> {
  const text = await res.text().catch(() => '');
  try {
    const s = JSON.parse(text) as { message?: string; reason?: string };
    if (s.message) return new ApiError(res.status, s.message, s.reason);
  } catch {
    /* not a Status */
  }
  return new ApiError(res.status, text.trim() || `${res.status} ${res.statusText}`);
}

/** A request to the API (`path` without the cluster prefix). Throws ApiError on a non-2xx answer. */
export async function request(method: string, path: string, init: { body?: string; contentType?: string; signal?: AbortSignal; accept?: string } = {}): Promise<Response> {
  const headers: Record<string, string> = { accept: init.accept ?? 'application/json' };
  const token = getToken();
  if (token) headers.authorization = `Bearer ${token}`;
  if (init.body !== undefined) headers['content-type'] = init.contentType ?? 'application/json';
  const res = await fetch(apiBase + path, { method, headers, body: init.body, signal: init.signal, cache: 'no-store', credentials: 'omit' });
  if (!res.ok) {
    const err = await errorOf(res);
    if (res.status === 401) onUnauthorized();
    throw err;
  }
  return res;
}

export async function getJson<T>(path: string, signal?: AbortSignal): Promise<T> {
  return (await (await request('GET', path, { signal })).json()) as T;
}

export async function sendJson<T>(method: string, path: string, body: unknown, contentType = 'application/json'): Promise<T> {
  return (await (await request(method, path, { body: JSON.stringify(body), contentType })).json()) as T;
}

/** Reads a streamed body line by line (watch events, log lines) until it ends or is aborted. */
export async function readLines(res: Response, onLine: (line: string) => void): Promise<void> {
  if (!res.body) return;
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buf += value;
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      onLine(buf.slice(0, nl));
      buf = buf.slice(nl + 1);
    }
  }
  if (buf) onLine(buf);
}

export type { ContainerStatus, KubeList, KubeObject, ObjectMeta, Spec, Status } from './types';
