import { describe, expect, inject, it } from 'vitest';
import { Api, uniqueName } from '../helpers/api';
import { kubectl } from '../helpers/kubectl';

/*
 * nodes/NAME/proxy/{metrics,healthz} (functions/api/proxy.ts): what Kubernetes users run to read a
 * kubelet's metrics, `kubectl get --raw /api/v1/nodes/NAME/proxy/metrics`, reaches the test
 * stack's node agent through the API (mutual TLS, as logs and exec); authorized as `get` on
 * nodes/proxy (cluster-admin has it, view does not); GET only, and only those two paths.
 */
const node = () => inject('stack').nodeName;

describe('nodes/NAME/proxy', () => {
  it('kubectl get --raw reads the agent\'s /metrics and /healthz through the API', async () => {
    // Act
    const metrics = await kubectl(['get', '--raw', `/api/v1/nodes/${node()}/proxy/metrics`]);
    const healthz = await kubectl(['get', '--raw', `/api/v1/nodes/${node()}/proxy/healthz`]);
    // Assess
    expect(metrics.code, metrics.stderr).toBe(0);
    expect(metrics.stdout).toMatch(/^# HELP kubelet_running_pods /m);
    expect(metrics.stdout).toContain(`node="${node()}"`);
    expect(healthz.code, healthz.stderr).toBe(0);
    expect(healthz.stdout.trim()).toBe('ok');
  });

  it('is refused to a user bound to view (403 on nodes/proxy), and to what is not a GET of those paths', async () => {
    // Prepare: a user with the view ClusterRole (kubectl impersonates it with the admin's token)
    const user = uniqueName('viewer');
    const bind = await kubectl(['create', 'clusterrolebinding', user, '--clusterrole=view', `--user=${user}`]);
    expect(bind.code, bind.stderr).toBe(0);
    const api = Api.forTenant();
    // Act
    const asViewer = await kubectl(['get', '--raw', `/api/v1/nodes/${node()}/proxy/metrics`, `--as=${user}`]);
    const post = await api.send('POST', `/api/v1/nodes/${node()}/proxy/metrics`);
    const other = await api.send('GET', `/api/v1/nodes/${node()}/proxy/containerLogs/default/x/y`);
    const missing = await api.send('GET', `/api/v1/nodes/${uniqueName('no-such-node')}/proxy/metrics`);
    await kubectl(['delete', 'clusterrolebinding', user]);
    // Assess
    expect(asViewer.code).not.toBe(0);
    expect(asViewer.stderr).toContain(`nodes "${node()}" is forbidden: User "${user}" cannot get resource "nodes/proxy" in API group "" at the cluster scope`);
    expect(post.status).toBe(405);
    expect(post.body).toMatchObject({ kind: 'Status', reason: 'MethodNotAllowed', code: 405 });
    expect(other.status).toBe(404);
    expect(other.body).toMatchObject({ kind: 'Status', reason: 'NotFound', code: 404 });
    expect(missing.status).toBe(404);
    expect(missing.body).toMatchObject({ kind: 'Status', reason: 'NotFound', code: 404 });
  });
});
