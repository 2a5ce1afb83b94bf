import { afterEach, describe, expect, it, vi } from 'vitest';
import { amount, formatAmount } from '../../shared/quota/quantity';
import { chargeOf, podConstraintsProblem, podUsage, positiveDelta, updateCharged, usageOf } from '../../shared/quota/usage';
import { livePending, PENDING_TTL_MS, pendingCounts, readPending, withUsage } from '../../shared/quota/recompute';
import { aggregate, applyContainerDefaults, claimViolations, LIMIT_RANGER_ANNOTATION, podViolations } from '../../shared/registry/plugins/limit-ranger';
import { LimitRangeSchema, ResourceQuotaSchema, type LimitRange, type ResourceQuota } from '../../shared/schemas/quota';
import { resourceByName, type KubeObject } from '../../shared/resources';
import { formatAmounts } from '../../shared/quota/quantity';
import { bumpQuotaGeneration, policyObjects } from '../../shared/quota/presence';
import { quotaKeysFor } from '../../functions/controllers/resourcequota';

const NOW = Date.parse('2026-01-01T00:00:00Z');
const quota = (spec: ResourceQuota['spec']): ResourceQuota => ResourceQuotaSchema.parse({ metadata: { name: 'q', namespace: 'ns' }, spec });
const limitRange = (limits: unknown[]): LimitRange => LimitRangeSchema.parse(resourceByName('limitranges').applyDefaults({ metadata: { name: 'lr', namespace: 'ns' }, spec: { limits } } as KubeObject));
type Res = { requests?: Record<string, string>; limits?: Record<string, string> };
const pod = (containers: Res[], extra: Record<string, unknown> = {}, init: Res[] = [], meta: Record<string, unknown> = {}): KubeObject => ({
  metadata: { name: 'p', namespace: 'ns', ...meta },
  spec: { containers: containers.map((resources, i) => ({ name: `c${i}`, image: 'i', resources })), ...(init.length ? { initContainers: init.map((resources, i) => ({ name: `i${i}`, image: 'i', resources })) } : {}), ...extra },
});
const pods = resourceByName('pods');
const fmt = (l: Record<string, { milli: number; binary: boolean }>) => formatAmounts(l);

describe('quantities print as Kubernetes prints them', () => {
  it.each([
    ['100m', '100m'],
    ['0.5', '500m'],
    ['2', '2'],
    ['2000m', '2'],
    ['1Gi', '1Gi'],
    ['1536Mi', '1536Mi'],
    ['1024Mi', '1Gi'],
    ['2000', '2k'],
    ['1G', '1G'],
    ['0', '0'],
  ])('%s → %s', (q, printed) => {
    expect(formatAmount(amount(q)!)).toBe(printed);
  });
});

