import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import { createTenantTokens, writeKubeconfigFile } from '../../infra/local/stack';
import { createToken } from '../../shared/auth/tokens';
import { loadConfig } from '../../shared/config';
import { resourceByName } from '../../shared/resources';
import { createDocumentClient } from '../../shared/store/dynamo';
import { ObjectStore } from '../../shared/store/store';
import { Api, eventually, uniqueName } from '../helpers/api';
import { kubectl } from '../helpers/kubectl';

/*
 * Issue #14: the four system namespaces exist in every cluster from its first second;
 * default, kube-system and kube-public cannot be deleted (403, Kubernetes' words);
 * kube-node-lease can, and comes back; `kubectl delete namespace --all` leaves the three.
 * Each test has a tenant of its own (the shared one's namespaces stay untouched).
 */
const SYSTEM = ['default', 'kube-node-lease', 'kube-public', 'kube-system'];
const config = () => loadConfig();
const tenantName = (p: string) => uniqueName(p).replace(/[^a-z0-9-]/g, '');

async function kubeconfigFor(tenant: string, token: string): Promise<string> {
  const stack = inject('stack');
  const path = join(await mkdtemp(join(tmpdir(), 'stratus-ns-')), 'kubeconfig');
  await writeKubeconfigFile(path, { apiUrl: stack.apiUrl, caCert: stack.caCert, tenant, token });
  return path;
}

describe('system namespaces', { timeout: 120_000 }, () => {
  it('a new tenant has all four in its store before any request', async () => {
    // Prepare
    const doc = createDocumentClient(config());
    const tenant = tenantName('fresh');
    // Act
    await createTenantTokens(doc, config(), tenant);
    // Assess: read the store itself, not through the API (whose list would heal)
    const store = new ObjectStore(doc, config());
    for (const name of SYSTEM) expect((await store.get(tenant, resourceByName('namespaces'), undefined, name))?.status, name).toEqual({ phase: 'Active' });
  });

  it('a tenant made before them (a bare token) lists all four on its first kubectl get ns', async () => {
    // Prepare
    const tenant = tenantName('older');
    const token = await createToken(createDocumentClient(config()), config(), { tenant, user: 'admin', groups: ['system:masters'] });
    const kc = await kubeconfigFor(tenant, token);
    // Act
    const r = await kubectl(['--kubeconfig', kc, 'get', 'namespaces', '-o', 'name']);
    // Assess
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim().split('\n').sort()).toEqual(SYSTEM.map((n) => `namespace/${n}`));
  });

  it('default, kube-system and kube-public cannot be deleted; kube-node-lease can and comes back; delete --all leaves the three', async () => {
    // Prepare
    const tenant = tenantName('immortal');
    const { adminToken } = await createTenantTokens(createDocumentClient(config()), config(), tenant);
    const kc = await kubeconfigFor(tenant, adminToken);
    const api = Api.forTenant(tenant, adminToken);
    expect((await api.post('/api/v1/namespaces', { metadata: { name: 'scratch' } })).status).toBe(201);
    const lease = (await api.get('/api/v1/namespaces/kube-node-lease')).body;
    // Act: a raw DELETE, then a dry run
    const raw = await api.delete('/api/v1/namespaces/default');
    const dry = await api.delete('/api/v1/namespaces/kube-system?dryRun=All');
    // Assess
    expect(raw.status).toBe(403);
    expect(raw.body).toMatchObject({ kind: 'Status', status: 'Failure', reason: 'Forbidden', code: 403, message: 'namespaces "default" is forbidden: this namespace may not be deleted', details: { name: 'default', kind: 'namespaces' } });
    expect(dry.status).toBe(403);

    // Act: kubectl delete namespace --all
    const all = await kubectl(['--kubeconfig', kc, 'delete', 'namespace', '--all']);
    // Assess: kubectl reports the three refusals; scratch and kube-node-lease go
    expect(all.code).not.toBe(0);
    for (const n of ['default', 'kube-system', 'kube-public']) expect(all.stderr).toContain(`Error from server (Forbidden): namespaces "${n}" is forbidden: this namespace may not be deleted`);
    expect(all.stdout).toContain('namespace "scratch" deleted');
    expect(all.stdout).toContain('namespace "kube-node-lease" deleted');
    await eventually(async () => ((await api.get('/api/v1/namespaces/scratch')).status === 404 ? true : undefined), 30_000, 'scratch gone');
    // kube-node-lease is made again by the controllers (a new object: a new uid)
    const back = await eventually(async () => {
      const r = await api.get('/api/v1/namespaces/kube-node-lease');
      return r.status === 200 && r.body.metadata.uid !== lease.metadata.uid && !r.body.metadata.deletionTimestamp ? r.body : undefined;
    }, 30_000, 'kube-node-lease made again');
    expect(back.status.phase).toBe('Active');
    const names = await kubectl(['--kubeconfig', kc, 'get', 'namespaces', '-o', 'name']);
    expect(names.stdout.trim().split('\n').sort()).toEqual(SYSTEM.map((n) => `namespace/${n}`));
  });
});
