import { describe, expect, it } from 'vitest';
import { fieldSelectorValue, nodeAuthorize, podAddressView, podReferences, podUses, volumeNodes, type NodeGraph, type ObjectRef } from '../../shared/auth/node-authorizer';
import type { AuthzAttributes } from '../../shared/auth/rbac';
import type { KubeObject } from '../../shared/resources';
import { forbiddenNodeLabels } from '../../shared/registry/plugins/node-restriction';

/*
 * The node authorizer's decisions (shared/auth/node-authorizer.ts), over a table graph: node `a`
 * runs pod default/web (Secret s-vol, ConfigMap cm-env, claim data → PV pv-1, SA robot); node `b`
 * runs default/other (Secret s-b); an Ingress of the built-in class names Secret tls-ok.
 */
const pod = (name: string, nodeName: string, spec: Record<string, unknown>): KubeObject =>
  ({ apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: 'default' }, spec: { nodeName, containers: [{ name: 'c', image: 'x' }], ...spec } }) as KubeObject;

const PODS = [
  pod('web', 'a', {
    serviceAccountName: 'robot',
    volumes: [{ name: 'v', secret: { secretName: 's-vol' } }, { name: 'd', persistentVolumeClaim: { claimName: 'data' } }],
    containers: [{ name: 'c', image: 'x', env: [{ name: 'E', valueFrom: { configMapKeyRef: { name: 'cm-env', key: 'k' } } }] }],
  }),
  pod('other', 'b', { volumes: [{ name: 'v', secret: { secretName: 's-b' } }] }),
];
const CLAIM_VOLUMES: Record<string, string> = { 'default/data': 'pv-1' };
const nodeOf = (p: KubeObject) => (p.spec as { nodeName?: string }).nodeName;

const graph: NodeGraph = {
  podNode: (ns, name) => {
    const p = PODS.find((q) => q.metadata.namespace === ns && q.metadata.name === name);
    return Promise.resolve(p ? nodeOf(p) : undefined);
  },
  related: (node: string, ref: ObjectRef) =>
    Promise.resolve(
      PODS.filter((p) => nodeOf(p) === node).some((p) =>
        ref.kind === 'pv' ? [...podReferences(p).claims].some((c) => CLAIM_VOLUMES[`default/${c}`] === ref.name) : podUses(p, ref),
      ),
    ),
  ingressTlsSecret: (ns, name) => Promise.resolve(ns === 'default' && name === 'tls-ok'),
  volumeNodes: (name) => Promise.resolve(({ 'pv-1': [], 'pv-2': [], 'pv-local-a': ['a'], 'pv-local-b': ['b'] } as Record<string, string[]>)[name]),
};

const A = { user: 'system:node:a', groups: ['system:nodes', 'system:authenticated'], resourceRequest: true };
const req = (verb: string, resource: string, extra: Partial<AuthzAttributes> = {}): AuthzAttributes => ({ ...A, verb, resource, apiGroup: '', namespace: 'default', ...extra });

