import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../shared/config';
import { validateRateLimits } from '../../shared/clusters';
import { defaultRateLimits, grantedTokens, isLongRunning, leaseSize, pacedAllowance, pacedPauseMs, pacedResumeMs, pacedSpend, RateLimiter, retryAfterSeconds, windowOf } from '../../shared/rate-limit';

describe('rate limit arithmetic', () => {
  it.each([
    [1, 1],
    [9, 1],
    [10, 1],
    [50, 5],
    [100, 10],
    [249, 24],
    [250, 25],
    [20000, 25],
  ])('a limit of %i req/s leases %i tokens at a time', (limit, size) => expect(leaseSize(limit)).toBe(size));

  it.each([
    // limit, asked, counter after the ADD, granted
    [100, 10, 10, 10],
    [100, 10, 100, 10],
    [100, 10, 105, 5],
    [100, 10, 110, 0],
    [100, 10, 190, 0],
    [1, 1, 1, 1],
    [1, 1, 2, 0],
  ])('limit %i, lease of %i, counter then %i: %i granted', (limit, asked, after, granted) => expect(grantedTokens(limit, asked, after)).toBe(granted));

  it.each([
    // limit, lease, ms into the second, what the paced counter may reach
    [50, 5, 0, 5],
    [50, 5, 99, 9],
    [50, 5, 100, 10],
    [50, 5, 500, 30],
    [50, 5, 900, 50],
    [50, 5, 999, 50],
    [100, 10, 250, 35],
    [1, 1, 0, 1],
    [1, 1, 999, 1],
    [3, 1, 400, 2],
    [50, 5, -20, 5],
  ])('paced: limit %i, leases of %i, %i ms into the second: the counter may reach %i', (limit, size, ms, allowance) => expect(pacedAllowance(limit, size, ms)).toBe(allowance));

  it.each([
    [50, 0, 0],
    [50, 5, 100],
    [50, 12, 240],
    [50, 49, 980],
    [100, 33, 330],
    [7, 3, 429],
  ])('paced: limit %i, counter at %i: a whole lease fits from %i ms into the second', (limit, used, ms) => {
    expect(pacedResumeMs(limit, used)).toBe(ms);
    // ...and not a millisecond before, with leases of a tenth of the limit
    const size = leaseSize(limit);
    if (ms > 0) expect(pacedAllowance(limit, size, ms - 1) - used).toBeLessThan(size);
    expect(pacedAllowance(limit, size, ms) - used).toBeGreaterThanOrEqual(Math.min(size, limit - used));
  });

  it.each([
    // limit, previous due time, now: spent?, next due time
    [50, 0, 1000, true, 1020],
    [50, 1020, 1000, true, 1040],
    [50, 1040, 1000, false, 1040],
    [50, 1040, 1020, true, 1060],
    [50, 1060, 1100, true, 1120],
    [10, 0, 5000, true, 5100],
    [1000, 5001, 5000, true, 5002],
  ])('paced spending: limit %i, due %i, at %i: spent %s, due then %i', (limit, due, now, ok, next) => expect(pacedSpend(limit, due, now)).toEqual({ ok, due: next }));

  it.each([
    [50, 5, 100],
    [100, 10, 100],
    [1000, 25, 25],
    [5, 1, 200],
    [1, 1, 1000],
  ])('paced: limit %i, leases of %i: a refused lease waits %i ms', (limit, size, ms) => expect(pacedPauseMs(limit, size)).toBe(ms));

  it.each([
    [1_000_000, 1000, 1],
    [1_000_001, 1000, 1],
    [1_000_999, 1000, 1],
    [1_000_500, 1000, 1],
  ])('at %i ms the window is %i and Retry-After %i s', (now, window, retry) => {
    expect(windowOf(now)).toBe(window);
    expect(retryAfterSeconds(now)).toBe(retry);
  });

  it.each([
    ['GET', undefined, 'watch=true', true],
    ['GET', undefined, 'watch=1', true],
    ['GET', undefined, 'watch=false', false],
    ['GET', undefined, '', false],
    ['POST', 'exec', 'command=ls', true],
    ['GET', 'exec', '', true],
    ['POST', 'attach', '', true],
    ['POST', 'portforward', '', true],
    ['GET', 'proxy', '', true],
    ['GET', 'log', 'follow=true', true],
    ['GET', 'log', '', false],
    ['GET', 'status', '', false],
    ['PUT', undefined, 'watch=true', false],
  ])('%s %s ?%s is long-running: %s', (method, sub, query, expected) => expect(isLongRunning(method, sub, new URLSearchParams(query))).toBe(expected));

  it.each([
    [{}, { cluster: 100, user: 50 }],
    [{ STRATUS_DEFAULT_RATE_LIMIT: '7', STRATUS_DEFAULT_USER_RATE_LIMIT: '0' }, { cluster: 7, user: 0 }],
    [{ STRATUS_DEFAULT_RATE_LIMIT: 'many', STRATUS_DEFAULT_USER_RATE_LIMIT: '-1' }, { cluster: 100, user: 50 }],
  ])('defaults from %o', (env, expected) => expect(defaultRateLimits(env)).toEqual(expected));

  it.each([
    [{}, []],
    [{ rateLimit: 0, userRateLimit: 1_000_000 }, []],
    [{ rateLimit: 1.5 }, ['spec.rateLimit']],
    [{ rateLimit: -1, userRateLimit: '5' as unknown as number }, ['spec.rateLimit', 'spec.userRateLimit']],
  ])('limits %o: invalid fields %o', (limits, fields) => expect(validateRateLimits(limits).map((c) => c.field)).toEqual(fields));
});

