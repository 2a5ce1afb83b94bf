import { afterEach, describe, expect, it } from 'vitest';
import { CostAggregator, hourOf, monthOf } from '../../shared/cost/aggregate';
import { configureCostMeter, forgetOwners, inScope, meter, meteredInvocation, noteObject, resolveWorkload, workloadKey, type CostSink } from '../../shared/cost/meter';
import { gbSecondsOf, PRICES, priceOf, zeroCounts, type CostCounts } from '../../shared/cost/prices';
import { costReport } from '../../shared/cost/report';
import { unitsOf } from '../../shared/cost/sdk';
import { costAttributes, countsOfItem } from '../../shared/cost/store';
import type { KubeObject } from '../../shared/resources';

const counts = (c: Partial<CostCounts>): CostCounts => ({ ...zeroCounts(), ...c });

describe('pricing', () => {
  it.each([
    { c: counts({ writeUnits: 1e6 }), dynamodb: 0.625, lambda: 0, sqs: 0 },
    { c: counts({ readUnits: 1e6 }), dynamodb: 0.125, lambda: 0, sqs: 0 },
    { c: counts({ invocations: 1e6 }), dynamodb: 0, lambda: 0.2, sqs: 0 },
    { c: counts({ gbSeconds: 1e6 }), dynamodb: 0, lambda: 13.3334, sqs: 0 },
    { c: counts({ sqsRequests: 1e6 }), dynamodb: 0, lambda: 0, sqs: 0.4 },
    { c: counts({ writeUnits: 34, readUnits: 22, invocations: 18, gbSeconds: 0.3, sqsRequests: 6 }), dynamodb: 34 * PRICES.writeUnit + 22 * PRICES.readUnit, lambda: 18 * PRICES.invocation + 0.3 * PRICES.gbSecond, sqs: 6 * PRICES.sqsRequest },
  ])('prices $c', ({ c, dynamodb, lambda, sqs }) => {
    const usd = priceOf(c);
    expect(usd.dynamodb).toBeCloseTo(dynamodb, 9);
    expect(usd.lambda).toBeCloseTo(lambda, 9);
    expect(usd.sqs).toBeCloseTo(sqs, 9);
    expect(usd.total).toBeCloseTo(dynamodb + lambda + sqs, 9);
  });

  it.each([
    { ms: 100, mib: 1024, gbs: 0.1 },
    { ms: 100, mib: 512, gbs: 0.05 },
    { ms: 0.2, mib: 1024, gbs: 0.001 }, // billed in whole milliseconds, at least one
    { ms: 1500.4, mib: 2048, gbs: 3.002 },
  ])('GB-seconds of $ms ms at $mib MiB', ({ ms, mib, gbs }) => expect(gbSecondsOf(ms, mib)).toBeCloseTo(gbs, 9));

  it.each([
    { cmd: 'GetItemCommand', cc: { CapacityUnits: 0.5 }, r: 0.5, w: 0 },
    { cmd: 'PutItemCommand', cc: { CapacityUnits: 2 }, r: 0, w: 2 },
    { cmd: 'TransactWriteItemsCommand', cc: [{ CapacityUnits: 4 }, { CapacityUnits: 2 }], r: 0, w: 6 },
    { cmd: 'QueryCommand', cc: { CapacityUnits: 1, ReadCapacityUnits: 1 }, r: 1, w: 0 },
    { cmd: 'UpdateItemCommand', cc: { CapacityUnits: 1, WriteCapacityUnits: 1 }, r: 0, w: 1 },
    { cmd: 'QueryCommand', cc: undefined, r: 0, w: 0 },
  ])('units of a $cmd answer', ({ cmd, cc, r, w }) => expect(unitsOf(cmd, cc)).toEqual({ readUnits: r, writeUnits: w }));
});

const T0 = Date.parse('2026-12-06T18:10:00Z');

