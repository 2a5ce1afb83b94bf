import { describe, expect, it } from 'vitest';
import { ApiClusterView, buildSnapshot, parseChangeKeys } from '../../node-agent/network/api-cluster-view';
import { KubeApiError, type KubeApiClient } from '../../node-agent/api-client';
import { silentLogger } from '../../node-agent/log';
import { chainChanges, type ClusterSnapshot, type ClusterView } from '../../node-agent/network/cluster-view';
import { ViewStore, olderVersion } from '../../node-agent/network/view-store';
import { buildIndex, DnsIndexer } from '../../node-agent/network/dns-records';
import { ServiceProxy, type NftRunner } from '../../node-agent/network/service-proxy';
import { buildRuleset, diffRulesets, proxyTableName, type ProxyNode } from '../../node-agent/network/service-rules';
import { ChangedKeys, changeKey } from '../../functions/controllers/service-signals';
import type { ObjectChange } from '../../shared/store/changes';
import type { KubeObject } from '../../shared/resources';

/*
 * The incremental cluster view (issue #15): a signal names the changed objects, the agent GETs
 * those alone, the snapshot is updated by key (view-store.ts) and carries what changed, and the
 * consumers (ServiceProxy, the DNS index) rebuild only that. Each case checks the incremental
 * result against a whole list of the same objects (same content → same version, same rules).
 */

type Obj = { metadata: { namespace?: string; name: string; resourceVersion: string; labels?: Record<string, string> } } & Record<string, unknown>;
let rvSeq = 100;
const svc = (name: string, clusterIP: string, ns = 'a'): Obj => ({ metadata: { namespace: ns, name, resourceVersion: String(++rvSeq) }, spec: { clusterIP, ports: [{ port: 80, protocol: 'TCP' }] } });
const slice = (name: string, ips: string[], ns = 'a'): Obj => ({
  metadata: { namespace: ns, name: `${name}-1`, resourceVersion: String(++rvSeq), labels: { 'kubernetes.io/service-name': name } },
  addressType: 'IPv4',
  endpoints: ips.map((ip) => ({ addresses: [ip], conditions: { ready: true } })),
  ports: [{ port: 8080, protocol: 'TCP' }],
});

const PATHS: Record<string, string> = {
  '/api/v1/services': 'Service',
  '/apis/discovery.k8s.io/v1/endpointslices': 'EndpointSlice',
  '/api/v1/pods': 'Pod',
  '/apis/networking.k8s.io/v1/networkpolicies': 'NetworkPolicy',
  '/api/v1/namespaces': 'Namespace',
  '/apis/networking.k8s.io/v1/ingresses': 'Ingress',
  '/apis/networking.k8s.io/v1/ingressclasses': 'IngressClass',
};
const ONE = /^\/(?:api\/v1|apis\/[^/]+\/v1)\/namespaces\/([^/]+)\/(services|endpointslices)\/([^/]+)$/;

/** An API of objects by kind and key: lists, GETs (404 when absent), and a log of the paths asked. */
function fakeApi() {
  const objects = new Map<string, Map<string, Obj>>(Object.values(PATHS).map((k) => [k, new Map()]));
  const asked: string[] = [];
  const failing = { gets: false };
  let rv = 1;
  const api = {
    get: async (path: string) => {
      asked.push(path);
      await Promise.resolve();
      const list = PATHS[path];
      if (!list && failing.gets) throw new KubeApiError(500, 'InternalError', 'down');
      if (list) return { metadata: { resourceVersion: String(rv++) }, items: [...objects.get(list)!.values()] };
      const m = ONE.exec(path);
      const kind = m?.[2] === 'services' ? 'Service' : 'EndpointSlice';
      const o = m && objects.get(kind)!.get(`${m[1]}/${m[3]}`);
      if (!o) throw new KubeApiError(404, 'NotFound', 'not found');
      return structuredClone(o);
    },
  } as unknown as KubeApiClient;
  const put = (kind: string, o: Obj) => objects.get(kind)!.set(`${o.metadata.namespace ?? ''}/${o.metadata.name}`, o);
  const del = (kind: string, o: Obj) => objects.get(kind)!.delete(`${o.metadata.namespace ?? ''}/${o.metadata.name}`);
  const whole = () => buildSnapshot({ services: { items: [...objects.get('Service')!.values()] }, endpointSlices: { items: [...objects.get('EndpointSlice')!.values()] }, pods: { items: [...objects.get('Pod')!.values()] } });
  return { api, asked, put, del, whole, failing };
}

