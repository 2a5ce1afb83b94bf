import { execFile } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bridgeName, destroyNodeBridge } from '../../node-agent/network/node-bridge';
import { removeNodeContainers, startNodeAgent, stopProcess, stopProcesses, waitForNodeLease } from '../helpers/agent';
import { eventually, uniqueName } from '../helpers/api';
import { createTestCluster, execInPod, type TestCluster } from '../helpers/clusters';
import { TEST_IMAGES } from '../helpers/images';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

const BUSYBOX_IMAGE = TEST_IMAGES.busybox;

const run = promisify(execFile);

/*
 * The node-bridge pod network (issue #15): two agents of cluster A and one of cluster B on this
 * machine, each on its own bridge with its Node's podCIDR. Pods of A reach each other across the
 * two nodes by pod IP (no NAT: the server sees the client's pod IP); B's pod reaches neither, nor
 * do A's pods reach B's (this fails if the isolation opens); pods do not reach the host; pod IPs
 * lie in their node's range and survive an agent restart, with the rules.
 */

type Cluster = TestCluster;
const cluster = createTestCluster;

const docker = new Docker();

/** Runs a command in a pod's main container (docker exec), answering its exit code and output. */
const execIn = (uid: string, cmd: string[]) => execInPod(uid, cmd, 20_000);

interface RunningPod {
  uid: string;
  ip: string;
}

/** A busybox pod on a node, serving "hello from NAME" on :8080 (and the client's address in /peer via nc). */
async function servePod(c: Cluster, name: string, nodeName: string): Promise<RunningPod> {
  const script = `mkdir -p /www && echo hello from ${name} > /www/index.html && exec httpd -f -vv -p 8080 -h /www`;
  const r = await c.api.post('/api/v1/namespaces/default/pods', {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name },
    spec: { nodeName, containers: [{ name: 'main', image: BUSYBOX_IMAGE, imagePullPolicy: 'Never', command: ['sh', '-c', script] }], terminationGracePeriodSeconds: 1 },
  });
  expect(r.status, r.text).toBe(201);
  return eventually(async () => {
    const p = (await c.api.get(`/api/v1/namespaces/default/pods/${name}`)).body as { metadata: { uid: string }; status?: { phase?: string; podIP?: string } };
    return p.status?.phase === 'Running' && p.status.podIP ? { uid: p.metadata.uid, ip: p.status.podIP } : undefined;
  }, 60_000, `pod ${name} running`);
}

/** An HTTP GET from inside a pod with busybox nc (this image's wget crashes on -T): exit 0 and the body, or an error. */
const httpFrom = (from: RunningPod, hostPort: string) => {
  const [host, port] = hostPort.split(':');
  return execIn(from.uid, ['sh', '-c', `printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 ${host} ${port} | grep -q '^HTTP/1.[01] 200' && echo reached`]);
};
const fetchFrom = (from: RunningPod, ip: string) => httpFrom(from, `${ip}:8080`);

async function podCIDROf(c: Cluster, node: string): Promise<string> {
  return eventually(async () => {
    const n = (await c.api.get(`/api/v1/nodes/${node}`)).body as { spec?: { podCIDR?: string } };
    return n.spec?.podCIDR;
  }, 60_000, `node ${node} registered`);
}

async function nodeReady(c: Cluster, node: string): Promise<void> {
  // The agent configures its network right after registering; its Lease follows.
  await waitForNodeLease(c.api, node, 60_000);
}