describe('aggregation', () => {
  it('adds per cluster, hour and workload, and leaves zeros out', () => {
    const a = new CostAggregator();
    a.add('c1', T0, 'ns/Deployment/web', counts({ readUnits: 1 }));
    a.add('c1', T0 + 1000, 'ns/Deployment/web', counts({ readUnits: 2, writeUnits: 5 }));
    a.add('c1', T0 + 3_600_000, 'ns/Deployment/web', counts({ invocations: 1 }));
    a.add('c1', T0, '', counts({}));
    a.add('c2', T0, '', counts({ sqsRequests: 1 }));
    const p = a.pending('c1');
    expect([...p.keys()]).toEqual(['2026-12-06T18', '2026-12-06T19']);
    expect(p.get('2026-12-06T18')!.get('ns/Deployment/web')).toEqual(counts({ readUnits: 3, writeUnits: 5 }));
    expect(p.get('2026-12-06T18')!.has('')).toBe(false);
    expect(a.clustersPending().sort()).toEqual(['c1', 'c2']);
  });

  it.each([
    { after: 0, due: [] },
    { after: 59_999, due: [] },
    { after: 60_000, due: ['c1'] },
  ])('a cluster is due once a minute: $after ms after its first count → $due', ({ after, due }) => {
    const a = new CostAggregator();
    a.add('c1', T0, '', counts({ readUnits: 1 }));
    expect(a.takeDue(T0 + after, 60_000).map((d) => d.cluster)).toEqual(due);
  });

  it('after a flush, the next is a minute later however many counts come; a failed flush is put back', () => {
    const a = new CostAggregator();
    a.add('c1', T0, '', counts({ readUnits: 1 }));
    const [first] = a.takeDue(T0 + 60_000, 60_000);
    for (let i = 0; i < 100; i++) a.add('c1', T0 + 61_000 + i, '', counts({ readUnits: 1 }));
    expect(a.takeDue(T0 + 100_000, 60_000)).toEqual([]);
    a.restore('c1', first!.hours);
    const [second] = a.takeDue(T0 + 120_000, 60_000);
    expect(second!.hours.get('2026-12-06T18')!.get('')!.readUnits).toBe(101);
  });

  it.each([
    { ms: T0, hour: '2026-12-06T18', month: '2026-12' },
    { ms: Date.parse('2027-01-01T00:00:00Z'), hour: '2027-01-01T00', month: '2027-01' },
  ])('buckets $ms', ({ ms, hour, month }) => {
    expect(hourOf(ms)).toBe(hour);
    expect(monthOf(ms)).toBe(month);
    expect(monthOf(hour)).toBe(month);
  });

  it('stores counts as one attribute per workload and count, and reads them back', () => {
    const byWorkload = new Map([
      ['ns/Deployment/web', counts({ readUnits: 1.5, writeUnits: 7, gbSeconds: 0.0123456789 })],
      ['', counts({ sqsRequests: 2 })],
    ]);
    const attrs = costAttributes(byWorkload);
    expect(attrs).toEqual([
      ['r|ns/Deployment/web', 1.5],
      ['w|ns/Deployment/web', 7],
      ['g|ns/Deployment/web', 0.012346],
      ['q|', 2],
    ]);
    const back = countsOfItem({ pk: 'c#stratus.cost', sk: 'h#x', ttl: 5, ...Object.fromEntries(attrs) });
    expect(back.get('ns/Deployment/web')).toEqual(counts({ readUnits: 1.5, writeUnits: 7, gbSeconds: 0.012346 }));
    expect(back.get('')).toEqual(counts({ sqsRequests: 2 }));
  });

  it('reports the month and the last 24 hours, adding what is pending', () => {
    const stored = {
      month: new Map([['ns/Deployment/web', counts({ writeUnits: 10 })]]),
      hours: new Map([['2026-12-06T17', new Map([['ns/Deployment/web', counts({ writeUnits: 4 })]])]]),
    };
    const pending = new Map([['2026-12-06T18', new Map([['ns/Deployment/web', counts({ writeUnits: 1 })], ['', counts({ readUnits: 3 })]])]]);
    const r = costReport('c1', T0, stored, pending);
    expect(r.month.month).toBe('2026-12');
    expect(r.month.counts).toEqual(counts({ writeUnits: 11, readUnits: 3 }));
    expect(r.month.workloads[0]).toMatchObject({ workload: { namespace: 'ns', kind: 'Deployment', name: 'web' }, counts: counts({ writeUnits: 11 }) });
    expect(r.month.workloads[1]!.workload).toBeUndefined();
    expect(r.hours).toHaveLength(24);
    expect(r.hours.at(-1)!.hour).toBe('2026-12-06T18');
    expect(r.hours.at(-2)!.counts.writeUnits).toBe(4);
    expect(r.hours[0]!.counts).toEqual(zeroCounts());
    expect(r.month.usd.total).toBeCloseTo(11 * PRICES.writeUnit + 3 * PRICES.readUnit, 12);
  });
});