describe('quota usage per resource and scope', () => {
  const full = { requests: { cpu: '250m', memory: '64Mi', 'ephemeral-storage': '1Gi' }, limits: { cpu: '500m', memory: '128Mi' } };
  it.each<[string, ResourceQuota['spec'], KubeObject, Record<string, string>]>([
    ['object count of pods', { hard: { pods: '2', 'count/pods': '5' } }, pod([{}]), { pods: '1', 'count/pods': '1' }],
    [
      'compute: requests, limits and the cpu/memory aliases, summed over containers',
      { hard: { 'requests.cpu': '2', 'limits.cpu': '2', cpu: '2', memory: '1Gi', 'requests.memory': '1Gi', 'limits.memory': '1Gi', 'requests.ephemeral-storage': '10Gi' } },
      pod([full, full]),
      { 'requests.cpu': '500m', 'limits.cpu': '1', cpu: '500m', memory: '128Mi', 'requests.memory': '128Mi', 'limits.memory': '256Mi', 'requests.ephemeral-storage': '2Gi' },
    ],
    ['an init container larger than the app containers sets the pod request', { hard: { 'requests.cpu': '4' } }, pod([{ requests: { cpu: '100m' } }], {}, [{ requests: { cpu: '1' } }]), { 'requests.cpu': '1' }],
    ['a resource the pod lacks is not charged', { hard: { 'requests.memory': '1Gi', pods: '3' } }, pod([{ requests: { cpu: '1' } }]), { pods: '1' }],
    ['Terminating scope: a pod with activeDeadlineSeconds', { hard: { pods: '1' }, scopes: ['Terminating'] }, pod([{}], { activeDeadlineSeconds: 30 }), { pods: '1' }],
    ['Terminating scope: a pod without', { hard: { pods: '1' }, scopes: ['Terminating'] }, pod([{}]), {}],
    ['NotTerminating scope: a pod without', { hard: { pods: '1' }, scopes: ['NotTerminating'] }, pod([{}]), { pods: '1' }],
    ['BestEffort scope: a pod with no requests', { hard: { pods: '1', 'requests.cpu': '1' }, scopes: ['BestEffort'] }, pod([{}]), { pods: '1' }],
    ['BestEffort scope: a pod with requests', { hard: { pods: '1' }, scopes: ['BestEffort'] }, pod([{ requests: { cpu: '1' } }]), {}],
    ['NotBestEffort scope: a pod with requests', { hard: { pods: '1', 'requests.cpu': '2' }, scopes: ['NotBestEffort'] }, pod([{ requests: { cpu: '1' } }]), { pods: '1', 'requests.cpu': '1' }],
    [
      'PriorityClass In: a pod of that class',
      { hard: { pods: '1' }, scopeSelector: { matchExpressions: [{ scopeName: 'PriorityClass', operator: 'In', values: ['high'] }] } },
      pod([{}], { priorityClassName: 'high' }),
      { pods: '1' },
    ],
    ['PriorityClass In: a pod of another class', { hard: { pods: '1' }, scopeSelector: { matchExpressions: [{ scopeName: 'PriorityClass', operator: 'In', values: ['high'] }] } }, pod([{}], { priorityClassName: 'low' }), {}],
    ['PriorityClass Exists: a pod of no class', { hard: { pods: '1' }, scopeSelector: { matchExpressions: [{ scopeName: 'PriorityClass', operator: 'Exists' }] } }, pod([{}]), {}],
  ])('%s', (_name, spec, p, expected) => {
    expect(fmt(chargeOf(quota(spec), pods, p, NOW))).toEqual(expected);
  });

  it.each<[string, string, KubeObject, Record<string, string>]>([
    ['services: NodePort counts its ports', 'services', { metadata: { name: 's' }, spec: { type: 'NodePort', ports: [{ port: 1 }, { port: 2 }] } }, { services: '1', 'count/services': '1', 'services.nodeports': '2' }],
    ['services: LoadBalancer', 'services', { metadata: { name: 's' }, spec: { type: 'LoadBalancer', ports: [{ port: 1 }] } }, { services: '1', 'count/services': '1', 'services.loadbalancers': '1', 'services.nodeports': '1' }],
    [
      'persistentvolumeclaims: storage, per class too',
      'persistentvolumeclaims',
      { metadata: { name: 'c' }, spec: { storageClassName: 'fast', resources: { requests: { storage: '5Gi' } } } },
      { persistentvolumeclaims: '1', 'count/persistentvolumeclaims': '1', 'requests.storage': '5Gi', 'fast.storageclass.storage.k8s.io/persistentvolumeclaims': '1', 'fast.storageclass.storage.k8s.io/requests.storage': '5Gi' },
    ],
    ['configmaps', 'configmaps', { metadata: { name: 'c' } }, { configmaps: '1', 'count/configmaps': '1' }],
    ['secrets', 'secrets', { metadata: { name: 's' } }, { secrets: '1', 'count/secrets': '1' }],
    ['deployments: count/deployments.apps', 'deployments', { metadata: { name: 'd' } }, { 'count/deployments.apps': '1' }],
  ])('%s', (_name, resource, obj, expected) => {
    expect(fmt(usageOf(resourceByName(resource), obj, NOW))).toEqual(expected);
  });

  it.each<[string, Record<string, unknown>, Record<string, unknown>, Record<string, string>]>([
    ['a running pod counts', { phase: 'Running' }, {}, { 'count/pods': '1', pods: '1', cpu: '1', 'requests.cpu': '1' }],
    ['a Succeeded pod only counts as a stored object', { phase: 'Succeeded' }, {}, { 'count/pods': '1' }],
    ['a Failed pod only counts as a stored object', { phase: 'Failed' }, {}, { 'count/pods': '1' }],
    ['a pod being deleted within its grace still counts', { phase: 'Running' }, { deletionTimestamp: '2026-01-01T00:00:10Z', deletionGracePeriodSeconds: 30 }, { 'count/pods': '1', pods: '1', cpu: '1', 'requests.cpu': '1' }],
    ['a pod past its deletion grace does not', { phase: 'Running' }, { deletionTimestamp: '2025-12-31T23:58:00Z', deletionGracePeriodSeconds: 30 }, { 'count/pods': '1' }],
  ])('%s', (_name, status, meta, expected) => {
    expect(fmt(podUsage({ ...pod([{ requests: { cpu: '1' } }], {}, [], meta), status } as never, NOW))).toEqual(expected);
  });

  it.each<[string, string[], Res[], string | undefined]>([
    ['a compute quota needs each container to say', ['limits.cpu'], [{ limits: { cpu: '1' } }, {}], 'must specify limits.cpu for: c1'],
    ['several resources, sorted, containers listed', ['requests.memory', 'cpu'], [{}, {}], 'must specify cpu for: c0,c1; requests.memory for: c0,c1'],
    ['satisfied', ['requests.cpu'], [{ requests: { cpu: '1' } }], undefined],
    ['object counts need nothing', ['pods'], [{}], undefined],
  ])('constraints: %s', (_name, required, containers, message) => {
    expect(podConstraintsProblem(pod(containers) as never, required)).toBe(message);
  });
});

