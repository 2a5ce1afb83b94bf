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
import { retryDelayMs, syncLoadBalancer } from '../../../functions/controllers/loadbalancer';
import type { ControllerContext } from '../../../functions/controllers/apply';

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

describe('loadBalancerSourceRanges validation (ValidateService: the field, else the annotation)', () => {
  const ANN = 'service.beta.kubernetes.io/load-balancer-source-ranges';
  const annotated = (value: string, spec: Record<string, unknown>): KubeObject => ({ metadata: { name: 'web', namespace: 'default', annotations: { [ANN]: value } }, spec });
  const CIDR = 'must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)';
  it.each([
    ['IPv4 and IPv6 ranges, space-padded', svc({ type: 'LoadBalancer', loadBalancerSourceRanges: [' 10.0.0.0/8 ', '2001:db8::/64', '0.0.0.0/0', '010.1.2.3/32'], ports: [{ port: 80 }] }), []],
    ['not CIDRs', svc({ type: 'LoadBalancer', loadBalancerSourceRanges: ['10.0.0.1', '10.0.0.0/33', 'foo/8', ' '], ports: [{ port: 80 }] }), [`spec.LoadBalancerSourceRanges[0]: Invalid value: "10.0.0.1": ${CIDR}`, `spec.LoadBalancerSourceRanges[1]: Invalid value: "10.0.0.0/33": ${CIDR}`, `spec.LoadBalancerSourceRanges[2]: Invalid value: "foo/8": ${CIDR}`, `spec.LoadBalancerSourceRanges[3]: Invalid value: "": ${CIDR}`]],
    ['on a NodePort Service', svc({ type: 'NodePort', loadBalancerSourceRanges: ['10.0.0.0/8'], ports: [{ port: 80 }] }), ["spec.LoadBalancerSourceRanges: Forbidden: may only be used when `type` is 'LoadBalancer'"]],
    ['the annotation', annotated('10.0.0.0/8, 192.168.0.0/16', { type: 'LoadBalancer', ports: [{ port: 80 }] }), []],
    ['an empty annotation', annotated('  ', { type: 'LoadBalancer', ports: [{ port: 80 }] }), []],
    ['a bad annotation', annotated('10.0.0.0/8,nope', { type: 'LoadBalancer', ports: [{ port: 80 }] }), [`metadata.annotations[${ANN}]: Invalid value: "nope": ${CIDR}`]],
    ['the annotation on a ClusterIP Service', annotated('10.0.0.0/8', { ports: [{ port: 80 }] }), [`metadata.annotations[${ANN}]: Forbidden: may only be used when \`type\` is 'LoadBalancer'`]],
    ['the annotation is not read when the field is set', annotated('nope', { type: 'LoadBalancer', loadBalancerSourceRanges: ['10.0.0.0/8'], ports: [{ port: 80 }] }), []],
  ])('%s', (_n, o, want) => {
    // Assess
    expect(causes(o)).toEqual(want);
  });
});

