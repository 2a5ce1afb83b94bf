import type { ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bridgeName, destroyNodeBridge } from '../../node-agent/network/node-bridge';
import { destroyServiceTable } from '../../node-agent/network/service-proxy';
import { proxyTableName } from '../../node-agent/network/service-rules';
import { removeNodeContainers, startNodeAgent, stopProcesses } from '../helpers/agent';
import { eventually, uniqueName } from '../helpers/api';
import { hostGet } from '../helpers/http';
import { createTestCluster, execInPod, type TestCluster } from '../helpers/clusters';
import { kubectl } from '../helpers/kubectl';

/*
 * examples/three-tier (issue #15) applied with one `kubectl apply -f examples/three-tier/` to a
 * cluster of two node-bridge agents: every Deployment gets Ready; a pod reaches each Service by
 * short name, FQDN and ClusterIP; the frontend's page goes frontend → api → store; the Ingress
 * routes by host (shop.example.test) and path (/ → frontend, /api → api).
 */

const docker = new Docker();

describe('three-tier example', { timeout: 500_000 }, () => {
  let c: TestCluster;
  const suffix = uniqueName('').replace(/[^a-z0-9-]/g, '').slice(-8);
  const nodes = [`tt1-${suffix}`, `tt2-${suffix}`];
  const agents: ChildProcess[] = [];
  const cidrs: string[] = [];
  let port = 0;
  const k = (args: string[]) => kubectl(['--server', c.api.base, '--token', c.api.token!, ...args], { timeoutMs: 120_000 });

  beforeAll(async () => {
    c = await createTestCluster('tt');
    for (const n of nodes) agents.push(startNodeAgent(n, { tenant: c.tenant, joinToken: c.joinToken, podNetwork: 'node-bridge' }));
    for (const n of nodes) {
      const node = await eventually(async () => {
        const r = (await c.api.get(`/api/v1/nodes/${n}`)).body as { metadata?: { annotations?: Record<string, string> }; spec?: { podCIDR?: string } };
        return r.spec?.podCIDR && r.metadata?.annotations?.['stratus.dev/ingress-port'] ? r : undefined;
      }, 90_000, `node ${n} registered`);
      cidrs.push(node.spec!.podCIDR!);
      port ||= Number(node.metadata!.annotations!['stratus.dev/ingress-port']);
    }
    const applied = await k(['apply', '-f', 'examples/three-tier/']);
    expect(applied.code, applied.stderr).toBe(0);
    await eventually(async () => {
      const r = (await c.api.get('/apis/apps/v1/namespaces/default/deployments?labelSelector=app%3Dthree-tier')).body as { items: { spec: { replicas: number }; status?: { readyReplicas?: number } }[] };
      return r.items.length === 3 && r.items.every((d) => d.status?.readyReplicas === d.spec.replicas) ? true : undefined;
    }, 180_000, 'three Deployments ready');
  }, 300_000);

  afterAll(async () => {
    await stopProcesses(agents);
    for (const n of nodes) removeNodeContainers(n);
    for (const n of nodes) rmSync(join('/var/lib/stratus', n), { recursive: true, force: true });
    for (const cidr of cidrs) {
      await destroyServiceTable(proxyTableName(bridgeName(cidr)));
      await destroyNodeBridge(docker, cidr);
    }
    for (const n of nodes) await c?.api.send('DELETE', `/api/v1/nodes/${n}`);
  }, 120_000);

  it('spreads the pods over both nodes', async () => {
    const pods = (await c.api.get('/api/v1/namespaces/default/pods?labelSelector=app%3Dthree-tier')).body as { items: { spec: { nodeName?: string } }[] };
    expect(new Set(pods.items.map((p) => p.spec.nodeName)).size).toBe(2);
  });

  it('a pod reaches each Service by short name, FQDN and ClusterIP', async () => {
    const pods = (await c.api.get('/api/v1/namespaces/default/pods?labelSelector=tier%3Dfrontend')).body as { items: { metadata: { uid: string } }[] };
    const uid = pods.items[0]!.metadata.uid;
    for (const svc of ['frontend', 'api', 'store']) {
      const ip = ((await c.api.get(`/api/v1/namespaces/default/services/${svc}`)).body as { spec: { clusterIP: string } }).spec.clusterIP;
      for (const target of [svc, `${svc}.default.svc.cluster.local`, ip]) {
        const path = svc === 'api' ? '/api/' : '/';
        const r = await eventually(async () => {
          // An HTTP GET with busybox nc: this static busybox's wget crashes (SIGSEGV) in its resolver.
          const out = await execInPod(uid, ['sh', '-c', `printf 'GET ${path} HTTP/1.0\\r\\nHost: ${target}\\r\\n\\r\\n' | nc -w 3 ${target} 80 2>/dev/null | tail -n 1`], 20_000);
          return out.out.trim() || undefined;
        }, 60_000, `${target}${path} from a pod`);
        expect(r, target).toMatch(svc === 'store' ? /store ok/ : new RegExp(`^${svc}`));
      }
    }
  });

  it('the Ingress routes by host and path; the page goes frontend → api → store', async () => {
    const page = await eventually(async () => {
      const r = await hostGet(port, 'shop.example.test', '/cgi-bin/page', 8000);
      return r?.status === 200 ? r.body : undefined;
    }, 90_000, 'the page through the Ingress');
    expect(page).toMatch(/^frontend .* <- api .*: hello from the store$/);
    expect((await hostGet(port, 'shop.example.test', '/api/', 8000))?.body).toMatch(/^api ok /);
    expect((await hostGet(port, 'shop.example.test', '/', 8000))?.body).toMatch(/^frontend /);
    expect((await hostGet(port, 'elsewhere.example.test', '/', 8000))?.status).toBe(404);
    const ing = await k(['get', 'ingress', 'three-tier']);
    expect(ing.stdout.split('\n')[0]).toMatch(/^NAME\s+CLASS\s+HOSTS\s+ADDRESS\s+PORTS\s+AGE$/);
    expect(ing.stdout.split('\n')[1]).toMatch(/^three-tier\s+stratus\s+shop\.example\.test\s+\S+\s+80\s+/);
  });
});