describe('node authorizer decisions for node a', () => {
  const cases: [string, AuthzAttributes, boolean | undefined, string?][] = [
    // pods
    ['get its pod', req('get', 'pods', { name: 'web' }), true],
    ['get a pod bound to b', req('get', 'pods', { name: 'other' }), false, "no relationship found between node 'a' and this object"],
    ['get a pod that does not exist (404 follows)', req('get', 'pods', { name: 'gone' }), true],
    ['list its pods', req('list', 'pods', { namespace: undefined, fieldSelector: 'spec.nodeName=a' }), true],
    ['watch its pods', req('watch', 'pods', { namespace: undefined, fieldSelector: 'spec.nodeName=a' }), true],
    ['watch b\'s pods', req('watch', 'pods', { namespace: undefined, fieldSelector: 'spec.nodeName=b' }), false, 'can only list/watch pods with spec.nodeName field selector'],
    ['watch all pods', req('watch', 'pods', { namespace: undefined }), false, 'can only list/watch pods with spec.nodeName field selector'],
    ['list all pods (the address view)', req('list', 'pods', { namespace: undefined }), true],
    ['patch pod status (NodeRestriction scopes it)', req('patch', 'pods', { name: 'web', subresource: 'status' }), true],
    ['exec into a pod', req('create', 'pods', { name: 'web', subresource: 'exec' }), undefined],
    ['read pod logs', req('get', 'pods', { name: 'web', subresource: 'log' }), undefined],
    // secrets and configmaps
    ['get a Secret its pod mounts', req('get', 'secrets', { name: 's-vol' }), true],
    ['get a Secret only b\'s pod mounts', req('get', 'secrets', { name: 's-b' }), false, "no relationship found between node 'a' and this object"],
    ['get a Secret named by a stratus Ingress\'s tls', req('get', 'secrets', { name: 'tls-ok' }), true],
    ['list Secrets', req('list', 'secrets'), false, 'can only get individual resources of this type'],
    ['watch one Secret it uses by metadata.name', req('watch', 'secrets', { fieldSelector: 'metadata.name=s-vol' }), true],
    ['update a Secret it uses', req('update', 'secrets', { name: 's-vol' }), false, 'can only read resources of this type'],
    ['get a ConfigMap its pod reads into env', req('get', 'configmaps', { name: 'cm-env' }), true],
    ['get another ConfigMap', req('get', 'configmaps', { name: 'kube-root-ca.crt' }), false, "no relationship found between node 'a' and this object"],
    // volumes
    ['get the claim its pod mounts', req('get', 'persistentvolumeclaims', { name: 'data' }), true],
    ['list claims', req('list', 'persistentvolumeclaims'), false, 'can only get individual resources of this type'],
    ['get the PV of that claim', req('get', 'persistentvolumes', { namespace: undefined, name: 'pv-1' }), true],
    ['get another PV', req('get', 'persistentvolumes', { namespace: undefined, name: 'pv-2' }), false, "no relationship found between node 'a' and this object"],
    ['get a PV provisioned on it', req('get', 'persistentvolumes', { namespace: undefined, name: 'pv-local-a' }), true],
    ['get a PV provisioned on b', req('get', 'persistentvolumes', { namespace: undefined, name: 'pv-local-b' }), false, "no relationship found between node 'a' and this object"],
    ['get a PV that does not exist (404 follows)', req('get', 'persistentvolumes', { namespace: undefined, name: 'gone' }), true],
    // service account tokens
    ['token for its pod\'s SA', req('create', 'serviceaccounts', { name: 'robot', subresource: 'token' }), true],
    ['token for another SA', req('create', 'serviceaccounts', { name: 'admin', subresource: 'token' }), false, "no relationship found between node 'a' and this object"],
    ['get a ServiceAccount', req('get', 'serviceaccounts', { name: 'robot' }), undefined],
    // leases
    ['update its Lease', req('update', 'leases', { apiGroup: 'coordination.k8s.io', namespace: 'kube-node-lease', name: 'a' }), true],
    ['create a Lease (NodeRestriction checks the name)', req('create', 'leases', { apiGroup: 'coordination.k8s.io', namespace: 'kube-node-lease' }), true],
    ['update b\'s Lease', req('update', 'leases', { apiGroup: 'coordination.k8s.io', namespace: 'kube-node-lease', name: 'b' }), false, 'can only access node lease with the same name as the requesting node'],
    ['a Lease elsewhere', req('get', 'leases', { apiGroup: 'coordination.k8s.io', namespace: 'kube-system', name: 'a' }), false, 'can only access leases in the "kube-node-lease" system namespace'],
    ['list Leases', req('list', 'leases', { apiGroup: 'coordination.k8s.io', namespace: 'kube-node-lease' }), false, 'can only get, create, update, patch, or delete a node lease'],
    // nodes
    ['list nodes (their podCIDRs)', req('list', 'nodes', { namespace: undefined }), true],
    ['patch a node (NodeRestriction checks the name)', req('patch', 'nodes', { namespace: undefined, name: 'a' }), true],
    ['delete a node', req('delete', 'nodes', { namespace: undefined, name: 'a' }), undefined],
    // the proxier's, DNS's, ingress controller's and CNI's reads
    ['watch Services', req('watch', 'services', { namespace: undefined }), true],
    ['list EndpointSlices', req('list', 'endpointslices', { apiGroup: 'discovery.k8s.io', namespace: undefined }), true],
    ['list NetworkPolicies', req('list', 'networkpolicies', { apiGroup: 'networking.k8s.io', namespace: undefined }), true],
    ['list Ingresses', req('list', 'ingresses', { apiGroup: 'networking.k8s.io', namespace: undefined }), true],
    ['update Ingress status', req('update', 'ingresses', { apiGroup: 'networking.k8s.io', name: 'x', subresource: 'status' }), undefined],
    ['list Namespaces', req('list', 'namespaces', { namespace: undefined }), true],
    ['delete a Namespace', req('delete', 'namespaces', { namespace: undefined, name: 'default' }), undefined],
    ['create a Service', req('create', 'services'), undefined],
    ['create an Event', req('create', 'events'), true],
    ['create a Deployment', req('create', 'deployments', { apiGroup: 'apps' }), undefined],
  ];
  it.each(cases)('%s', async (_name, a, allowed, reason) => {
    const d = await nodeAuthorize(graph, 'a', a);
    if (allowed === undefined) expect(d).toBeUndefined();
    else expect(d).toEqual({ allowed, reason: reason ?? '' });
  });
});

