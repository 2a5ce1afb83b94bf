import { describe, expect, it } from 'vitest';
import { ServiceIndex } from '../../node-agent/network/service-index';
import type { SnapshotChanges } from '../../node-agent/network/cluster-view';
import type { EndpointSlice, Service } from '../../shared/schemas/service';

/*
 * The Service/EndpointSlice owner index that the DNS indexer and the service proxy share
 * (service-index.ts): which slices belong to which Service, and which Services a set of changed
 * keys touches, in either consumer's key form.
 */

const svc = (ns: string, name: string): Service => ({ metadata: { namespace: ns, name }, spec: {} }) as Service;
const slice = (ns: string, name: string, owner?: string): EndpointSlice =>
  ({ metadata: { namespace: ns, name, ...(owner ? { labels: { 'kubernetes.io/service-name': owner } } : {}) }, addressType: 'IPv4', endpoints: [] }) as unknown as EndpointSlice;

const PROXY = (ns: string, name: string) => `${ns}/${name}`;
const DNS = (ns: string, name: string) => `${name}.${ns || 'default'}`;

interface Case {
  readonly name: string;
  readonly keyOf: (ns: string, name: string) => string;
  readonly services: Service[];
  readonly slices: EndpointSlice[];
  readonly changes: Omit<SnapshotChanges, 'since'>;
  /** The Services touched, in any order. */
  readonly affected: string[];
  /** After the changes: Service key → present?, and its slices' names in order. */
  readonly after: Record<string, { present: boolean; slices: string[] }>;
}

const cases: Case[] = [
  {
    name: 'a Service changed: itself only',
    keyOf: PROXY,
    services: [svc('a', 'web'), svc('a', 'db')],
    slices: [slice('a', 'web-1', 'web')],
    changes: { Service: new Map([['a/web', svc('a', 'web')]]) },
    affected: ['a/web'],
    after: { 'a/web': { present: true, slices: ['web-1'] }, 'a/db': { present: true, slices: [] } },
  },
  {
    name: 'a Service deleted: gone, its slices stay until they go',
    keyOf: PROXY,
    services: [svc('a', 'web')],
    slices: [slice('a', 'web-1', 'web')],
    changes: { Service: new Map([['a/web', undefined]]) },
    affected: ['a/web'],
    after: { 'a/web': { present: false, slices: ['web-1'] } },
  },
  {
    name: 'a new slice: its Service (DNS keys)',
    keyOf: DNS,
    services: [svc('a', 'web')],
    slices: [slice('a', 'web-2', 'web')],
    changes: { EndpointSlice: new Map([['a/web-1', slice('a', 'web-1', 'web')]]) },
    affected: ['web.a'],
    after: { 'web.a': { present: true, slices: ['web-1', 'web-2'] } },
  },
  {
    name: 'a slice relabelled to another Service: both',
    keyOf: PROXY,
    services: [svc('a', 'web'), svc('a', 'api')],
    slices: [slice('a', 's-1', 'web')],
    changes: { EndpointSlice: new Map([['a/s-1', slice('a', 's-1', 'api')]]) },
    affected: ['a/web', 'a/api'],
    after: { 'a/web': { present: true, slices: [] }, 'a/api': { present: true, slices: ['s-1'] } },
  },
  {
    name: 'a slice deleted: its Service',
    keyOf: DNS,
    services: [svc('a', 'web')],
    slices: [slice('a', 'web-1', 'web'), slice('a', 'web-2', 'web')],
    changes: { EndpointSlice: new Map([['a/web-1', undefined]]) },
    affected: ['web.a'],
    after: { 'web.a': { present: true, slices: ['web-2'] } },
  },
  {
    name: 'a slice loses its label: its old Service only',
    keyOf: PROXY,
    services: [svc('a', 'web')],
    slices: [slice('a', 'web-1', 'web')],
    changes: { EndpointSlice: new Map([['a/web-1', slice('a', 'web-1')]]) },
    affected: ['a/web'],
    after: { 'a/web': { present: true, slices: [] } },
  },
  {
    name: 'an unlabelled slice: nothing',
    keyOf: PROXY,
    services: [svc('a', 'web')],
    slices: [],
    changes: { EndpointSlice: new Map([['a/x', slice('a', 'x')]]) },
    affected: [],
    after: { 'a/web': { present: true, slices: [] } },
  },
  {
    name: 'a slice for a Service not (yet) there: that Service, absent',
    keyOf: DNS,
    services: [],
    slices: [],
    changes: { EndpointSlice: new Map([['b/web-1', slice('b', 'web-1', 'web')]]) },
    affected: ['web.b'],
    after: { 'web.b': { present: false, slices: ['web-1'] } },
  },
  {
    name: 'the same name in two namespaces: the slice namespace decides',
    keyOf: PROXY,
    services: [svc('a', 'web'), svc('b', 'web')],
    slices: [slice('a', 'web-1', 'web')],
    changes: { EndpointSlice: new Map([['b/web-1', slice('b', 'web-1', 'web')]]) },
    affected: ['b/web'],
    after: { 'a/web': { present: true, slices: ['web-1'] }, 'b/web': { present: true, slices: ['web-1'] } },
  },
  {
    name: 'slices in slice-name order whatever the order they came in',
    keyOf: PROXY,
    services: [svc('a', 'web')],
    slices: [slice('a', 'web-c', 'web'), slice('a', 'web-a', 'web')],
    changes: { EndpointSlice: new Map([['a/web-b', slice('a', 'web-b', 'web')]]) },
    affected: ['a/web'],
    after: { 'a/web': { present: true, slices: ['web-a', 'web-b', 'web-c'] } },
  },
];