const meta = (kind: string, name: string, owner?: { kind: string; name: string }): KubeObject => ({
  kind,
  metadata: { namespace: 'ns', name, ...(owner ? { ownerReferences: [{ apiVersion: 'v1', kind: owner.kind, name: owner.name, uid: 'u', controller: true }] } : {}) },
});

describe('attribution through the owner chain', () => {
  afterEach(() => forgetOwners());
  const store = new Map<string, KubeObject>([
    ['replicasets/web-abc', meta('ReplicaSet', 'web-abc', { kind: 'Deployment', name: 'web' })],
    ['replicasets/lone', meta('ReplicaSet', 'lone')],
    ['jobs/nightly-1', meta('Job', 'nightly-1', { kind: 'CronJob', name: 'nightly' })],
    ['pods/web-abc-x', meta('Pod', 'web-abc-x', { kind: 'ReplicaSet', name: 'web-abc' })],
  ]);
  const reads: string[] = [];
  const lookup = async (_c: string, resource: string, _ns: string, name: string) => {
    reads.push(`${resource}/${name}`);
    return store.get(`${resource}/${name}`);
  };

  it.each([
    { what: 'a Pod of a Deployment', subject: { namespace: 'ns', kind: 'Pod', name: 'web-abc-x', owner: { kind: 'ReplicaSet', name: 'web-abc' } }, want: 'ns/Deployment/web' },
    { what: 'a ReplicaSet of a Deployment', subject: { namespace: 'ns', kind: 'ReplicaSet', name: 'web-abc', owner: { kind: 'Deployment', name: 'web' } }, want: 'ns/Deployment/web' },
    { what: 'a Deployment', subject: { namespace: 'ns', kind: 'Deployment', name: 'web', owner: null }, want: 'ns/Deployment/web' },
    { what: 'a Pod of a lone ReplicaSet', subject: { namespace: 'ns', kind: 'Pod', name: 'p', owner: { kind: 'ReplicaSet', name: 'lone' } }, want: 'ns/ReplicaSet/lone' },
    { what: 'a Pod of a CronJob', subject: { namespace: 'ns', kind: 'Pod', name: 'n-1-x', owner: { kind: 'Job', name: 'nightly-1' } }, want: 'ns/CronJob/nightly' },
    { what: 'a bare Pod', subject: { namespace: 'ns', kind: 'Pod', name: 'bare', owner: null }, want: 'ns/Pod/bare' },
    { what: 'a Pod an Event is about (owner unknown: read)', subject: { namespace: 'ns', kind: 'Pod', name: 'web-abc-x' }, want: 'ns/Deployment/web' },
    { what: 'a Service', subject: { namespace: 'ns', kind: 'Service', name: 'svc', owner: null }, want: 'ns/Service/svc' },
  ])('$what → $want', async ({ subject, want }) => {
    expect(workloadKey(await resolveWorkload('c1', subject, lookup))).toBe(want);
  });

  it('reads an owner once and remembers it', async () => {
    reads.length = 0;
    const subject = { namespace: 'ns', kind: 'Pod', name: 'a', owner: { kind: 'ReplicaSet', name: 'web-abc' } };
    await resolveWorkload('c1', subject, lookup);
    await resolveWorkload('c1', { ...subject, name: 'b' }, lookup);
    expect(reads).toEqual(['replicasets/web-abc']);
  });

  it('an owner seen by the store is never read', async () => {
    reads.length = 0;
    await inScope('c1', { resource: 'replicasets', namespace: 'ns', name: 'web-abc' }, async () => noteObject('replicasets', store.get('replicasets/web-abc')));
    expect(workloadKey(await resolveWorkload('c1', { namespace: 'ns', kind: 'Pod', name: 'x', owner: { kind: 'ReplicaSet', name: 'web-abc' } }, lookup))).toBe('ns/Deployment/web');
    expect(reads).toEqual([]);
  });
});

