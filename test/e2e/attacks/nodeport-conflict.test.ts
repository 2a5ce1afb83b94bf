import { execFile } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { promisify } from 'node:util';
import Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bridgeName, destroyNodeBridge } from '../../../node-agent/network/node-bridge';
import { destroyServiceTable } from '../../../node-agent/network/service-proxy';
import { proxyTableName } from '../../../node-agent/network/service-rules';
import { removeNodeContainers, startNodeAgent, stopProcesses } from '../../helpers/agent';
import { eventually, uniqueName } from '../../helpers/api';
import { createTestCluster, type TestCluster } from '../../helpers/clusters';
import { TEST_IMAGES } from '../../helpers/images';

/*
 * Attack: NodePorts are allocated per cluster, so cluster B can ask for the NodePort cluster A
 * already serves on a host both have nodes on. The host's traffic to it must stay A's: B's agent
 * does not program it (its table's node_ports lacks it) and says so with a Warning Event
 * `NodePortConflict` on B's Service, which does not name cluster A. Fails if B's table takes the
 * port, or if no Event tells B.
 */

const run = promisify(execFile);
const docker = new Docker();

/** One HTTP GET from the host; the body, or undefined when nothing answered. */
function hostGet(host: string, port: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const req = request({ host, port, path: '/', timeout: 3000 }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve(body.trim()));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(undefined));
    req.end();
  });
}

/** A pod on a node serving its own name on :8080, labelled app=web. */
async function webPod(c: TestCluster, name: string, nodeName: string): Promise<void> {
  const r = await c.api.post('/api/v1/namespaces/default/pods', {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, labels: { app: 'web' } },
    spec: {
      nodeName,
      terminationGracePeriodSeconds: 1,
      containers: [{ name: 'main', image: TEST_IMAGES.busybox, imagePullPolicy: 'Never', command: ['sh', '-c', `mkdir -p /www && echo ${name} > /www/index.html && exec httpd -f -p 8080 -h /www`] }],
    },
  });
  expect(r.status, r.text).toBe(201);
  await eventually(async () => {
    const p = (await c.api.get(`/api/v1/namespaces/default/pods/${name}`)).body as { status?: { phase?: string; podIP?: string } };
    return p.status?.phase === 'Running' && p.status.podIP ? true : undefined;
  }, 90_000, `pod ${name} running`);
}

async function nodePortService(c: TestCluster, nodePort: number): Promise<void> {
  const r = await c.api.post('/api/v1/namespaces/default/services', {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'web' },
    spec: { type: 'NodePort', selector: { app: 'web' }, ports: [{ port: 80, targetPort: 8080, nodePort }] },
  });
  expect(r.status, r.text).toBe(201);
}

/** The NodePorts (tcp) in a service table's node_ports map. */
async function programmedNodePorts(table: string): Promise<number[]> {
  const { stdout } = await run('nft', ['-j', 'list', 'map', 'ip', table, 'node_ports']);
  const out = JSON.parse(stdout) as { nftables: { map?: { elem?: [{ concat: [string, number] }, unknown][] } }[] };
  return (out.nftables.find((x) => x.map)?.map?.elem ?? []).map(([k]) => k.concat[1]);
}

describe('NodePorts of two clusters on one host', { timeout: 300_000 }, () => {
  let a: TestCluster;
  let b: TestCluster;
  const suffix = uniqueName('').replace(/[^a-z0-9-]/g, '').slice(-8);
  const nodes = { a1: `npc-a1-${suffix}`, b1: `npc-b1-${suffix}` };
  const agents: Record<string, ChildProcess | undefined> = {};
  const cidrs: Record<string, string> = {};
  let nodeIP = '';
  // A port of the NodePort range few others use at once (each cluster allocates its own).
  const nodePort = 30000 + ((process.pid * 7) % 2700);

  beforeAll(async () => {
    [a, b] = await Promise.all([createTestCluster('npca'), createTestCluster('npcb')]);
    agents.a1 = startNodeAgent(nodes.a1, { tenant: a.tenant, joinToken: a.joinToken, podNetwork: 'node-bridge' });
    agents.b1 = startNodeAgent(nodes.b1, { tenant: b.tenant, joinToken: b.joinToken, podNetwork: 'node-bridge' });
    for (const [key, c] of [['a1', a], ['b1', b]] as const) {
      const node = await eventually(async () => {
        const n = (await c.api.get(`/api/v1/nodes/${nodes[key]}`)).body as { spec?: { podCIDR?: string }; status?: { addresses?: { type: string; address: string }[] } };
        return n.spec?.podCIDR ? n : undefined;
      }, 90_000, `node ${nodes[key]} registered`);
      cidrs[key] = node.spec!.podCIDR!;
      nodeIP ||= node.status?.addresses?.find((x) => x.type === 'InternalIP')?.address ?? '';
    }
    // A first: its NodePort answers on the host before B asks for the same one.
    await webPod(a, 'a-web', nodes.a1);
    await nodePortService(a, nodePort);
    await eventually(async () => ((await hostGet(nodeIP, nodePort)) === 'a-web' ? true : undefined), 90_000, `A's NodePort ${nodePort} answers`);
    await webPod(b, 'b-web', nodes.b1);
    await nodePortService(b, nodePort);
  }, 240_000);

  afterAll(async () => {
    await stopProcesses(Object.values(agents));
    for (const n of Object.values(nodes)) removeNodeContainers(n);
    for (const n of Object.values(nodes)) rmSync(join('/var/lib/stratus', n), { recursive: true, force: true });
    for (const c of Object.values(cidrs)) {
      await destroyServiceTable(proxyTableName(bridgeName(c)));
      await destroyNodeBridge(docker, c);
    }
    for (const [c, n] of [[a, nodes.a1], [b, nodes.b1]] as const) await c?.api.send('DELETE', `/api/v1/nodes/${n}`);
  }, 120_000);

  it('records a Warning NodePortConflict on the later cluster\'s Service, without naming the other cluster', async () => {
    const event = await eventually(async () => {
      const list = (await b.api.get('/api/v1/namespaces/default/events')).body as { items: { involvedObject: { kind: string; name: string }; type: string; reason: string; message: string; source?: { component?: string; host?: string } }[] };
      return list.items.find((e) => e.involvedObject.kind === 'Service' && e.involvedObject.name === 'web' && e.reason === 'NodePortConflict');
    }, 90_000, 'NodePortConflict event on B\'s Service');
    expect(event.type).toBe('Warning');
    expect(event.message).toContain(`NodePort ${nodePort}/TCP is already in use on the host of node ${nodes.b1}`);
    expect(event.message).not.toContain(a.tenant);
    expect(event.source).toEqual({ component: 'kube-proxy', host: nodes.b1 });
  });

  it('leaves the NodePort in A\'s table only, and the host\'s traffic to it with A\'s pod', async () => {
    // B's agent has applied its Service (the Event above comes from that apply).
    expect(await programmedNodePorts(proxyTableName(bridgeName(cidrs.a1!)))).toContain(nodePort);
    expect(await programmedNodePorts(proxyTableName(bridgeName(cidrs.b1!)))).not.toContain(nodePort);
    for (let i = 0; i < 10; i++) expect(await hostGet(nodeIP, nodePort)).toBe('a-web');
  });
});
