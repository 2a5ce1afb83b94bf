import { describe, expect, it } from 'vitest';
import { hostMatch, matchRoute, pathMatches, podAddressFilter, requestHost, resolveBackend, servedIngresses, type RouteIngress } from '../../node-agent/network/ingress-routes';
import type { EndpointSlice, Service } from '../../shared/schemas/service';

/* The Ingress proxy's routing (node-agent/network/ingress-routes.ts): pure table tests. */

describe('pathMatches (the table of kubernetes.io/docs/concepts/services-networking/ingress "Examples")', () => {
  it.each([
    ['Prefix', '/', '/anything/at/all', true],
    ['Exact', '/foo', '/foo', true],
    ['Exact', '/foo', '/bar', false],
    ['Exact', '/foo', '/foo/', false],
    ['Exact', '/foo/', '/foo', false],
    ['Exact', '/Foo', '/foo', false],
    ['Prefix', '/foo', '/foo', true],
    ['Prefix', '/foo', '/foo/', true],
    ['Prefix', '/foo/', '/foo', true],
    ['Prefix', '/foo/', '/foo/', true],
    ['Prefix', '/aaa/bb', '/aaa/bbb', false],
    ['Prefix', '/aaa/bbb', '/aaa/bbb', true],
    ['Prefix', '/aaa/bbb/', '/aaa/bbb', true],
    ['Prefix', '/aaa/bbb', '/aaa/bbb/', true],
    ['Prefix', '/aaa/bbb', '/aaa/bbb/ccc', true],
    ['Prefix', '/aaa/bbb', '/aaa/bbbxyz', false],
    ['Prefix', '/aaa', '/ccc', false],
    ['ImplementationSpecific', '/api', '/api/v1', true],
    ['ImplementationSpecific', '/api', '/apiv1', false],
    ['ImplementationSpecific', undefined, '/x', true],
  ] as const)('%s %s vs %s → %s', (type, rule, path, want) => {
    expect(pathMatches(type, rule, path)).toBe(want);
  });
});

describe('hosts', () => {
  it.each([
    ['foo.bar.com', 'foo.bar.com', 3],
    ['foo.bar.com', 'FOO.bar.com', 3],
    ['foo.bar.com', 'bar.com', 0],
    ['*.foo.com', 'bar.foo.com', 2],
    ['*.foo.com', 'baz.bar.foo.com', 0],
    ['*.foo.com', 'foo.com', 0],
    [undefined, 'anything', 1],
    ['', 'anything', 1],
  ] as const)('rule host %s vs %s → %s', (rule, host, want) => {
    expect(hostMatch(rule, requestHost(host))).toBe(want);
  });
  it.each([
    ['Foo.Example.com:8080', 'foo.example.com'],
    ['example.com', 'example.com'],
    ['[::1]:80', '[::1]'],
    [undefined, ''],
  ] as const)('requestHost(%s) = %s', (h, want) => expect(requestHost(h)).toBe(want));
});

const backend = (name: string, port: number | string = 80) => ({ service: { name, port: typeof port === 'number' ? { number: port } : { name: port } } });
const ing = (name: string, spec: RouteIngress['spec'], created = '2026-01-01T00:00:00Z', ns = 'default'): RouteIngress => ({ metadata: { namespace: ns, name, creationTimestamp: created }, spec });
const paths = (...ps: [string, string, string][]) => ({ http: { paths: ps.map(([path, pathType, svc]) => ({ path, pathType, backend: backend(svc) })) } });

describe('matchRoute', () => {
  const a = ing('a', {
    defaultBackend: backend('default-a'),
    rules: [
      { host: 'shop.example.com', ...paths(['/', 'Prefix', 'front'], ['/api', 'Prefix', 'api'], ['/api/v2', 'Prefix', 'api2'], ['/api', 'Exact', 'api-exact']) },
      { host: '*.example.com', ...paths(['/', 'Prefix', 'wild']) },
      { ...paths(['/health', 'Exact', 'health']) },
    ],
  });
  const b = ing('b', { defaultBackend: backend('default-b'), rules: [{ host: 'shop.example.com', ...paths(['/img', 'Prefix', 'img'], ['/api', 'Prefix', 'api-newer']) }] }, '2026-02-01T00:00:00Z');
  const served = [a, b];
  it.each([
    ['shop.example.com', '/', 'front'],
    ['shop.example.com', '/cart?x=1', 'front'],
    ['shop.example.com', '/api', 'api-exact'], // Exact before Prefix at equal length
    ['shop.example.com', '/api/', 'api'], // Exact /api does not match /api/
    ['shop.example.com', '/api/v1/items', 'api'], // the older Ingress wins an equal path
    ['shop.example.com', '/api/v2/items', 'api2'], // longest match
    ['shop.example.com', '/img/logo.png', 'img'], // rules of two Ingresses merge per host
    ['SHOP.example.com:8443', '/img', 'img'],
    ['x.example.com', '/whatever', 'wild'], // the wildcard before the host-less rule
    ['a.b.example.com', '/health', 'health'], // a wildcard spans one label: the host-less rule
    ['other.org', '/health', 'health'],
    ['other.org', '/nope', 'default-a'], // nothing matches: the oldest Ingress's defaultBackend
  ])('%s%s → %s', (host, path, want) => {
    expect(matchRoute(served, host, path)?.backend.service?.name).toBe(want);
  });
  it('404 (no route) without any defaultBackend', () => {
    const only = ing('c', { rules: [{ host: 'x.org', ...paths(['/a', 'Exact', 'svc']) }] });
    expect(matchRoute([only], 'x.org', '/b')).toBeUndefined();
    expect(matchRoute([only], 'y.org', '/a')).toBeUndefined();
    expect(matchRoute([only], 'x.org', '/a')?.namespace).toBe('default');
  });
  it('a more specific host with no matching path does not fall back to a less specific host', () => {
    const i = ing('d', { rules: [{ host: 'x.org', ...paths(['/a', 'Exact', 'exact-host']) }, { ...paths(['/', 'Prefix', 'any']) }] });
    expect(matchRoute([i], 'x.org', '/b')).toBeUndefined();
    expect(matchRoute([i], 'y.org', '/b')?.backend.service?.name).toBe('any');
  });
});