const key = (kind: string, o: Obj) => `${kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`;

describe('the incremental cluster view', () => {
  type Step = (f: ReturnType<typeof fakeApi>) => string[] | undefined;
  const x = svc('x', '10.96.0.10');
  const xs = slice('x', ['10.1.0.2']);
  const y = svc('y', '10.96.0.11');
  const ys = slice('y', ['10.1.0.3']);
  it.each<[string, Step, { gets: number; lists: number; services: string[]; changed: Record<string, string[]> }]>([
    ['a Service and its slice added', (f) => (f.put('Service', y), f.put('EndpointSlice', ys), [key('Service', y), key('EndpointSlice', ys)]), { gets: 2, lists: 0, services: ['x', 'y'], changed: { Service: ['a/y'], EndpointSlice: ['a/y-1'] } }],
    ['an endpoint changed', (f) => (f.put('EndpointSlice', slice('x', ['10.1.0.9'])), [key('EndpointSlice', xs)]), { gets: 1, lists: 0, services: ['x'], changed: { EndpointSlice: ['a/x-1'] } }],
    ['a Service deleted (its GET: 404)', (f) => (f.del('Service', x), f.del('EndpointSlice', xs), [key('Service', x), key('EndpointSlice', xs)]), { gets: 2, lists: 0, services: [], changed: { Service: ['a/x'], EndpointSlice: ['a/x-1'] } }],
    ['a fallback signal (no keys): everything listed', (f) => (f.put('Service', y), undefined), { gets: 0, lists: 6, services: ['x', 'y'], changed: { Service: ['a/y'] } }],
    ['a key of an unknown kind: everything listed', (f) => (f.put('Service', y), ['Secret/a/s']), { gets: 0, lists: 6, services: ['x', 'y'], changed: { Service: ['a/y'] } }],
    ['a pod named: the pods listed (a node may not GET another node\'s pod), nothing else', () => ['Pod/a/p'], { gets: 0, lists: 1, services: ['x'], changed: {} }],
  ])('%s', async (_name, step, want) => {
    const f = fakeApi();
    f.put('Service', x);
    f.put('EndpointSlice', xs);
    const view = new ApiClusterView({ api: f.api, log: silentLogger });
    await view.signal();
    const first = view.current();
    const seen: ClusterSnapshot[] = [];
    view.subscribe((s) => seen.push(s));
    f.asked.length = 0;
    await view.signal(step(f));
    const lists = f.asked.filter((p) => PATHS[p]).length;
    expect({ gets: f.asked.length - lists, lists }).toEqual({ gets: want.gets, lists: want.lists });
    const now = view.current();
    expect(now.services.map((s) => s.metadata.name)).toEqual(want.services);
    // The same content as a whole list gives: the same version.
    expect(now.version).toBe(f.whole().version);
    if (!Object.keys(want.changed).length) {
      expect(now).toBe(first);
      expect(seen).toHaveLength(0);
      return;
    }
    expect(seen).toHaveLength(1);
    expect(now.changes?.since).toBe(first.version);
    const changed = Object.fromEntries(Object.entries(now.changes!).filter(([k]) => k !== 'since').map(([k, v]) => [k, [...(v as Map<string, unknown>).keys()]]));
    expect(changed).toEqual(want.changed);
    // A kind not named keeps its very array.
    if (!want.changed.Service) expect(now.services).toBe(first.services);
    if (!want.changed.EndpointSlice) expect(now.endpointSlices).toBe(first.endpointSlices);
    expect(now.pods).toBe(first.pods);
  });

  it('a resync finds a change whose signal was lost', async () => {
    const f = fakeApi();
    f.put('Service', x);
    const view = new ApiClusterView({ api: f.api, log: silentLogger });
    await view.signal();
    f.put('Service', y); // no signal
    await view.signal(['Service/a/other']); // a signal about something else: y not seen
    expect(view.current().services.map((s) => s.metadata.name)).toEqual(['x']);
    await view.signal(); // the periodic resync's whole list
    expect(view.current().services.map((s) => s.metadata.name)).toEqual(['x', 'y']);
    expect(view.current().version).toBe(f.whole().version);
  });

  it('a GET that fails (not 404): the round falls back to a whole list at once', async () => {
    const f = fakeApi();
    f.put('Service', x);
    const view = new ApiClusterView({ api: f.api, log: silentLogger });
    await view.signal();
    f.put('Service', y);
    f.failing.gets = true;
    f.asked.length = 0;
    await view.signal([key('Service', y)]);
    expect(f.asked.filter((p) => PATHS[p]).length).toBe(6);
    expect(view.current().services.map((s) => s.metadata.name)).toEqual(['x', 'y']);
  });

  it('keys before the first list: the first round lists whole', async () => {
    const f = fakeApi();
    f.put('Service', x);
    const view = new ApiClusterView({ api: f.api, log: silentLogger });
    await view.signal(['Service/a/x']);
    expect(f.asked.filter((p) => PATHS[p]).length).toBe(6);
    expect(view.current().services).toHaveLength(1);
  });
});

