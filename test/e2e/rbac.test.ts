import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import { createTenantTokens, writeKubeconfigFile } from '../../infra/local/stack';
import { createToken } from '../../shared/auth/tokens';
import { loadConfig } from '../../shared/config';
import { createDocumentClient } from '../../shared/store/dynamo';
import { Api, eventually, uniqueName } from '../helpers/api';
import { kubectl, type KubectlRun } from '../helpers/kubectl';

/*
 * Issue #16, RBAC through the real kubectl: the four kinds (`kubectl create role/clusterrole/
 * rolebinding/clusterrolebinding`, their columns), the default roles of a new cluster, and a user
 * token bound to `view` that can read but not delete (403 in Kubernetes' words). Each test has a
 * cluster (tenant) of its own. RBAC changes reach the api's authorizer cache within a second
 * (shared/auth/rbac-cache.ts), so the first use of a new binding is retried until it takes.
 */
const config = () => loadConfig();
const tenantName = (p: string) => uniqueName(p).replace(/[^a-z0-9-]/g, '').slice(0, 40);

interface Cluster {
  tenant: string;
  admin: string;
  /** kubectl as the admin (system:masters). */
  k: (args: string[]) => Promise<KubectlRun>;
  /** A kubeconfig and kubectl for a new user token (not system:masters). */
  user: (user: string, groups?: string[]) => Promise<{ token: string; k: (args: string[]) => Promise<KubectlRun> }>;
}

async function kubeconfigFor(tenant: string, token: string): Promise<string> {
  const stack = inject('stack');
  const path = join(await mkdtemp(join(tmpdir(), 'stratus-rbac-')), 'kubeconfig');
  await writeKubeconfigFile(path, { apiUrl: stack.apiUrl, caCert: stack.caCert, tenant, token });
  return path;
}

async function newCluster(prefix: string): Promise<Cluster> {
  const doc = createDocumentClient(config());
  const tenant = tenantName(prefix);
  const { adminToken } = await createTenantTokens(doc, config(), tenant);
  const adminKc = await kubeconfigFor(tenant, adminToken);
  return {
    tenant,
    admin: adminToken,
    k: (args) => kubectl(['--kubeconfig', adminKc, ...args]),
    user: async (user, groups = []) => {
      const token = await createToken(doc, config(), { tenant, user, groups: [...groups, 'system:authenticated'] });
      const kc = await kubeconfigFor(tenant, token);
      return { token, k: (args) => kubectl(['--kubeconfig', kc, ...args]) };
    },
  };
}

/** Retries a kubectl run until it exits with `code` (RBAC changes take up to a second to show). */
const until = (run: () => Promise<KubectlRun>, code: number, what: string) =>
  eventually(async () => {
    const r = await run();
    return r.code === code ? r : undefined;
  }, 10_000, what);

describe('RBAC kinds through kubectl', { timeout: 120_000 }, () => {
  it('a new cluster has the default roles and bindings, labelled and annotated', async () => {
    // Prepare
    const c = await newCluster('rbac-defaults');
    // Act
    const roles = await c.k(['get', 'clusterroles', '-l', 'kubernetes.io/bootstrapping=rbac-defaults', '-o', 'name']);
    const crb = await c.k(['get', 'clusterrolebinding', 'cluster-admin', '-o', 'json']);
    const table = await c.k(['get', 'clusterrolebindings', 'system:discovery', '-o', 'wide']);
    // Assess
    expect(roles.stderr).toBe('');
    for (const n of ['cluster-admin', 'admin', 'edit', 'view', 'system:discovery', 'system:basic-user', 'system:public-info-viewer', 'system:node', 'system:node-proxier'])
      expect(roles.stdout.split('\n')).toContain(`clusterrole.rbac.authorization.k8s.io/${n}`);
    const binding = JSON.parse(crb.stdout) as { subjects: unknown[]; roleRef: unknown; metadata: { annotations: Record<string, string> } };
    expect(binding.subjects).toEqual([{ kind: 'Group', apiGroup: 'rbac.authorization.k8s.io', name: 'system:masters' }]);
    expect(binding.metadata.annotations['rbac.authorization.kubernetes.io/autoupdate']).toBe('true');
    expect(table.stdout.split('\n')[0]).toMatch(/^NAME\s+ROLE\s+AGE\s+USERS\s+GROUPS\s+SERVICEACCOUNTS$/);
    expect(table.stdout).toMatch(/system:discovery\s+ClusterRole\/system:discovery\s+\S+\s+system:authenticated/);
  });

  it('kubectl create role/clusterrole/rolebinding/clusterrolebinding, with their columns', async () => {
    // Prepare
    const c = await newCluster('rbac-create');
    // Act
    const role = await c.k(['create', 'role', 'pod-reader', '--verb=get,list', '--resource=pods,pods/log']);
    const cr = await c.k(['create', 'clusterrole', 'node-reader', '--verb=get', '--resource=nodes']);
    const agg = await c.k(['create', 'clusterrole', 'monitoring', '--aggregation-rule=team=monitoring']);
    const rb = await c.k(['create', 'rolebinding', 'alice-reads', '--role=pod-reader', '--user=alice', '--group=devs', '--serviceaccount=default:builder']);
    const crb = await c.k(['create', 'clusterrolebinding', 'bob-nodes', '--clusterrole=node-reader', '--user=bob']);
    const roles = await c.k(['get', 'roles']);
    const rbs = await c.k(['get', 'rolebindings', '-o', 'wide']);
    const got = JSON.parse((await c.k(['get', 'role', 'pod-reader', '-o', 'json'])).stdout) as { rules: unknown };
    // Assess
    expect([role, cr, agg, rb, crb].map((r) => r.stdout.trim())).toEqual([
      'role.rbac.authorization.k8s.io/pod-reader created',
      'clusterrole.rbac.authorization.k8s.io/node-reader created',
      'clusterrole.rbac.authorization.k8s.io/monitoring created',
      'rolebinding.rbac.authorization.k8s.io/alice-reads created',
      'clusterrolebinding.rbac.authorization.k8s.io/bob-nodes created',
    ]);
    expect(got.rules).toEqual([{ apiGroups: [''], resources: ['pods', 'pods/log'], verbs: ['get', 'list'] }]);
    expect(roles.stdout).toMatch(/^NAME\s+CREATED AT\npod-reader\s+\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\n$/);
    expect(rbs.stdout).toMatch(/^NAME\s+ROLE\s+AGE\s+USERS\s+GROUPS\s+SERVICEACCOUNTS\nalice-reads\s+Role\/pod-reader\s+\S+\s+alice\s+devs\s+default\/builder\n$/);
  });

  it('roleRef cannot change (422 in Kubernetes words)', async () => {
    // Prepare
    const c = await newCluster('rbac-roleref');
    await c.k(['create', 'rolebinding', 'b', '--clusterrole=view', '--user=alice']);
    // Act
    const r = await c.k(['patch', 'rolebinding', 'b', '--type=merge', '-p', '{"roleRef":{"name":"edit"}}']);
    // Assess
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      'The RoleBinding "b" is invalid: roleRef: Invalid value: rbac.RoleRef{APIGroup:"rbac.authorization.k8s.io", Kind:"ClusterRole", Name:"edit"}: cannot change roleRef',
    );
  });
});

