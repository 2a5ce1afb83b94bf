import { describe, expect, it } from 'vitest';
import { resourceByName, type KubeObject } from '../../shared/resources';
import { asTable, humanDuration, podStatusCells, toTable, wantsTable } from '../../functions/api/table';
import { json } from '../../functions/api/request';
import { isStatusError } from '../../shared/errors';

const NOW = Date.parse('2026-01-01T12:00:00Z');
const ago = (s: number) => new Date(NOW - s * 1000).toISOString().replace(/\.\d+Z$/, 'Z');
const pod = (status: Record<string, unknown>, extra: Partial<KubeObject> = {}): KubeObject => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: 'p', namespace: 'default', creationTimestamp: ago(300), labels: { app: 'x' } },
  spec: { containers: [{ name: 'a' }, { name: 'b' }] },
  status,
  ...extra,
});
const running = (ready: boolean) => ({ ready, restartCount: 0, state: { running: { startedAt: ago(60) } } });

describe('wantsTable', () => {
  it('recognizes what kubectl get sends, and nothing else', () => {
    // Assess
    expect(wantsTable('application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json')).toBe(true);
    expect(wantsTable('application/json; as=Table; g=meta.k8s.io; v=v1')).toBe(true);
    expect(wantsTable('application/json')).toBe(false);
    expect(wantsTable(undefined)).toBe(false);
    expect(wantsTable('application/json;as=APIGroupDiscoveryList;v=v2;g=apidiscovery.k8s.io')).toBe(false);
  });
});

describe('humanDuration (kubectl AGE)', () => {
  it.each([
    [5_000, '5s'],
    [119_000, '119s'],
    [300_000, '5m'],
    [312_000, '5m12s'],
    [3 * 3600_000, '3h'],
    [(3 * 3600 + 120) * 1000, '3h2m'],
    [30 * 3600_000, '30h'],
    [(3 * 24 + 5) * 3600_000, '3d5h'],
    [400 * 24 * 3600_000, '400d'],
    [-5_000, '<invalid>'],
  ])('%d ms is %s', (ms, text) => {
    expect(humanDuration(ms)).toBe(text);
  });
});

describe('pod STATUS, READY, RESTARTS as kubectl computes them', () => {
  it.each([
    ['Pending with no container status', pod({ phase: 'Pending' }), 'Pending', '0/2'],
    ['Running, one of two ready', pod({ phase: 'Running', containerStatuses: [running(true), running(false)] }), 'Running', '1/2'],
    ['a waiting reason wins', pod({ phase: 'Pending', containerStatuses: [{ ready: false, restartCount: 0, state: { waiting: { reason: 'ErrImagePull' } } }] }), 'ErrImagePull', '0/2'],
    ['a terminated reason wins', pod({ phase: 'Succeeded', containerStatuses: [{ ready: false, restartCount: 0, state: { terminated: { reason: 'Completed', exitCode: 0 } } }] }), 'Completed', '0/2'],
    ['terminated without reason is its exit code', pod({ phase: 'Failed', containerStatuses: [{ ready: false, restartCount: 0, state: { terminated: { exitCode: 3 } } }] }), 'ExitCode:3', '0/2'],
    ['the pod reason wins over the phase', pod({ phase: 'Failed', reason: 'Evicted' }), 'Evicted', '0/2'],
    ['a deleting pod is Terminating', pod({ phase: 'Running', containerStatuses: [running(true), running(true)] }, { metadata: { name: 'p', deletionTimestamp: ago(1) } }), 'Terminating', '2/2'],
    ['a scheduling-gated pod says so', pod({ phase: 'Pending', conditions: [{ type: 'PodScheduled', status: 'False', reason: 'SchedulingGated' }] }), 'SchedulingGated', '0/2'],
  ])('%s', (_what, p, status, ready) => {
    // Act
    const cells = podStatusCells(p, NOW);
    // Assess
    expect(cells.status).toBe(status);
    expect(cells.ready).toBe(ready);
  });

  it('counts restarts and says when the last one was', () => {
    // Prepare
    const p = pod({
      phase: 'Running',
      containerStatuses: [{ ...running(true), restartCount: 2, lastState: { terminated: { exitCode: 1, finishedAt: ago(90) } } }, running(true)],
    });
    // Act
    const cells = podStatusCells(p, NOW);
    // Assess
    expect(cells.restarts).toBe('2 (90s ago)');
  });

  it('shows init container progress', () => {
    // Prepare
    const p = pod({ phase: 'Pending', initContainerStatuses: [{ name: 'i', ready: false, restartCount: 0, state: { waiting: { reason: 'PodInitializing' } } }] }, {
      spec: { initContainers: [{ name: 'i' }], containers: [{ name: 'a' }] },
    });
    // Act
    const cells = podStatusCells(p, NOW);
    // Assess
    expect(cells.status).toBe('Init:0/1');
  });
});

