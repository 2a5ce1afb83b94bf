import { beforeAll, describe, expect, it } from 'vitest';
import { createNodeToken } from '../../shared/auth/node-identity';
import { nodeCsr } from '../../shared/auth/node-pki';
import { loadConfig } from '../../shared/config';
import { createDocumentClient } from '../../shared/store/dynamo';
import { Api } from '../helpers/api';
import { createTestCluster } from '../helpers/clusters';

/*
 * Issue #16, nodes: the node authorizer and NodeRestriction, tried as a compromised node would.
 * Node `na` and node `nb` of a cluster of this test's own, each with its own credential (as each
 * joined agent holds: shared/auth/node-identity.ts). No agent runs for them: the pods are bound
 * by name and never start; what is checked is what each credential may read and write.
 */
const NS = '/api/v1/namespaces/default';
const LEASES = '/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases';
let admin: Api;
let a: Api;
let b: Api;

const podOn = (name: string, nodeName: string, extra: Record<string, unknown> = {}) => ({
  metadata: { name },
  spec: {
    nodeName,
    containers: [
      {
        name: 'main',
        image: 'stratus-test/busybox:1.36',
        env: [{ name: 'FROM_SECRET', valueFrom: { secretKeyRef: { name: 'env-secret', key: 'k' } } }, { name: 'PLAIN', value: 'plain-value-not-for-nodes' }],
      },
    ],
    volumes: [{ name: 'v', secret: { secretName: 'vol-secret' } }],
    ...extra,
  },
});

beforeAll(async () => {
  const cluster = await createTestCluster('nodeauthz');
  admin = cluster.api;
  const config = loadConfig();
  const doc = createDocumentClient(config);
  const [ta, tb] = await Promise.all([createNodeToken(doc, config, cluster.tenant, 'na'), createNodeToken(doc, config, cluster.tenant, 'nb')]);
  a = Api.forTenant(cluster.tenant, ta);
  b = Api.forTenant(cluster.tenant, tb);
  const must = async (p: Promise<{ status: number; text: string }>) => {
    const r = await p;
    expect(r.status, r.text).toBeLessThan(300);
  };
  // Nodes made by the admin (tainted: nothing else lands there), each node's Lease by itself.
  for (const n of ['na', 'nb']) await must(admin.post('/api/v1/nodes', { metadata: { name: n }, spec: { taints: [{ key: 'stratus.test/fake', effect: 'NoSchedule' }] } }));
  for (const name of ['vol-secret', 'env-secret', 'unused-secret', 'b-secret', 'tls-ok', 'tls-other'])
    await must(admin.post(`${NS}/secrets`, { metadata: { name }, stringData: { k: `value-of-${name}` } }));
  await must(admin.post(`${NS}/pods`, podOn('pa', 'na')));
  await must(admin.post(`${NS}/pods`, { metadata: { name: 'pb' }, spec: { nodeName: 'nb', containers: [{ name: 'main', image: 'stratus-test/busybox:1.36' }], volumes: [{ name: 'v', secret: { secretName: 'b-secret' } }] } }));
  // Ingress TLS: one of the built-in class `stratus`, one of a class another controller serves.
  await must(admin.post('/apis/networking.k8s.io/v1/ingressclasses', { metadata: { name: 'other' }, spec: { controller: 'example.com/other' } }));
  const ingress = (name: string, cls: string, secretName: string) => ({
    metadata: { name },
    spec: { ingressClassName: cls, tls: [{ hosts: [`${name}.example`], secretName }], defaultBackend: { service: { name: 'web', port: { number: 80 } } } },
  });
  await must(admin.post('/apis/networking.k8s.io/v1/namespaces/default/ingresses', ingress('ing-ok', 'stratus', 'tls-ok')));
  await must(admin.post('/apis/networking.k8s.io/v1/namespaces/default/ingresses', ingress('ing-other', 'other', 'tls-other')));
  await must(b.post(LEASES, { metadata: { name: 'nb' }, spec: { holderIdentity: 'nb', leaseDurationSeconds: 40 } }));
}, 120_000);

