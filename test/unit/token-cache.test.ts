import { describe, expect, it } from 'vitest';
import { tokenCacheUntil } from '../../functions/api/auth';

describe("the api's token cache", () => {
  const now = 1_000_000;
  it.each([
    ['a token without an end: 10 s', undefined, now + 10_000],
    ['a token ending in 1 h: 10 s', now + 3_600_000, now + 10_000],
    ['a token ending in 3 s: never past its end', now + 3_000, now + 3_000],
    ['a token ending now: not reused', now, now],
  ] as const)('%s', (_case, expiresAt, until) => expect(tokenCacheUntil(now, expiresAt)).toBe(until));
});