describe('toTable', () => {
  it('renders pods with Kubernetes columns, wide ones at priority 1', () => {
    // Prepare
    const p = pod({ phase: 'Running', podIP: '10.0.0.5', containerStatuses: [running(true), running(true)] }, { spec: { nodeName: 'n1', containers: [{ name: 'a' }, { name: 'b' }] } });
    // Act
    const table = toTable(resourceByName('pods'), [p], { wide: true, includeObject: 'Metadata' }, NOW);
    // Assess
    expect(table.kind).toBe('Table');
    expect(table.apiVersion).toBe('meta.k8s.io/v1');
    expect(table.columnDefinitions.map((c) => [c.name, c.priority])).toEqual([
      ['Name', 0],
      ['Ready', 0],
      ['Status', 0],
      ['Restarts', 0],
      ['Age', 0],
      ['IP', 1],
      ['Node', 1],
      ['Nominated Node', 1],
      ['Readiness Gates', 1],
    ]);
    expect(table.columnDefinitions[0]).toMatchObject({ type: 'string', format: 'name' });
    expect(table.rows[0]!.cells).toEqual(['p', '2/2', 'Running', '0', '5m', '10.0.0.5', 'n1', '<none>', '<none>']);
    expect(table.rows[0]!.object).toEqual({ kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: p.metadata });
  });

  it('keeps priority-0 columns only when not wide, and the object as asked', () => {
    // Act
    const narrow = toTable(resourceByName('pods'), [pod({ phase: 'Pending' })], { wide: false, includeObject: 'Object' }, NOW);
    const none = toTable(resourceByName('pods'), [pod({ phase: 'Pending' })], { wide: false, includeObject: 'None' }, NOW);
    // Assess
    expect(narrow.columnDefinitions.map((c) => c.name)).toEqual(['Name', 'Ready', 'Status', 'Restarts', 'Age']);
    expect(narrow.rows[0]!.cells).toHaveLength(5);
    expect((narrow.rows[0]!.object as KubeObject).spec).toBeDefined();
    expect(none.rows[0]!.object).toBeUndefined();
  });

  it('renders nodes: Ready/NotReady, SchedulingDisabled, roles, addresses, node info', () => {
    // Prepare
    const node: KubeObject = {
      metadata: { name: 'n1', creationTimestamp: ago(7200), labels: { 'node-role.kubernetes.io/worker': '', 'node-role.kubernetes.io/edge': '' } },
      spec: { unschedulable: true },
      status: {
        conditions: [{ type: 'Ready', status: 'True' }],
        addresses: [{ type: 'InternalIP', address: '172.17.0.1' }],
        nodeInfo: { kubeletVersion: 'v1.32.0-stratus', osImage: 'Debian', kernelVersion: '6.1', containerRuntimeVersion: 'docker://27' },
      },
    };
    // Act
    const table = toTable(resourceByName('nodes'), [node], { wide: true, includeObject: 'None' }, NOW);
    // Assess
    expect(table.columnDefinitions.map((c) => c.name)).toEqual(['Name', 'Status', 'Roles', 'Age', 'Version', 'Internal-IP', 'External-IP', 'OS-Image', 'Kernel-Version', 'Container-Runtime']);
    expect(table.rows[0]!.cells).toEqual(['n1', 'Ready,SchedulingDisabled', 'edge,worker', '120m', 'v1.32.0-stratus', '172.17.0.1', '<none>', 'Debian', '6.1', 'docker://27']);
  });

  it('renders namespaces, events and leases with their columns', () => {
    // Prepare
    const ns: KubeObject = { metadata: { name: 'shop', creationTimestamp: ago(10) }, status: { phase: 'Terminating' } };
    const ev: KubeObject = {
      metadata: { name: 'p.1', namespace: 'default', creationTimestamp: ago(100) },
      involvedObject: { kind: 'Pod', name: 'p' },
      reason: 'Scheduled',
      message: 'Successfully assigned default/p to n1',
      type: 'Normal',
      count: 3,
      firstTimestamp: ago(100),
      lastTimestamp: ago(20),
    };
    const lease: KubeObject = { metadata: { name: 'n1', namespace: 'kube-node-lease', creationTimestamp: ago(30) }, spec: { holderIdentity: 'n1' } };
    // Act
    const nsT = toTable(resourceByName('namespaces'), [ns], { wide: false, includeObject: 'None' }, NOW);
    const evT = toTable(resourceByName('events'), [ev], { wide: false, includeObject: 'None' }, NOW);
    const leaseT = toTable(resourceByName('leases'), [lease], { wide: false, includeObject: 'None' }, NOW);
    // Assess
    expect(nsT.rows[0]!.cells).toEqual(['shop', 'Terminating', '10s']);
    expect(evT.columnDefinitions.map((c) => c.name)).toEqual(['Last Seen', 'Type', 'Reason', 'Object', 'Message']);
    expect(evT.rows[0]!.cells).toEqual(['20s (x3 over 100s)', 'Normal', 'Scheduled', 'pod/p', 'Successfully assigned default/p to n1']);
    expect(leaseT.columnDefinitions.map((c) => c.name)).toEqual(['Name', 'Holder', 'Age']);
    expect(leaseT.rows[0]!.cells).toEqual(['n1', 'n1', '30s']);
  });

  it('renders a kind with no columns of its own as NAME and AGE', () => {
    // Prepare
    const rt = { ...resourceByName('pods'), resource: 'widgets', group: 'example.com', kind: 'Widget', table: undefined };
    // Act
    const table = toTable(rt, [{ metadata: { name: 'w', creationTimestamp: ago(5) } }], { wide: true, includeObject: 'None' }, NOW);
    // Assess
    expect(table.columnDefinitions.map((c) => c.name)).toEqual(['Name', 'Age']);
    expect(table.rows[0]!.cells).toEqual(['w', '5s']);
  });
});