describe('node-bridge pod network', { timeout: 300_000 }, () => {
  let a: Cluster;
  let b: Cluster;
  const suffix = uniqueName('').replace(/[^a-z0-9-]/g, '').slice(-8);
  const nodes = { a1: `net-a1-${suffix}`, a2: `net-a2-${suffix}`, b1: `net-b1-${suffix}` };
  const agents: Record<string, ChildProcess | undefined> = {};
  const cidrs: Record<string, string> = {};
  let server: RunningPod;
  let client: RunningPod;
  let stranger: RunningPod;

  beforeAll(async () => {
    [a, b] = await Promise.all([cluster('neta'), cluster('netb')]);
    agents.a1 = startNodeAgent(nodes.a1, { tenant: a.tenant, joinToken: a.joinToken, podNetwork: 'node-bridge' });
    agents.a2 = startNodeAgent(nodes.a2, { tenant: a.tenant, joinToken: a.joinToken, podNetwork: 'node-bridge' });
    agents.b1 = startNodeAgent(nodes.b1, { tenant: b.tenant, joinToken: b.joinToken, podNetwork: 'node-bridge' });
    for (const [key, c] of [['a1', a], ['a2', a], ['b1', b]] as const) {
      cidrs[key] = await podCIDROf(c, nodes[key]);
      await nodeReady(c, nodes[key]);
    }
    [server, client, stranger] = await Promise.all([servePod(a, 'server', nodes.a2), servePod(a, 'client', nodes.a1), servePod(b, 'stranger', nodes.b1)]);
  }, 240_000);

  afterAll(async () => {
    await stopProcesses(Object.values(agents));
    for (const n of Object.values(nodes)) removeNodeContainers(n);
    // the agents' default root dir holds each node's address map
    for (const n of Object.values(nodes)) rmSync(join('/var/lib/stratus', n), { recursive: true, force: true });
    for (const c of Object.values(cidrs)) await destroyNodeBridge(docker, c);
    for (const [c, n] of [[a, nodes.a1], [a, nodes.a2], [b, nodes.b1]] as const) await c?.api.send('DELETE', `/api/v1/nodes/${n}`);
  }, 120_000);

  it('gives each pod an IP of its node\'s podCIDR, on a bridge named after it', async () => {
    const inRange = (ip: string, cidr: string) => ip.startsWith(cidr.replace(/0\/24$/, ''));
    expect(inRange(server.ip, cidrs.a2!), `${server.ip} in ${cidrs.a2}`).toBe(true);
    expect(inRange(client.ip, cidrs.a1!), `${client.ip} in ${cidrs.a1}`).toBe(true);
    expect(inRange(stranger.ip, cidrs.b1!), `${stranger.ip} in ${cidrs.b1}`).toBe(true);
    const { stdout } = await run('ip', ['-4', 'addr', 'show', bridgeName(cidrs.a1!)]);
    expect(stdout).toContain(`${cidrs.a1!.replace(/0\/24$/, '1')}/24`);
  });

  it('writes the pod\'s resolv.conf for the cluster DNS (ClusterFirst), not Docker\'s embedded DNS', async () => {
    const r = await execIn(client.uid, ['cat', '/etc/resolv.conf']);
    expect(r.code, r.out).toBe(0);
    expect(r.out).not.toContain('127.0.0.11');
    expect(r.out).toContain('nameserver 10.96.0.10');
    expect(r.out).toContain('search default.svc.cluster.local svc.cluster.local cluster.local');
  });

  it('pods of one cluster reach each other across two nodes by pod IP, without NAT', async () => {
    // Each node learns its cluster's other bridges from the Node list (every 15 s): until then it drops.
    const r = await eventually(async () => {
      const got = await fetchFrom(client, server.ip);
      return got.code === 0 ? got : undefined;
    }, 90_000, `${client.ip} reaches ${server.ip}`);
    expect(r.out).toContain('reached');
    // No NAT: the server saw the client's own pod IP (httpd -v logs the peer)
    const [c] = await docker.listContainers({ filters: { label: [`io.stratus.pod.uid=${server.uid}`, 'io.stratus.container.name=main'] } });
    const { stdout, stderr } = await run('docker', ['logs', c!.Id]);
    expect(stdout + stderr).toContain(client.ip);
  });

  it('a pod of another cluster on this machine reaches neither of them, and they do not reach it', async () => {
    // Assess: both directions, both nodes of A
    for (const target of [server.ip, client.ip]) {
      const r = await fetchFrom(stranger, target);
      expect(r.code, `${stranger.ip} → ${target}: ${r.out}`).not.toBe(0);
    }
    const back = await fetchFrom(client, stranger.ip);
    expect(back.code, back.out).not.toBe(0);
    // and the same path works within cluster A (the failure above is isolation, not a dead pod)
    expect((await fetchFrom(client, server.ip)).code).toBe(0);
  });

  it('pods cannot reach the host (its addresses, their gateway) nor 169.254.169.254', async () => {
    const { stdout } = await run('ip', ['-4', '-o', 'route', 'get', '1.1.1.1']);
    const hostIp = /src (\S+)/.exec(stdout)?.[1];
    expect(hostIp).toBeDefined();
    // A listener on the host, on every address: reachable from the host itself, not from a pod.
    const http = createServer((_req, res) => res.end('host\n'));
    await new Promise<void>((resolve) => http.listen(0, '0.0.0.0', resolve));
    const port = (http.address() as AddressInfo).port;
    try {
      expect((await run('wget', ['-q', '-O', '-', '-T', '3', `http://${hostIp}:${port}/`]).catch(() => ({ stdout: 'unreachable' }))).stdout).toBe('host\n');
      for (const target of [`${hostIp}:${port}`, `${cidrs.a1!.replace(/0\/24$/, '1')}:${port}`, '169.254.169.254:80']) {
        const r = await httpFrom(client, target);
        expect(r.code, `${target}: ${r.out}`).not.toBe(0);
      }
    } finally {
      http.close();
    }
  });

  it('an agent restart keeps pod IPs, the table and reachability', async () => {
    const table = bridgeName(cidrs.a1!);
    const before = (await run('nft', ['list', 'table', 'inet', table])).stdout;
    await stopProcess(agents.a1);
    const restartedAt = Date.now();
    agents.a1 = startNodeAgent(nodes.a1, { tenant: a.tenant, joinToken: a.joinToken, podNetwork: 'node-bridge' });
    // The restarted agent is past its network set-up once it renews its Lease (it does so right after).
    await eventually(async () => {
      const l = await a.api.get(`/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/${nodes.a1}`);
      const renew = (l.body as { spec?: { renewTime?: string } }).spec?.renewTime;
      return renew && Date.parse(renew) >= restartedAt - 1000 ? true : undefined;
    }, 60_000, 'restarted agent renewed its lease');
    // It adopts the pod: same uid, same IP, still Running
    await eventually(async () => {
      const p = (await a.api.get('/api/v1/namespaces/default/pods/client')).body as { metadata: { uid: string }; status?: { podIP?: string; phase?: string } };
      return p.metadata.uid === client.uid && p.status?.phase === 'Running' ? true : undefined;
    }, 60_000, 'client adopted');
    await new Promise((r) => setTimeout(r, 3000));
    const p = (await a.api.get('/api/v1/namespaces/default/pods/client')).body as { status: { podIP: string } };
    expect(p.status.podIP).toBe(client.ip);
    const after = (await run('nft', ['list', 'table', 'inet', table])).stdout;
    expect(after).toBe(before);
    expect((await fetchFrom(client, server.ip)).code).toBe(0);
    expect((await fetchFrom(stranger, client.ip)).code).not.toBe(0);
  });
});