describe('updates: what a change of a Service or PVC is charged', () => {
  const svc = (type: string, ports = 1, extra: Record<string, unknown> = {}): KubeObject => ({
    metadata: { name: 's', namespace: 'ns' },
    spec: { type, ports: Array.from({ length: ports }, (_, i) => ({ port: 80 + i })), ...extra },
  });
  const pvc = (storage: string, storageClassName = 'standard'): KubeObject => ({ metadata: { name: 'c', namespace: 'ns' }, spec: { storageClassName, resources: { requests: { storage } } } });
  const services = resourceByName('services');
  const claims = resourceByName('persistentvolumeclaims');
  const hard = { services: '10', 'services.nodeports': '4', 'services.loadbalancers': '1', 'requests.storage': '10Gi', 'standard.storageclass.storage.k8s.io/requests.storage': '5Gi', persistentvolumeclaims: '5' };
  it.each<[string, typeof services, KubeObject, KubeObject, Record<string, string>]>([
    ['ClusterIP to NodePort: its node ports, not another service', services, svc('ClusterIP', 2), svc('NodePort', 2), { 'services.nodeports': '2' }],
    ['ClusterIP to LoadBalancer: a load balancer and its node ports', services, svc('ClusterIP'), svc('LoadBalancer'), { 'services.loadbalancers': '1', 'services.nodeports': '1' }],
    ['LoadBalancer without node ports', services, svc('ClusterIP'), svc('LoadBalancer', 1, { allocateLoadBalancerNodePorts: false }), { 'services.loadbalancers': '1' }],
    ['LoadBalancer without node ports but one asked for: that one', services, svc('ClusterIP'), svc('LoadBalancer', 1, { allocateLoadBalancerNodePorts: false, ports: [{ port: 80, nodePort: 30080 }, { port: 81 }] }), { 'services.loadbalancers': '1', 'services.nodeports': '1' }],
    ['NodePort gains a port: one more node port', services, svc('NodePort', 1), svc('NodePort', 2), { 'services.nodeports': '1' }],
    ['NodePort to LoadBalancer: only the load balancer (the node ports were charged)', services, svc('NodePort', 1), svc('LoadBalancer', 1), { 'services.loadbalancers': '1' }],
    ['NodePort to ClusterIP: nothing (the controller releases)', services, svc('NodePort', 2), svc('ClusterIP', 2), {}],
    ['a label change: nothing', services, svc('ClusterIP'), { ...svc('ClusterIP'), metadata: { name: 's', namespace: 'ns', labels: { a: 'b' } } }, {}],
    ['a PVC grown: the increase, in total and for its class', claims, pvc('1Gi'), pvc('3Gi'), { 'requests.storage': '2Gi', 'standard.storageclass.storage.k8s.io/requests.storage': '2Gi' }],
    ['a PVC shrunk: nothing', claims, pvc('3Gi'), pvc('1Gi'), {}],
  ])('%s', (_name, rt, before, after, expected) => {
    const q = quota({ hard });
    expect(fmt(positiveDelta(chargeOf(q, rt, after, NOW), chargeOf(q, rt, before, NOW)))).toEqual(expected);
  });

  it('only Services and PVCs are charged on update (pods and object counts on create only)', () => {
    expect(['services', 'persistentvolumeclaims', 'pods', 'configmaps', 'secrets'].filter((r) => updateCharged(resourceByName(r)))).toEqual(['services', 'persistentvolumeclaims']);
    expect(updateCharged(resourceByName('deployments'))).toBe(false);
  });
});

