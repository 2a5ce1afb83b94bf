import { describe, expect, it } from 'vitest';
import { ApiClusterView, buildSnapshot, viewPodOf, type ClusterLists } from '../../node-agent/network/api-cluster-view';
import type { KubeApiClient } from '../../node-agent/api-client';
import { silentLogger } from '../../node-agent/log';

/*
 * The agent's cluster view: snapshots from the API's lists (pure), and the view's refresh and
 * signal coalescing against a counted in-memory API.
 */

const svc = (ns: string, name: string, clusterIP = '10.96.0.10') => ({ metadata: { namespace: ns, name, resourceVersion: '1' }, spec: { clusterIP, ports: [{ port: 80, protocol: 'TCP' }] } });
const slice = (ns: string, name: string, ip: string, ready = true) => ({
  metadata: { namespace: ns, name, labels: { 'kubernetes.io/service-name': name.split('-')[0]! } },
  addressType: 'IPv4',
  endpoints: [{ addresses: [ip], conditions: { ready } }],
  ports: [{ port: 8080, protocol: 'TCP' }],
});
const pod = (ns: string, name: string, status: Record<string, unknown>, spec: Record<string, unknown> = {}) => ({ metadata: { namespace: ns, name }, spec: { containers: [], ...spec }, status });
const lists = (services: unknown[], endpointSlices: unknown[] = [], pods: unknown[] = [], rv = '1'): ClusterLists => ({
  services: { resourceVersion: rv, items: services },
  endpointSlices: { resourceVersion: rv, items: endpointSlices },
  pods: { resourceVersion: rv, items: pods },
});

describe('viewPodOf', () => {
  it.each([
    ['podIPs win over podIP', pod('a', 'p', { podIP: '10.1.0.2', podIPs: [{ ip: '10.1.0.2' }, { ip: 'fd00::2' }] }), { namespace: 'a', name: 'p', ips: ['10.1.0.2', 'fd00::2'] }],
    ['podIP alone', pod('a', 'p', { podIP: '10.1.0.3' }), { namespace: 'a', name: 'p', ips: ['10.1.0.3'] }],
    ['hostname and subdomain kept', pod('a', 'web-0', { podIP: '10.1.0.4' }, { hostname: 'web-0', subdomain: 'web' }), { namespace: 'a', name: 'web-0', ips: ['10.1.0.4'], hostname: 'web-0', subdomain: 'web' }],
    [
      'node and hostPorts of a running pod',
      pod('a', 'p', { phase: 'Running', podIP: '10.1.0.5' }, { nodeName: 'n1', containers: [{ name: 'c', ports: [{ containerPort: 80, hostPort: 8080 }, { containerPort: 53, hostPort: 5353, protocol: 'UDP' }, { containerPort: 81 }] }] }),
      { namespace: 'a', name: 'p', ips: ['10.1.0.5'], nodeName: 'n1', hostPorts: [{ protocol: 'TCP', hostPort: 8080, containerPort: 80 }, { protocol: 'UDP', hostPort: 5353, containerPort: 53 }] },
    ],
    [
      'no hostPorts once Succeeded',
      pod('a', 'p', { phase: 'Succeeded', podIP: '10.1.0.5' }, { nodeName: 'n1', containers: [{ name: 'c', ports: [{ containerPort: 80, hostPort: 8080 }] }] }),
      { namespace: 'a', name: 'p', ips: ['10.1.0.5'], nodeName: 'n1', finished: true },
    ],
    [
      'labels, named ports and hostNetwork (what NetworkPolicies select and resolve)',
      { metadata: { namespace: 'a', name: 'p', labels: { app: 'db' } }, spec: { hostNetwork: true, containers: [{ name: 'c', ports: [{ name: 'pg', containerPort: 5432 }, { containerPort: 81 }] }] }, status: { podIP: '10.1.0.6' } },
      { namespace: 'a', name: 'p', ips: ['10.1.0.6'], labels: { app: 'db' }, namedPorts: [{ name: 'pg', protocol: 'TCP', containerPort: 5432 }], hostNetwork: true },
    ],
    ['no IP: no record', pod('a', 'p', { phase: 'Pending' }), undefined],
    ['not a pod', { foo: 1 }, undefined],
  ])('%s', (_, raw, want) => {
    expect(viewPodOf(raw)).toEqual(want);
  });

  it('keeps nothing of the spec but hostname and subdomain', () => {
    const p = viewPodOf(pod('a', 'p', { podIP: '10.1.0.2' }, { containers: [{ name: 'c', env: [{ name: 'SECRET', value: 'x' }] }] }));
    expect(JSON.stringify(p)).not.toContain('SECRET');
  });
});