describe('spec.loadBalancerIP (the loadbalancers controller)', () => {
  /** One stored Service, the events written and the timers asked for, over FakeAllocations. */
  function world(spec: Record<string, unknown>, status?: unknown) {
    const alloc = new FakeAllocations();
    let obj: KubeObject = { ...defaultService(svc({ type: 'LoadBalancer', clusterIP: '10.96.0.20', ports: [{ port: 80 }], ...spec }, status)), metadata: { name: 'web', namespace: 'default', resourceVersion: '1' } };
    const events: string[] = [];
    const timers: [string, number][] = [];
    const now = new Date('2026-01-01T00:00:00Z');
    const ctx = {
      tenant: 't1',
      now,
      store: {
        config: {},
        allocations: alloc,
        get: async () => obj,
        update: async (_t: string, _rt: unknown, o: KubeObject) => (obj = { ...o, metadata: { ...o.metadata, resourceVersion: String(Number(o.metadata.resourceVersion) + 1) } }),
        create: async (_t: string, _rt: unknown, e: KubeObject) => {
          events.push(`${(e as unknown as { type: string }).type} ${(e as unknown as { reason: string }).reason}: ${(e as unknown as { message: string }).message}`);
          return e;
        },
      },
      coordination: { requeueAt: async (_t: string, key: string, at: Date) => void timers.push([key, at.getTime() - now.getTime()]) },
    } as unknown as ControllerContext;
    return {
      alloc,
      events,
      timers,
      sync: () => syncLoadBalancer(ctx, 'default', 'web'),
      set: (s: Record<string, unknown>) => (obj = { ...obj, spec: { ...(obj.spec as object), ...s } }),
      ip: () => (obj.status as { loadBalancer?: { ingress?: { ip: string }[] } } | undefined)?.loadBalancer?.ingress?.[0]?.ip,
    };
  }

  it('a free address of the range is the one allocated', async () => {
    // Prepare
    const w = world({ loadBalancerIP: '127.240.0.42' });
    // Act
    await w.sync();
    // Assess
    expect(w.ip()).toBe('127.240.0.42');
    expect(await w.alloc.holder(POOL_TENANT, LB_POOL, '127.240.0.42')).toBe('t1/default/web');
    expect(w.events).toEqual(['Normal EnsuringLoadBalancer: Ensuring load balancer', 'Normal EnsuredLoadBalancer: Ensured load balancer']);
  });

  it.each([
    ['taken (by any cluster)', '127.240.0.42', 'requested load balancer IP "127.240.0.42" is already in use'],
    ['out of the range', '10.0.0.5', 'requested load balancer IP "10.0.0.5" is not in the load balancer range 127.240.0.0/12'],
    ['the range\'s broadcast address', '127.255.255.255', 'requested load balancer IP "127.255.255.255" is not in the load balancer range 127.240.0.0/12'],
    ['not an address', 'nope', 'requested load balancer IP "nope" is not a valid IPv4 address'],
  ])('%s: pending, a Warning event, and a retry', async (_n, ip, problem) => {
    // Prepare
    const w = world({ loadBalancerIP: ip });
    await w.alloc.claim(POOL_TENANT, LB_POOL, '127.240.0.42', 'other/default/web');
    // Act
    await w.sync();
    // Assess
    expect(w.ip()).toBeUndefined();
    expect(w.events).toEqual([`Warning SyncLoadBalancerFailed: Error syncing load balancer: failed to ensure load balancer: ${problem}`]);
    expect(w.timers).toEqual([['loadbalancers||default|web', 300_000]]);
    expect([...w.alloc.items.values()]).toEqual(['other/default/web']);
  });

  it('the retry takes the address once it is free', async () => {
    // Prepare
    const w = world({ loadBalancerIP: '127.240.0.42' });
    await w.alloc.claim(POOL_TENANT, LB_POOL, '127.240.0.42', 'other/default/web');
    await w.sync();
    await w.alloc.release(POOL_TENANT, LB_POOL, '127.240.0.42', 'other/default/web');
    // Act
    await w.sync();
    // Assess
    expect(w.ip()).toBe('127.240.0.42');
  });

  it('a change moves the Service to the new address and gives the old one back; one it cannot have keeps it where it is', async () => {
    // Prepare
    const w = world({});
    await w.sync();
    const first = w.ip()!;
    await w.alloc.claim(POOL_TENANT, LB_POOL, '127.240.0.43', 'other/default/db');
    // Act
    w.set({ loadBalancerIP: '127.240.0.42' });
    await w.sync();
    const moved = w.ip();
    w.set({ loadBalancerIP: '127.240.0.43' });
    await w.sync();
    const kept = w.ip();
    // Assess
    expect(moved).toBe('127.240.0.42');
    expect(await w.alloc.holder(POOL_TENANT, LB_POOL, first)).toBeUndefined();
    expect(kept).toBe('127.240.0.42');
    expect(w.events.at(-1)).toBe('Warning SyncLoadBalancerFailed: Error syncing load balancer: failed to ensure load balancer: requested load balancer IP "127.240.0.43" is already in use');
    expect(await w.alloc.holder(POOL_TENANT, LB_POOL, '127.240.0.42')).toBe('t1/default/web');
  });

  it.each([
    ['just created', '2026-01-01T00:00:00Z', 5_000],
    ['a minute old', '2025-12-31T23:59:00Z', 30_000],
    ['an hour old', '2025-12-31T23:00:00Z', 300_000],
    ['no creationTimestamp', undefined, 300_000],
  ])('retry delay (backs off as the Service ages, 5 s to 5 min): %s', (_n, created, want) => {
    // Assess
    expect(retryDelayMs({ metadata: { name: 'web', ...(created ? { creationTimestamp: created } : {}) } }, new Date('2026-01-01T00:00:00Z'))).toBe(want);
  });

  it('another class is left alone, loadBalancerIP or not', async () => {
    // Prepare
    const w = world({ loadBalancerClass: 'example.com/other', loadBalancerIP: '127.240.0.42' });
    // Act
    await w.sync();
    // Assess
    expect(w.ip()).toBeUndefined();
    expect(w.alloc.items.size).toBe(0);
    expect(w.events).toEqual([]);
  });
});

