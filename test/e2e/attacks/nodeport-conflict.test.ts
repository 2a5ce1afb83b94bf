import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bridgeName } from '../../../node-agent/network/node-bridge';
import { proxyTableName } from '../../../node-agent/network/service-rules';
import { eventually, uniqueName } from '../../helpers/api';
import { createTestCluster, type TestCluster } from '../../helpers/clusters';
import { BridgeNodes, createRunningPod, echoServer, hostGet, webNodePortService } from '../../helpers/service-fixtures';

/*
 * Attack: NodePorts are allocated per cluster, so cluster B can ask for the NodePort cluster A
 * already serves on a host both have nodes on. The host's traffic to it must stay A's: B's agent
 * does not program it (its table's node_ports lacks it) and says so with a Warning Event
 * `NodePortConflict` on B's Service, which does not name cluster A. Fails if B's table takes the
 * port, or if no Event tells B.
 */

const run = promisify(execFile);

/** A pod on a node serving its own name on :8080, labelled app=web. */
const webPod = (c: TestCluster, name: string, nodeName: string) => createRunningPod(c, name, { nodeName, containers: [echoServer()] }, { app: 'web' });

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
  const bridge = new BridgeNodes<keyof typeof nodes>();
  let nodeIP = '';
  // A port of the NodePort range few others use at once (each cluster allocates its own).
  const nodePort = 30000 + ((process.pid * 7) % 2700);

  beforeAll(async () => {
    [a, b] = await Promise.all([createTestCluster('npca'), createTestCluster('npcb')]);
    await bridge.start({ a1: { cluster: a, name: nodes.a1 }, b1: { cluster: b, name: nodes.b1 } });
    nodeIP = bridge.nodeIP;
    // A first: its NodePort answers on the host before B asks for the same one.
    await webPod(a, 'a-web', nodes.a1);
    await webNodePortService(a, nodePort);
    await eventually(async () => ((await hostGet(nodeIP, nodePort)) === 'a-web' ? true : undefined), 90_000, `A's NodePort ${nodePort} answers`);
    await webPod(b, 'b-web', nodes.b1);
    await webNodePortService(b, nodePort);
  }, 240_000);

  afterAll(() => bridge.stop(), 120_000);

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
    expect(await programmedNodePorts(proxyTableName(bridgeName(bridge.cidrs.a1!)))).toContain(nodePort);
    expect(await programmedNodePorts(proxyTableName(bridgeName(bridge.cidrs.b1!)))).not.toContain(nodePort);
    for (let i = 0; i < 10; i++) expect(await hostGet(nodeIP, nodePort)).toBe('a-web');
  });
});