describe('asTable (the api hook)', () => {
  const req = (accept: string, query = '') => ({ method: 'GET', path: '/api/v1/pods', query: new URLSearchParams(query), headers: { accept } });

  it('turns a list into a Table that keeps resourceVersion and continue', () => {
    // Prepare
    const list = json(200, { kind: 'PodList', apiVersion: 'v1', metadata: { resourceVersion: '42', continue: 'abc' }, items: [pod({ phase: 'Pending' })] });
    // Act
    const res = asTable(resourceByName('pods'), req('application/json;as=Table;v=v1;g=meta.k8s.io'), list);
    // Assess
    expect(res.headers['content-type']).toBe('application/json;as=Table;v=v1;g=meta.k8s.io');
    const table = JSON.parse(res.body);
    expect(table.metadata).toEqual({ resourceVersion: '42', continue: 'abc' });
    expect(table.rows).toHaveLength(1);
  });

  it('passes JSON through when no Table was asked for', () => {
    // Prepare
    const one = json(200, pod({ phase: 'Pending' }));
    // Act
    const res = asTable(resourceByName('pods'), req('application/json'), one);
    // Assess
    expect(res).toBe(one);
  });

  it('rejects an unknown includeObject with 400', () => {
    // Act
    let code = 0;
    try {
      asTable(resourceByName('pods'), req('application/json;as=Table;v=v1;g=meta.k8s.io', 'includeObject=All'), json(200, pod({})));
    } catch (e) {
      code = isStatusError(e) ? e.code : -1;
    }
    // Assess
    expect(code).toBe(400);
  });
});

describe('table columns come from each kind’s strategy', () => {
  // Kubernetes' printers for the kinds Stratus serves with columns of their own (kubectl get's first row).
  it.each([
    ['pods', ['Name', 'Ready', 'Status', 'Restarts', 'Age']],
    ['nodes', ['Name', 'Status', 'Roles', 'Age', 'Version']],
    ['namespaces', ['Name', 'Status', 'Age']],
    ['deployments', ['Name', 'Ready', 'Up-to-date', 'Available', 'Age']],
    ['replicasets', ['Name', 'Desired', 'Current', 'Ready', 'Age']],
    ['replicationcontrollers', ['Name', 'Desired', 'Current', 'Ready', 'Age']],
    ['statefulsets', ['Name', 'Ready', 'Age']],
    ['jobs', ['Name', 'Status', 'Completions', 'Duration', 'Age']],
    ['persistentvolumeclaims', ['Name', 'Status', 'Volume', 'Capacity', 'Access Modes', 'StorageClass', 'VolumeAttributesClass', 'Age']],
    ['configmaps', ['Name', 'Data', 'Age']],
    ['secrets', ['Name', 'Type', 'Data', 'Age']],
    ['poddisruptionbudgets', ['Name', 'Min Available', 'Max Unavailable', 'Allowed Disruptions', 'Age']],
    ['priorityclasses', ['Name', 'Value', 'Global-Default', 'Age', 'PreemptionPolicy']],
  ])('%s', (resource, columns) => {
    // Prepare
    const rt = resourceByName(resource);
    // Act
    const table = toTable(rt, [], { wide: false, includeObject: 'None' }, NOW);
    // Assess
    expect(table.columnDefinitions.map((c) => c.name)).toEqual(columns);
  });
});

describe('config and policy cells', () => {
  const meta = { name: 'x', namespace: 'default', creationTimestamp: new Date(NOW - 60_000).toISOString() };
  it.each<[string, KubeObject, unknown[]]>([
    ['configmaps', { metadata: meta, data: { a: '1', b: '2' }, binaryData: { c: 'AA==' } }, ['x', 3, '60s']],
    ['secrets', { metadata: meta, type: 'Opaque', data: { a: 'MQ==' } }, ['x', 'Opaque', 1, '60s']],
    ['poddisruptionbudgets', { metadata: meta, spec: { minAvailable: '50%' }, status: { disruptionsAllowed: 2 } }, ['x', '50%', 'N/A', 2, '60s']],
    ['poddisruptionbudgets', { metadata: meta, spec: { maxUnavailable: 1 } }, ['x', 'N/A', '1', 0, '60s']],
    ['priorityclasses', { metadata: { ...meta, namespace: undefined }, value: 1000, globalDefault: true, preemptionPolicy: 'Never' }, ['x', 1000, true, '60s', 'Never']],
  ])('%s row', (resource, obj, cells) => {
    const table = toTable(resourceByName(resource), [obj], { wide: false, includeObject: 'None' }, NOW);
    expect(table.rows[0]!.cells).toEqual(cells);
  });
});