describe('RBAC authorization', { timeout: 120_000 }, () => {
  it('a user without bindings is refused, with Kubernetes message', async () => {
    // Prepare
    const c = await newCluster('rbac-none');
    const alice = await c.user('alice');
    // Act
    const r = await alice.k(['get', 'pods']);
    // Assess
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toBe('Error from server (Forbidden): pods is forbidden: User "alice" cannot list resource "pods" in API group "" in the namespace "default"');
  });

  it('a user bound to view can get but not delete; discovery works for every authenticated user', async () => {
    // Prepare
    const c = await newCluster('rbac-view');
    await c.k(['create', 'configmap', 'cm', '--from-literal=a=b']);
    const alice = await c.user('alice');
    await c.k(['create', 'clusterrolebinding', 'alice-view', '--clusterrole=view', '--user=alice']);
    // Act
    const get = await until(() => alice.k(['get', 'configmap', 'cm', '-o', 'name']), 0, 'view takes effect');
    const del = await alice.k(['delete', 'configmap', 'cm']);
    const secrets = await alice.k(['get', 'secrets']);
    const resources = await alice.k(['api-resources', '-o', 'name']);
    const version = await alice.k(['version', '-o', 'json']);
    // Assess
    expect(get.stdout.trim()).toBe('configmap/cm');
    expect(del.code).toBe(1);
    expect(del.stderr.trim()).toBe('Error from server (Forbidden): configmaps "cm" is forbidden: User "alice" cannot delete resource "configmaps" in API group "" in the namespace "default"');
    expect(secrets.stderr.trim()).toBe('Error from server (Forbidden): secrets is forbidden: User "alice" cannot list resource "secrets" in API group "" in the namespace "default"');
    expect(resources.code).toBe(0);
    expect(resources.stdout).toContain('pods');
    expect(version.code).toBe(0);
  });

  it('a role binding grants only in its namespace; a removed binding stops granting', async () => {
    // Prepare
    const c = await newCluster('rbac-ns');
    await c.k(['create', 'namespace', 'team']);
    const bob = await c.user('bob');
    await c.k(['create', 'rolebinding', 'bob-edit', '--clusterrole=edit', '--user=bob', '-n', 'team']);
    // Act
    const inTeam = await until(() => bob.k(['create', 'configmap', 'x', '-n', 'team']), 0, 'edit in team');
    const inDefault = await bob.k(['create', 'configmap', 'x', '-n', 'default']);
    await c.k(['delete', 'rolebinding', 'bob-edit', '-n', 'team']);
    const after = await until(() => bob.k(['get', 'configmaps', '-n', 'team']), 1, 'binding removal takes effect');
    // Assess
    expect(inTeam.stdout.trim()).toBe('configmap/x created');
    expect(inDefault.stderr.trim()).toBe('error: failed to create configmap: configmaps is forbidden: User "bob" cannot create resource "configmaps" in API group "" in the namespace "default"');
    expect(after.stderr).toContain('User "bob" cannot list resource "configmaps"');
  });

  it('non-resource paths need a rule: a token without system:authenticated cannot read /apis', async () => {
    // Prepare
    const c = await newCluster('rbac-path');
    const token = await createToken(createDocumentClient(config()), config(), { tenant: c.tenant, user: 'nobody', groups: [] });
    const api = Api.forTenant(c.tenant, token);
    // Act
    const r = await api.send('GET', '/apis');
    const health = await api.send('GET', '/healthz');
    // Assess
    expect(r.status).toBe(403);
    expect(r.body.message).toBe('forbidden: User "nobody" cannot get path "/apis"');
    expect(health.status).toBe(200);
  });
});