describe('ViewStore', () => {
  const parse = (_k: string, raw: unknown) => raw;
  it('keeps the newest resourceVersion of a key: two GETs answered out of order', () => {
    const store = new ViewStore(parse);
    const v6 = { metadata: { namespace: 'a', name: 'x', resourceVersion: '6' }, spec: { clusterIP: '10.96.0.6' } };
    const v5 = { metadata: { namespace: 'a', name: 'x', resourceVersion: '5' }, spec: { clusterIP: '10.96.0.5' } };
    expect(store.put('Service', 'a/x', v6)).toBe(true);
    expect(store.put('Service', 'a/x', v5)).toBe(false);
    expect((store.snapshot().services[0] as unknown as typeof v6).spec.clusterIP).toBe('10.96.0.6');
    expect(store.resourceVersion('Service', 'a/x')).toBe('6');
  });
  it.each([
    ['5', '6', true],
    ['6', '5', false],
    ['9', '10', true],
    ['10', '10', false],
    ['abc', '10', false],
    [undefined, '10', false],
  ])('olderVersion(%s, %s) = %s', (a, b, want) => expect(olderVersion(a, b)).toBe(want));

  it('a status-only write (same content, new resourceVersion) is no change', () => {
    const store = new ViewStore(parse);
    store.put('Service', 'a/x', { metadata: { namespace: 'a', name: 'x', resourceVersion: '1' } });
    const s1 = store.snapshot();
    store.put('Service', 'a/x', { metadata: { namespace: 'a', name: 'x', resourceVersion: '1' } });
    expect(store.snapshot()).toBe(s1);
  });

  it('many changes at once (beyond splicing) give the order and version of a whole list', () => {
    const store = new ViewStore(parse);
    const items = Array.from({ length: 150 }, (_, i) => ({ metadata: { namespace: 'a', name: `s${(i * 37) % 150}`, resourceVersion: String(i + 1) } }));
    for (const it of items.slice(0, 10)) store.put('Service', `a/${it.metadata.name}`, it);
    store.snapshot();
    for (const it of items.slice(10)) store.put('Service', `a/${it.metadata.name}`, it);
    store.remove('Service', `a/${items[3]!.metadata.name}`);
    const s = store.snapshot();
    const names = s.services.map((x) => x.metadata.name!);
    expect(names).toEqual([...names].sort());
    expect(names).toHaveLength(149);
    const whole = new ViewStore(parse);
    whole.replaceAll('Service', items.filter((_, i) => i !== 3));
    expect(whole.snapshot().version).toBe(s.version);
  });
});

describe('parseChangeKeys', () => {
  it.each<[string[], boolean]>([
    [['Service/a/x', 'EndpointSlice/a/x-abc', 'IngressClass//stratus', 'Namespace//a'], true],
    [['Secret/a/x'], false],
    [['Service/a'], false],
    [['Service/a/x/y'], false],
  ])('%j → readable %s', (keys, ok) => expect(parseChangeKeys(keys) !== undefined).toBe(ok));
});

describe('the controller\'s change keys', () => {
  const change = (group: string, resource: string, name: string, namespace?: string): ObjectChange => ({
    tenant: 't',
    group,
    resource,
    eventName: 'MODIFY',
    newObject: { metadata: { name, ...(namespace ? { namespace } : {}) } } as KubeObject,
    sequenceNumber: '1',
  });
  it.each<[ObjectChange, string | undefined]>([
    [change('', 'services', 'x', 'a'), 'Service/a/x'],
    [change('discovery.k8s.io', 'endpointslices', 'x-1', 'a'), 'EndpointSlice/a/x-1'],
    [change('networking.k8s.io', 'ingressclasses', 'stratus'), 'IngressClass//stratus'],
    [change('', 'namespaces', 'a'), 'Namespace//a'],
    [change('', 'pods', 'p', 'a'), 'Pod/a/p'],
    [change('', 'secrets', 's', 'a'), undefined],
  ])('%#: %s', (c, want) => expect(changeKey(c)).toBe(want));

  it('names up to 200 objects, then none (the nodes list whole)', () => {
    const k = new ChangedKeys();
    for (let i = 0; i < 200; i++) k.add(change('', 'services', `s${i}`, 'a'));
    k.add(change('', 'services', 's0', 'a')); // coalesced
    expect(k.named).toHaveLength(200);
    k.add(change('', 'services', 's200', 'a'));
    expect(k.named).toBeUndefined();
    const u = new ChangedKeys();
    u.add(change('', 'secrets', 's', 'a'));
    expect(u.named).toBeUndefined();
  });
});

