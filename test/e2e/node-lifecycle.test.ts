import { execFileSync, type ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createJoinToken } from '../../shared/auth/join-tokens';
import { createToken } from '../../shared/auth/tokens';
import { loadConfig } from '../../shared/config';
import { createDocumentClient } from '../../shared/store/dynamo';
import { startNodeAgent } from '../helpers/agent';
import { Api, eventually, uniqueName } from '../helpers/api';

/*
 * Node failure, end to end, in a tenant of its own (so a short grace period touches no other
 * test): two real node agents; one is killed with its containers. With a 10 s grace period
 * (the tenant's ConfigMap kube-system/stratus-node-lifecycle) and 5 s tolerations, the node goes
 * Unknown and gets the unreachable taints, its pod is evicted, a replacement runs on the other
 * node, and the node, once back, is Ready again and cleaned of the evicted pod's containers.
 * The second test is the failure test: a Deployment spread over two nodes loses one.
 */
const IMAGE = 'stratus-test/busybox:1.36';
const agents = new Map<string, ChildProcess>();
let api: Api;
let tenant: string;
let nodeToken: string;

function startAgent(name: string): ChildProcess {
  // Each agent joins with the cluster's join token and gets its own identity.
  const child = startNodeAgent(name, { tenant, joinToken: nodeToken, resyncSeconds: 3 });
  agents.set(name, child);
  return child;
}

const containersOf = (node: string) => execFileSync('docker', ['ps', '-aq', '--filter', `label=io.stratus.node=${node}`], { encoding: 'utf8' }).split('\n').filter(Boolean);
const readyOf = (node: { status?: { conditions?: { type: string; status: string }[] } }) => node.status?.conditions?.find((c) => c.type === 'Ready')?.status;
const toleration = { key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 5 };
const podBody = (name: string, spec: object = {}) => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, labels: { app: 'lc' } },
  spec: { terminationGracePeriodSeconds: 1, tolerations: [toleration], containers: [{ name: 'main', image: IMAGE, command: ['sh', '-c', 'sleep 3600'] }], ...spec },
});

beforeAll(async () => {
  const config = loadConfig();
  const doc = createDocumentClient(config);
  tenant = uniqueName('lc').replace(/[^a-z0-9-]/g, '');
  const admin = await createToken(doc, config, { tenant, user: 'admin', groups: ['system:masters'] });
  nodeToken = (await createJoinToken(doc, config, tenant)).token;
  api = Api.forTenant(tenant, admin);
  await api.post('/api/v1/namespaces/kube-system/configmaps', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'stratus-node-lifecycle' }, data: { 'node-monitor-grace-period': '10s' } });
});

afterAll(async () => {
  for (const child of agents.values()) {
    if (child.exitCode !== null || child.signalCode !== null) continue;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await exited;
  }
  for (const name of agents.keys()) {
    const ids = containersOf(name);
    if (ids.length) execFileSync('docker', ['rm', '-f', ...ids]);
  }
});

