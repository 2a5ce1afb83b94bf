import { describe, expect, it } from 'vitest';
import { expired, nodeTokenLifetime, renewalGraceSeconds, rfc3339, NODE_TOKEN_LIFETIME_SECONDS } from '../../shared/auth/node-credentials';
import { tokenRenewalTime, tokenRetryDelay } from '../../node-agent/identity';
import { prunableKeys, PRUNE_GRACE_SECONDS } from '../../shared/serviceaccounts/rotate';
import type { SigningKey } from '../../shared/serviceaccounts/keys';

/*
 * Issue #16: node credentials expire and rotate (shared/auth/node-credentials.ts, node-agent/identity.ts),
 * and ServiceAccount signing keys are pruned only once no unexpired token can be signed by them
 * (shared/serviceaccounts/rotate.ts). All on a fake clock: times are passed in.
 */
const T0 = Date.parse('2026-12-01T00:00:00Z');
const s = (n: number) => n * 1000;

describe('node token lifetime', () => {
  it.each([
    ['not asked: 30 days', undefined, NODE_TOKEN_LIFETIME_SECONDS],
    ['asked shorter', 3600, 3600],
    ['the shortest', 10, 10],
    ['asked longer: capped at 30 days', 400 * 86400, NODE_TOKEN_LIFETIME_SECONDS],
  ])('%s', (_case, asked, lifetime) => {
    expect(nodeTokenLifetime(asked)).toBe(lifetime);
  });

  it.each([['below the shortest', 9], ['not whole', 12.5], ['not a number', '60'], ['negative', -1]])('refuses %s with 400', (_case, asked) => {
    expect(() => nodeTokenLifetime(asked)).toThrow(expect.objectContaining({ code: 400 }));
  });

  it('30 days is the default', () => {
    expect(NODE_TOKEN_LIFETIME_SECONDS).toBe(30 * 24 * 3600);
  });
});

describe('the grace of a renewed token', () => {
  it.each([
    [NODE_TOKEN_LIFETIME_SECONDS, 120],
    [3600, 120],
    [600, 30],
    [20, 1],
    [10, 1],
  ])('life %i s: the old token stays valid %i s', (lifetime, grace) => {
    expect(renewalGraceSeconds(lifetime)).toBe(grace);
  });

  it('always ends well before the renewed token would have expired (renewal comes at 80%)', () => {
    for (const lifetime of [10, 20, 60, 3600, NODE_TOKEN_LIFETIME_SECONDS]) expect(renewalGraceSeconds(lifetime)).toBeLessThan(lifetime * 0.2);
  });
});

describe('expiry', () => {
  it.each([
    ['no expiresAt (admin tokens)', {}, false],
    ['in the future', { expiresAt: rfc3339(T0 + s(1)) }, false],
    ['exactly now', { expiresAt: rfc3339(T0) }, true],
    ['in the past', { expiresAt: rfc3339(T0 - s(1)) }, true],
    ['unparsable', { expiresAt: 'soon' }, true],
  ])('%s', (_case, item, want) => {
    expect(expired(item, T0)).toBe(want);
  });

  it('timestamps are RFC 3339 to the second, so they order as strings', () => {
    expect(rfc3339(T0 + 1999)).toBe('2026-12-01T00:00:01Z');
    expect(rfc3339(T0 + s(59)) < rfc3339(T0 + s(61))).toBe(true);
  });
});

describe('when the agent renews its token', () => {
  it.each([
    ['30 days', '2026-12-01T00:00:00Z', '2026-12-31T00:00:00Z', '2026-12-25T00:00:00.000Z'],
    ['20 s', '2026-12-01T00:00:00Z', '2026-12-01T00:00:20Z', '2026-12-01T00:00:16.000Z'],
  ])('%s: at 80%% of its life', (_case, issuedAt, expiresAt, at) => {
    expect(new Date(tokenRenewalTime({ issuedAt, expiresAt }, T0)).toISOString()).toBe(at);
  });

  it('at once when its expiry is unknown (an identity kept before tokens expired)', () => {
    expect(tokenRenewalTime(undefined, T0)).toBe(T0);
    expect(tokenRenewalTime({ issuedAt: 'x', expiresAt: 'y' }, T0)).toBe(T0);
  });

  it.each([
    ['days left: 10 minutes', rfc3339(T0 + s(86400 * 5)), 600_000],
    ['100 s left: a fifth of it', rfc3339(T0 + s(100)), 20_000],
    ['expired: a second', rfc3339(T0 - s(5)), 1000],
  ])('a failed renewal is retried after: %s', (_case, expiresAt, delay) => {
    expect(tokenRetryDelay({ issuedAt: rfc3339(T0 - s(1)), expiresAt }, T0)).toBe(delay);
  });
});

describe('which ServiceAccount signing keys prune-keys removes', () => {
  const key = (kid: string, createdAt: number): SigningKey => ({ kid, createdAt: new Date(createdAt).toISOString(), publicJwk: {}, privateJwk: {} });
  const h = (n: number) => n * 3600_000;
  const grace = s(PRUNE_GRACE_SECONDS);

  it('the default grace covers the longest token (48 h) plus the 60 s signing-key cache', () => {
    expect(PRUNE_GRACE_SECONDS).toBeGreaterThanOrEqual(48 * 3600 + 60);
  });

  it.each([
    ['one key: never the newest', [key('a', T0 - h(1000))], T0, []],
    ['superseded 48 h ago: kept (a token signed just before may live)', [key('b', T0 - h(48)), key('a', T0 - h(100))], T0, []],
    ['superseded 49 h ago: pruned', [key('b', T0 - h(49)), key('a', T0 - h(100))], T0, ['a']],
    ['the key age does not count, the time since it was superseded does', [key('b', T0 - h(1)), key('a', T0 - h(1000))], T0, []],
    ['three keys: only the ones superseded long enough ago', [key('c', T0 - h(1)), key('b', T0 - h(60)), key('a', T0 - h(100))], T0, ['a']],
    ['order of the list does not matter', [key('a', T0 - h(100)), key('c', T0 - h(50)), key('b', T0 - h(60))], T0, ['b', 'a']],
  ])('%s', (_case, keys, now, want) => {
    expect(prunableKeys(keys, now, grace)).toEqual(want);
  });

  it('grace 0 prunes every superseded key; a key in use by a legacy token Secret stays', () => {
    const keys = [key('c', T0), key('b', T0 - 1), key('a', T0 - 2)];
    expect(prunableKeys(keys, T0, 0)).toEqual(['b', 'a']);
    expect(prunableKeys(keys, T0, 0, new Set(['a']))).toEqual(['b']);
  });
});
