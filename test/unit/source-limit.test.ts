/**
 * Per-source-address budgets (shared/rate-limit.ts "Per-source budgets", functions/api/source-limit.ts):
 * the pure budget logic as tables, and the limiter over a stand-in for DynamoDB's conditional ADD
 * (the real table and two api instances: test/e2e/attacks/source-limits.test.ts).
 */
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../shared/config';
import { DEFAULT_SOURCE_LIMITS, RateLimiter, sourceExemptions, sourceKey, sourceLeaseSize, sourceLimitsFromEnv, type SourceScope } from '../../shared/rate-limit';
import { countsAsFailure, refusedBySource, sourceScopeOf } from '../../functions/api/source-limit';
import type { ApiRequest } from '../../functions/api/request';

describe('source budget arithmetic', () => {
  it.each([
    ['203.0.113.7', '203.0.113.7'],
    ['::ffff:203.0.113.7', '203.0.113.7'],
    ['::FFFF:cb00:7107', '203.0.113.7'],
    // IPv6: one /64 is one source, whatever the interface id
    ['2001:db8:1:2::1', '2001:db8:1:2::/64'],
    ['2001:db8:1:2:aaaa:bbbb:cccc:dddd', '2001:db8:1:2::/64'],
    ['2001:0DB8:0001:0002:0:0:0:9', '2001:db8:1:2::/64'],
    ['2001:db8:1:3::1', '2001:db8:1:3::/64'],
    ['fe80::1%eth0', 'fe80:0:0:0::/64'],
    ['::1', '0:0:0:0::/64'],
    // not an address: nothing to key a budget by
    ['', undefined],
    ['localhost', undefined],
    ['1.2.3', undefined],
    [undefined, undefined],
  ])('the source of %o is %o', (ip, key) => expect(sourceKey(ip)).toBe(key));

  it.each([
    [1, 1],
    [4, 1],
    [5, 2],
    [10, 3],
    [20, 5],
    [100, 25],
    [1000, 25],
  ])('a source limit of %i leases %i tokens at a time', (limit, size) => expect(sourceLeaseSize(limit)).toBe(size));

  it.each([
    [{}, DEFAULT_SOURCE_LIMITS],
    [{ STRATUS_SOURCE_AUTH_FAILURE_LIMIT: '3', STRATUS_SOURCE_JOIN_FAILURE_LIMIT: '0', STRATUS_SOURCE_ANONYMOUS_LIMIT: '100' }, { auth: 3, join: 0, anonymous: 100 }],
    [{ STRATUS_SOURCE_AUTH_FAILURE_LIMIT: 'lots', STRATUS_SOURCE_JOIN_FAILURE_LIMIT: '-1', STRATUS_SOURCE_ANONYMOUS_LIMIT: '2.5' }, DEFAULT_SOURCE_LIMITS],
    [{ STRATUS_SOURCE_AUTH_FAILURE_LIMIT: ' ', STRATUS_SOURCE_ANONYMOUS_LIMIT: '1000001' }, DEFAULT_SOURCE_LIMITS],
  ])('source limits from %o', (env, expected) => expect(sourceLimitsFromEnv(env)).toEqual(expected));

  it('the defaults: 10 failed authentications, 5 failed joins, 20 anonymous requests a second per source', () => {
    expect(DEFAULT_SOURCE_LIMITS).toEqual({ auth: 10, join: 5, anonymous: 20 });
  });

  it.each([
    ['127.0.0.1', 'ipv4', true],
    ['127.0.0.2', 'ipv4', false],
    ['10.9.8.7', 'ipv4', true],
    ['11.0.0.1', 'ipv4', false],
    ['::1', 'ipv6', true],
    ['2001:db8::77', 'ipv6', true],
    ['2001:db9::1', 'ipv6', false],
  ] as const)('exempt by "127.0.0.1, ::1,10.0.0.0/8,junk,2001:db8::/32,1.2.3.4/40": %s %s', (ip, family, exempt) => {
    expect(sourceExemptions({ STRATUS_SOURCE_LIMIT_EXEMPT: '127.0.0.1, ::1,10.0.0.0/8,junk,2001:db8::/32,1.2.3.4/40' }).check(ip, family)).toBe(exempt);
  });

  it('nothing is exempt by default', () => expect(sourceExemptions({}).check('127.0.0.1', 'ipv4')).toBe(false));

  it.each<[string, string | undefined, SourceScope | undefined]>([
    ['/api/v1/namespaces', 'c1', 'auth'],
    ['/api/v1/namespaces', undefined, 'auth'],
    ['/apis', 'c1', 'auth'],
    ['/no/such/path', 'c1', 'auth'],
    ['/stratus/v1/clusters', undefined, 'auth'],
    ['/api/v1/namespaces/default/pods/p/proxy/', 'c1', 'auth'],
    ['/stratus/v1/node-join', 'c1', 'join'],
    ['/stratus/v1/node-token', 'c1', 'join'],
    ['/stratus/v1/node-join', undefined, 'auth'],
    ['/.well-known/openid-configuration', 'c1', 'anonymous'],
    ['/openid/v1/jwks', 'c1', 'anonymous'],
    ['/healthz', undefined, undefined],
    ['/readyz', 'c1', undefined],
    ['/livez', undefined, undefined],
    ['/dashboard/', 'c1', undefined],
    ['/dashboard/app.js', undefined, undefined],
  ])('%s (cluster %s) is in the %s budget', (path, cluster, scope) => expect(sourceScopeOf({ path, cluster })).toBe(scope));

  it.each<[SourceScope | undefined, number, boolean]>([
    ['auth', 401, true],
    ['join', 401, true],
    ['auth', 403, false],
    ['auth', 404, false],
    ['auth', 200, false],
    ['join', 403, false],
    ['join', 400, false],
    ['join', 201, false],
    // anonymous requests pay before they are served, never again after
    ['anonymous', 401, false],
    ['anonymous', 404, false],
    [undefined, 401, false],
  ])('%s answered %i counts as a failure: %s', (scope, code, counts) => expect(countsAsFailure(scope, code)).toBe(counts));
});