describe('what a pod references', () => {
  it('finds Secrets, ConfigMaps, claims and the SA in every place Kubernetes looks', () => {
    const p = pod('p', 'a', {
      imagePullSecrets: [{ name: 'pull' }],
      initContainers: [{ name: 'i', image: 'x', envFrom: [{ secretRef: { name: 'init-env' } }] }],
      containers: [
        {
          name: 'c',
          image: 'x',
          envFrom: [{ configMapRef: { name: 'cm-from' } }],
          env: [{ name: 'S', valueFrom: { secretKeyRef: { name: 'sec-key', key: 'k' } } }, { name: 'P', value: 'plain' }],
        },
      ],
      volumes: [
        { name: 'proj', projected: { sources: [{ secret: { name: 'proj-s' } }, { configMap: { name: 'proj-cm' } }, { serviceAccountToken: { path: 't' } }] } },
        { name: 'cm', configMap: { name: 'cm-vol' } },
        { name: 'csi', csi: { driver: 'd', nodePublishSecretRef: { name: 'csi-s' } } },
        { name: 'scratch', ephemeral: { volumeClaimTemplate: { spec: {} } } },
      ],
    });
    const r = podReferences(p);
    expect([...r.secrets].sort()).toEqual(['csi-s', 'init-env', 'proj-s', 'pull', 'sec-key']);
    expect([...r.configMaps].sort()).toEqual(['cm-from', 'cm-vol', 'proj-cm']);
    expect([...r.claims]).toEqual(['p-scratch']);
    expect(r.serviceAccount).toBe('default');
  });

  it('a reference in another namespace is not a relationship', () => {
    expect(podUses(PODS[0]!, { kind: 'secret', namespace: 'other', name: 's-vol' })).toBe(false);
  });
});

