import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { validateRateLimits } from '../../shared/clusters';
import { loadConfig } from '../../shared/config';
import {
  defaultLongRunningLimits,
  exemptFromCap,
  holdsSlot,
  liveSlots,
  LongRunningSlots,
  pickFreeSlot,
  slotPrefix,
} from '../../shared/long-running';

const config = loadConfig({});

describe('which requests hold a slot', () => {
  it.each([
    ['GET', undefined, 'watch=true', true],
    ['GET', undefined, 'watch=1', true],
    ['GET', undefined, 'watch=false', false],
    ['GET', undefined, '', false],
    ['PUT', undefined, 'watch=true', false],
    ['GET', 'log', 'follow=true', true],
    ['GET', 'log', 'follow=false', false],
    ['GET', 'log', '', false],
    ['POST', 'exec', 'command=ls', true],
    ['GET', 'exec', '', true],
    ['POST', 'attach', '', true],
    ['POST', 'portforward', '', true],
    // Proxied requests end with their answer: not capped.
    ['GET', 'proxy', '', false],
    ['GET', 'status', 'watch=true', false],
  ])('%s %s ?%s: %s', (method, sub, query, expected) => expect(holdsSlot(method, sub, new URLSearchParams(query))).toBe(expected));

  it.each([
    [['system:nodes', 'system:authenticated'], true],
    [['system:masters', 'system:authenticated'], false],
    [['system:serviceaccounts', 'system:serviceaccounts:kube-system'], false],
    [[], false],
  ])('groups %j are exempt: %s', (groups, expected) => expect(exemptFromCap(groups)).toBe(expected));
});

describe('slot accounting', () => {
  const now = 1_000_000;
  it.each([
    ['no items', [], 'c#', []],
    ['live and expired', [{ sk: 'c#0', exp: now + 1 }, { sk: 'c#1', exp: now }, { sk: 'c#2', exp: now - 5 }, { sk: 'c#3', exp: now + 120_000 }], 'c#', [0, 3]],
    ['another scope is not counted', [{ sk: 'u#alice#0', exp: now + 1 }, { sk: 'c#4', exp: now + 1 }], 'c#', [4]],
    ['malformed items are not counted', [{ sk: 'c#x', exp: now + 1 }, { sk: 'c#-1', exp: now + 1 }, { sk: 'c#1.5', exp: now + 1 }, { sk: 'c#2', exp: String(now + 1) }, { exp: now + 1 }], 'c#', []],
    ['a user prefix', [{ sk: 'u#alice#0', exp: now + 1 }, { sk: 'u#alice%23x#1', exp: now + 1 }], slotPrefix('user', 'alice'), [0]],
  ])('%s', (_, items, prefix, expected) => expect([...liveSlots(items, prefix, now)].sort()).toEqual(expected));

  it('user names are encoded, so one user cannot count as another by a "#"', () => {
    expect(slotPrefix('user', 'alice')).toBe('u#alice#');
    expect(slotPrefix('user', 'alice#x')).toBe('u#alice%23x#');
    expect(slotPrefix('user', 'alice#x').startsWith(slotPrefix('user', 'alice'))).toBe(false);
    expect(slotPrefix('cluster', 'anyone')).toBe('c#');
  });

  it.each([
    // limit, live, random start, picked
    [1, [], 0, 0],
    [1, [0], 0, undefined],
    [3, [0, 1], 0, 2],
    [3, [1], 1, 2],
    [3, [1, 2], 1, 0],
    [3, [0, 2], 2, 1],
    // Numbers at or above a lowered cap still count: full until enough close.
    [2, [5, 6], 0, undefined],
    [3, [5, 6], 0, 0],
    [0, [], 0, undefined],
  ])('cap %i with %j live, start %i: %s', (limit, live, start, expected) => expect(pickFreeSlot(limit, new Set(live), () => start)).toBe(expected));

  it('a random pick is always a free number under the cap', () => {
    for (let i = 0; i < 200; i++) {
      const live = new Set([0, 2, 3, 7]);
      const n = pickFreeSlot(10, live);
      expect(n).toBeDefined();
      expect(n! >= 0 && n! < 10 && !live.has(n!)).toBe(true);
    }
  });
});

describe('settings', () => {
  it.each([
    [{}, { cluster: 200, user: 100 }],
    [{ STRATUS_DEFAULT_LONG_RUNNING_LIMIT: '7', STRATUS_DEFAULT_USER_LONG_RUNNING_LIMIT: '0' }, { cluster: 7, user: 0 }],
    [{ STRATUS_DEFAULT_LONG_RUNNING_LIMIT: 'many', STRATUS_DEFAULT_USER_LONG_RUNNING_LIMIT: '-1' }, { cluster: 200, user: 100 }],
    [{ STRATUS_DEFAULT_LONG_RUNNING_LIMIT: ' ', STRATUS_DEFAULT_USER_LONG_RUNNING_LIMIT: '2.5' }, { cluster: 200, user: 100 }],
    [{ STRATUS_DEFAULT_LONG_RUNNING_LIMIT: '2000000' }, { cluster: 200, user: 100 }],
  ])('defaults from %o', (env, expected) => expect(defaultLongRunningLimits(env)).toEqual(expected));

  it.each([
    [{ longRunningLimit: 0, userLongRunningLimit: 1_000_000 }, []],
    [{ longRunningLimit: 2, userLongRunningLimit: 1 }, []],
    [{ longRunningLimit: -1, userLongRunningLimit: 1.5 }, ['spec.longRunningLimit', 'spec.userLongRunningLimit']],
    [{ longRunningLimit: '5' as unknown as number }, ['spec.longRunningLimit']],
  ])('caps %o: invalid fields %j', (limits, fields) => expect(validateRateLimits(limits).map((c) => c.field)).toEqual(fields));

  it('an invalid cap is worded as open long-running requests', () => {
    expect(validateRateLimits({ longRunningLimit: -1 })[0]!.message).toBe('Invalid value: -1: must be a whole number of open long-running requests between 0 (no limit) and 1000000');
  });
});