describe('the pending ledger', () => {
  it.each<[string, string, [string, string][], boolean]>([
    ['a create not listed yet counts', 'pods/a', [], true],
    ['a create once listed does not', 'pods/a', [['pods/a', '5']], false],
    ['an update while its object is listed at the version it updates counts', 'services/s@5', [['services/s', '5']], true],
    ['an update once the object has another version does not', 'services/s@5', [['services/s', '6']], false],
    ['an update of an object gone does not', 'services/s@5', [], false],
  ])('%s', (_name, key, listed, counts) => {
    expect(pendingCounts(key, new Map(listed))).toBe(counts);
  });


  it('writes status.hard from spec, status.used formatted, and the ledger as an annotation; expired entries are dropped', () => {
    // Prepare
    const q = { metadata: { name: 'q', namespace: 'ns' }, spec: { hard: { pods: '2' } } } as KubeObject;
    // Act
    const next = withUsage(q, { pods: amount('1')! }, { 'pods/a': { at: NOW, usage: { pods: '1' } }, 'pods/b': { at: NOW - PENDING_TTL_MS - 1, usage: { pods: '1' } } });
    // Assess
    expect(next.status).toEqual({ hard: { pods: '2' }, used: { pods: '1' } });
    expect(Object.keys(readPending(next))).toEqual(['pods/a', 'pods/b']);
    expect(Object.keys(livePending(readPending(next), NOW))).toEqual(['pods/a']);
    expect(withUsage(next, {}, {}).metadata.annotations).toBeUndefined();
  });
});

