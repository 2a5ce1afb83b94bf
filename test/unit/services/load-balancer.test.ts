import { describe, expect, it } from 'vitest';
import type { KubeObject } from '../../../shared/resources';
import { resourceByName } from '../../../shared/resources';
import type { RegistryContext } from '../../../shared/registry/context';
import type { Allocations } from '../../../shared/store/allocations';
import { defaultService, prepareServiceUpdate, validateService } from '../../../shared/services/validation';
import { allocateService, releaseService } from '../../../shared/services/allocator';
import { claimAddress, loadBalancerRange, rangeAddresses, servedByUs, LB_POOL, POOL_TENANT } from '../../../shared/services/load-balancer';
import { LoadBalancerAddresses } from '../../../shared/registry/plugins/load-balancer-addresses';
import { StatusError } from '../../../shared/errors';

/** An in-memory stand-in for the allocation items (conditional put / owner-conditional delete). */
class FakeAllocations {
  readonly items = new Map<string, string>();
  private k = (t: string, p: string, v: string) => `${t}|${p}|${v}`;
  async claim(t: string, p: string, v: string, owner: string) {
    if (this.items.has(this.k(t, p, v))) return false;
    this.items.set(this.k(t, p, v), owner);
    return true;
  }
  async release(t: string, p: string, v: string, owner: string) {
    if (this.items.get(this.k(t, p, v)) === owner) this.items.delete(this.k(t, p, v));
  }
  async holder(t: string, p: string, v: string) {
    return this.items.get(this.k(t, p, v));
  }
  async held(t: string, p: string) {
    return new Set([...this.items.keys()].filter((k) => k.startsWith(`${t}|${p}|`)).map((k) => k.split('|')[2]!));
  }
}

const ctxWith = (alloc: FakeAllocations, config: Record<string, string> = {}): RegistryContext =>
  ({ tenant: 't1', store: { config, allocations: alloc as unknown as Allocations } }) as unknown as RegistryContext;
const svc = (spec: Record<string, unknown>, status?: unknown, name = 'web'): KubeObject => ({ metadata: { name, namespace: 'default' }, spec, ...(status ? { status } : {}) });
const causes = (o: KubeObject, old?: KubeObject) => validateService(defaultService(o), old && defaultService(old)).map((c) => `${c.field}: ${c.message}`);