describe('a node reads only its own pods', () => {
  it('gets its pod; not a pod bound to another node (403 in the node authorizer\'s words)', async () => {
    expect((await a.get(`${NS}/pods/pa`)).status).toBe(200);
    const r = await a.get(`${NS}/pods/pb`);
    expect(r.status).toBe(403);
    expect(r.body.message).toBe(`pods "pb" is forbidden: User "system:node:na" cannot get resource "pods" in API group "" in the namespace "default": no relationship found between node 'na' and this object`);
  });

  it('lists its pods by spec.nodeName; a list of all pods is their addresses only; no watch of all pods', async () => {
    const mine = await a.get('/api/v1/pods?fieldSelector=spec.nodeName%3Dna');
    expect(mine.status).toBe(200);
    expect(mine.body.items.map((p: { metadata: { name: string } }) => p.metadata.name)).toEqual(['pa']);
    expect(mine.body.items[0].spec.containers[0].env).toBeDefined();
    const all = await b.get('/api/v1/pods');
    expect(all.status).toBe(200);
    const pa = all.body.items.find((p: { metadata: { name: string } }) => p.metadata.name === 'pa');
    expect(pa.spec.nodeName).toBe('na');
    expect(all.text).not.toContain('plain-value-not-for-nodes');
    expect(all.text).not.toContain('vol-secret');
    expect(all.text).not.toContain('busybox');
    const theirs = await a.get('/api/v1/pods?watch=true&fieldSelector=spec.nodeName%3Dnb');
    expect(theirs.status).toBe(403);
    expect(theirs.body.message).toContain('can only list/watch pods with spec.nodeName field selector');
  });
});

describe('a node reads only the Secrets its pods use', () => {
  it('gets a Secret its pod mounts and one its pod reads into env', async () => {
    const vol = await a.get(`${NS}/secrets/vol-secret`);
    expect(vol.status, vol.text).toBe(200);
    expect(Buffer.from(vol.body.data.k, 'base64').toString()).toBe('value-of-vol-secret');
    expect((await a.get(`${NS}/secrets/env-secret`)).status).toBe(200);
  });

  it('cannot get a Secret no pod of it uses, nor one only another node\'s pod uses', async () => {
    for (const name of ['unused-secret', 'b-secret']) {
      const r = await a.get(`${NS}/secrets/${name}`);
      expect(r.status).toBe(403);
      expect(r.body.message).toBe(`secrets "${name}" is forbidden: User "system:node:na" cannot get resource "secrets" in API group "" in the namespace "default": no relationship found between node 'na' and this object`);
    }
    expect((await b.get(`${NS}/secrets/b-secret`)).status).toBe(200);
  });

  it('cannot list Secrets', async () => {
    const r = await a.get(`${NS}/secrets`);
    expect(r.status).toBe(403);
    expect(r.body.message).toContain('can only get individual resources of this type');
  });

  it('gets the TLS Secret of an Ingress of class stratus, not of another class', async () => {
    expect((await a.get(`${NS}/secrets/tls-ok`)).status).toBe(200);
    expect((await a.get(`${NS}/secrets/tls-other`)).status).toBe(403);
  });

  it('a pod bound to it a moment ago is related at once (the byNode index may lag: a consistent read follows a miss)', async () => {
    const r = await admin.post(`${NS}/pods`, { metadata: { name: 'late' }, spec: { nodeName: 'na', containers: [{ name: 'main', image: 'stratus-test/busybox:1.36' }], volumes: [{ name: 'v', secret: { secretName: 'unused-secret' } }] } });
    expect(r.status).toBe(201);
    expect((await a.get(`${NS}/secrets/unused-secret`)).status).toBe(200);
    await admin.delete(`${NS}/pods/late?gracePeriodSeconds=0`);
  });
});