describe('ServiceIndex', () => {
  it.each(cases)('$name', (c) => {
    const index = new ServiceIndex(c.keyOf);
    index.rebuild(c.services, c.slices);
    const affected = index.applyChanges({ since: 'v1', ...c.changes } as SnapshotChanges);
    expect([...affected].sort()).toEqual([...c.affected].sort());
    for (const [key, want] of Object.entries(c.after)) {
      expect(index.service(key) !== undefined, key).toBe(want.present);
      expect(index.slicesOf(key).map((s) => s.metadata.name)).toEqual(want.slices);
    }
  });

  it('reports each Service change with whether it was there and is now', () => {
    const index = new ServiceIndex(DNS);
    index.rebuild([svc('a', 'web'), svc('a', 'old')], []);
    const seen: [string, boolean, boolean][] = [];
    index.applyChanges(
      {
        since: 'v1',
        Service: new Map([
          ['a/web', svc('a', 'web')],
          ['a/old', undefined],
          ['b/new', svc('b', 'new')],
          ['c/never', undefined],
        ]),
      },
      (ns, had, has) => seen.push([ns, had, has]),
    );
    expect(seen).toEqual([
      ['a', true, true],
      ['a', true, false],
      ['b', false, true],
      ['c', false, false],
    ]);
  });

  it('rebuild forgets what was indexed before', () => {
    const index = new ServiceIndex(PROXY);
    index.rebuild([svc('a', 'web')], [slice('a', 'web-1', 'web')]);
    index.rebuild([svc('a', 'api')], []);
    expect(index.service('a/web')).toBeUndefined();
    expect(index.slicesOf('a/web')).toEqual([]);
    // The slice forgotten: its deletion touches nothing.
    expect([...index.applyChanges({ since: 'v2', EndpointSlice: new Map([['a/web-1', undefined]]) })]).toEqual([]);
  });

  it('the owner of a slice in each key form', () => {
    expect(new ServiceIndex(PROXY).ownerOf(slice('a', 'web-1', 'web'))).toBe('a/web');
    expect(new ServiceIndex(DNS).ownerOf(slice('a', 'web-1', 'web'))).toBe('web.a');
    expect(new ServiceIndex(DNS).ownerOf(slice('a', 'x'))).toBeUndefined();
  });
});
