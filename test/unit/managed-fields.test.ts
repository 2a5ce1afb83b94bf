import { describe, expect, it } from 'vitest';
import { fieldManagerOf, managerFromUserAgent, updateManagedFields, withManagedFields, type ManagedFieldsEntry } from '../../shared/registry/managed-fields';
import type { KubeObject } from '../../shared/resources';
import { defaultPod } from '../../shared/validation/pod';

const T1 = '2026-12-05T10:00:00Z';
const T2 = '2026-12-05T10:05:00Z';

/** What `kubectl run nginx --image=nginx` creates, after the server's defaults. */
const runPod = (): KubeObject =>
  defaultPod({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'nginx', namespace: 'default', uid: 'u1', resourceVersion: '5', creationTimestamp: T1, labels: { run: 'nginx' } },
    spec: { containers: [{ name: 'nginx', image: 'nginx', resources: {} }], restartPolicy: 'Always', dnsPolicy: 'ClusterFirst' },
    status: { phase: 'Pending' },
  });

const write = (manager: string, time = T1, extra: { subresource?: string; hasStatus?: boolean } = {}) => ({ manager, apiVersion: 'v1', time, hasStatus: true, ...extra });
const entry = (list: ManagedFieldsEntry[], manager: string) => list.find((e) => e.manager === manager);

describe('field manager names', () => {
  it.each([
    ['kubectl/v1.32.0 (linux/amd64) kubernetes/70d3cc9', 'kubectl'],
    ['kube-controller-manager/v1.32.0 (linux/amd64) kubernetes/70d3cc9/system:serviceaccount:kube-system:deployment-controller', 'kube-controller-manager'],
    ['stratus-node-agent', 'stratus-node-agent'],
    ['Mozilla/5.0 (X11)', 'Mozilla'],
    ['a\tb\u0007c/1', 'abc'],
    [undefined, ''],
    ['x'.repeat(300), 'x'.repeat(128)],
  ])('User-Agent %j gives %j', (ua, manager) => {
    // Assess
    expect(managerFromUserAgent(ua)).toBe(manager);
  });

  it('takes fieldManager before the User-Agent', () => {
    // Assess
    expect(fieldManagerOf(new URLSearchParams('fieldManager=kubectl-edit'), 'kubectl/v1.32.0', 'UpdateOptions')).toBe('kubectl-edit');
    expect(fieldManagerOf(new URLSearchParams(''), 'kubectl/v1.32.0', 'UpdateOptions')).toBe('kubectl');
  });

  it.each([
    ['x'.repeat(129), 'fieldManager: Too long: may not be more than 128 bytes'],
    ['bad\u0001manager', 'must only contain printable characters'],
  ])('rejects fieldManager %j with 422 naming the options kind', (manager, message) => {
    // Act
    const run = () => fieldManagerOf(new URLSearchParams({ fieldManager: manager }), undefined, 'CreateOptions');
    // Assess
    expect(run).toThrow(expect.objectContaining({ code: 422, message: expect.stringContaining(message) }));
    expect(run).toThrow(expect.objectContaining({ message: expect.stringMatching(/^CreateOptions.meta.k8s.io "" is invalid/) }));
  });
});

describe('managedFields on create', () => {
  it('records what kubectl run sends plus defaults, in Kubernetes encoding, and nothing server-owned', () => {
    // Act
    const list = updateManagedFields(undefined, runPod(), write('kubectl-run'));
    // Assess
    expect(list).toHaveLength(1);
    const e = list[0]!;
    expect(e).toMatchObject({ manager: 'kubectl-run', operation: 'Update', apiVersion: 'v1', time: T1, fieldsType: 'FieldsV1' });
    expect(e).not.toHaveProperty('subresource');
    const f = e.fieldsV1;
    expect(f['f:metadata']).toEqual({ 'f:labels': { '.': {}, 'f:run': {} } });
    expect(Object.keys(f)).toEqual(['f:metadata', 'f:spec']); // no apiVersion, kind, status
    const spec = f['f:spec']!;
    expect('.' in spec).toBe(false);
    expect(spec['f:containers']).toEqual({
      'k:{"name":"nginx"}': {
        '.': {},
        'f:image': {},
        'f:imagePullPolicy': {},
        'f:name': {},
        'f:resources': {},
        'f:terminationMessagePath': {},
        'f:terminationMessagePolicy': {},
      },
    });
    expect(spec['f:dnsPolicy']).toEqual({});
    expect(spec['f:securityContext']).toEqual({}); // an empty object is owned whole
    expect(spec['f:tolerations']).toEqual({}); // atomic list: owned whole
    expect(Object.keys(spec)).toEqual([...Object.keys(spec)].sort());
  });

  it('keys container ports by containerPort and protocol, and finalizers by value', () => {
    // Prepare
    const pod = runPod();
    (pod.spec as { containers: { ports?: unknown[] }[] }).containers[0]!.ports = [{ containerPort: 80, protocol: 'TCP' }];
    pod.metadata.finalizers = ['example.com/x'];
    // Act
    const f = updateManagedFields(undefined, pod, write('kubectl-create'))[0]!.fieldsV1;
    // Assess
    expect(f['f:spec']!['f:containers']!['k:{"name":"nginx"}']!['f:ports']).toEqual({
      '.': {},
      'k:{"containerPort":80,"protocol":"TCP"}': { '.': {}, 'f:containerPort': {}, 'f:protocol': {} },
    });
    expect(f['f:metadata']!['f:finalizers']).toEqual({ '.': {}, 'v:"example.com/x"': {} });
  });

  it('owns a Deployment template but not the nodes its zero value has', () => {
    // Prepare
    const d: KubeObject = {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'web' },
      spec: {
        replicas: 1,
        selector: { matchLabels: { app: 'web' } },
        template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'c', image: 'nginx' }] } },
        strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: '25%' } },
      },
    };
    // Act
    const f = updateManagedFields(undefined, d, { ...write('kubectl-create'), apiVersion: 'apps/v1' })[0]!.fieldsV1;
    // Assess
    const spec = f['f:spec']!;
    expect(spec['f:selector']).toEqual({}); // a label selector is atomic
    expect(spec['f:strategy']).toEqual({ 'f:rollingUpdate': { '.': {}, 'f:maxSurge': {} }, 'f:type': {} });
    expect(spec['f:template']).toEqual({
      'f:metadata': { 'f:labels': { '.': {}, 'f:app': {} } },
      'f:spec': { 'f:containers': { 'k:{"name":"c"}': { '.': {}, 'f:image': {}, 'f:name': {} } } },
    });
  });
});