/** A stand-in for DynamoDB's conditional ADD (the real one: test/integration/rate-limit.test.ts). */
function fakeCounters() {
  const used = new Map<string, number>();
  let writes = 0;
  const doc = {
    send: async (cmd: { input: { Key: { pk: string; sk: string }; ExpressionAttributeValues: Record<string, number> } }) => {
      await Promise.resolve();
      writes++;
      const key = `${cmd.input.Key.pk}|${cmd.input.Key.sk}`;
      const cur = used.get(key);
      if (cur !== undefined && cur >= cmd.input.ExpressionAttributeValues[':limit']!) throw Object.assign(new Error('condition'), { name: 'ConditionalCheckFailedException', Item: { used: { N: String(cur) } } });
      used.set(key, (cur ?? 0) + cmd.input.ExpressionAttributeValues[':n']!);
      return { Attributes: { used: used.get(key) } };
    },
  } as unknown as DynamoDBDocumentClient;
  return { doc, writes: () => writes };
}

describe('RateLimiter over shared counters', () => {
  const config = loadConfig({});
  const limits = { cluster: 100, user: 50 };

  it('two instances share one cluster budget per window, taking leases, not a write per request', async () => {
    const { doc, writes } = fakeCounters();
    const now = () => 5_000_250;
    const a = new RateLimiter(doc, config, { now });
    const b = new RateLimiter(doc, config, { now });
    const decisions = await Promise.all(Array.from({ length: 300 }, (_, i) => (i % 2 ? a : b).take('t1', `user-${i % 6}`, limits)));
    const allowed = decisions.filter((d) => d.allowed).length;
    expect(allowed).toBe(100);
    const refused = decisions.filter((d) => !d.allowed);
    expect(refused.every((d) => !d.allowed && d.scope === 'cluster' && d.retryAfterSeconds === 1)).toBe(true);
    // Leases of 10 (cluster) and 5 (user): far fewer writes than requests.
    expect(writes()).toBeLessThan(100);
  });

  it('one user is held to the user limit while the cluster has budget left', async () => {
    const { doc } = fakeCounters();
    const a = new RateLimiter(doc, config, { now: () => 7_000_000 });
    const decisions = await Promise.all(Array.from({ length: 80 }, () => a.take('t1', 'alice', limits)));
    expect(decisions.filter((d) => d.allowed).length).toBe(50);
    expect(decisions.filter((d) => !d.allowed).every((d) => !d.allowed && d.scope === 'user')).toBe(true);
    expect((await a.take('t1', 'bob', limits)).allowed).toBe(true);
  });

  it('an exhausted window refuses without writing, and the next window has a new budget', async () => {
    const { doc, writes } = fakeCounters();
    let t = 9_000_000;
    const a = new RateLimiter(doc, config, { now: () => t });
    for (let i = 0; i < 10; i++) expect((await a.take('t1', 'u', { cluster: 10, user: 0 })).allowed).toBe(true);
    expect((await a.take('t1', 'u', { cluster: 10, user: 0 })).allowed).toBe(false);
    const after = writes();
    for (let i = 0; i < 20; i++) expect((await a.take('t1', 'u', { cluster: 10, user: 0 })).allowed).toBe(false);
    expect(writes()).toBe(after);
    t += 1000;
    expect((await a.take('t1', 'u', { cluster: 10, user: 0 })).allowed).toBe(true);
  });

  it('a client over its budget one second is paced the next: its admissions spread over the second, not a burst at its start', async () => {
    // Prepare: a flood exhausts second 9,000 (limit 50, leases of 5)
    const { doc, writes } = fakeCounters();
    let t = 9_000_000;
    const a = new RateLimiter(doc, config, { now: () => t });
    const limits = { cluster: 50, user: 0 };
    const first = await Promise.all(Array.from({ length: 200 }, () => a.take('flood', 'u', limits)));
    expect(first.filter((d) => d.allowed)).toHaveLength(50);
    const writesBefore = writes();
    // Act: the next second, 20 requests every 10 ms
    const admittedAt: number[] = [];
    for (t = 9_001_000; t < 9_002_000; t += 10) {
      const ds = await Promise.all(Array.from({ length: 20 }, () => a.take('flood', 'u', limits)));
      for (const d of ds) if (d.allowed) admittedAt.push(t - 9_001_000);
    }
    // Assess: a lease at the start, then about the limit's rate; the second's budget still all used
    expect(admittedAt.filter((ms) => ms < 100).length).toBeLessThanOrEqual(10);
    for (let from = 0; from < 1000; from += 100) expect(admittedAt.filter((ms) => ms >= from && ms < from + 100).length, `${from} ms`).toBeLessThanOrEqual(10);
    expect(admittedAt.length).toBeGreaterThanOrEqual(45);
    expect(admittedAt.length).toBeLessThanOrEqual(50);
    // 2,000 requests, 10 leases of 5: a refused lease says where the counter is, so the bucket
    // waits for the allowance instead of asking every few milliseconds
    expect(writes() - writesBefore).toBeLessThanOrEqual(15);
    // The refusals in a pause are decided from memory, as the window's exhaustion is
    t = 9_002_000 + 30;
    await a.take('flood', 'u', limits);
    while ((await a.take('flood', 'u', limits)).allowed);
    expect(a.refuseFromMemory('flood', 'u', limits)).toEqual({ allowed: false, scope: 'cluster', retryAfterSeconds: 1 });
  });

  it('a client that stays within its budget, or was over it longer ago, gets the whole second at once', async () => {
    const { doc } = fakeCounters();
    let t = 12_000_000;
    const a = new RateLimiter(doc, config, { now: () => t });
    const limits = { cluster: 50, user: 0 };
    // Within its budget: 50 in the second's first millisecond, the next second too
    for (const second of [0, 1]) {
      t = 12_000_000 + second * 1000;
      const ds = await Promise.all(Array.from({ length: 50 }, () => a.take('c', 'u', limits)));
      expect(ds.every((d) => d.allowed)).toBe(true);
    }
    // Over it in second 2, quiet in second 3, a burst in second 4: not paced
    t = 12_002_000;
    await Promise.all(Array.from({ length: 80 }, () => a.take('c', 'u', limits)));
    t = 12_004_000;
    const burst = await Promise.all(Array.from({ length: 50 }, () => a.take('c', 'u', limits)));
    expect(burst.every((d) => d.allowed)).toBe(true);
  });

  it.each([
    { name: 'a paced second that refused far more than a lease paces the next', pacedAsks: 60, nextAdmitted: 2 },
    { name: 'a paced second that refused no more than a lease (about at its limit) frees the next', pacedAsks: 7, nextAdmitted: 50 },
  ])('$name', async ({ pacedAsks, nextAdmitted }) => {
    // Prepare: second S over budget; second S+1 paced, asked pacedAsks at its start (2 admitted:
    // a lease of 5 came, spent at the limit's rate with one spare)
    const { doc } = fakeCounters();
    let t = 16_000_000;
    const a = new RateLimiter(doc, config, { now: () => t });
    const limits = { cluster: 50, user: 0 };
    await Promise.all(Array.from({ length: 80 }, () => a.take('c', 'u', limits)));
    t += 1000;
    const paced = await Promise.all(Array.from({ length: pacedAsks }, () => a.take('c', 'u', limits)));
    expect(paced.filter((d) => d.allowed)).toHaveLength(2);
    // Act: 50 at the start of S+2
    t += 1000;
    const next = await Promise.all(Array.from({ length: 50 }, () => a.take('c', 'u', limits)));
    // Assess
    expect(next.filter((d) => d.allowed)).toHaveLength(nextAdmitted);
  });

  it('refusals from memory count toward pacing the next second as take()s do', async () => {
    const { doc } = fakeCounters();
    let t = 18_000_000;
    const a = new RateLimiter(doc, config, { now: () => t });
    const limits = { cluster: 50, user: 0 };
    await Promise.all(Array.from({ length: 80 }, () => a.take('c', 'u', limits)));
    t += 1000;
    await Promise.all(Array.from({ length: 3 }, () => a.take('c', 'u', limits)));
    // 5 more refused by the api's fast path (6 refused in all: more than a lease)
    for (let i = 0; i < 5; i++) expect(a.refuseFromMemory('c', 'u', limits)).toMatchObject({ allowed: false, scope: 'cluster' });
    t += 1000;
    const next = await Promise.all(Array.from({ length: 50 }, () => a.take('c', 'u', limits)));
    expect(next.filter((d) => d.allowed)).toHaveLength(2);
  });

  it('source budgets (failed authentications) are not paced', async () => {
    const { doc } = fakeCounters();
    let t = 14_000_000;
    const a = new RateLimiter(doc, config, { now: () => t, sourceLimits: { auth: 10, join: 5, anonymous: 20 } });
    await Promise.all(Array.from({ length: 30 }, () => a.takeSource('auth', '192.0.2.7')));
    t += 1000;
    const next = await Promise.all(Array.from({ length: 10 }, () => a.takeSource('auth', '192.0.2.7')));
    expect(next.every((d) => d.allowed)).toBe(true);
  });

  it("another cluster's budget is its own", async () => {
    const { doc } = fakeCounters();
    const a = new RateLimiter(doc, config, { now: () => 11_000_000 });
    await Promise.all(Array.from({ length: 30 }, () => a.take('flood', 'u', { cluster: 10, user: 0 })));
    expect((await a.take('flood', 'u', { cluster: 10, user: 0 })).allowed).toBe(false);
    expect((await a.take('quiet', 'u', { cluster: 10, user: 0 })).allowed).toBe(true);
  });

  it('limit 0 means no limit, and a failing table lets requests through', async () => {
    const failing = { send: () => Promise.reject(new Error('throttled')) } as unknown as DynamoDBDocumentClient;
    const errors: unknown[] = [];
    const a = new RateLimiter(failing, config, { onError: (e) => errors.push(e) });
    expect((await a.take('t1', 'u', { cluster: 0, user: 0 })).allowed).toBe(true);
    expect(errors).toHaveLength(0);
    expect((await a.take('t1', 'u', { cluster: 5, user: 5 })).allowed).toBe(true);
    expect(errors.length).toBeGreaterThan(0);
  });
});

