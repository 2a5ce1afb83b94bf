import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createToken } from '../../shared/auth/tokens';
import { loadConfig } from '../../shared/config';
import { createDocumentClient } from '../../shared/store/dynamo';
import { Api, eventually, uniqueName } from '../helpers/api';

/*
 * ResourceQuota against the local stack: admission charges each create with a write conditional on
 * the quota's resourceVersion, so concurrent creates never pass the last unit, and status.used is
 * exact; the quota controller (stream-driven) releases what deleted objects held and repairs a
 * charge whose create failed. Pods here are never scheduled (a nodeSelector no node has), so
 * they are deleted at once.
 */
let api: Api;
let ns: string;
const pods = () => `/api/v1/namespaces/${ns}/pods`;
const quotas = () => `/api/v1/namespaces/${ns}/resourcequotas`;
const unscheduledPod = (name: string) => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name },
  spec: { nodeSelector: { 'stratus.test/none': 'x' }, containers: [{ name: 'c', image: 'stratus-test/busybox:1.36' }] },
});
const used = async (name: string) => ((await api.get(`${quotas()}/${name}`)).body.status?.used ?? {}) as Record<string, string>;

beforeAll(async () => {
  api = Api.forTenant();
  ns = uniqueName('quota');
  expect((await api.post('/api/v1/namespaces', { metadata: { name: ns } })).status).toBe(201);
});

afterAll(async () => {
  await api.delete(`/api/v1/namespaces/${ns}`);
});

