import { describe, expect, it } from 'vitest';
import type { KubeObject } from '../../../shared/resources';
import { desiredEndpoints, desiredSlices, mirroredSlices, planSlices, OVER_CAPACITY, shouldMirror } from '../../../shared/services/endpoints-compute';
import { endpointsActions, sliceActions } from '../../../functions/controllers/endpoints';

const svc = (spec: Record<string, unknown>, name = 'web'): KubeObject => ({ metadata: { name, namespace: 'ns', uid: 'svc-uid' }, spec: { selector: { app: 'web' }, ports: [{ name: 'http', port: 80, targetPort: 'http', protocol: 'TCP' }], ...spec } });
const pod = (name: string, ip: string | undefined, opts: { ready?: boolean; labels?: Record<string, string>; deleting?: boolean; phase?: string; port?: number; ns?: string } = {}): KubeObject => ({
  metadata: { name, namespace: opts.ns ?? 'ns', uid: `${name}-uid`, labels: opts.labels ?? { app: 'web' }, ...(opts.deleting ? { deletionTimestamp: '2026-01-01T00:00:00Z' } : {}) },
  spec: { nodeName: 'n1', containers: [{ name: 'c', ports: opts.port === undefined ? [{ name: 'http', containerPort: 8080 }] : opts.port ? [{ name: 'http', containerPort: opts.port }] : [] }] },
  status: { phase: opts.phase ?? 'Running', ...(ip ? { podIP: ip } : {}), conditions: [{ type: 'Ready', status: opts.ready === false ? 'False' : 'True' }] },
});
const ref = (name: string) => ({ kind: 'Pod', namespace: 'ns', name, uid: `${name}-uid` });

describe('desiredEndpoints (the endpoints controller)', () => {
  it.each<[string, KubeObject, KubeObject[], unknown]>([
    ['ready pods, named targetPort resolved per pod', svc({}), [pod('b', '10.0.0.2', { port: 9090 }), pod('a', '10.0.0.1')], [
      { addresses: [{ ip: '10.0.0.1', nodeName: 'n1', targetRef: ref('a') }], ports: [{ name: 'http', port: 8080, protocol: 'TCP' }] },
      { addresses: [{ ip: '10.0.0.2', nodeName: 'n1', targetRef: ref('b') }], ports: [{ name: 'http', port: 9090, protocol: 'TCP' }] },
    ]],
    ['unready pods are notReadyAddresses', svc({ ports: [{ port: 80, targetPort: 80, protocol: 'TCP' }] }), [pod('a', '10.0.0.1', { ready: false })], [{ notReadyAddresses: [{ ip: '10.0.0.1', nodeName: 'n1', targetRef: ref('a') }], ports: [{ port: 80, protocol: 'TCP' }] }]],
    ['publishNotReadyAddresses makes them ready, terminating included', svc({ publishNotReadyAddresses: true, ports: [{ port: 80, targetPort: 80, protocol: 'TCP' }] }), [pod('a', '10.0.0.1', { ready: false, deleting: true })], [{ addresses: [{ ip: '10.0.0.1', nodeName: 'n1', targetRef: ref('a') }], ports: [{ port: 80, protocol: 'TCP' }] }]],
    ['no IP, finished, terminating, other labels, other namespace, no such port: none', svc({}), [pod('a', undefined), pod('b', '10.0.0.2', { phase: 'Succeeded' }), pod('c', '10.0.0.3', { deleting: true }), pod('d', '10.0.0.4', { labels: { app: 'x' } }), pod('e', '10.0.0.5', { ns: 'other' }), pod('f', '10.0.0.6', { port: 0 })], undefined],
  ])('%s', (_name, service, pods, subsets) => {
    // Act
    const ep = desiredEndpoints(service, pods);
    // Assess
    expect(ep.subsets).toEqual(subsets);
    expect(ep.metadata.annotations).toBeUndefined();
  });

  it('caps at 1,000 addresses, ready first, and says so', () => {
    // Prepare
    const pods = Array.from({ length: 1005 }, (_, i) => pod(`p${i}`, `10.1.${Math.floor(i / 250)}.${(i % 250) + 1}`, { ready: i >= 5 }));
    // Act
    const ep = desiredEndpoints(svc({ ports: [{ port: 80, targetPort: 80, protocol: 'TCP' }] }), pods);
    // Assess
    const subsets = ep.subsets as { addresses?: unknown[]; notReadyAddresses?: unknown[] }[];
    expect(subsets[0]!.addresses).toHaveLength(1000);
    expect(subsets[0]!.notReadyAddresses).toBeUndefined();
    expect(ep.metadata.annotations).toEqual({ [OVER_CAPACITY]: 'truncated' });
  });
});

