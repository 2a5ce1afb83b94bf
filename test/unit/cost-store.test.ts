import { describe, expect, it } from 'vitest';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Config } from '../../shared/config';
import { zeroCounts, type CostCounts } from '../../shared/cost/prices';
import { CostStore, MAX_SHARDS, periodOfKey, shardsOf, WORKLOADS_PER_SHARD } from '../../shared/cost/store';

const counts = (c: Partial<CostCounts>): CostCounts => ({ ...zeroCounts(), ...c });
const names = (n: number, prefix = 'Deployment/ns/app-'): string[] => Array.from({ length: n }, (_, i) => `${prefix}${i}`);

/** A changes table that understands the store's two calls: UpdateItem (SET ttl ADD ...) and Query BETWEEN. */
function fakeTable() {
  const items = new Map<string, Record<string, unknown>>();
  let updates = 0;
  const doc = {
    send: async (cmd: { constructor: { name: string }; input: Record<string, any> }) => {
      const input = cmd.input;
      if (cmd.constructor.name === 'UpdateCommand') {
        updates++;
        const key = `${input.Key.pk}|${input.Key.sk}`;
        const item = items.get(key) ?? items.set(key, { ...input.Key }).get(key)!;
        const adds = String(input.UpdateExpression).split(' ADD ')[1]!.split(', ');
        for (const term of adds) {
          const [n, v] = term.split(' ');
          const attr = input.ExpressionAttributeNames[n!];
          item[attr] = ((item[attr] as number | undefined) ?? 0) + input.ExpressionAttributeValues[v!];
        }
        item.ttl = input.ExpressionAttributeValues[':ttl'];
        return {};
      }
      if (cmd.constructor.name === 'QueryCommand') {
        const v = input.ExpressionAttributeValues;
        const Items = [...items.values()]
          .filter((i) => i.pk === v[':pk'] && String(i.sk) >= v[':a'] && String(i.sk) <= v[':b'])
          .sort((a, b) => String(a.sk).localeCompare(String(b.sk)));
        return { Items };
      }
      throw new Error(`unexpected ${cmd.constructor.name}`);
    },
  } as unknown as DynamoDBDocumentClient;
  return { doc, items, updates: () => updates };
}

const config = { changesTable: 'changes' } as Config;

describe('cost store shards', () => {
  it.each([
    { workloads: 0, shards: 0 },
    { workloads: 1, shards: 1 },
    { workloads: WORKLOADS_PER_SHARD, shards: 1 },
    { workloads: WORKLOADS_PER_SHARD + 1, shards: 2 },
    { workloads: 4 * WORKLOADS_PER_SHARD + 1, shards: 8 },
    { workloads: 100_000, shards: MAX_SHARDS },
  ])('$workloads workloads in one flush use at most $shards items', ({ workloads, shards }) => {
    const s = shardsOf(names(workloads));
    const used = new Set(s.values());
    expect(used.size).toBeLessThanOrEqual(shards);
    if (workloads > 2 * WORKLOADS_PER_SHARD) expect(used.size).toBeGreaterThan(shards / 2);
    for (const v of used) expect(v).toMatch(/^[0-9a-f]{2}$/);
  });

  it('gives a workload the same shard in every process (a stable hash, not a random one)', () => {
    expect(shardsOf(names(1000)).get('Deployment/ns/app-7')).toBe(shardsOf(names(1000)).get('Deployment/ns/app-7'));
    expect(shardsOf(['']).get('')).toBe('00');
  });

  it('keeps every item small at 5,000 workloads and reads back exact sums (hour and month)', async () => {
    const t = fakeTable();
    const store = new CostStore(t.doc, config);
    const many = new Map(names(5000).map((w, i) => [w, counts({ writeUnits: i + 1, invocations: 1 })]));
    many.set('', counts({ readUnits: 3 }));
    await store.flush('c1', new Map([['2026-12-07T04', many]]));
    // A later, small flush (one shard) counting some of the same workloads again, and the next hour.
    const few = new Map([['Deployment/ns/app-42', counts({ writeUnits: 100 })], ['', counts({ readUnits: 1 })]]);
    await store.flush('c1', new Map([['2026-12-07T04', few], ['2026-12-07T05', few]]));
    const biggest = Math.max(...[...t.items.values()].map((i) => Object.keys(i).length));
    // 5,001 workloads over 64 shards: about 80 a shard, 2 counts each, plus pk/sk/ttl (far below 400 KB).
    expect(biggest).toBeLessThan(400);
    const back = await store.read('c1', '2026-12', '2026-12-07T04', '2026-12-07T05');
    expect(back.hours.get('2026-12-07T04')!.get('Deployment/ns/app-42')).toEqual(counts({ writeUnits: 43 + 100, invocations: 1 }));
    expect(back.hours.get('2026-12-07T04')!.get('Deployment/ns/app-4999')).toEqual(counts({ writeUnits: 5000, invocations: 1 }));
    expect(back.hours.get('2026-12-07T04')!.size).toBe(5001);
    expect(back.hours.get('2026-12-07T05')!.get('')).toEqual(counts({ readUnits: 1 }));
    expect(back.month.get('Deployment/ns/app-42')).toEqual(counts({ writeUnits: 43 + 200, invocations: 1 }));
    expect(back.month.get('')).toEqual(counts({ readUnits: 5 }));
    const total = [...back.month.values()].reduce((s, c) => s + c.writeUnits, 0);
    expect(total).toBe((5000 * 5001) / 2 + 200);
  });

  it('a small cluster still writes one item per period and flush', async () => {
    const t = fakeTable();
    await new CostStore(t.doc, config).flush('c1', new Map([['2026-12-07T04', new Map(names(10).map((w) => [w, counts({ readUnits: 1 })]))]]));
    expect(t.updates()).toBe(2); // the hour item and the month item
  });

  it('still reads items written before shards (sk without a shard)', async () => {
    const t = fakeTable();
    t.items.set('c1#stratus.cost|h#2026-12-07T03', { pk: 'c1#stratus.cost', sk: 'h#2026-12-07T03', 'r|': 2 });
    t.items.set('c1#stratus.cost|m#2026-12', { pk: 'c1#stratus.cost', sk: 'm#2026-12', 'r|': 2 });
    await new CostStore(t.doc, config).flush('c1', new Map([['2026-12-07T03', new Map([['', counts({ readUnits: 1 })]])]]));
    const back = await new CostStore(t.doc, config).read('c1', '2026-12', '2026-12-07T03', '2026-12-07T03');
    expect(back.hours.get('2026-12-07T03')!.get('')).toEqual(counts({ readUnits: 3 }));
    expect(back.month.get('')).toEqual(counts({ readUnits: 3 }));
    expect(periodOfKey('h#2026-12-07T03#0a')).toBe('2026-12-07T03');
  });
});