/** A DynamoDB that answers every command with `answer` (or throws it), recording the commands. */
function fakeDoc(answer: (input: { constructor: { name: string }; input: Record<string, unknown> }) => unknown) {
  const sent: { name: string; input: Record<string, unknown> }[] = [];
  const doc = {
    send: async (cmd: { constructor: { name: string }; input: Record<string, unknown> }) => {
      sent.push({ name: cmd.constructor.name, input: cmd.input });
      const out = answer(cmd);
      if (out instanceof Error) throw out;
      return out;
    },
  } as unknown as DynamoDBDocumentClient;
  return { doc, sent };
}

describe('LongRunningSlots', () => {
  afterEach(() => vi.useRealTimers());

  it('no cap: no DynamoDB request at all', async () => {
    const { doc, sent } = fakeDoc(() => ({}));
    const d = await new LongRunningSlots(doc, config).acquire('c1', 'u', { cluster: 0, user: 0 });
    expect(d.allowed).toBe(true);
    expect(sent).toEqual([]);
  });

  it('a DynamoDB failure lets the stream through uncounted (fail open) and is reported', async () => {
    const errors: unknown[] = [];
    const { doc } = fakeDoc(() => Object.assign(new Error('throttled'), { name: 'ProvisionedThroughputExceededException' }));
    const slots = new LongRunningSlots(doc, config, { onError: (e) => errors.push(e) });
    expect((await slots.acquire('c1', 'u', { cluster: 2, user: 1 })).allowed).toBe(true);
    expect(errors).toHaveLength(1);
    expect(slots.open).toBe(0);
  });

  it('full caps refuse with Retry-After 1, the user first; nothing is written', async () => {
    const live = { Items: [{ sk: 'c#0', exp: Date.now() + 60_000 }, { sk: 'u#u#0', exp: Date.now() + 60_000 }] };
    const { doc, sent } = fakeDoc(() => live);
    const slots = new LongRunningSlots(doc, config);
    expect(await slots.acquire('c1', 'u', { cluster: 5, user: 1 })).toEqual({ allowed: false, scope: 'user', retryAfterSeconds: 1 });
    expect(await slots.acquire('c1', 'u', { cluster: 1, user: 5 })).toEqual({ allowed: false, scope: 'cluster', retryAfterSeconds: 1 });
    expect(sent.every((c) => c.name === 'QueryCommand')).toBe(true);
  });

  it('takes both slots in one transaction, renews them while held, and deletes them at release (its own only)', async () => {
    vi.useFakeTimers();
    const { doc, sent } = fakeDoc(() => ({ Items: [] }));
    const slots = new LongRunningSlots(doc, config, { random: () => 0, renewMs: 1000, ttlMs: 3000 });
    const d = await slots.acquire('c1', 'alice', { cluster: 3, user: 2 });
    if (!d.allowed) throw new Error('refused');
    expect(slots.open).toBe(1);
    const tx = sent.find((c) => c.name === 'TransactWriteCommand')!.input.TransactItems as { Put: { Item: Record<string, unknown>; ConditionExpression: string } }[];
    expect(tx.map((t) => t.Put.Item.sk)).toEqual(['u#alice#0', 'c#0']);
    expect(tx.map((t) => t.Put.Item.pk)).toEqual(['c1#~longrun', 'c1#~longrun']);
    expect(tx[0]!.Put.ConditionExpression).toBe('attribute_not_exists(sk) OR #exp <= :now');
    await vi.advanceTimersByTimeAsync(2500);
    expect(sent.filter((c) => c.name === 'UpdateCommand')).toHaveLength(4);
    await d.slot.release();
    await d.slot.release();
    const deletes = sent.filter((c) => c.name === 'DeleteCommand');
    expect(deletes).toHaveLength(2);
    expect(deletes[0]!.input.ConditionExpression).toBe('holder = :holder');
    expect(slots.open).toBe(0);
    await vi.advanceTimersByTimeAsync(5000);
    expect(sent.filter((c) => c.name === 'UpdateCommand')).toHaveLength(4);
  });

  it('a slot is not renewed past its longest life, so a close never seen cannot hold it for ever', async () => {
    vi.useFakeTimers();
    const { doc, sent } = fakeDoc(() => ({ Items: [] }));
    const slots = new LongRunningSlots(doc, config, { renewMs: 1000, now: () => Date.now() });
    const d = await slots.acquire('c1', 'u', { cluster: 3, user: 0 }, 2500);
    expect(d.allowed).toBe(true);
    expect(sent.filter((c) => c.name === 'PutCommand')).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(sent.filter((c) => c.name === 'UpdateCommand')).toHaveLength(2);
  });

  it('a number another instance took meanwhile is tried again after a fresh read', async () => {
    let puts = 0;
    const { doc, sent } = fakeDoc((cmd) => {
      if (cmd.constructor.name !== 'PutCommand') return { Items: [] };
      puts++;
      return puts === 1 ? Object.assign(new Error('taken'), { name: 'ConditionalCheckFailedException' }) : {};
    });
    const d = await new LongRunningSlots(doc, config).acquire('c1', 'u', { cluster: 3, user: 0 });
    expect(d.allowed).toBe(true);
    expect(sent.map((c) => c.name)).toEqual(['QueryCommand', 'PutCommand', 'QueryCommand', 'PutCommand']);
  });
});