describe('LimitRanger', () => {
  it('LimitRange defaults: default from max, defaultRequest from default, else from min (Container items only)', () => {
    const lr = limitRange([
      { type: 'Container', max: { cpu: '2' }, min: { memory: '32Mi' } },
      { type: 'Pod', max: { cpu: '4' } },
    ]);
    expect(lr.spec.limits[0]).toEqual({ type: 'Container', max: { cpu: '2' }, min: { memory: '32Mi' }, default: { cpu: '2' }, defaultRequest: { cpu: '2', memory: '32Mi' } });
    expect(lr.spec.limits[1]).toEqual({ type: 'Pod', max: { cpu: '4' } });
  });

  it('applies defaults only to what containers and init containers lack, and says so in an annotation', () => {
    // Prepare
    const lr = limitRange([{ type: 'Container', default: { cpu: '500m', memory: '128Mi' }, defaultRequest: { cpu: '100m', memory: '64Mi' } }]);
    // Act
    const out = applyContainerDefaults(pod([{ limits: { cpu: '1' } }], {}, [{}]), [lr]);
    // Assess
    const spec = out.spec as { containers: { resources: Res }[]; initContainers: { resources: Res }[] };
    expect(spec.containers[0]!.resources).toEqual({ requests: { cpu: '100m', memory: '64Mi' }, limits: { cpu: '1', memory: '128Mi' } });
    expect(spec.initContainers[0]!.resources).toEqual({ requests: { cpu: '100m', memory: '64Mi' }, limits: { cpu: '500m', memory: '128Mi' } });
    expect(out.metadata.annotations?.[LIMIT_RANGER_ANNOTATION]).toBe(
      'LimitRanger plugin set: cpu, memory request for container c0; memory limit for container c0; cpu, memory request for init container i0; cpu, memory limit for init container i0',
    );
  });

  it.each<[string, unknown[], Res[], string[]]>([
    ['max: limit over', [{ type: 'Container', max: { cpu: '1' } }], [{ requests: { cpu: '1' }, limits: { cpu: '2' } }], ['maximum cpu usage per Container is 1, but limit is 2']],
    ['max: no limit', [{ type: 'Container', max: { cpu: '1' }, default: {} }], [{ requests: { cpu: '1' } }], ['maximum cpu usage per Container is 1.  No limit is specified']],
    ['min: request under', [{ type: 'Container', min: { memory: '64Mi' } }], [{ requests: { memory: '32Mi' }, limits: { memory: '64Mi' } }], ['minimum memory usage per Container is 64Mi, but request is 32Mi']],
    ['min: no request', [{ type: 'Container', min: { memory: '64Mi' } }], [{}], ['minimum memory usage per Container is 64Mi.  No request is specified']],
    ['ratio: over', [{ type: 'Container', maxLimitRequestRatio: { cpu: '2' } }], [{ requests: { cpu: '100m' }, limits: { cpu: '500m' } }], ['cpu max limit to request ratio per Container is 2, but provided ratio is 5.000000']],
    ['ratio: no request', [{ type: 'Container', maxLimitRequestRatio: { cpu: '2' } }], [{ limits: { cpu: '500m' } }], ['cpu max limit to request ratio per Container is 2, but no request is specified or request is 0']],
    ['Pod: the containers\' sum', [{ type: 'Pod', max: { cpu: '1' } }], [{ requests: { cpu: '500m' }, limits: { cpu: '600m' } }, { requests: { cpu: '500m' }, limits: { cpu: '600m' } }], ['maximum cpu usage per Pod is 1, but limit is 1200m']],
    ['within bounds', [{ type: 'Container', min: { cpu: '100m' }, max: { cpu: '1' }, maxLimitRequestRatio: { cpu: '4' } }], [{ requests: { cpu: '250m' }, limits: { cpu: '1' } }], []],
  ])('%s', (_name, limits, containers, errs) => {
    expect(podViolations(pod(containers), [limitRange(limits)])).toEqual(errs);
  });

  it('several violations are aggregated as Kubernetes does', () => {
    expect(aggregate(['a'])).toBe('a');
    expect(aggregate(['a', 'b'])).toBe('[a, b]');
  });

  it.each<[string, string | undefined, string[]]>([
    ['over max', '10Gi', ['maximum storage usage per PersistentVolumeClaim is 5Gi, but request is 10Gi']],
    ['under min', '500Mi', ['minimum storage usage per PersistentVolumeClaim is 1Gi, but request is 500Mi']],
    ['within', '2Gi', []],
  ])('PersistentVolumeClaim: %s', (_name, storage, errs) => {
    const claim = { metadata: { name: 'c' }, spec: { resources: { requests: storage ? { storage } : {} } } } as KubeObject;
    expect(claimViolations(claim, [limitRange([{ type: 'PersistentVolumeClaim', min: { storage: '1Gi' }, max: { storage: '5Gi' } }])])).toEqual(errs);
  });
});

