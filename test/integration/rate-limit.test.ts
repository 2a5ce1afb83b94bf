/**
 * The rate limits are shared by every instance of the api function: two handler instances in
 * this process (each with its own deps and its own RateLimiter, as two Lambda instances have)
 * serve one cluster's requests against DynamoDB Local, and together admit exactly the cluster's
 * budget per window. The clock is fixed, so the window is one and the counts exact.
 */
import { randomBytes } from 'node:crypto';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { GetCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { serve, type ApiDeps } from '../../functions/api/router';
import type { ApiRequest } from '../../functions/api/request';
import { createTenantTokens } from '../../infra/local/stack';
import { setClusterRateLimits } from '../../shared/clusters';
import { loadConfig, type Config } from '../../shared/config';
import { isStatusError } from '../../shared/errors';
import { RateLimiter, sourceExemptions, windowOf } from '../../shared/rate-limit';
import { countFailedAuthentication, refusedBySource } from '../../functions/api/source-limit';
import { createDocumentClient } from '../../shared/store/dynamo';
import { ObjectStore } from '../../shared/store/store';

let config: Config;
let doc: DynamoDBDocumentClient;

beforeAll(() => {
  Object.assign(process.env, inject('stack').env);
  config = loadConfig();
  doc = createDocumentClient(config);
});

/** One api function instance: its own clients and limiter, all at the same instant `now`. */
const instance = (now: number): ApiDeps & { limiter: RateLimiter } => ({ config, doc, store: new ObjectStore(doc, config), limiter: new RateLimiter(doc, config, { now: () => now }) });

const get = (tenant: string, token: string, path: string): ApiRequest => ({
  method: 'GET',
  path: path.split('?')[0]!,
  cluster: tenant,
  query: new URLSearchParams(path.includes('?') ? path.slice(path.indexOf('?') + 1) : ''),
  headers: { authorization: `Bearer ${token}` },
});

/** The status code serve() answers, refusals included. */
async function statusOf(deps: ApiDeps, req: ApiRequest): Promise<number> {
  try {
    return (await serve(req, deps)).statusCode;
  } catch (e) {
    if (isStatusError(e)) return e.code;
    throw e;
  }
}

describe('rate limits across api function instances', () => {
  it('two instances share one cluster budget, and take it in leases, not a write per request', async () => {
    const tenant = `rl${randomBytes(4).toString('hex')}`;
    const { adminToken } = await createTenantTokens(doc, config, tenant);
    await setClusterRateLimits({ doc, config }, tenant, { rateLimit: 30, userRateLimit: 0 });
    const now = Date.now();
    const [a, b] = [instance(now), instance(now)];
    const codes = await Promise.all(Array.from({ length: 90 }, (_, i) => statusOf(i % 2 ? a : b, get(tenant, adminToken, '/api/v1/namespaces'))));
    expect(codes.filter((c) => c === 200)).toHaveLength(30);
    expect(codes.filter((c) => c === 429)).toHaveLength(60);
    // Both served some: the budget is shared, not split or doubled.
    const servedBy = async (deps: ApiDeps) => statusOf(deps, get(tenant, adminToken, '/api/v1/namespaces'));
    expect(await servedBy(a)).toBe(429);
    expect(await servedBy(b)).toBe(429);
    // Leases of 3 tokens for a limit of 30: at most 10 granted writes and one refused per instance.
    expect(a.limiter.leases + b.limiter.leases).toBeLessThanOrEqual(12);
    // A watch is served while the window is spent.
    const watch = await serve(get(tenant, adminToken, '/api/v1/namespaces?watch=true&timeoutSeconds=1'), a);
    expect(watch.statusCode).toBe(200);
    const body = (watch as { body: unknown }).body;
    if (body && typeof (body as { destroy?: unknown }).destroy === 'function') (body as { destroy: () => void }).destroy();
  });

  it('a cluster over its budget one second is paced the next by both instances: admissions spread over the second, the budget kept', async () => {
    // Prepare: two instances on one clock; a flood spends second S
    const tenant = `rl${randomBytes(4).toString('hex')}`;
    const { adminToken } = await createTenantTokens(doc, config, tenant);
    await setClusterRateLimits({ doc, config }, tenant, { rateLimit: 50, userRateLimit: 0 });
    let t = (windowOf(Date.now()) + 10) * 1000;
    const clocked = (): ApiDeps & { limiter: RateLimiter } => ({ config, doc, store: new ObjectStore(doc, config), limiter: new RateLimiter(doc, config, { now: () => t }) });
    const [a, b] = [clocked(), clocked()];
    const flood = (n: number) => Promise.all(Array.from({ length: n }, (_, i) => statusOf(i % 2 ? a : b, get(tenant, adminToken, '/api/v1/namespaces'))));
    expect((await flood(120)).filter((c) => c === 200)).toHaveLength(50);
    // Act: second S+1, 12 requests every 20 ms
    const start = t + 1000;
    const admittedAt: number[] = [];
    for (t = start; t < start + 1000; t += 20) for (const c of await flood(12)) if (c === 200) admittedAt.push(t - start);
    // Assess: no more than a lease at the start and the limit's rate after it (5 per 100 ms),
    // nothing over the second's budget, and most of it used
    for (let from = 0; from < 1000; from += 200) expect(admittedAt.filter((ms) => ms >= from && ms < from + 200).length, `${from} ms`).toBeLessThanOrEqual(15);
    expect(admittedAt.length).toBeLessThanOrEqual(50);
    expect(admittedAt.length).toBeGreaterThanOrEqual(40);
  });

  it("a cluster's spent budget leaves another cluster's alone, in the same instances", async () => {
    const [t1, t2] = [`rl${randomBytes(4).toString('hex')}`, `rl${randomBytes(4).toString('hex')}`];
    const [c1, c2] = await Promise.all([createTenantTokens(doc, config, t1), createTenantTokens(doc, config, t2)]);
    await Promise.all([setClusterRateLimits({ doc, config }, t1, { rateLimit: 5 }), setClusterRateLimits({ doc, config }, t2, { rateLimit: 5 })]);
    const now = Date.now();
    const [a, b] = [instance(now), instance(now)];
    const flood = await Promise.all(Array.from({ length: 20 }, (_, i) => statusOf(i % 2 ? a : b, get(t1, c1.adminToken, '/api/v1/namespaces'))));
    expect(flood.filter((c) => c === 200)).toHaveLength(5);
    const quiet = await Promise.all(Array.from({ length: 5 }, (_, i) => statusOf(i % 2 ? a : b, get(t2, c2.adminToken, '/api/v1/namespaces'))));
    expect(quiet).toEqual([200, 200, 200, 200, 200]);
  });
});

describe('per-source budgets across api function instances', () => {
  const sourced = (now: number, limits = { auth: 10, join: 5, anonymous: 20 }): ApiDeps & { limiter: RateLimiter } => ({
    config,
    doc,
    store: new ObjectStore(doc, config),
    limiter: new RateLimiter(doc, config, { now: () => now, sourceLimits: limits, exempt: sourceExemptions({}) }),
  });

  it("two instances count one address's failed authentications against one budget, then refuse it from memory before verifying", async () => {
    const tenant = `rl${randomBytes(4).toString('hex')}`;
    const { adminToken } = await createTenantTokens(doc, config, tenant);
    const source = `198.51.100.${randomBytes(1)[0]! % 250}`;
    const now = Date.now();
    const [a, b] = [sourced(now), sourced(now)];
    const bad = (): ApiRequest => ({ ...get(tenant, `st_${randomBytes(12).toString('hex')}`, '/api/v1/namespaces'), sourceIp: source });
    // As the handler does: serve, and count a 401 against the source.
    const failures = await Promise.all(
      Array.from({ length: 40 }, async (_, i) => {
        const deps = i % 2 ? a : b;
        const req = bad();
        const code = await statusOf(deps, req);
        if (code === 401) await countFailedAuthentication(req, deps);
        return code;
      }),
    );
    expect(failures.every((c) => c === 401)).toBe(true);
    // 10 counted between them (leases of 3), whatever instance each failure was served by.
    const counter = await doc.send(new GetCommand({ TableName: config.changesTable, Key: { pk: `~source#${source}`, sk: `auth#${windowOf(now)}` } }));
    expect(counter.Item?.used).toBeGreaterThanOrEqual(10);
    expect(counter.Item?.used).toBeLessThanOrEqual(12);
    for (const deps of [a, b]) expect(refusedBySource(bad(), deps)).toBe(1);
    // The admin's token, authenticated once in each instance, is let through from that address.
    for (const deps of [a, b]) expect(await statusOf(deps, { ...get(tenant, adminToken, '/api/v1/namespaces'), sourceIp: source })).toBe(200);
    for (const deps of [a, b]) expect(refusedBySource({ ...get(tenant, adminToken, '/api/v1/namespaces'), sourceIp: source }, deps)).toBeUndefined();
  });

  it("a token of cluster A at cluster B's path is 401 Unauthorized, naming no one", async () => {
    const [ta, tb] = [`rl${randomBytes(4).toString('hex')}`, `rl${randomBytes(4).toString('hex')}`];
    const [ca] = await Promise.all([createTenantTokens(doc, config, ta), createTenantTokens(doc, config, tb)]);
    const deps = sourced(Date.now());
    try {
      await serve(get(tb, ca.adminToken, '/api/v1/namespaces'), deps);
      expect.unreachable('served');
    } catch (e) {
      expect(isStatusError(e) && e.toStatus()).toMatchObject({ code: 401, reason: 'Unauthorized', message: 'Unauthorized' });
    }
    expect(await statusOf(deps, get(ta, ca.adminToken, '/api/v1/namespaces'))).toBe(200);
  });

  it('the OIDC discovery endpoints spend the anonymous budget of their address before reading anything', async () => {
    const source = `203.0.113.${randomBytes(1)[0]! % 250}`;
    const now = Date.now();
    const [a, b] = [sourced(now, { auth: 10, join: 5, anonymous: 4 }), sourced(now, { auth: 10, join: 5, anonymous: 4 })];
    const codes = await Promise.all(Array.from({ length: 12 }, (_, i) => statusOf(i % 2 ? a : b, { method: 'GET', path: '/openid/v1/jwks', cluster: 'default', query: new URLSearchParams(), headers: {}, sourceIp: source })));
    // served (200, or 404 for a cluster without keys) within the budget, refused after it
    expect(codes.filter((c) => c !== 429)).toHaveLength(4);
    expect(codes.filter((c) => c === 429)).toHaveLength(8);
  });
});