describe('the address view of a pod', () => {
  it('keeps addresses, labels and named ports; drops env, images, volumes and annotations', () => {
    const p = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'p', namespace: 'default', uid: 'u', resourceVersion: '7', labels: { app: 'x' }, annotations: { secret: 'yes' } },
      spec: { nodeName: 'b', hostname: 'h', subdomain: 's', serviceAccountName: 'robot', volumes: [{ name: 'v', secret: { secretName: 's' } }], containers: [{ name: 'c', image: 'private/img', env: [{ name: 'PW', value: 'hunter2' }], ports: [{ name: 'http', containerPort: 80 }] }] },
      status: { phase: 'Running', podIP: '10.0.0.5', podIPs: [{ ip: '10.0.0.5' }], containerStatuses: [{ name: 'c' }] },
    } as unknown as KubeObject;
    const v = podAddressView(p);
    expect(v).toEqual({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'p', namespace: 'default', uid: 'u', resourceVersion: '7', labels: { app: 'x' } },
      spec: { nodeName: 'b', hostname: 'h', subdomain: 's', containers: [{ name: 'c', ports: [{ name: 'http', containerPort: 80 }] }] },
      status: { phase: 'Running', podIP: '10.0.0.5', podIPs: [{ ip: '10.0.0.5' }] },
    });
    expect(JSON.stringify(v)).not.toContain('hunter2');
  });
});

describe('field selectors', () => {
  it.each([
    ['spec.nodeName=a', 'a'],
    ['spec.nodeName==a', 'a'],
    ['spec.nodeName!=a', undefined],
    ['status.phase=Running,spec.nodeName=a', 'a'],
    ['', undefined],
    ['garbage', undefined],
  ])('%s', (sel, want) => expect(fieldSelectorValue(sel, 'spec.nodeName')).toBe(want));
});

describe('NodeRestriction: labels a node may not change on its Node', () => {
  it.each([
    [{ 'kubernetes.io/hostname': 'a', 'kubernetes.io/arch': 'amd64', 'node.kubernetes.io/instance-type': 'x', 'topology.kubernetes.io/zone': 'z', 'example.com/team': 'x' }, {}, []],
    [{ 'node-restriction.kubernetes.io/pci': 'yes' }, {}, ['node-restriction.kubernetes.io/pci']],
    [{ 'foo.node-restriction.kubernetes.io/x': 'y' }, {}, ['foo.node-restriction.kubernetes.io/x']],
    [{ 'node-role.kubernetes.io/control-plane': '' }, {}, ['node-role.kubernetes.io/control-plane']],
    [{ 'kubelet.kubernetes.io/anything': 'ok', 'x.k8s.io/y': 'n' }, {}, ['x.k8s.io/y']],
    // Removing one counts as changing it; an unchanged one does not.
    [{}, { 'node-restriction.kubernetes.io/pci': 'yes' }, ['node-restriction.kubernetes.io/pci']],
    [{ 'node-restriction.kubernetes.io/pci': 'yes' }, { 'node-restriction.kubernetes.io/pci': 'yes' }, []],
  ] as [Record<string, string>, Record<string, string>, string[]][])('%j over %j', (next, prev, want) => expect(forbiddenNodeLabels(next, prev)).toEqual(want));
});

describe('the nodes a PersistentVolume is pinned to', () => {
  const pv = (nodeAffinity: unknown) => ({ apiVersion: 'v1', kind: 'PersistentVolume', metadata: { name: 'pv' }, spec: { nodeAffinity } }) as unknown as KubeObject;
  const host = (...values: string[]) => ({ matchExpressions: [{ key: 'kubernetes.io/hostname', operator: 'In', values }] });
  it.each([
    ['none', undefined, []],
    ['one hostname', { required: { nodeSelectorTerms: [host('a')] } }, ['a']],
    ['two terms', { required: { nodeSelectorTerms: [host('a'), host('b')] } }, ['a', 'b']],
    ['a term by zone too', { required: { nodeSelectorTerms: [host('a'), { matchExpressions: [{ key: 'topology.kubernetes.io/zone', operator: 'In', values: ['z'] }] }] } }, []],
    ['NotIn', { required: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'kubernetes.io/hostname', operator: 'NotIn', values: ['a'] }] }] } }, []],
  ] as [string, unknown, string[]][])('%s', (_n, affinity, want) => expect(volumeNodes(pv(affinity))).toEqual(want));
});