describe('the kinds', () => {
  const rq = resourceByName('resourcequotas');
  const lrt = resourceByName('limitranges');
  it.each<[string, Record<string, unknown>, string[]]>([
    ['a negative hard', { hard: { pods: '-1' } }, ['spec.hard[pods]']],
    ['a fraction of an object count', { hard: { pods: '1500m' } }, ['spec.hard[pods]']],
    ['an unknown scope', { hard: { pods: '1' }, scopes: ['Sometimes'] }, ['spec.scopes[0]']],
    ['conflicting scopes', { hard: { pods: '1' }, scopes: ['Terminating', 'NotTerminating'] }, ['spec.scopes']],
    ['In without values', { hard: { pods: '1' }, scopeSelector: { matchExpressions: [{ scopeName: 'PriorityClass', operator: 'In' }] } }, ['spec.scopeSelector.matchExpressions[0].values']],
    ['valid', { hard: { pods: '10', 'requests.cpu': '1500m' }, scopes: ['NotBestEffort'] }, []],
  ])('ResourceQuota validation: %s', (_name, spec, fields) => {
    const obj = rq.schema.parse({ metadata: { name: 'q', namespace: 'ns' }, spec }) as KubeObject;
    expect(rq.validate(obj).map((c) => c.field)).toEqual(fields);
  });

  it.each<[string, unknown[], string[]]>([
    ['min over max', [{ type: 'Container', min: { cpu: '2' }, max: { cpu: '1' } }], ['spec.limits[0].min[cpu]', 'spec.limits[0].defaultRequest[cpu]', 'spec.limits[0].default[cpu]']],
    ['default on a Pod item', [{ type: 'Pod', default: { cpu: '1' } }], ['spec.limits[0].default']],
    ['a ratio under 1', [{ type: 'Container', maxLimitRequestRatio: { cpu: '500m' } }], ['spec.limits[0].maxLimitRequestRatio[cpu]']],
    ['an unknown type', [{ type: 'Node' }], ['spec.limits[0].type']],
  ])('LimitRange validation: %s', (_name, limits, fields) => {
    const obj = lrt.applyDefaults(lrt.schema.parse({ metadata: { name: 'l', namespace: 'ns' }, spec: { limits } }) as KubeObject);
    expect(lrt.validate(obj).map((c) => c.field)).toEqual(fields);
  });

  it('ResourceQuota columns: NAME, AGE, REQUEST, LIMIT as `name: used/hard`, limits.* apart', () => {
    const now = Date.parse('2026-01-01T00:01:00Z');
    const obj = { metadata: { name: 'q', creationTimestamp: '2026-01-01T00:00:00Z' }, status: { hard: { pods: '2', 'limits.cpu': '2', 'requests.memory': '1Gi' }, used: { pods: '1', 'limits.cpu': '500m' } } } as KubeObject;
    expect(rq.table!.columns.map((c) => c.name)).toEqual(['Name', 'Age', 'Request', 'Limit']);
    expect(rq.table!.cells(obj, now)).toEqual(['q', '60s', 'pods: 1/2, requests.memory: 0/1Gi', 'limits.cpu: 500m/2']);
  });

  it('LimitRange columns: NAME, CREATED AT', () => {
    expect(lrt.table!.columns.map((c) => c.name)).toEqual(['Name', 'Created At']);
    expect(lrt.table!.cells({ metadata: { name: 'l', creationTimestamp: '2026-01-01T00:00:00Z' } } as KubeObject, 0)).toEqual(['l', '2026-01-01T00:00:00Z']);
  });

  it('status starts empty on create (the quota controller fills it in)', () => {
    const created = rq.prepareForCreate!({ metadata: { name: 'q' }, spec: { hard: { pods: '1' } }, status: { used: { pods: '0' } } } as KubeObject);
    expect(created.status).toBeUndefined();
  });
});