describe('refusal from memory (the api fast refusal)', () => {
  const config = loadConfig({});
  /** Requests taken (sequentially, through take()) before the question is asked, each as [user]. */
  type Case = [string, { cluster: number; user: number }, string[], number, string, 'user' | 'cluster' | undefined];
  it.each<Case>([
    ['nothing taken yet this second', { cluster: 10, user: 5 }, [], 0, 'u', undefined],
    ["the user's budget spent", { cluster: 10, user: 3 }, ['u', 'u', 'u', 'u'], 0, 'u', 'user'],
    ['another user of that cluster (its bucket unknown here)', { cluster: 10, user: 3 }, ['u', 'u', 'u', 'u'], 0, 'v', undefined],
    ["the cluster's budget spent, no user limit", { cluster: 4, user: 0 }, ['u', 'v', 'w', 'x', 'y'], 0, 'z', 'cluster'],
    ["the cluster's budget spent, the user still holding tokens", { cluster: 2, user: 50 }, ['u', 'u', 'u'], 0, 'u', 'cluster'],
    ["the cluster's budget spent, the user's bucket never opened", { cluster: 2, user: 50 }, ['u', 'u', 'u'], 0, 'v', undefined],
    ['the next second: a new budget', { cluster: 10, user: 3 }, ['u', 'u', 'u', 'u'], 1000, 'u', undefined],
    ['a later second', { cluster: 4, user: 0 }, ['u', 'v', 'w', 'x', 'y'], 5000, 'u', undefined],
    ['no limits at all', { cluster: 0, user: 0 }, ['u', 'u', 'u'], 0, 'u', undefined],
  ])('%s', async (_case, limits, before, later, who, scope) => {
    const { doc } = fakeCounters();
    let t = 20_000_100;
    const a = new RateLimiter(doc, config, { now: () => t });
    for (const u of before) await a.take('c1', u, limits);
    t += later;
    const d = a.refuseFromMemory('c1', who, limits);
    if (scope === undefined) expect(d).toBeUndefined();
    else {
      expect(d).toEqual({ allowed: false, scope, retryAfterSeconds: 1 });
      // Never a refusal take() would not give: the shared counter agrees.
      expect(await a.take('c1', who, limits)).toMatchObject({ allowed: false, scope });
    }
    if (scope !== undefined) expect(a.someExhaustedNow()).toBe(true);
  });

  it('a refusal by the cluster spends the user token take() would have spent', async () => {
    const { doc } = fakeCounters();
    const a = new RateLimiter(doc, config, { now: () => 30_000_000 });
    const limits = { cluster: 1, user: 50 };
    // A user lease of 5: one spent by the admitted request, one by the refused one; 3 left.
    expect((await a.take('c1', 'u', limits)).allowed).toBe(true);
    expect(await a.take('c1', 'u', limits)).toMatchObject({ allowed: false, scope: 'cluster' });
    for (let i = 0; i < 3; i++) expect(a.refuseFromMemory('c1', 'u', limits)).toMatchObject({ scope: 'cluster' });
    // The tokens are gone: take() must lease again, so memory alone no longer decides.
    expect(a.refuseFromMemory('c1', 'u', limits)).toBeUndefined();
  });

  it('the cached limits are those limitsOf read, and only while fresh', async () => {
    const doc = { send: async () => ({ Item: { rateLimit: 7, userRateLimit: 3 } }) } as unknown as DynamoDBDocumentClient;
    const a = new RateLimiter(doc, config, { limitsTtlMs: 50 });
    expect(a.cachedLimits('c1')).toBeUndefined();
    expect(await a.limitsOf('c1')).toEqual({ cluster: 7, user: 3 });
    expect(a.cachedLimits('c1')).toEqual({ cluster: 7, user: 3 });
    await new Promise((r) => setTimeout(r, 60));
    expect(a.cachedLimits('c1')).toBeUndefined();
  });
});