describe('ResourceQuota under concurrent creates', () => {
  it('quota pods=5, 20 parallel creates: exactly 5 succeed, used.pods is exactly 5, and deletes bring it back to 0', async () => {
    // Prepare
    expect((await api.post(quotas(), { metadata: { name: 'five' }, spec: { hard: { pods: '5' } } })).status).toBe(201);
    // Act
    const replies = await Promise.all(Array.from({ length: 20 }, (_, i) => api.post(pods(), unscheduledPod(`p${i}`))));
    // Assess
    const created = replies.filter((r) => r.status === 201);
    const refused = replies.filter((r) => r.status !== 201);
    expect(created).toHaveLength(5);
    expect(refused).toHaveLength(15);
    for (const r of refused) {
      expect(r.status).toBe(403);
      expect(r.body.reason).toBe('Forbidden');
      expect(r.body.message).toMatch(/^pods "p\d+" is forbidden: exceeded quota: five, requested: pods=1, used: pods=5, limited: pods=5$/);
    }
    expect((await used('five')).pods).toBe('5');
    expect((await api.get(pods())).body.items).toHaveLength(5);
    // Act: delete them
    for (const r of created) expect((await api.delete(`${pods()}/${r.body.metadata.name as string}`)).status).toBe(200);
    // Assess: the controller releases them (stream-driven)
    await eventually(async () => ((await used('five')).pods === '0' ? true : undefined), 60_000, 'used.pods back to 0');
    // ...and the quota admits again
    expect((await api.post(pods(), unscheduledPod('after'))).status).toBe(201);
    expect((await used('five')).pods).toBe('1');
    expect((await api.delete(`${pods()}/after`)).status).toBe(200);
    await eventually(async () => ((await used('five')).pods === '0' ? true : undefined), 60_000, 'used.pods back to 0 again');
    expect((await api.delete(`${quotas()}/five`)).status).toBe(200);
  });

  it('counts what was there before the quota, and repairs a charge whose create failed (AlreadyExists)', async () => {
    // Prepare: two ConfigMaps before any quota on them
    for (const n of ['a', 'b']) expect((await api.post(`/api/v1/namespaces/${ns}/configmaps`, { metadata: { name: n } })).status).toBe(201);
    expect((await api.post(quotas(), { metadata: { name: 'cms' }, spec: { hard: { configmaps: '10' } } })).status).toBe(201);
    // Assess: the quota controller counts them (plus the namespace's kube-root-ca.crt, if published)
    const before = await eventually(async () => {
      const u = await used('cms');
      return u.configmaps !== undefined && Number(u.configmaps) >= 2 ? Number(u.configmaps) : undefined;
    }, 60_000, 'used.configmaps computed');
    const listed = (await api.get(`/api/v1/namespaces/${ns}/configmaps`)).body.items.length as number;
    expect(before).toBe(listed);
    // Act: a create of a name that exists is charged by admission, then fails in the store
    const again = await api.post(`/api/v1/namespaces/${ns}/configmaps`, { metadata: { name: 'a' } });
    // Assess: refused as usual, and the over-charge is given back once the charge expires
    expect(again.status).toBe(409);
    await eventually(async () => (Number((await used('cms')).configmaps) === listed ? true : undefined), 60_000, 'the failed create no longer charged');
    const quota = (await api.get(`${quotas()}/cms`)).body;
    expect(quota.metadata.annotations?.['quota.stratus.io/pending']).toBeUndefined();
  });

  it('a pod that finishes stops counting towards pods but still counts as a stored object; a dry run charges nothing', async () => {
    // Prepare
    expect((await api.post(quotas(), { metadata: { name: 'life' }, spec: { hard: { pods: '3', 'count/pods': '10' } } })).status).toBe(201);
    await eventually(async () => ((await used('life')).pods === '0' ? true : undefined), 60_000, 'life computed');
    // Act: a dry run
    const dry = await api.post(`${pods()}?dryRun=All`, unscheduledPod('dry'));
    // Assess
    expect(dry.status).toBe(201);
    expect(await used('life')).toEqual({ pods: '0', 'count/pods': '0' });
    // Act: a pod that runs to completion on the node
    const done = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'done' }, spec: { restartPolicy: 'Never', containers: [{ name: 'c', image: 'stratus-test/busybox:1.36', command: ['true'] }] } };
    expect((await api.post(pods(), done)).status).toBe(201);
    // (on a mismatch the message carries the quota's whole object, ledger and versions included,
    // and the pod's. CI once saw 0/0 here: the pod's write came after its charge's ledger TTL, and
    // the controller's recount at expiry had dropped the charge. quota-ledger.test.ts reproduces
    // it deterministically; a charged write is now sent within CHARGE_SEND_WINDOW_MS or not at all.)
    const afterCreate = (await api.get(`${quotas()}/life`)).body;
    const seen = JSON.stringify({ quota: afterCreate, pod: (await api.get(`${pods()}/done`)).body.metadata });
    expect(afterCreate.status?.used, seen).toEqual({ pods: '1', 'count/pods': '1' });
    // Assess: once Succeeded, the controller releases its `pods` share, not its `count/pods` one
    await eventually(async () => ((await api.get(`${pods()}/done`)).body.status?.phase === 'Succeeded' ? true : undefined), 120_000, 'pod Succeeded');
    await eventually(async () => {
      const u = await used('life');
      return u.pods === '0' && u['count/pods'] === '1' ? true : undefined;
    }, 60_000, 'the finished pod released');
    expect((await api.delete(`${quotas()}/life`)).status).toBe(200);
  });

  it('refuses a pod that does not state what a compute quota tracks, in Kubernetes words', async () => {
    // Prepare
    expect((await api.post(quotas(), { metadata: { name: 'compute' }, spec: { hard: { 'limits.cpu': '1' } } })).status).toBe(201);
    // Act
    const r = await api.post(pods(), unscheduledPod('no-limits'));
    // Assess
    expect(r.status).toBe(403);
    expect(r.body.message).toBe('pods "no-limits" is forbidden: failed quota: compute: must specify limits.cpu for: c');
    expect((await api.delete(`${quotas()}/compute`)).status).toBe(200);
  });

  it('a namespace admin (the default `admin` role) cannot raise or rewrite its own quota', async () => {
    // Prepare: a user bound to `admin` in the namespace, and a quota made by the cluster admin
    const config = loadConfig();
    const token = await createToken(createDocumentClient(config), config, { tenant: 'default', user: `ns-admin-${ns}`, groups: ['system:authenticated'] });
    const user = Api.forTenant('default', token);
    const binding = { metadata: { name: 'ns-admin' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'admin' }, subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: `ns-admin-${ns}` }] };
    expect((await api.post(`/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/rolebindings`, binding)).status).toBe(201);
    expect((await api.post(quotas(), { metadata: { name: 'cap' }, spec: { hard: { pods: '1' } } })).status).toBe(201);
    // the binding takes effect within a second: the user can list quotas
    await eventually(async () => ((await user.get(quotas())).status === 200 ? true : undefined), 30_000, 'the admin binding in effect');
    // Act
    const raise = await user.send('PATCH', `${quotas()}/cap`, { spec: { hard: { pods: '100' } } }, { 'content-type': 'application/merge-patch+json' });
    const rewrite = await user.send('PATCH', `${quotas()}/cap/status`, { status: { used: { pods: '0' } } }, { 'content-type': 'application/merge-patch+json' });
    const another = await user.post(quotas(), { metadata: { name: 'mine' }, spec: { hard: { pods: '100' } } });
    // Assess
    expect([raise.status, rewrite.status, another.status]).toEqual([403, 403, 403]);
    expect((await api.get(`${quotas()}/cap`)).body.spec.hard).toEqual({ pods: '1' });
    // (the same patch from the cluster admin is fine: the refusals above are the user's)
    expect((await api.send('PATCH', `${quotas()}/cap`, { spec: { hard: { pods: '100' } } }, { 'content-type': 'application/merge-patch+json' })).status).toBe(200);
    expect((await api.delete(`${quotas()}/cap`)).status).toBe(200);
  });
});