/** A stand-in for DynamoDB's conditional ADD (as in test/unit/rate-limit.test.ts). */
function fakeCounters() {
  const used = new Map<string, number>();
  const keys: string[] = [];
  const doc = {
    send: async (cmd: { input: { Key: { pk: string; sk: string }; ExpressionAttributeValues: Record<string, number> } }) => {
      await Promise.resolve();
      const key = `${cmd.input.Key.pk}|${cmd.input.Key.sk}`;
      keys.push(key);
      const cur = used.get(key);
      if (cur !== undefined && cur >= cmd.input.ExpressionAttributeValues[':limit']!) throw Object.assign(new Error('condition'), { name: 'ConditionalCheckFailedException' });
      used.set(key, (cur ?? 0) + cmd.input.ExpressionAttributeValues[':n']!);
      return { Attributes: { used: used.get(key) } };
    },
  } as unknown as DynamoDBDocumentClient;
  return { doc, writes: () => keys.length, keys };
}

describe('source budgets over shared counters', () => {
  const config = loadConfig({});
  const limits = { auth: 10, join: 5, anonymous: 20 };
  const exempt = sourceExemptions({ STRATUS_SOURCE_LIMIT_EXEMPT: '192.0.2.1' });

  it('two instances share one source budget per window, and refuse from memory once it is spent, without writing', async () => {
    const { doc, writes, keys } = fakeCounters();
    const now = () => 40_000_250;
    const a = new RateLimiter(doc, config, { now, sourceLimits: limits, exempt });
    const b = new RateLimiter(doc, config, { now, sourceLimits: limits, exempt });
    const decisions = await Promise.all(Array.from({ length: 40 }, (_, i) => (i % 2 ? a : b).takeSource('auth', '198.51.100.9')));
    expect(decisions.filter((d) => d.allowed)).toHaveLength(10);
    expect(decisions.filter((d) => !d.allowed).every((d) => !d.allowed && d.scope === 'source' && d.retryAfterSeconds === 1)).toBe(true);
    expect(keys.every((k) => k === '~source#198.51.100.9|auth#40000')).toBe(true);
    // leases of 3: a few writes, not one per failure
    expect(writes()).toBeLessThan(10);
    for (const x of [a, b]) {
      expect(x.someSourceExhaustedNow()).toBe(true);
      expect(x.refuseSourceFromMemory('auth', '198.51.100.9')).toBe(1);
      // another scope and another source keep their budgets
      expect(x.refuseSourceFromMemory('join', '198.51.100.9')).toBeUndefined();
      expect(x.refuseSourceFromMemory('auth', '198.51.100.10')).toBeUndefined();
    }
    const after = writes();
    expect((await a.takeSource('auth', '198.51.100.9')).allowed).toBe(false);
    expect(writes()).toBe(after);
    expect((await a.takeSource('auth', '198.51.100.10')).allowed).toBe(true);
  });

  it('the next second has a new budget', async () => {
    const { doc } = fakeCounters();
    let t = 50_000_000;
    const a = new RateLimiter(doc, config, { now: () => t, sourceLimits: limits, exempt });
    for (let i = 0; i < 6; i++) await a.takeSource('join', '198.51.100.9');
    expect(a.refuseSourceFromMemory('join', '198.51.100.9')).toBe(1);
    t += 1000;
    expect(a.someSourceExhaustedNow()).toBe(false);
    expect(a.refuseSourceFromMemory('join', '198.51.100.9')).toBeUndefined();
    expect((await a.takeSource('join', '198.51.100.9')).allowed).toBe(true);
  });

  it('a source budget spent does not mark any cluster budget spent (the clusters fast refusal stays off)', async () => {
    const { doc } = fakeCounters();
    const a = new RateLimiter(doc, config, { now: () => 60_000_000, sourceLimits: limits, exempt });
    for (let i = 0; i < 12; i++) await a.takeSource('auth', '198.51.100.9');
    expect(a.someSourceExhaustedNow()).toBe(true);
    expect(a.someExhaustedNow()).toBe(false);
  });

  it('a limit of 0 is no limit; an exempt or missing address has no source', async () => {
    const { doc, writes } = fakeCounters();
    const a = new RateLimiter(doc, config, { sourceLimits: { auth: 0, join: 0, anonymous: 0 }, exempt });
    for (let i = 0; i < 5; i++) expect((await a.takeSource('auth', '198.51.100.9')).allowed).toBe(true);
    expect(writes()).toBe(0);
    expect(a.sourceOf('192.0.2.1')).toBeUndefined();
    expect(a.sourceOf('::ffff:192.0.2.1')).toBeUndefined();
    expect(a.sourceOf(undefined)).toBeUndefined();
    expect(a.sourceOf('192.0.2.2')).toBe('192.0.2.2');
    expect(a.sourceOf('2001:db8:5:6:7::8')).toBe('2001:db8:5:6::/64');
  });

  it('refusedBySource: only a spent budget, only for paths it covers, and never a token that authenticated lately', async () => {
    const { doc } = fakeCounters();
    const limiter = new RateLimiter(doc, config, { now: () => 70_000_000, sourceLimits: limits, exempt });
    const req = (path: string, sourceIp: string, cluster: string | undefined = 'c1'): ApiRequest => ({ method: 'GET', path, cluster, sourceIp, query: new URLSearchParams(), headers: { authorization: 'Bearer st_never-seen' } });
    expect(refusedBySource(req('/api/v1/pods', '198.51.100.9'), { limiter })).toBeUndefined();
    for (let i = 0; i < 12; i++) await limiter.takeSource('auth', '198.51.100.9');
    expect(refusedBySource(req('/api/v1/pods', '198.51.100.9'), { limiter })).toBe(1);
    expect(refusedBySource(req('/stratus/v1/clusters', '198.51.100.9', undefined), { limiter })).toBe(1);
    expect(refusedBySource(req('/api/v1/pods', '198.51.100.8'), { limiter })).toBeUndefined();
    expect(refusedBySource(req('/stratus/v1/node-join', '198.51.100.9'), { limiter })).toBeUndefined();
    expect(refusedBySource(req('/healthz', '198.51.100.9'), { limiter })).toBeUndefined();
    expect(refusedBySource(req('/api/v1/pods', '192.0.2.1'), { limiter })).toBeUndefined();
    expect(refusedBySource(req('/api/v1/pods', '198.51.100.9'), {})).toBeUndefined();
  });
});