describe('NodeRestriction: a node writes only its own', () => {
  it('cannot patch the status of another node\'s pod; can patch its own', async () => {
    const theirs = await a.patch(`${NS}/pods/pb/status`, { status: { phase: 'Failed' } });
    expect(theirs.status).toBe(403);
    expect(theirs.body.message).toBe('pods "pb" is forbidden: node "na" can only update pod status for pods with spec.nodeName set to itself');
    expect((await a.patch(`${NS}/pods/pa/status`, { status: { message: 'ok' } })).status).toBe(200);
  });

  it('cannot delete another node\'s pod nor create a pod', async () => {
    const del = await a.delete(`${NS}/pods/pb`);
    expect(del.status).toBe(403);
    expect(del.body.message).toBe('pods "pb" is forbidden: node "na" can only delete pods with spec.nodeName set to itself');
    const created = await a.post(`${NS}/pods`, podOn('sneaky', 'na'));
    expect(created.status).toBe(403);
    expect(created.body.message).toContain('node "na" can only create mirror pods');
  });

  it('cannot update or read another node\'s Lease, nor create one in its name; keeps its own', async () => {
    const lease = (await b.get(`${LEASES}/nb`)).body;
    const upd = await a.put(`${LEASES}/nb`, { ...lease, spec: { ...lease.spec, holderIdentity: 'na' } });
    expect(upd.status).toBe(403);
    expect(upd.body.message).toContain('can only access node lease with the same name as the requesting node');
    expect((await a.get(`${LEASES}/nb`)).status).toBe(403);
    const impostor = await a.post(LEASES, { metadata: { name: 'nc' }, spec: { holderIdentity: 'nc' } });
    expect(impostor.status).toBe(403);
    expect(impostor.body.message).toBe('leases.coordination.k8s.io "nc" is forbidden: can only access node lease with the same name as the requesting node');
    expect((await a.post(LEASES, { metadata: { name: 'na' }, spec: { holderIdentity: 'na', leaseDurationSeconds: 40 } })).status).toBe(201);
  });

  it('cannot modify another Node, its own taints or its node-restriction.kubernetes.io labels', async () => {
    const other = await a.patch('/api/v1/nodes/nb', { metadata: { labels: { owned: 'yes' } } });
    expect(other.status).toBe(403);
    const taints = await a.patch('/api/v1/nodes/na', { spec: { taints: null } });
    expect(taints.status).toBe(403);
    expect(taints.body.message).toBe('nodes "na" is forbidden: node "na" is not allowed to modify taints');
    const label = await a.patch('/api/v1/nodes/na', { metadata: { labels: { 'node-restriction.kubernetes.io/tier': 'secure' } } });
    expect(label.status).toBe(403);
    expect(label.body.message).toBe('nodes "na" is forbidden: is not allowed to modify labels: node-restriction.kubernetes.io/tier');
    expect((await a.patch('/api/v1/nodes/na', { metadata: { labels: { 'example.com/team': 'x' } } })).status).toBe(200);
  });

  it('cannot delete a namespace, create a Service or read ServiceAccounts', async () => {
    const ns = await a.delete('/api/v1/namespaces/default');
    expect(ns.status).toBe(403);
    expect(ns.body.message).toContain('User "system:node:na" cannot delete resource "namespaces"');
    expect((await a.post(`${NS}/services`, { metadata: { name: 'x' }, spec: { ports: [{ port: 80 }] } })).status).toBe(403);
    expect((await a.get(`${NS}/serviceaccounts`)).status).toBe(403);
  });

  it('still reads what its proxy, DNS and Ingress controller need', async () => {
    for (const path of ['/api/v1/services', '/apis/discovery.k8s.io/v1/endpointslices', '/apis/networking.k8s.io/v1/ingresses', '/apis/networking.k8s.io/v1/ingressclasses', '/apis/networking.k8s.io/v1/networkpolicies', '/api/v1/namespaces', '/api/v1/nodes'])
      expect((await a.get(path)).status, path).toBe(200);
  });
});

describe('serving-certificate rotation', () => {
  it('a node renews its own serving certificate with its credential (no new token); not another node\'s', async () => {
    const own = await a.post('/stratus/v1/node-join', { nodeName: 'na', csr: (await nodeCsr('na')).csr });
    expect(own.status, own.text).toBe(201);
    expect(own.body.status.certificate).toContain('BEGIN CERTIFICATE');
    expect(own.body.status.token).toBeUndefined();
    const other = await a.post('/stratus/v1/node-join', { nodeName: 'nb', csr: (await nodeCsr('nb')).csr });
    expect(other.status).toBe(403);
    expect(other.body.message).toBe(`node "na" can only renew its own serving certificate, not node "nb"'s`);
    const wrongCn = await a.post('/stratus/v1/node-join', { nodeName: 'na', csr: (await nodeCsr('nb')).csr });
    expect(wrongCn.status).toBe(400);
  });
});