describe('ResourceQuota on updates (a Service made NodePort, a PVC grown)', () => {
  const services = () => `/api/v1/namespaces/${ns}/services`;
  it('8 ClusterIP Services made NodePort in parallel under services.nodeports=2: exactly 2 pass, used stays exact, a change back releases', async () => {
    // Prepare
    expect((await api.post(quotas(), { metadata: { name: 'ports' }, spec: { hard: { 'services.nodeports': '2', services: '20' } } })).status).toBe(201);
    const names = Array.from({ length: 8 }, (_, i) => `s${i}`);
    for (const n of names) expect((await api.post(services(), { metadata: { name: n }, spec: { ports: [{ port: 80 }] } })).status).toBe(201);
    expect((await used('ports'))['services.nodeports']).toBe('0');
    // Act
    const replies = await Promise.all(names.map((n) => api.patch(`${services()}/${n}`, { spec: { type: 'NodePort' } })));
    // Assess
    const passed = replies.filter((r) => r.status === 200);
    const refused = replies.filter((r) => r.status !== 200);
    expect(passed).toHaveLength(2);
    for (const r of refused) {
      expect(r.status).toBe(403);
      expect(r.body.reason).toBe('Forbidden');
      expect(r.body.message).toMatch(/^services "s\d" is forbidden: exceeded quota: ports, requested: services\.nodeports=1, used: services\.nodeports=2, limited: services\.nodeports=2$/);
    }
    expect(await used('ports')).toEqual({ 'services.nodeports': '2', services: '8' });
    // the controller drops the updates' ledger entries once it sees them stored, and agrees
    await eventually(async () => ((await api.get(`${quotas()}/ports`)).body.metadata.annotations?.['quota.stratus.io/pending'] === undefined ? true : undefined), 60_000, 'ledger emptied');
    expect(await used('ports')).toEqual({ 'services.nodeports': '2', services: '8' });
    // Act: one back to ClusterIP (its node port released by the controller), then another NodePort
    const first = passed[0]!.body.metadata.name as string;
    expect((await api.patch(`${services()}/${first}`, { spec: { type: 'ClusterIP' } })).status).toBe(200);
    await eventually(async () => ((await used('ports'))['services.nodeports'] === '1' ? true : undefined), 60_000, 'node port released');
    const other = refused[0]!.body.details.name as string;
    expect((await api.patch(`${services()}/${other}`, { spec: { type: 'NodePort' } })).status).toBe(200);
    expect((await used('ports'))['services.nodeports']).toBe('2');
    // Assess: a dry-run change charges nothing
    const dry = await api.patch(`${services()}/${first}?dryRun=All`, { spec: { type: 'NodePort' } });
    expect(dry.status).toBe(403);
    expect((await used('ports'))['services.nodeports']).toBe('2');
    for (const n of names) await api.delete(`${services()}/${n}`);
    expect((await api.delete(`${quotas()}/ports`)).status).toBe(200);
  });

  it('a bound PVC grown is charged the increase of requests.storage, and refused past the quota', async () => {
    // Prepare: a volume and a claim that binds to it, under requests.storage=3Gi
    const pv = `quota-pv-${ns}`;
    expect((await api.post('/api/v1/persistentvolumes', { metadata: { name: pv }, spec: { capacity: { storage: '1Gi' }, accessModes: ['ReadWriteOnce'], storageClassName: '', hostPath: { path: '/tmp/stratus-quota-test' } } })).status).toBe(201);
    expect((await api.post(quotas(), { metadata: { name: 'storage' }, spec: { hard: { 'requests.storage': '3Gi' } } })).status).toBe(201);
    const claims = `/api/v1/namespaces/${ns}/persistentvolumeclaims`;
    expect((await api.post(claims, { metadata: { name: 'data' }, spec: { storageClassName: '', volumeName: pv, accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } } })).status).toBe(201);
    await eventually(async () => ((await api.get(`${claims}/data`)).body.status?.phase === 'Bound' ? true : undefined), 60_000, 'claim Bound');
    expect((await used('storage'))['requests.storage']).toBe('1Gi');
    // Act: grow it to 2Gi, then to 4Gi
    const grow = await api.patch(`${claims}/data`, { spec: { resources: { requests: { storage: '2Gi' } } } });
    const over = await api.patch(`${claims}/data`, { spec: { resources: { requests: { storage: '4Gi' } } } });
    // Assess
    expect(grow.status).toBe(200);
    expect((await used('storage'))['requests.storage']).toBe('2Gi');
    expect(over.status).toBe(403);
    expect(over.body.message).toBe('persistentvolumeclaims "data" is forbidden: exceeded quota: storage, requested: requests.storage=2Gi, used: requests.storage=2Gi, limited: requests.storage=3Gi');
    expect((await api.delete(`${claims}/data`)).status).toBe(200);
    await api.delete(`/api/v1/persistentvolumes/${pv}`);
    expect((await api.delete(`${quotas()}/storage`)).status).toBe(200);
  });
});