describe('managedFields on update', () => {
  const created = () => withManagedFields(undefined, runPod(), write('kubectl-run'));

  it('moves a field to the manager that changes it, leaving the rest with its owner', () => {
    // Prepare
    const live = created();
    const next = structuredClone(live);
    next.metadata.labels = { run: 'other', env: 'prod' };
    // Act
    const list = updateManagedFields(live, next, write('kubectl-label', T2));
    // Assess
    expect(entry(list, 'kubectl-label')).toMatchObject({ time: T2, fieldsV1: { 'f:metadata': { 'f:labels': { 'f:env': {}, 'f:run': {} } } } });
    const run = entry(list, 'kubectl-run')!;
    expect(run.time).toBe(T1);
    expect(run.fieldsV1['f:metadata']).toEqual({ 'f:labels': {} }); // the map itself, now without children
    expect(run.fieldsV1['f:spec']).toBeDefined();
    expect(list.map((e) => e.manager)).toEqual(['kubectl-run', 'kubectl-label']); // by time
  });

  it('merges a manager’s writes into one entry with the latest time', () => {
    // Prepare
    const live = withManagedFields(created(), { ...created(), metadata: { ...created().metadata, labels: { run: 'nginx', a: '1' } } }, write('kubectl-label', T1));
    const next = structuredClone(live);
    next.metadata.labels = { ...next.metadata.labels, b: '2' };
    // Act
    const list = updateManagedFields(live, next, write('kubectl-label', T2));
    // Assess
    expect(list.filter((e) => e.manager === 'kubectl-label')).toHaveLength(1);
    expect(entry(list, 'kubectl-label')).toMatchObject({ time: T2, fieldsV1: { 'f:metadata': { 'f:labels': { 'f:a': {}, 'f:b': {} } } } });
  });

  it('drops removed fields from their owner and an owner left with none', () => {
    // Prepare
    const live = withManagedFields(created(), { ...created(), metadata: { ...created().metadata, labels: { run: 'nginx', a: '1' } } }, write('kubectl-label', T1));
    const next = structuredClone(live);
    next.metadata.labels = { run: 'nginx' };
    // Act
    const list = updateManagedFields(live, next, write('kubectl-edit', T2));
    // Assess
    expect(entry(list, 'kubectl-label')).toBeUndefined();
    expect(entry(list, 'kubectl-edit')).toBeUndefined(); // removing adds nothing to own
    expect(entry(list, 'kubectl-run')).toBeDefined();
  });

  it('records a /status write under its own entry, owning only status', () => {
    // Prepare
    const live = created();
    const next = { ...structuredClone(live), status: { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }], podIP: '10.0.0.5' } };
    // Act
    const list = updateManagedFields(live, next, write('kubelet', T2, { subresource: 'status' }));
    // Assess
    const kubelet = entry(list, 'kubelet')!;
    expect(kubelet.subresource).toBe('status');
    expect(Object.keys(kubelet.fieldsV1)).toEqual(['f:status']);
    expect(kubelet.fieldsV1['f:status']).toEqual({ 'f:conditions': { '.': {}, 'k:{"type":"Ready"}': { '.': {}, 'f:status': {}, 'f:type': {} } }, 'f:phase': {}, 'f:podIP': {} });
  });

  it('changes nothing when the write changes nothing', () => {
    // Prepare
    const live = created();
    // Act
    const list = updateManagedFields(live, structuredClone(live), write('kubectl-edit', T2));
    // Assess
    expect(list).toEqual(live.metadata.managedFields);
  });

  it('starts from the entries a client sends instead of the live ones', () => {
    // Prepare
    const live = created();
    const next = structuredClone(live);
    next.metadata.managedFields = [{ manager: 'someone', operation: 'Update', apiVersion: 'v1', time: T1, fieldsType: 'FieldsV1', fieldsV1: { 'f:metadata': { 'f:labels': { 'f:run': {} } } } }];
    // Act
    const list = updateManagedFields(live, next, write('kubectl-replace', T2));
    // Assess
    expect(list.map((e) => e.manager)).toEqual(['someone']);
  });

  it('leaves its inputs untouched', () => {
    // Prepare
    const live = created();
    const next = { ...structuredClone(live), metadata: { ...structuredClone(live.metadata), labels: { x: 'y' } } };
    const before = JSON.stringify([live, next]);
    // Act
    withManagedFields(live, next, write('kubectl-label', T2));
    // Assess
    expect(JSON.stringify([live, next])).toBe(before);
  });
});