describe('servedIngresses', () => {
  const classes = [
    { metadata: { name: 'stratus' }, spec: { controller: 'stratus.dev/ingress' } },
    { metadata: { name: 'nginx' }, spec: { controller: 'k8s.io/ingress-nginx' } },
  ];
  it('keeps our class (by name or the old annotation), oldest first', () => {
    const list = [
      ing('new', { ingressClassName: 'stratus' }, '2026-03-01T00:00:00Z'),
      ing('other', { ingressClassName: 'nginx' }),
      ing('none', {}),
      ing('old', { ingressClassName: 'stratus' }, '2026-01-01T00:00:00Z'),
      { metadata: { namespace: 'x', name: 'legacy', creationTimestamp: '2026-02-01T00:00:00Z', annotations: { 'kubernetes.io/ingress.class': 'stratus' } }, spec: {} },
      ing('missing-class', { ingressClassName: 'gone' }),
    ];
    expect(servedIngresses(list, classes, 'stratus.dev/ingress').map((i) => i.metadata.name)).toEqual(['old', 'legacy', 'new']);
  });
});

describe('resolveBackend', () => {
  const svc = (name: string, spec: Service['spec']): Service => ({ metadata: { namespace: 'default', name }, spec });
  const slice = (svcName: string, endpoints: { ip: string; ready?: boolean }[], ports: { name?: string; port: number }[], ns = 'default'): EndpointSlice => ({
    metadata: { namespace: ns, name: `${svcName}-x`, labels: { 'kubernetes.io/service-name': svcName } },
    addressType: 'IPv4',
    endpoints: endpoints.map((e) => ({ addresses: [e.ip], conditions: { ready: e.ready ?? true } })),
    ports: ports.map((p) => ({ ...p, protocol: 'TCP' })),
  });
  const view = {
    services: [
      svc('web', { ports: [{ name: 'http', port: 80, targetPort: 8080 }, { name: 'admin', port: 81, targetPort: 9090 }] }),
      svc('plain', { ports: [{ port: 80, targetPort: 8080 }] }),
      svc('ext', { type: 'ExternalName', externalName: 'example.com' }),
    ],
    endpointSlices: [
      slice('web', [{ ip: '10.128.0.5' }, { ip: '10.128.0.6', ready: false }, { ip: '10.128.1.7' }], [{ name: 'http', port: 8080 }, { name: 'admin', port: 9090 }]),
      slice('plain', [{ ip: '10.128.0.9' }, { ip: '127.0.0.1' }, { ip: '10.128.0.1' }, { ip: '10.130.0.4' }], [{ name: '', port: 8080 }]),
      slice('web', [{ ip: '10.128.0.99' }], [{ name: 'http', port: 1 }], 'elsewhere'),
    ],
  };
  const allowed = podAddressFilter(['10.128.0.0/24', '10.128.1.0/24'], '10.128.0.0/12');
  it.each([
    ['by port number', 'web', 80, { targets: [{ ip: '10.128.0.5', port: 8080 }, { ip: '10.128.1.7', port: 8080 }] }],
    ['by port name', 'web', 'admin', { targets: [{ ip: '10.128.0.5', port: 9090 }, { ip: '10.128.1.7', port: 9090 }] }],
    ['an unnamed port; loopback, the gateway and another cluster\'s range left out', 'plain', 80, { targets: [{ ip: '10.128.0.9', port: 8080 }] }],
    ['no such port', 'web', 82, { unavailable: 'service "default/web" has no TCP port 82' }],
    ['no such Service', 'nope', 80, { unavailable: 'service "default/nope" not found' }],
    ['ExternalName', 'ext', 80, { unavailable: 'service "default/ext" is ExternalName' }],
  ] as const)('%s', (_what, name, port, want) => {
    expect(resolveBackend(view, 'default', backend(name, port), allowed)).toEqual(want);
  });
  it('503 when every endpoint is outside the cluster', () => {
    const bad = { services: view.services, endpointSlices: [slice('plain', [{ ip: '127.0.0.1' }, { ip: '10.128.0.1' }, { ip: '172.17.0.1' }], [{ port: 8080 }])] };
    expect(resolveBackend(bad, 'default', backend('plain'), allowed)).toEqual({ unavailable: 'no ready endpoints for service "default/plain"' });
  });
});

describe('podAddressFilter', () => {
  const f = podAddressFilter(['10.128.3.0/24'], '10.128.0.0/12');
  it.each([
    ['10.128.3.2', true],
    ['10.128.3.254', true],
    ['10.128.3.0', false], // network
    ['10.128.3.1', false], // the bridge gateway: the host
    ['10.128.3.255', false], // broadcast
    ['10.128.4.2', false], // another node's range, not this cluster's
    ['127.0.0.1', false],
    ['0.0.0.0', false],
    ['169.254.169.254', false],
    ['::1', false],
    ['not-an-ip', false],
  ] as const)('%s → %s', (ip, want) => expect(f(ip)).toBe(want));
  it('a node range outside the pool is never trusted', () => {
    expect(podAddressFilter(['127.0.0.0/24'], '10.128.0.0/12')('127.0.0.2')).toBe(false);
  });
});