describe('quota presence: no read per create in a namespace without quotas', () => {
  /** A store whose DynamoDB client holds only the generation counter, counting reads. */
  const fakeStore = () => {
    let gen = 0;
    const calls = { reads: 0 };
    const doc = {
      send: (cmd: { constructor: { name: string } }) => {
        if (cmd.constructor.name === 'GetCommand') {
          calls.reads++;
          return Promise.resolve({ Item: { gen } });
        }
        gen++;
        return Promise.resolve({});
      },
    };
    return { store: { doc, config: { changesTable: 'changes' } } as never, calls };
  };

  it('lists a namespace once, remembers it empty, and lists again after a quota create anywhere in the cluster', async () => {
    // Prepare
    const { store, calls } = fakeStore();
    const tenant = `t-${Math.random()}`;
    let lists = 0;
    let present: string[] = [];
    const list = () => {
      lists++;
      return Promise.resolve(present);
    };
    // Act + Assess: first create lists, the next ones within the second do not
    expect(await policyObjects(store, tenant, 'resourcequotas', 'ns', list)).toEqual([]);
    expect(await policyObjects(store, tenant, 'resourcequotas', 'ns', list)).toEqual([]);
    expect(await policyObjects(store, tenant, 'resourcequotas', 'ns', list)).toEqual([]);
    expect(lists).toBe(1);
    expect(calls.reads).toBe(1);
    // another kind or namespace is its own question
    await policyObjects(store, tenant, 'limitranges', 'ns', list);
    expect(lists).toBe(2);
    // Act: a quota is created (its commit bumps the generation)
    present = ['q'];
    await bumpQuotaGeneration(store, tenant);
    // Assess: seen at once on this instance, and never remembered as present
    expect(await policyObjects(store, tenant, 'resourcequotas', 'ns', list)).toEqual(['q']);
    expect(await policyObjects(store, tenant, 'resourcequotas', 'ns', list)).toEqual(['q']);
    expect(lists).toBe(4);
  });

  afterEach(() => {
    vi.useRealTimers();
  });

  it('a quota create answers only once no other instance can take its namespace for one without quotas', async () => {
    // Prepare: two api instances (two loads of the modules, each with its own cache) on one cluster
    vi.useFakeTimers();
    const { store } = fakeStore();
    const tenant = `t-${Math.random()}`;
    vi.resetModules();
    const creator = await import('../../shared/resources');
    vi.resetModules();
    const other = await import('../../shared/quota/presence');
    let present: string[] = [];
    const list = () => Promise.resolve(present);
    // the other instance admits a create in the namespace before the quota exists: remembered empty
    expect(await other.policyObjects(store, tenant, 'resourcequotas', 'ns', list)).toEqual([]);
    await vi.advanceTimersByTimeAsync(100);
    // Act: the quota is created on the first instance (stored, then its allocation's commit)
    present = ['q'];
    const quotaObj = { apiVersion: 'v1', kind: 'ResourceQuota', metadata: { name: 'q', namespace: 'ns' }, spec: { hard: { pods: '1' } } } as KubeObject;
    const allocation = await creator.resourceByName('resourcequotas').allocate!({ store, tenant }, quotaObj, undefined, false);
    let answered = false;
    const commit = allocation.commit().then(() => void (answered = true));
    while (!answered) await vi.advanceTimersByTimeAsync(10);
    await commit;
    // Assess: a pod create that starts once the quota's create answered sees it on the other instance too
    expect(await other.policyObjects(store, tenant, 'resourcequotas', 'ns', list)).toEqual(['q']);
  });
});

