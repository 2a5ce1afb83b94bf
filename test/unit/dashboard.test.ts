import { execSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { apiBundlingOptions } from '../../infra/defaults';
import type { ApiRequest } from '../../functions/api/request';
import { age, bytes, cpuCores, podReady, podRestarts, podStatus } from '../../dashboard/src/format';
import { isTransient, retryDelayMs, withRetries } from '../../dashboard/src/retry';
import type { KubeObject, Status } from '../../dashboard/src/types';

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

const req = (method: string, path: string, cluster?: string): ApiRequest => ({ method, path, cluster, query: new URLSearchParams(), headers: {} });

describe('dashboard static files (functions/api/dashboard.ts), as the Lambda bundle ships them', () => {
  let serveDashboard: typeof import('../../functions/api/dashboard').serveDashboard;
  let dir: string;

  beforeAll(async () => {
    // Prepare: run the api function's afterBundling hook as NodejsFunction would, into a fresh
    // output directory, and serve from the `dashboard/` it writes there.
    const out = mkdtempSync(join(tmpdir(), 'stratus-api-bundle-'));
    for (const cmd of apiBundlingOptions.commandHooks!.afterBundling(repoRoot, out)) execSync(cmd, { cwd: repoRoot, stdio: 'inherit' });
    dir = join(out, 'dashboard');
    process.env.STRATUS_DASHBOARD_DIR = dir;
    ({ serveDashboard } = await import('../../functions/api/dashboard'));
  }, 60_000);

  it('the bundling hook writes index.html and content-hashed assets beside the handler', () => {
    expect(existsSync(join(dir, 'index.html'))).toBe(true);
    const files = readdirSync(join(dir, 'assets'));
    expect(files).toHaveLength(2);
    expect(files).toEqual(expect.arrayContaining([expect.stringMatching(/^main-[A-Z0-9]{8}\.css$/), expect.stringMatching(/^main-[A-Z0-9]{8}\.js$/)]));
  });

  const asset = () => readdirSync(join(dir, 'assets')).find((f) => f.endsWith('.js'))!;
  const cases: { name: string; request: () => ApiRequest; status: number; type?: string; cache?: string; location?: string; empty?: boolean }[] = [
    { name: 'index', request: () => req('GET', '/dashboard/', 'team-a'), status: 200, type: 'text/html; charset=utf-8', cache: 'no-cache' },
    { name: 'index.html', request: () => req('GET', '/dashboard/index.html'), status: 200, type: 'text/html; charset=utf-8' },
    { name: 'hashed script', request: () => req('GET', `/dashboard/assets/${asset()}`), status: 200, type: 'text/javascript; charset=utf-8', cache: 'public, max-age=31536000, immutable' },
    { name: 'HEAD has no body', request: () => req('HEAD', `/dashboard/assets/${asset()}`), status: 200, empty: true },
    { name: 'no trailing slash', request: () => req('GET', '/dashboard', 'team-a'), status: 301, location: '/clusters/team-a/dashboard/' },
    { name: 'default cluster', request: () => req('GET', '/dashboard'), status: 301, location: '/dashboard/' },
    { name: 'unknown asset', request: () => req('GET', '/dashboard/assets/main-NOTTHERE.js'), status: 404 },
    { name: 'dot-dot', request: () => req('GET', '/dashboard/assets/../index.html'), status: 404 },
    { name: 'encoded traversal', request: () => req('GET', '/dashboard/assets/..%2F..%2Fpackage.json'), status: 404 },
    { name: 'outside assets', request: () => req('GET', '/dashboard/package.json'), status: 404 },
    { name: 'POST', request: () => req('POST', '/dashboard/'), status: 405 },
  ];
  it.each(cases)('$name → $status', (c) => {
    // Act
    const res = serveDashboard(c.request());
    // Assess
    expect(res.statusCode).toBe(c.status);
    expect(res.headers['content-security-policy']).toMatch(/^default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self';/);
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    if (c.type) expect(res.headers['content-type']).toBe(c.type);
    if (c.cache) expect(res.headers['cache-control']).toBe(c.cache);
    if (c.location) expect(res.headers.location).toBe(c.location);
    if (c.empty) expect(res.body).toBe('');
  });

  it.each([
    { accept: undefined, enc: undefined },
    { accept: 'gzip, deflate, br', enc: 'br' },
    { accept: 'gzip', enc: 'gzip' },
    { accept: 'x-gzip', enc: 'gzip' },
    { accept: 'br;q=0, gzip', enc: 'gzip' },
    { accept: 'br;q=0.5, gzip;q=0.8', enc: 'gzip' },
    { accept: 'identity', enc: undefined },
    { accept: '*', enc: 'br' },
    { accept: 'gzip;q=0, br;q=0', enc: undefined },
  ])('Accept-Encoding $accept → $enc', async ({ accept, enc }) => {
    const { chooseEncoding } = await import('../../functions/api/dashboard');
    expect(chooseEncoding(accept)).toBe(enc);
  });

  it.each(['br', 'gzip'] as const)('sends a hashed asset %s-compressed (same bytes once decoded), cached for a year, varying on Accept-Encoding', async (enc) => {
    const { brotliDecompressSync, gunzipSync } = await import('node:zlib');
    const plain = serveDashboard(req('GET', `/dashboard/assets/${asset()}`));
    const r = { ...req('GET', `/dashboard/assets/${asset()}`), headers: { 'accept-encoding': enc } };
    const res = serveDashboard(r) as { headers: Record<string, string>; body: string; isBase64Encoded?: boolean };
    expect(res.headers['content-encoding']).toBe(enc);
    expect(res.headers.vary).toBe('Accept-Encoding');
    expect(res.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    expect(res.isBase64Encoded).toBe(true);
    const bytes = Buffer.from(res.body, 'base64');
    expect(bytes.length).toBeLessThan(plain.body.length / 2);
    expect((enc === 'br' ? brotliDecompressSync(bytes) : gunzipSync(bytes)).toString('utf8')).toBe(plain.body);
  });
});

describe("dashboard formatting (kubectl's way)", () => {
  const pod = (status: Status, extra: Partial<KubeObject['metadata']> = {}): KubeObject => ({
    metadata: { name: 'p', ...extra },
    spec: { containers: [{ name: 'a', image: 'x' }, { name: 'b', image: 'x' }] },
    status,
  });
  it.each([
    { name: 'phase', pod: pod({ phase: 'Running' }), status: 'Running' },
    { name: 'waiting reason wins', pod: pod({ phase: 'Pending', containerStatuses: [{ name: 'a', state: { waiting: { reason: 'ImagePullBackOff' } } }] }), status: 'ImagePullBackOff' },
    { name: 'terminated reason', pod: pod({ phase: 'Running', containerStatuses: [{ name: 'a', state: { terminated: { reason: 'Error' } } }] }), status: 'Error' },
    { name: 'completed pod shows its phase', pod: pod({ phase: 'Succeeded', containerStatuses: [{ name: 'a', state: { terminated: { reason: 'Completed' } } }] }), status: 'Succeeded' },
    { name: 'pod reason', pod: pod({ phase: 'Failed', reason: 'Evicted' }), status: 'Evicted' },
    { name: 'being deleted', pod: pod({ phase: 'Running' }, { deletionTimestamp: '2026-01-01T00:00:00Z' }), status: 'Terminating' },
  ])('STATUS: $name → $status', ({ pod: p, status }) => {
    expect(podStatus(p)).toBe(status);
  });

  it('READY and RESTARTS count containers', () => {
    const p = pod({ containerStatuses: [{ name: 'a', ready: true, restartCount: 2 }, { name: 'b', ready: false, restartCount: 1 }] });
    expect([podReady(p), podRestarts(p)]).toEqual(['1/2', 3]);
  });

  it.each([
    { s: 0, out: '0s' },
    { s: 119, out: '119s' },
    { s: 120, out: '2m' },
    { s: 119 * 60, out: '119m' },
    { s: 2 * 3600, out: '2h' },
    { s: 47 * 3600, out: '47h' },
    { s: 48 * 3600, out: '2d' },
  ])('AGE of $s s is $out', ({ s, out }) => {
    const now = Date.parse('2026-06-01T00:00:00Z');
    expect(age(new Date(now - s * 1000).toISOString(), now)).toBe(out);
  });

  it.each([
    { q: '250m', cores: 0.25 },
    { q: '2', cores: 2 },
    { q: '1500000n', cores: 0.0015 },
    { q: '300u', cores: 0.0003 },
    { q: '', cores: 0 },
  ])('CPU $q = $cores cores', ({ q, cores }) => {
    expect(cpuCores(q)).toBeCloseTo(cores, 9);
  });

  it.each([
    { q: '128Mi', b: 128 * 2 ** 20 },
    { q: '1Gi', b: 2 ** 30 },
    { q: '1G', b: 1e9 },
    { q: '2048Ki', b: 2 * 2 ** 20 },
    { q: '1048576', b: 1048576 },
  ])('memory $q = $b bytes', ({ q, b }) => {
    expect(bytes(q)).toBe(b);
  });
});

describe('dashboard retry after a failed read (the Cost view)', () => {
  it.each([
    { failures: 1, ms: 1000 },
    { failures: 2, ms: 2000 },
    { failures: 3, ms: 4000 },
    { failures: 6, ms: 32_000 },
    // Never slower than the read after a success
    { failures: 7, ms: 60_000 },
    { failures: 40, ms: 60_000 },
  ])('after $failures failures: $ms ms', ({ failures, ms }) => {
    expect(retryDelayMs(failures, 60_000)).toBe(ms);
  });
});

describe('dashboard sign-in: which failures are tried again (isTransient, withRetries)', () => {
  const apiError = (code: number) => Object.assign(new Error(`answered ${code}`), { code });
  it.each([
    { name: "fetch's network failure (TypeError)", err: new TypeError('Failed to fetch'), transient: true },
    { name: '429 TooManyRequests', err: apiError(429), transient: true },
    { name: '500', err: apiError(500), transient: true },
    { name: '503', err: apiError(503), transient: true },
    { name: '504', err: apiError(504), transient: true },
    { name: '401 Unauthorized', err: apiError(401), transient: false },
    { name: '403 Forbidden', err: apiError(403), transient: false },
    { name: '404', err: apiError(404), transient: false },
    { name: 'an aborted read', err: Object.assign(new Error('aborted'), { name: 'AbortError' }), transient: false },
    { name: 'a code that is not a number', err: Object.assign(new Error('x'), { code: 'ECONNRESET' }), transient: false },
    { name: 'undefined', err: undefined, transient: false },
  ])('$name: transient $transient', ({ err, transient }) => {
    expect(isTransient(err)).toBe(transient);
  });

  it.each([
    { name: 'a transient failure, then success', failures: [new TypeError('Failed to fetch')], attempts: 4, result: 'ok', waits: [1000] },
    { name: 'three transient failures, then success', failures: [apiError(429), apiError(503), new TypeError('x')], attempts: 4, result: 'ok', waits: [1000, 2000, 4000] },
    { name: 'transient failures past the attempts: the last is thrown', failures: [apiError(503), apiError(503), apiError(502), apiError(504)], attempts: 4, thrown: 504, waits: [1000, 2000, 4000] },
    { name: 'a 401 is thrown at once', failures: [apiError(401)], attempts: 4, thrown: 401, waits: [] },
    { name: 'a 403 after a transient failure is thrown', failures: [apiError(503), apiError(403)], attempts: 4, thrown: 403, waits: [1000] },
  ])('$name', async ({ failures, attempts, result, thrown, waits }) => {
    // Prepare
    const queue = [...failures];
    const slept: number[] = [];
    let calls = 0;
    const read = async () => {
      calls++;
      const f = queue.shift();
      if (f) throw f;
      return 'ok';
    };
    // Act
    const outcome = await withRetries(read, attempts, async (ms) => void slept.push(ms)).then(
      (v) => ({ v }),
      (e: { code?: number }) => ({ code: e.code }),
    );
    // Assess
    if (thrown === undefined) expect(outcome).toEqual({ v: result });
    else expect(outcome).toEqual({ code: thrown });
    expect(slept).toEqual(waits);
    expect(calls).toBe(waits.length + 1);
  });
});