describe('healthCheckNodePort and loadBalancerClass validation (validateServiceExternalTrafficPolicy, validateLoadBalancerClassField)', () => {
  it.each([
    ['LoadBalancer Local with a port', { type: 'LoadBalancer', externalTrafficPolicy: 'Local', healthCheckNodePort: 30100, ports: [{ port: 80 }] }, []],
    ['on a NodePort Service', { type: 'NodePort', externalTrafficPolicy: 'Local', healthCheckNodePort: 30100, ports: [{ port: 80 }] }, ["spec.healthCheckNodePort: Invalid value: 30100: may only be set when `type` is 'LoadBalancer' and `externalTrafficPolicy` is 'Local'"]],
    ['with policy Cluster', { type: 'LoadBalancer', healthCheckNodePort: 30100, ports: [{ port: 80 }] }, ["spec.healthCheckNodePort: Invalid value: 30100: may only be set when `type` is 'LoadBalancer' and `externalTrafficPolicy` is 'Local'"]],
    ['out of range', { type: 'LoadBalancer', externalTrafficPolicy: 'Local', healthCheckNodePort: 70000, ports: [{ port: 80 }] }, ['spec.healthCheckNodePort: Invalid value: 70000: must be between 1 and 65535, inclusive']],
    ['a qualified class', { type: 'LoadBalancer', loadBalancerClass: 'example.com/lb', ports: [{ port: 80 }] }, []],
    ['a bad class', { type: 'LoadBalancer', loadBalancerClass: 'Not Valid!', ports: [{ port: 80 }] }, [expect.stringMatching(/^spec\.loadBalancerClass: Invalid value: "Not Valid!": name part must consist of alphanumeric characters/)]],
    ['class on a ClusterIP Service', { loadBalancerClass: 'example.com/lb', ports: [{ port: 80 }] }, ["spec.loadBalancerClass: Forbidden: may only be used when `type` is 'LoadBalancer'"]],
  ])('%s', (_n, spec, want) => {
    // Assess
    expect(causes(svc(spec))).toEqual(want);
  });

  it.each([
    ['healthCheckNodePort is immutable', { healthCheckNodePort: 30100 }, { healthCheckNodePort: 30101 }, ['spec.healthCheckNodePort: Forbidden: field is immutable']],
    ['loadBalancerClass may not change', { loadBalancerClass: 'a.com/x' }, { loadBalancerClass: 'b.com/y' }, ['spec.loadBalancerClass: Invalid value: "b.com/y": may not change once set']],
    ['loadBalancerClass may not be unset', { loadBalancerClass: 'a.com/x' }, {}, ['spec.loadBalancerClass: Invalid value: null: may not change once set']],
  ])('update: %s', (_n, before, after, want) => {
    // Prepare
    const base = { type: 'LoadBalancer', externalTrafficPolicy: 'Local', ports: [{ port: 80 }] };
    // Assess
    expect(causes(svc({ ...base, ...after }), svc({ ...base, ...before }))).toEqual(want);
  });

  it('an update without healthCheckNodePort keeps it; a change to Cluster drops it, and LoadBalancer to ClusterIP drops the class', () => {
    // Prepare
    const old = defaultService(svc({ type: 'LoadBalancer', externalTrafficPolicy: 'Local', healthCheckNodePort: 30100, loadBalancerClass: 'a.com/x', ports: [{ port: 80 }] }));
    // Act
    const kept = prepareServiceUpdate(defaultService(svc({ type: 'LoadBalancer', externalTrafficPolicy: 'Local', loadBalancerClass: 'a.com/x', ports: [{ port: 80 }] })), old);
    const cluster = prepareServiceUpdate(defaultService(svc({ ...(old.spec as object), externalTrafficPolicy: 'Cluster' })), old);
    const plain = prepareServiceUpdate(defaultService(svc({ ...(old.spec as object), type: 'ClusterIP', externalTrafficPolicy: undefined })), old);
    // Assess
    expect(kept.spec).toMatchObject({ healthCheckNodePort: 30100 });
    expect((cluster.spec as { healthCheckNodePort?: number }).healthCheckNodePort).toBeUndefined();
    expect((plain.spec as { loadBalancerClass?: string }).loadBalancerClass).toBeUndefined();
    expect(causes(plain, old)).toEqual([]);
  });
});

describe('healthCheckNodePort allocation (allocHealthCheckNodePort)', () => {
  const lbLocal = (extra: Record<string, unknown> = {}) => defaultService(svc({ type: 'LoadBalancer', externalTrafficPolicy: 'Local', clusterIP: '10.96.0.20', ports: [{ port: 80, nodePort: 30080 }], ...extra }));

  it('allocates one from the NodePort range and releases it with the Service', async () => {
    // Prepare
    const alloc = new FakeAllocations();
    // Act
    const { object, commit } = await allocateService(ctxWith(alloc), lbLocal(), undefined, false);
    await commit();
    const port = (object.spec as { healthCheckNodePort?: number }).healthCheckNodePort!;
    const heldBefore = await alloc.holder('t1', 'nodeport', String(port));
    await releaseService(ctxWith(alloc), object);
    // Assess
    expect(port).toBeGreaterThanOrEqual(30000);
    expect(port).toBeLessThanOrEqual(32767);
    expect(port).not.toBe(30080);
    expect(heldBefore).toBe('default/web');
    expect(alloc.items.size).toBe(0);
  });

  it.each([
    ['taken', 30080, 'Internal error occurred: failed to allocate requested HealthCheck NodePort 30080: provided port is already allocated'],
    ['out of range', 40000, 'Internal error occurred: failed to allocate requested HealthCheck NodePort 40000: provided port is not in the valid range. The range of valid ports is 30000-32767'],
  ])('a requested port %s is a 500 in Kubernetes words', async (_n, port, message) => {
    // Prepare
    const alloc = new FakeAllocations();
    // Act
    const err = await allocateService(ctxWith(alloc), lbLocal({ healthCheckNodePort: port }), undefined, false).catch((e: unknown) => e);
    // Assess
    expect(err).toBeInstanceOf(StatusError);
    expect((err as StatusError).code).toBe(500);
    expect((err as StatusError).message).toBe(message);
    expect(alloc.items.size).toBe(0); // the ClusterIP and NodePort claimed before were given back
  });

  it('Local to Cluster gives the port back on commit', async () => {
    // Prepare
    const alloc = new FakeAllocations();
    const first = await allocateService(ctxWith(alloc), lbLocal({ healthCheckNodePort: 30100 }), undefined, false);
    await first.commit();
    const next = prepareServiceUpdate(defaultService(svc({ ...(first.object.spec as object), externalTrafficPolicy: 'Cluster' })), first.object);
    // Act
    const second = await allocateService(ctxWith(alloc), next, first.object, false);
    await second.commit();
    // Assess
    expect(await alloc.holder('t1', 'nodeport', '30100')).toBeUndefined();
    expect(await alloc.holder('t1', 'nodeport', '30080')).toBe('default/web');
  });
});