describe('allocateLoadBalancerNodePorts (the service storage)', () => {
  const lb = (extra: Record<string, unknown>, ports: Record<string, unknown>[] = [{ port: 80 }]) => defaultService(svc({ type: 'LoadBalancer', clusterIP: '10.96.0.20', ports, ...extra }));
  const nodePorts = (o: KubeObject) => ((o.spec as { ports: { nodePort?: number }[] }).ports).map((p) => p.nodePort);

  it('false: no NodePort allocated, but one asked for is held', async () => {
    // Prepare
    const alloc = new FakeAllocations();
    // Act
    const none = await allocateService(ctxWith(alloc), lb({ allocateLoadBalancerNodePorts: false }), undefined, false);
    const asked = await allocateService(ctxWith(alloc), { ...lb({ allocateLoadBalancerNodePorts: false, clusterIP: '10.96.0.21' }, [{ name: 'a', port: 80, nodePort: 30080 }, { name: 'b', port: 81 }]), metadata: { name: 'asked', namespace: 'default' } }, undefined, false);
    // Assess
    expect(nodePorts(none.object)).toEqual([undefined]);
    expect(nodePorts(asked.object)).toEqual([30080, undefined]);
    expect(await alloc.holder('t1', 'nodeport', '30080')).toBe('default/asked');
  });

  it('turned off later: the NodePorts stay (an update that leaves them out keeps them), as Kubernetes keeps them', async () => {
    // Prepare
    const alloc = new FakeAllocations();
    const first = await allocateService(ctxWith(alloc), lb({}), undefined, false);
    await first.commit();
    const port = nodePorts(first.object)[0]!;
    const next = prepareServiceUpdate(lb({ allocateLoadBalancerNodePorts: false }), first.object);
    // Act
    const second = await allocateService(ctxWith(alloc), next, first.object, false);
    await second.commit();
    // Assess
    expect(nodePorts(second.object)).toEqual([port]);
    expect(await alloc.holder('t1', 'nodeport', String(port))).toBe('default/web');
    expect(causes(second.object, first.object)).toEqual([]);
  });

  it('on another type it is forbidden', () => {
    // Assess
    expect(causes(svc({ type: 'NodePort', allocateLoadBalancerNodePorts: false, ports: [{ port: 80 }] }))).toEqual(["spec.allocateLoadBalancerNodePorts: Forbidden: may only be used when `type` is 'LoadBalancer'"]);
  });
});
