/**
 * The web dashboard's static files: `GET /clusters/{cluster}/dashboard/` (and `/dashboard/` for
 * the default cluster). Served without authentication: the files hold no data; the page signs in
 * with a bearer token and calls the normal API, so what it may see and do is exactly what
 * kubectl with that token may.
 *
 * The files come from the build of dashboard/src (scripts/build-dashboard.mjs): index.html, and
 * assets/ whose names carry a content hash (cached for a year, immutable); index.html itself is
 * revalidated on every load. Each file is compressed once per instance (brotli at its best level,
 * gzip at 9) and sent compressed when the request's Accept-Encoding allows (br preferred, then
 * gzip; `q=0` refuses), with `Vary: Accept-Encoding`. Every answer carries a strict Content-Security-Policy: scripts and
 * styles only from this origin (no inline script, no eval), requests only to this origin.
 *
 * Where the files are: $STRATUS_DASHBOARD_DIR, else `dashboard/` beside the bundled handler (the
 * Lambda asset, copied there by the api function's bundling hook in infra/defaults.ts), else
 * dashboard/dist of the repository (the local stack runs the handler from source).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { brotliCompressSync, constants as zlibConstants, gzipSync } from 'node:zlib';
import type { ApiRequest, ApiResponse } from './request';

export const DASHBOARD_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy': DASHBOARD_CSP,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
};

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json',
  '.svg': 'image/svg+xml',
};

/** An asset name as the build writes them (`app-HASH.js`): no slashes, no dot-dot. */
const ASSET_NAME = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*\.(js|css|map|svg)$/;

/** A file as served: its text and its compressed forms (made when first read). */
interface Encoded {
  readonly raw: string;
  readonly br: Buffer;
  readonly gzip: Buffer;
}

interface Files {
  readonly index: Encoded;
  readonly assets: ReadonlyMap<string, Encoded>;
}

function encoded(raw: string): Encoded {
  const bytes = Buffer.from(raw, 'utf8');
  return {
    raw,
    br: brotliCompressSync(bytes, { params: { [zlibConstants.BROTLI_PARAM_QUALITY]: zlibConstants.BROTLI_MAX_QUALITY, [zlibConstants.BROTLI_PARAM_SIZE_HINT]: bytes.length } }),
    gzip: gzipSync(bytes, { level: 9 }),
  };
}

/** The encoding to send for an Accept-Encoding header: br, gzip (or x-gzip) or none, by q-value, br first on a tie. */
export function chooseEncoding(acceptEncoding: string | undefined): 'br' | 'gzip' | undefined {
  if (!acceptEncoding) return undefined;
  const q = new Map<string, number>();
  for (const part of acceptEncoding.split(',')) {
    const [token, ...params] = part.trim().toLowerCase().split(';');
    if (!token) continue;
    const qp = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
    const value = qp ? Number(qp.slice(2)) : 1;
    q.set(token === 'x-gzip' ? 'gzip' : token, Number.isFinite(value) ? value : 0);
  }
  const of = (e: string) => q.get(e) ?? q.get('*') ?? 0;
  const br = of('br');
  const gzip = of('gzip');
  if (br > 0 && br >= gzip) return 'br';
  if (gzip > 0) return 'gzip';
  return undefined;
}

let cached: Files | undefined;

function dashboardDir(): string | undefined {
  const here = dirname(fileURLToPath(import.meta.url));
  const candidates = [process.env.STRATUS_DASHBOARD_DIR, join(here, 'dashboard'), join(here, '..', '..', 'dashboard', 'dist')];
  return candidates.find((d): d is string => !!d && existsSync(join(d, 'index.html')));
}

/** Reads the build once per instance (a few hundred KB); undefined when it was never built. */
function files(): Files | undefined {
  if (cached) return cached;
  const dir = dashboardDir();
  if (!dir) return undefined;
  const assets = new Map<string, Encoded>();
  const assetDir = join(dir, 'assets');
  if (existsSync(assetDir)) for (const name of readdirSync(assetDir)) if (ASSET_NAME.test(name)) assets.set(name, encoded(readFileSync(join(assetDir, name), 'utf8')));
  cached = { index: encoded(readFileSync(join(dir, 'index.html'), 'utf8')), assets };
  return cached;
}

export const isDashboardPath = (path: string): boolean => path === '/dashboard' || path.startsWith('/dashboard/');

/** The dashboard's address under a cluster's URL (`/clusters/NAME/dashboard/`, or `/dashboard/`). */
export const dashboardPath = (cluster: string | undefined): string => `${cluster === undefined ? '' : `/clusters/${encodeURIComponent(cluster)}`}/dashboard/`;

function text(statusCode: number, body: string, headers: Record<string, string> = {}): ApiResponse {
  return { statusCode, headers: { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store', ...SECURITY_HEADERS, ...headers }, body };
}

/** Serves one dashboard request (GET or HEAD); never reads the store, never authenticates. */
export function serveDashboard(req: ApiRequest): ApiResponse {
  if (req.method !== 'GET' && req.method !== 'HEAD') return text(405, 'method not allowed\n', { allow: 'GET, HEAD' });
  if (req.path === '/dashboard') return text(301, 'moved\n', { location: dashboardPath(req.cluster) });
  const built = files();
  if (!built) return text(404, 'the dashboard is not built: run `node scripts/build-dashboard.mjs` (npm start and npm test do)\n');
  const rest = req.path.slice('/dashboard/'.length);
  const encoding = chooseEncoding(req.headers['accept-encoding']);
  /** A file's answer, compressed when the client takes it (a base64 body: the handler streams its bytes). */
  const answer = (file: Encoded, headers: Record<string, string>): ApiResponse => {
    const h = { ...headers, ...SECURITY_HEADERS, vary: 'Accept-Encoding' };
    if (!encoding) return { statusCode: 200, headers: h, body: req.method === 'HEAD' ? '' : file.raw };
    const bytes = file[encoding];
    return { statusCode: 200, headers: { ...h, 'content-encoding': encoding }, body: req.method === 'HEAD' ? '' : bytes.toString('base64'), isBase64Encoded: req.method !== 'HEAD' } as ApiResponse;
  };
  if (rest === '' || rest === 'index.html') return answer(built.index, { 'content-type': CONTENT_TYPES['.html']!, 'cache-control': 'no-cache' });
  const name = rest.startsWith('assets/') ? rest.slice('assets/'.length) : undefined;
  const content = name !== undefined && ASSET_NAME.test(name) ? built.assets.get(name) : undefined;
  if (content === undefined) return text(404, 'not found\n');
  const type = CONTENT_TYPES[name!.slice(name!.lastIndexOf('.'))]!;
  return answer(content, { 'content-type': type, 'cache-control': 'public, max-age=31536000, immutable' });
}