describe('the meter', () => {
  const flushed: { cluster: string; hours: Map<string, Map<string, CostCounts>> }[] = [];
  const sink: CostSink = {
    flush: async (cluster, hours) => void flushed.push({ cluster, hours: hours as Map<string, Map<string, CostCounts>> }),
  };

  it('splits an invocation among its scopes, attributes each to its workload and writes no more than once a minute', async () => {
    configureCostMeter(sink, async () => undefined);
    const pod = meta('Pod', 'web-abc-x', { kind: 'ReplicaSet', name: 'web-abc' });
    const rs = meta('ReplicaSet', 'web-abc', { kind: 'Deployment', name: 'web' });
    await meteredInvocation(1024, async () => {
      await inScope('m1', { resource: 'replicasets', namespace: 'ns', name: 'web-abc' }, async () => noteObject('replicasets', rs));
      await inScope('m1', { resource: 'pods', namespace: 'ns' }, async () => {
        noteObject('namespaces', { kind: 'Namespace', metadata: { name: 'ns' } });
        noteObject('pods', pod);
      });
    });
    const pending = meter.aggregate.pending('m1');
    const hour = [...pending.values()][0]!;
    expect(hour.get('ns/Deployment/web')!.invocations).toBeCloseTo(1, 9);
    // Nothing was written: the first flush is a minute after the first count.
    expect(flushed).toEqual([]);
    await meter.flushDue(Date.now() + 60_000);
    expect(flushed.map((f) => f.cluster)).toContain('m1');
    expect(meter.aggregate.pending('m1').size).toBe(0);
  });

  it('flushAll writes what is pending at once, after a flush in progress (a cost report reads the store after it)', async () => {
    configureCostMeter(sink, async () => undefined);
    flushed.length = 0;
    meter.aggregate.add('f1', Date.now(), 'ns/Deployment/a', { ...zeroCounts(), writeUnits: 1 });
    const inProgress = meter.flushDue(Date.now(), true); // a flush in progress, then more counted meanwhile
    meter.aggregate.add('f1', Date.now(), 'ns/Deployment/b', { ...zeroCounts(), writeUnits: 2 });
    await meter.flushAll();
    await inProgress;
    const written = flushed.filter((f) => f.cluster === 'f1').flatMap((f) => [...f.hours.values()].flatMap((h) => [...h.keys()]));
    expect(written.sort()).toEqual(['ns/Deployment/a', 'ns/Deployment/b']);
    expect(meter.aggregate.pending('f1').size).toBe(0);
  });

  it('counts nothing outside a cluster (an unauthenticated request)', async () => {
    const before = meter.aggregate.clustersPending().length;
    await meteredInvocation(512, async () => undefined);
    expect(meter.aggregate.clustersPending().length).toBe(before);
  });
});