describe('node lifecycle', () => {
  it('a dead node goes Unknown and tainted, its pods are evicted and run elsewhere; back, it is cleaned', async () => {
    // Prepare: two nodes, a pod on each.
    const [a, b] = [`lc-a-${process.pid}`, `lc-b-${process.pid}`];
    startAgent(a);
    startAgent(b);
    for (const n of [a, b]) await eventually(async () => (readyOf((await api.get(`/api/v1/nodes/${n}`)).body) === 'True' ? true : undefined), 60_000, `${n} ready`);
    const victim = uniqueName('victim');
    await api.post('/api/v1/namespaces/default/pods', podBody(victim, { nodeSelector: { 'kubernetes.io/hostname': a } }));
    const running = await eventually(async () => {
      const p = (await api.get(`/api/v1/namespaces/default/pods/${victim}`)).body;
      return p.status?.phase === 'Running' ? p : undefined;
    }, 60_000, 'victim running');
    expect(running.spec.nodeName).toBe(a);

    // Act: the agent dies with its containers.
    agents.get(a)!.kill('SIGKILL');
    const ids = containersOf(a);
    if (ids.length) execFileSync('docker', ['rm', '-f', ...ids]);

    // Assess: Unknown + unreachable taints after the grace period.
    const unknown = await eventually(async () => {
      const n = (await api.get(`/api/v1/nodes/${a}`)).body;
      return readyOf(n) === 'Unknown' ? n : undefined;
    }, 60_000, 'node Unknown');
    expect(unknown.spec.taints.map((t: { key: string; effect: string }) => `${t.key}:${t.effect}`).sort()).toEqual(['node.kubernetes.io/unreachable:NoExecute', 'node.kubernetes.io/unreachable:NoSchedule']);
    // The pod is evicted once its 5 s toleration has passed.
    await eventually(async () => ((await api.get(`/api/v1/namespaces/default/pods/${victim}`)).body.metadata?.deletionTimestamp ? true : undefined), 30_000, 'victim evicted');
    const events = await api.get(`/api/v1/namespaces/default/events?fieldSelector=involvedObject.name=${victim}`);
    expect(events.body.items.map((e: { reason: string }) => e.reason)).toContain('TaintManagerEviction');
    // Its replacement (as its ReplicaSet would make it) cannot go to the tainted node: it runs on b.
    const replacement = uniqueName('replacement');
    await api.post('/api/v1/namespaces/default/pods', podBody(replacement));
    const moved = await eventually(async () => {
      const p = (await api.get(`/api/v1/namespaces/default/pods/${replacement}`)).body;
      return p.status?.phase === 'Running' ? p : undefined;
    }, 60_000, 'replacement running');
    expect(moved.spec.nodeName).toBe(b);

    // Act: the node comes back.
    startAgent(a);
    // Assess: Ready again, taints gone, and the evicted pod finished (its containers gone).
    await eventually(async () => {
      const n = (await api.get(`/api/v1/nodes/${a}`)).body;
      return readyOf(n) === 'True' && !(n.spec.taints ?? []).length ? true : undefined;
    }, 90_000, 'node back and untainted');
    await eventually(async () => ((await api.get(`/api/v1/namespaces/default/pods/${victim}`)).status === 404 ? true : undefined), 60_000, 'evicted pod cleaned up');
    expect(containersOf(a)).toEqual([]);
  }, 240_000);

  it('a Deployment spread over two nodes runs all its pods on the survivor within 60 s, never above replicas + maxSurge', async () => {
    // Prepare: two fresh nodes and a Deployment of 2 spread over exactly them.
    const [c, d] = [`lc-c-${process.pid}`, `lc-d-${process.pid}`];
    startAgent(c);
    startAgent(d);
    for (const n of [c, d]) await eventually(async () => (readyOf((await api.get(`/api/v1/nodes/${n}`)).body) === 'True' ? true : undefined), 60_000, `${n} ready`);
    const app = uniqueName('spread');
    const template = podBody('unused', {
      affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'kubernetes.io/hostname', operator: 'In', values: [c, d] }] }] } } },
      // Honor: a dead, tainted node must not count as an empty domain (it would block the replacement).
      topologySpreadConstraints: [{ maxSkew: 1, topologyKey: 'kubernetes.io/hostname', whenUnsatisfiable: 'DoNotSchedule', nodeTaintsPolicy: 'Honor', labelSelector: { matchLabels: { app } } }],
    });
    const deployment = {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: app },
      spec: {
        replicas: 2,
        strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } },
        selector: { matchLabels: { app } },
        template: { metadata: { labels: { app } }, spec: template.spec },
      },
    };
    expect((await api.post('/apis/apps/v1/namespaces/default/deployments', deployment)).status).toBe(201);
    const podsOf = async () => ((await api.get(`/api/v1/namespaces/default/pods?labelSelector=app%3D${app}`)).body.items ?? []) as { metadata: { deletionTimestamp?: string }; spec: { nodeName?: string }; status?: { phase?: string } }[];
    const spread = await eventually(async () => {
      const ps = (await podsOf()).filter((p) => p.status?.phase === 'Running' && !p.metadata.deletionTimestamp);
      return ps.length === 2 ? ps : undefined;
    }, 90_000, 'deployment running');
    expect(new Set(spread.map((p) => p.spec.nodeName))).toEqual(new Set([c, d]));
    // Sample the live pod count all along (terminating pods are no longer the Deployment's).
    let maxLive = 0;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const live = (await podsOf()).filter((p) => !p.metadata.deletionTimestamp && p.status?.phase !== 'Succeeded' && p.status?.phase !== 'Failed').length;
        maxLive = Math.max(maxLive, live);
        await new Promise((r) => setTimeout(r, 250));
      }
    })();

    // Act: node c dies, with its containers.
    const killedAt = Date.now();
    agents.get(c)!.kill('SIGKILL');
    const ids = containersOf(c);
    if (ids.length) execFileSync('docker', ['rm', '-f', ...ids]);

    // Assess: both replicas Running on d within 60 s; never more than replicas + maxSurge alive.
    await eventually(async () => {
      const ps = (await podsOf()).filter((p) => p.status?.phase === 'Running' && !p.metadata.deletionTimestamp && p.spec.nodeName === d);
      return ps.length === 2 ? true : undefined;
    }, 60_000, 'both replicas running on the surviving node');
    sampling = false;
    await sampler;
    expect(Date.now() - killedAt).toBeLessThan(60_000);
    expect(maxLive).toBeLessThanOrEqual(3);
  }, 240_000);
});