describe('load balancer addresses', () => {
  it('come from 127.240.0.0/12 by default, one per Service across clusters', async () => {
    // Prepare
    const alloc = new FakeAllocations();
    const range = loadBalancerRange({});
    // Act
    const a = await claimAddress(alloc as unknown as Allocations, range, 'c1/default/web');
    const b = await claimAddress(alloc as unknown as Allocations, range, 'c2/default/web');
    // Assess
    expect(range.cidr).toBe('127.240.0.0/12');
    expect(a).toMatch(/^127\.(24\d|25[0-5])\./);
    expect(b).not.toBe(a);
    expect(await alloc.holder(POOL_TENANT, LB_POOL, a!)).toBe('c1/default/web');
  });

  it('a full range gives none', async () => {
    // Prepare
    const alloc = new FakeAllocations();
    const range = loadBalancerRange({ loadBalancerCidr: '127.250.0.0/30' });
    // Act
    const got = [];
    for (let i = 0; i < 3; i++) got.push(await claimAddress(alloc as unknown as Allocations, range, `c/default/s${i}`));
    // Assess
    expect(got.slice(0, 2).sort()).toEqual(['127.250.0.1', '127.250.0.2']);
    expect(got[2]).toBeUndefined();
  });

  it.each([
    [{ type: 'LoadBalancer' }, true],
    [{ type: 'LoadBalancer', loadBalancerClass: 'stratus.dev/local-loadbalancer' }, true],
    [{ type: 'LoadBalancer', loadBalancerClass: 'example.com/other' }, false],
    [{ type: 'NodePort' }, false],
  ])('served by us: %j → %s', (spec, want) => {
    // Assess
    expect(servedByUs(spec)).toBe(want);
  });

  it('a removed Service gives its address back', async () => {
    // Prepare
    const alloc = new FakeAllocations();
    await alloc.claim(POOL_TENANT, LB_POOL, '127.240.0.9', 't1/default/web');
    const obj = defaultService(svc({ type: 'LoadBalancer', clusterIP: '10.96.0.20', ports: [{ port: 80 }] }, { loadBalancer: { ingress: [{ ip: '127.240.0.9', ipMode: 'VIP' }] } }));
    // Act
    await releaseService(ctxWith(alloc), obj);
    // Assess
    expect(alloc.items.size).toBe(0);
    expect(rangeAddresses(obj, loadBalancerRange())).toEqual(['127.240.0.9']);
  });
});

describe('LoadBalancerAddresses admission', () => {
  const attrs = (object: KubeObject, oldObject?: KubeObject) => ({ operation: 'UPDATE' as const, rt: resourceByName('services'), subresource: 'status', name: 'web', object, oldObject, dryRun: false });
  const user = { ...ctxWith(new FakeAllocations()), user: { username: 'alice', groups: [] } } as RegistryContext;
  const withIp = (ip: string) => svc({ type: 'LoadBalancer' }, { loadBalancer: { ingress: [{ ip }] } });

  it.each([
    ['a user adding an address of the range', withIp('127.240.0.5'), svc({ type: 'LoadBalancer' }), user, 'Service "web" is invalid: status.loadBalancer.ingress[0].ip: Forbidden: 127.240.0.5 is in the load balancer range 127.240.0.0/12, whose addresses only the load balancer controller assigns'],
    ['a user keeping the address held', withIp('127.240.0.5'), withIp('127.240.0.5'), user, undefined],
    ['a user writing an address outside the range (another class)', withIp('203.0.113.7'), svc({ type: 'LoadBalancer' }), user, undefined],
    ['the system', withIp('127.240.0.5'), svc({ type: 'LoadBalancer' }), ctxWith(new FakeAllocations()), undefined],
  ])('%s', (_n, object, old, ctx, want) => {
    // Act
    let got: string | undefined;
    try {
      void LoadBalancerAddresses.validate!(attrs(object, old), ctx);
    } catch (e) {
      got = (e as Error).message;
    }
    // Assess
    expect(got).toBe(want);
  });
});