describe('desiredSlices (the EndpointSlice controller)', () => {
  it('marks conditions as Kubernetes does: ready, serving, terminating', () => {
    // Act
    const [slice] = desiredSlices(svc({}), [pod('a', '10.0.0.1'), pod('b', '10.0.0.2', { ready: false }), pod('c', '10.0.0.3', { deleting: true })]);
    // Assess
    expect(slice!.ports).toEqual([{ name: 'http', port: 8080, protocol: 'TCP' }]);
    expect(slice!.endpoints.map((e) => [e.addresses[0], e.conditions])).toEqual([
      ['10.0.0.1', { ready: true, serving: true, terminating: false }],
      ['10.0.0.2', { ready: false, serving: false, terminating: false }],
      ['10.0.0.3', { ready: false, serving: true, terminating: true }],
    ]);
  });

  it('packs at most 100 endpoints a slice; no pods: one empty placeholder', () => {
    // Prepare
    const pods = Array.from({ length: 250 }, (_, i) => pod(`p${i}`, `10.1.0.${i + 1}`));
    // Act
    const slices = desiredSlices(svc({}), pods);
    // Assess
    expect(slices.map((s) => s.endpoints.length)).toEqual([100, 100, 50]);
    expect(desiredSlices(svc({}), [])).toEqual([{ ports: [], endpoints: [] }]);
  });

  it('plans the fewest writes: same ports reused, changed ones updated, extras deleted', () => {
    // Prepare
    const wanted = desiredSlices(svc({}), [pod('a', '10.0.0.1')]);
    const existing = [
      { metadata: { name: 'web-a', namespace: 'ns' }, ports: wanted[0]!.ports, endpoints: [] },
      { metadata: { name: 'web-b', namespace: 'ns' }, ports: [{ port: 1, protocol: 'TCP' }], endpoints: [] },
    ];
    // Act
    const plan = planSlices(wanted, existing);
    const actions = sliceActions(svc({}), wanted, existing, 'endpointslice-controller.k8s.io', svc({}), 'Service');
    // Assess
    expect(plan.create).toEqual([]);
    expect(plan.update.map((u) => u.slice.metadata.name)).toEqual(['web-a']);
    expect(plan.delete.map((d) => d.metadata.name)).toEqual(['web-b']);
    expect(actions.map((a) => a.type)).toEqual(['update', 'delete']);
    expect(planSlices(wanted, [{ ...existing[0]!, endpoints: wanted[0]!.endpoints }])).toEqual({ create: [], update: [], delete: [] });
  });

  it('new slices carry the service-name and managed-by labels and the Service as controller owner', () => {
    // Act
    const [create] = sliceActions(svc({}), desiredSlices(svc({}), [pod('a', '10.0.0.1')]), [], 'endpointslice-controller.k8s.io', svc({}), 'Service');
    // Assess
    expect(create).toMatchObject({
      type: 'create',
      generateName: 'web-',
      object: {
        addressType: 'IPv4',
        metadata: {
          labels: { 'kubernetes.io/service-name': 'web', 'endpointslice.kubernetes.io/managed-by': 'endpointslice-controller.k8s.io' },
          ownerReferences: [{ apiVersion: 'v1', kind: 'Service', name: 'web', uid: 'svc-uid', controller: true, blockOwnerDeletion: true }],
        },
      },
    });
  });
});

describe('mirroring and the endpoints actions', () => {
  it('mirrors user-written Endpoints of a selector-less Service, unless skip-mirror', () => {
    // Prepare
    const ep: KubeObject = { metadata: { name: 'ext', namespace: 'ns' }, subsets: [{ addresses: [{ ip: '192.0.2.1' }], notReadyAddresses: [{ ip: '192.0.2.2' }], ports: [{ port: 5432, protocol: 'TCP' }] }] };
    const selectorless = svc({ selector: undefined }, 'ext');
    // Act
    const slices = mirroredSlices(ep);
    // Assess
    expect(slices).toEqual([{ ports: [{ port: 5432, protocol: 'TCP' }], endpoints: [{ addresses: ['192.0.2.1'], conditions: { ready: true } }, { addresses: ['192.0.2.2'], conditions: { ready: false } }] }]);
    expect(shouldMirror(ep, selectorless)).toBe(true);
    expect(shouldMirror(ep, svc({}, 'ext'))).toBe(false);
    expect(shouldMirror({ ...ep, metadata: { ...ep.metadata, labels: { 'endpointslice.kubernetes.io/skip-mirror': 'true' } } }, selectorless)).toBe(false);
  });

  it('creates, leaves alone, updates and (the Service gone) deletes Endpoints; never touches a selector-less Service\'s', () => {
    // Prepare
    const s = svc({ ports: [{ port: 80, targetPort: 80, protocol: 'TCP' }] });
    const wanted = desiredEndpoints(s, [pod('a', '10.0.0.1')]);
    const stored = { ...wanted, metadata: { ...wanted.metadata, uid: 'ep-uid', resourceVersion: '3' } };
    // Act / Assess
    expect(endpointsActions(s, [pod('a', '10.0.0.1')], undefined, 'ns', 'web').map((a) => a.type)).toEqual(['create']);
    expect(endpointsActions(s, [pod('a', '10.0.0.1')], stored, 'ns', 'web')).toEqual([]);
    expect(endpointsActions(s, [], stored, 'ns', 'web')).toMatchObject([{ type: 'update', object: { metadata: { resourceVersion: '3' } } }]);
    expect(endpointsActions(undefined, [], stored, 'ns', 'web')).toEqual([{ type: 'delete', resource: 'endpoints', namespace: 'ns', name: 'web', uid: 'ep-uid' }]);
    expect(endpointsActions(svc({ selector: undefined }), [], stored, 'ns', 'web')).toEqual([]);
  });
});