describe('consumers by changes', () => {
  const NODE: ProxyNode = { nodeName: 'n1', bridge: 'stratus-test', nodeIPs: ['192.0.2.2'] };
  class Recorder implements NftRunner {
    transactions: string[][] = [];
    transaction(c: readonly string[]) {
      this.transactions.push([...c]);
      return Promise.resolve();
    }
    script() {
      return Promise.resolve();
    }
    close() {}
  }
  const staticView = (s: ClusterSnapshot): ClusterView => ({ current: () => s, subscribe: () => () => undefined });
  /** Commands compared as sets of (command, element). */
  const norm = (cmds: readonly string[]) =>
    cmds
      .flatMap((c) => {
        const m = /^(.*?) \{ (.*) \}$/.exec(c);
        return m && /element/.test(m[1]!) ? m[2]!.split(', ').map((e) => `${m[1]} ${e}`) : [c];
      })
      .sort();

  it('ServiceProxy applies a delta as the whole comparison would, and the DNS index matches a rebuild', async () => {
    const store = new ViewStore((kind, raw) => buildSnapshot({ services: { items: kind === 'Service' ? [raw] : [] }, endpointSlices: { items: kind === 'EndpointSlice' ? [raw] : [] }, pods: { items: [] } })[kind === 'Service' ? 'services' : 'endpointSlices'][0]);
    const services = Array.from({ length: 30 }, (_, i) => svc(`s${i}`, `10.96.1.${i}`));
    const slices = services.map((s, i) => slice(s.metadata.name, [`10.1.1.${i}`, `10.1.2.${i}`]));
    store.replaceAll('Service', services);
    store.replaceAll('EndpointSlice', slices);
    const s1 = store.snapshot();
    const nft = new Recorder();
    const proxy = new ServiceProxy({ view: staticView(s1), node: () => NODE, log: silentLogger, nft, routeLocalnet: () => Promise.resolve() });
    await proxy.start();
    const dns = new DnsIndexer();
    dns.update(s1);
    // Two snapshots in a row while the proxy is busy would chain: here, one endpoint moved, a Service
    // gone, one added, then a slice re-labelled to another Service.
    store.put('EndpointSlice', 'a/s3-1', slice('s3', ['10.1.9.9']));
    store.remove('Service', 'a/s4');
    store.put('Service', 'a/new', svc('new', '10.96.2.1'));
    store.put('EndpointSlice', 'a/new-1', slice('new', ['10.1.9.10']));
    const s2 = store.snapshot();
    const relabelled = slice('s5', ['10.1.9.11']);
    relabelled.metadata.labels = { 'kubernetes.io/service-name': 's6' };
    store.put('EndpointSlice', 'a/s5-1', relabelled);
    const s3 = store.snapshot();
    const chained = chainChanges(s2, s3)!;
    expect(chained.since).toBe(s1.version);
    expect([...chained.EndpointSlice!.keys()].sort()).toEqual(['a/new-1', 'a/s3-1', 'a/s5-1']);
    await proxy.update(Object.freeze({ ...s3, changes: chained }));
    expect(proxy.lastApply?.full).toBe(false);
    const table = proxyTableName(NODE.bridge);
    expect(norm(nft.transactions.at(-1)!)).toEqual(norm(diffRulesets(table, buildRuleset(s1, NODE), buildRuleset(s3, NODE))));
    // The DNS index by changes = the index rebuilt whole.
    dns.update(s2);
    const byChanges = dns.update(s3);
    const whole = buildIndex(s3);
    expect(new Map([...byChanges.services].sort())).toEqual(new Map([...whole.services].sort()));
    expect(byChanges.namespaces).toEqual(whole.namespaces);
    expect(byChanges.reverse).toEqual(whole.reverse);
    expect(byChanges.serial).toBe(whole.serial);
  });
});