describe('buildSnapshot', () => {
  it('sorts by namespace/name and freezes everything', () => {
    const s = buildSnapshot(lists([svc('b', 'x'), svc('a', 'z'), svc('a', 'y')], [], [pod('b', 'p', { podIP: '10.1.0.9' }), pod('a', 'q', { podIP: '10.1.0.8' })]));
    expect(s.services.map((x) => `${x.metadata.namespace}/${x.metadata.name}`)).toEqual(['a/y', 'a/z', 'b/x']);
    expect(s.pods.map((p) => p.name)).toEqual(['q', 'p']);
    expect(Object.isFrozen(s)).toBe(true);
    expect(Object.isFrozen(s.services[0]!.spec)).toBe(true);
    expect(Object.isFrozen(s.pods[0]!.ips)).toBe(true);
  });

  it('versions by content: equal content, equal version, whatever the lists\' resourceVersions', () => {
    const a = buildSnapshot(lists([svc('a', 'x')], [slice('a', 'x-1', '10.1.0.2')], [], '5'));
    const b = buildSnapshot(lists([svc('a', 'x')], [slice('a', 'x-1', '10.1.0.2')], [], '9'));
    expect(a.version).toBe(b.version);
    expect(a.version).not.toBe('');
  });

  it.each([
    ['a Service added', lists([svc('a', 'x'), svc('a', 'y')], [slice('a', 'x-1', '10.1.0.2')])],
    ['a ClusterIP changed', lists([svc('a', 'x', '10.96.0.11')], [slice('a', 'x-1', '10.1.0.2')])],
    ['an endpoint became unready', lists([svc('a', 'x')], [slice('a', 'x-1', '10.1.0.2', false)])],
    ['an endpoint moved', lists([svc('a', 'x')], [slice('a', 'x-1', '10.1.0.3')])],
    ['a pod got an IP', lists([svc('a', 'x')], [slice('a', 'x-1', '10.1.0.2')], [pod('a', 'p', { podIP: '10.1.0.5' })])],
  ])('changes the version when %s', (_, changed) => {
    const base = buildSnapshot(lists([svc('a', 'x')], [slice('a', 'x-1', '10.1.0.2')]));
    expect(buildSnapshot(changed).version).not.toBe(base.version);
  });

  it('skips (and reports) an item it cannot read, keeping the rest', () => {
    const problems = { skipped: [] as { kind: string; name: string; error: string }[] };
    const s = buildSnapshot(lists([svc('a', 'x'), { metadata: { namespace: 'a', name: 'bad' }, spec: { ports: 'nope' } }]), problems);
    expect(s.services.map((x) => x.metadata.name)).toEqual(['x']);
    expect(problems.skipped).toEqual([expect.objectContaining({ kind: 'Service', name: 'a/bad' })]);
  });
});

/** An API that answers the lists from mutable state and counts the requests. */
function fakeApi() {
  const state = { services: [svc('a', 'x')] as unknown[], rv: 1, calls: 0, gate: undefined as Promise<void> | undefined };
  const api = {
    get: async (path: string) => {
      state.calls++;
      if (state.gate) await state.gate;
      const items = path === '/api/v1/services' ? state.services : [];
      return { metadata: { resourceVersion: String(state.rv) }, items };
    },
  } as unknown as KubeApiClient;
  return { api, state };
}

describe('ApiClusterView', () => {
  it('is empty before the first list, then notifies subscribers once per change', async () => {
    const { api, state } = fakeApi();
    const view = new ApiClusterView({ api, log: silentLogger });
    expect(view.current().version).toBe('');
    const seen: string[] = [];
    view.subscribe((s) => seen.push(s.services.map((x) => x.metadata.name).join(',')));
    await view.signal();
    await view.signal(); // nothing changed
    state.services = [svc('a', 'x'), svc('a', 'y')];
    state.rv++;
    await view.signal();
    expect(seen).toEqual(['x', 'x,y']);
    expect(view.current().services).toHaveLength(2);
  });

  it('coalesces signals during a list into one more list', async () => {
    const { api, state } = fakeApi();
    const view = new ApiClusterView({ api, log: silentLogger });
    let open!: () => void;
    state.gate = new Promise((r) => (open = r));
    const first = view.signal();
    const more = [view.signal(), view.signal(), view.signal()];
    open();
    await Promise.all([first, ...more]);
    // Two lists (6 requests each: services, slices, pods, policies, ingresses, classes; no
    // namespaces without a policy): the running one and one after it for the three signals.
    expect(state.calls).toBe(12);
  });

  it('keeps the last snapshot when the API fails, and a listener that throws stops no other', async () => {
    const { api, state } = fakeApi();
    const view = new ApiClusterView({ api, log: silentLogger });
    let got = 0;
    view.subscribe(() => {
      throw new Error('boom');
    });
    view.subscribe(() => got++);
    await view.signal();
    const before = view.current();
    (api as unknown as { get: () => Promise<never> }).get = () => Promise.reject(new Error('down'));
    await view.signal();
    expect(view.current()).toBe(before);
    expect(got).toBe(1);
    expect(state.calls).toBe(6);
  });
});