describe('the quota controller\'s keys', () => {
  const change = (resource: string, eventName: 'INSERT' | 'MODIFY' | 'REMOVE', oldObject?: KubeObject, newObject?: KubeObject) => ({ tenant: 't', group: '', resource, eventName, oldObject, newObject, sequenceNumber: '1' });
  const q = (hard: Record<string, string>, pending?: Record<string, unknown>): KubeObject => ({
    metadata: { name: 'q', namespace: 'ns', ...(pending ? { annotations: { 'quota.stratus.io/pending': JSON.stringify(pending) } } : {}) },
    spec: { hard },
  });
  const p = (status: Record<string, unknown>, meta: Record<string, unknown> = {}): KubeObject => ({ metadata: { name: 'p', namespace: 'ns', ...meta }, spec: {}, status });
  const key = (name: string) => ({ controller: 'resourcequotas', namespace: 'ns', name });

  it.each<[string, ReturnType<typeof change>, ReturnType<typeof key>[]]>([
    ['a quota created: its recount', change('resourcequotas', 'INSERT', undefined, q({ pods: '1' })), [key('q')]],
    ['its spec changed: its recount', change('resourcequotas', 'MODIFY', q({ pods: '1' }), q({ pods: '2' })), [key('q')]],
    ['charged by admission (a new ledger entry): its recount', change('resourcequotas', 'MODIFY', q({ pods: '1' }), q({ pods: '1' }, { 'pods/a': { at: 1, usage: { pods: '1' } } })), [key('q')]],
    ['its own recount (the ledger shrank): nothing', change('resourcequotas', 'MODIFY', q({ pods: '1' }, { 'pods/a': { at: 1, usage: { pods: '1' } } }), q({ pods: '1' })), []],
    ['any object removed: the namespace\'s quotas', change('configmaps', 'REMOVE', { metadata: { name: 'c', namespace: 'ns' } }), [key('*')]],
    ['a pod finished', change('pods', 'MODIFY', p({ phase: 'Running' }), p({ phase: 'Failed' })), [key('*')]],
    ['a pod marked for deletion', change('pods', 'MODIFY', p({ phase: 'Running' }), p({ phase: 'Running' }, { deletionTimestamp: '2026-01-01T00:00:00Z' })), [key('*')]],
    ['a pod status update that changes nothing quota counts', change('pods', 'MODIFY', p({ phase: 'Pending' }), p({ phase: 'Running' })), []],
    ['a cluster-scoped object removed: nothing', change('nodes', 'REMOVE', { metadata: { name: 'n' } }), []],
    ['a Service made ClusterIP again: the namespace\'s quotas (release)', change('services', 'MODIFY', { metadata: { name: 's', namespace: 'ns' }, spec: { type: 'NodePort', ports: [{ port: 1 }] } }, { metadata: { name: 's', namespace: 'ns' }, spec: { type: 'ClusterIP', ports: [{ port: 1 }] } }), [key('*')]],
    ['a Service relabelled: nothing', change('services', 'MODIFY', { metadata: { name: 's', namespace: 'ns' }, spec: { type: 'ClusterIP' } }, { metadata: { name: 's', namespace: 'ns', labels: { a: 'b' } }, spec: { type: 'ClusterIP' } }), []],
    ['a PVC resized: the namespace\'s quotas', change('persistentvolumeclaims', 'MODIFY', { metadata: { name: 'c', namespace: 'ns' }, spec: { resources: { requests: { storage: '1Gi' } } } }, { metadata: { name: 'c', namespace: 'ns' }, spec: { resources: { requests: { storage: '2Gi' } } } }), [key('*')]],
  ])('%s', (_name, c, keys) => {
    expect(quotaKeysFor(c as never)).toEqual(keys);
  });
});
