/**
 * The local front's hold of connections refused 429 (infra/local/runtime.ts refusedHoldMs): a
 * client over its rate limit has its next request on the same connection read only in the next
 * one-second window, so a flood's refusals stop costing the event loop other tenants share.
 */
import { Agent, request } from 'node:https';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeCertificates } from '../../infra/local/stack';
import { createHttpFunctionServer, holdsRefused, Invoker, refusedHoldMs, type LoadedFunction } from '../../infra/local/runtime';

describe('refusedHoldMs', () => {
  it.each([
    { status: 429, retryAfter: '1', now: 10_250, spread: 0, want: 750, why: 'a 429 with Retry-After: until the second ends' },
    { status: 429, retryAfter: '1', now: 10_250, spread: 0.5, want: 1250, why: 'then half into the next second' },
    { status: 429, retryAfter: '1', now: 10_250, spread: 1, want: 1749, why: 'at most to the last millisecond of the next second' },
    { status: 429, retryAfter: '1', now: 10_250, spread: -1, want: 750, why: 'a spread below 0 counts as 0' },
    { status: 429, retryAfter: '1', now: 10_999, spread: 0, want: 1, why: 'the last millisecond of a second' },
    { status: 429, retryAfter: '1', now: 10_000, spread: 0, want: 1000, why: 'the first millisecond: the whole second' },
    { status: 429, retryAfter: '5', now: 10_250, spread: 0, want: 750, why: 'a longer Retry-After: still this window' },
    { status: 429, retryAfter: ['1'], now: 10_400, spread: 0, want: 600, why: 'a header given as a list' },
    { status: 429, retryAfter: undefined, now: 10_250, spread: 0.5, want: 0, why: 'a 429 without Retry-After (an eviction the disruption budget refuses)' },
    { status: 429, retryAfter: '0', now: 10_250, spread: 0.5, want: 0, why: 'Retry-After 0' },
    { status: 429, retryAfter: 'soon', now: 10_250, spread: 0.5, want: 0, why: 'Retry-After not a number' },
    { status: 200, retryAfter: '1', now: 10_250, spread: 0.5, want: 0, why: 'not a refusal' },
    { status: 503, retryAfter: '1', now: 10_250, spread: 0.5, want: 0, why: 'another status with Retry-After' },
  ])('$why', ({ status, retryAfter, now, spread, want }) => {
    expect(refusedHoldMs(status, retryAfter, now, spread)).toBe(want);
  });

  it('is on unless STRATUS_LOCAL_HOLD_REFUSED=0', () => {
    expect(holdsRefused({})).toBe(true);
    expect(holdsRefused({ STRATUS_LOCAL_HOLD_REFUSED: '1' })).toBe(true);
    expect(holdsRefused({ STRATUS_LOCAL_HOLD_REFUSED: '0' })).toBe(false);
  });
});

describe('the local front holds a refused connection until the window ends', () => {
  // A function that refuses every request 429 with Retry-After: 1, noting when each was handled.
  const handled: number[] = [];
  const paths: string[] = [];
  const fn: LoadedFunction = {
    wiring: { name: 'api', entry: 'x', handler: 'x', trigger: { type: 'http', streaming: false }, memoryMiB: 128, timeoutSeconds: 5 },
    fn: async (event: unknown) => {
      handled.push(Date.now());
      paths.push((event as { rawPath: string }).rawPath);
      return { statusCode: 429, headers: { 'retry-after': '1', 'content-type': 'application/json' }, body: '{}' };
    },
  };
  let server: ReturnType<typeof createHttpFunctionServer>;
  let ca: string;
  let port: number;

  beforeAll(async () => {
    const certs = await makeCertificates();
    ca = certs.caCert;
    server = createHttpFunctionServer(fn, false, { key: certs.key, cert: certs.cert }, new Invoker('us-east-1'), () => undefined);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  const get = (agent: Agent, path = '/x') =>
    new Promise<{ status: number; port: number }>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, path, agent, ca }, (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0, port: req.socket?.localPort ?? 0 }));
      });
      req.on('error', reject);
      req.end();
    });

  it('each request sent right after a 429 on the same connection is handled in a later second', async () => {
    // Prepare: one keep-alive connection
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    handled.length = 0;
    // Act: four requests back to back on it
    const answers = [];
    for (let i = 0; i < 4; i++) answers.push(await get(agent));
    agent.destroy();
    // Assess: all refused, on one connection, and no two handled in the same second (without the
    // hold the four would take a few milliseconds in all)
    expect(answers.map((a) => a.status)).toEqual([429, 429, 429, 429]);
    expect(new Set(answers.map((a) => a.port)).size).toBe(1);
    const seconds = handled.map((t) => Math.floor(t / 1000));
    for (let i = 1; i < seconds.length; i++) expect(seconds[i]).toBeGreaterThan(seconds[i - 1]!);
  });

  it("another connection is not held by the first one's refusal", async () => {
    // Prepare: two keep-alive connections
    const a = new Agent({ keepAlive: true, maxSockets: 1 });
    const b = new Agent({ keepAlive: true, maxSockets: 1 });
    paths.length = 0;
    // (from the start of a second, so A's hold has the rest of it to run)
    await new Promise((r) => setTimeout(r, 1000 - (Date.now() % 1000) + 5));
    // Act: A refused; A sends again at once, then B sends
    await get(a, '/a');
    const again = get(a, '/a');
    await get(b, '/b');
    await again;
    a.destroy();
    b.destroy();
    // Assess: B, sent after A's second request, was handled before it (A's waited for the next window)
    expect(paths).toEqual(['/a', '/b', '/a']);
  });
});
