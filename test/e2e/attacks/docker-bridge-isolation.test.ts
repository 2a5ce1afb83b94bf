import { execFile } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { connect, createServer, type AddressInfo, type Server } from 'node:net';
import { promisify } from 'node:util';
import Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { DEFAULT_DOCKER_BRIDGE_POOL, destroyDockerBridge, dockerBridgeName, dockerBridgeSubnets } from '../../../node-agent/network/docker-bridge';
import { removeNodeContainers, startNodeAgent, stopProcess, stopProcesses, waitForNodeLease } from '../../helpers/agent';
import { eventually, uniqueName } from '../../helpers/api';
import { createTestCluster, execInPod, type TestCluster } from '../../helpers/clusters';
import { TEST_IMAGES } from '../../helpers/images';

/*
 * Attack: pods of two clusters on one host with the `docker-bridge` pod network (the agent's
 * default outside the local stack). Each cluster's pods sit on a Docker network of that cluster's
 * own with the agent's nft table: a pod of cluster B reaches no pod of A and the other way round,
 * and no pod reaches 169.254.169.254, the agent's kubelet port or any other host port; it still
 * reaches the API's pod-facing address, the DNS it is given, and its own cluster's pods on
 * another node of the host. Each "does not reach" has a control that the same path works where
 * it should, so a failure here is the isolation, not a dead pod. Fails if the pods go back on
 * Docker's shared default bridge, or if the table loses a rule; and if a cluster's network takes
 * its subnet from Docker's default address pools again (about 30 per host) instead of a /24 of
 * the agent's --docker-bridge-pool.
 */

const run = promisify(execFile);
const docker = new Docker();
const execIn = (uid: string, cmd: string[]) => execInPod(uid, cmd, 20_000);

interface RunningPod {
  uid: string;
  ip: string;
}

/** A busybox pod on a node serving "hello from NAME" on :8080. */
async function servePod(c: TestCluster, name: string, nodeName: string): Promise<RunningPod> {
  const script = `mkdir -p /www && echo hello from ${name} > /www/index.html && exec httpd -f -p 8080 -h /www`;
  const r = await c.api.post('/api/v1/namespaces/default/pods', {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name },
    spec: { nodeName, containers: [{ name: 'main', image: TEST_IMAGES.busybox, imagePullPolicy: 'Never', command: ['sh', '-c', script] }], terminationGracePeriodSeconds: 1 },
  });
  expect(r.status, r.text).toBe(201);
  return eventually(async () => {
    const p = (await c.api.get(`/api/v1/namespaces/default/pods/${name}`)).body as { metadata: { uid: string }; status?: { phase?: string; podIP?: string } };
    return p.status?.phase === 'Running' && p.status.podIP ? { uid: p.metadata.uid, ip: p.status.podIP } : undefined;
  }, 90_000, `pod ${name} running`);
}

/** An HTTP GET of a pod's :8080 from another pod: exit 0 with "reached" when it answered 200. */
const fetchFrom = (from: RunningPod, ip: string) =>
  execIn(from.uid, ['sh', '-c', `printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 ${ip} 8080 | grep -q '^HTTP/1.[01] 200' && echo reached`]);

/** A TCP connection from a pod: exit 0 and what the peer sent first when it connected. */
const connectFrom = (from: RunningPod, host: string, port: number) => execIn(from.uid, ['sh', '-c', `nc -w 3 ${host} ${port} </dev/null`]);

/** What a TCP server on the host sends first, read from the host itself. */
const readFromHost = (host: string, port: number) =>
  new Promise<string>((resolve) => {
    let got = '';
    const s = connect({ host, port }, () => undefined);
    s.setTimeout(3000, () => s.destroy());
    s.on('data', (d) => (got += d.toString()));
    s.on('close', () => resolve(got));
    s.on('error', () => resolve('unreachable'));
  });

async function nodeReady(c: TestCluster, node: string): Promise<void> {
  await waitForNodeLease(c.api, node, 90_000);
}

describe('docker-bridge pod network: clusters on one host are isolated', { timeout: 300_000 }, () => {
  let a: TestCluster;
  let b: TestCluster;
  const suffix = uniqueName('').replace(/[^a-z0-9-]/g, '').slice(-8);
  const nodes = { a1: `dbr-a1-${suffix}`, a2: `dbr-a2-${suffix}`, b1: `dbr-b1-${suffix}` };
  const agents: Record<string, ChildProcess | undefined> = {};
  let server: RunningPod;
  let client: RunningPod;
  let stranger: RunningPod;
  /** A TCP server on every host address that greets with "host-banner". */
  let banner: Server;
  let bannerPort: number;

  beforeAll(async () => {
    banner = createServer((s) => s.end('host-banner\n'));
    await new Promise<void>((resolve) => banner.listen(0, '0.0.0.0', resolve));
    bannerPort = (banner.address() as AddressInfo).port;
    [a, b] = await Promise.all([createTestCluster('dbra'), createTestCluster('dbrb')]);
    // No --pod-network: docker-bridge is the agent's default.
    agents.a1 = startNodeAgent(nodes.a1, { tenant: a.tenant, joinToken: a.joinToken });
    agents.a2 = startNodeAgent(nodes.a2, { tenant: a.tenant, joinToken: a.joinToken });
    agents.b1 = startNodeAgent(nodes.b1, { tenant: b.tenant, joinToken: b.joinToken });
    for (const [key, c] of [['a1', a], ['a2', a], ['b1', b]] as const) await nodeReady(c, nodes[key]);
    [server, client, stranger] = await Promise.all([servePod(a, 'server', nodes.a2), servePod(a, 'client', nodes.a1), servePod(b, 'stranger', nodes.b1)]);
  }, 240_000);

  afterAll(async () => {
    banner?.close();
    await stopProcesses(Object.values(agents));
    for (const n of Object.values(nodes)) removeNodeContainers(n);
    for (const c of [a, b]) if (c) await destroyDockerBridge(docker, c.tenant);
    for (const [c, n] of [[a, nodes.a1], [a, nodes.a2], [b, nodes.b1]] as const) await c?.api.send('DELETE', `/api/v1/nodes/${n}`);
  }, 120_000);

  it('puts each cluster\'s pods on a Docker network of its own, not on Docker\'s default bridge', async () => {
    const members = async (network: string) => {
      const info = (await docker.getNetwork(network).inspect()) as Docker.NetworkInspectInfo;
      return Object.values(info.Containers ?? {}).map((c) => c.IPv4Address.replace(/\/\d+$/, ''));
    };
    expect(dockerBridgeName(a.tenant)).not.toBe(dockerBridgeName(b.tenant));
    expect(await members(dockerBridgeName(a.tenant))).toEqual(expect.arrayContaining([server.ip, client.ip]));
    expect(await members(dockerBridgeName(b.tenant))).toEqual([stranger.ip]);
    const onDefault = await members('bridge');
    for (const ip of [server.ip, client.ip, stranger.ip]) expect(onDefault).not.toContain(ip);
  });

  it('gives each cluster\'s network a /24 of its own out of the agent\'s pool, gateway .1, not one of Docker\'s default pools', async () => {
    const pool = dockerBridgeSubnets('any', DEFAULT_DOCKER_BRIDGE_POOL);
    const ipam = await Promise.all([a, b].map(async (c) => ((await docker.getNetwork(dockerBridgeName(c.tenant)).inspect()) as Docker.NetworkInspectInfo).IPAM?.Config ?? []));
    for (const config of ipam) {
      expect(config).toHaveLength(1);
      expect(pool).toContain(config[0]!.Subnet);
      expect(config[0]!.Gateway).toBe(config[0]!.Subnet!.replace(/0\/24$/, '1'));
    }
    expect(ipam[0]![0]!.Subnet).not.toBe(ipam[1]![0]!.Subnet);
  });

  it('pods of one cluster reach each other across its two nodes on the host', async () => {
    const r = await fetchFrom(client, server.ip);
    expect(r.code, r.out).toBe(0);
    expect(r.out).toContain('reached');
  });

  it('a pod of another cluster reaches neither of them, and they do not reach it', async () => {
    for (const target of [server.ip, client.ip]) {
      const r = await fetchFrom(stranger, target);
      expect(r.code, `${stranger.ip} → ${target}: ${r.out}`).not.toBe(0);
    }
    const back = await fetchFrom(client, stranger.ip);
    expect(back.code, back.out).not.toBe(0);
    // control: the stranger serves, and the path within A works
    expect((await fetchFrom(stranger, stranger.ip)).code).toBe(0);
    expect((await fetchFrom(client, server.ip)).code).toBe(0);
  });

  it('pods reach neither 169.254.169.254, nor the agent\'s kubelet port, nor any other host port', async () => {
    const { stdout } = await run('ip', ['-4', '-o', 'route', 'get', '1.1.1.1']);
    const hostIp = /src (\S+)/.exec(stdout)?.[1];
    expect(hostIp).toBeDefined();
    const node = (await a.api.get(`/api/v1/nodes/${nodes.a1}`)).body as { status?: { daemonEndpoints?: { kubeletEndpoint?: { Port?: number } } } };
    const kubeletPort = node.status?.daemonEndpoints?.kubeletEndpoint?.Port;
    expect(kubeletPort).toBeGreaterThan(0);
    // control: the host's banner answers the host itself
    expect(await readFromHost(hostIp!, bannerPort)).toContain('host-banner');
    const gateway = ((await docker.getNetwork(dockerBridgeName(a.tenant)).inspect()) as Docker.NetworkInspectInfo).IPAM?.Config?.[0]?.Gateway;
    expect(gateway).toBeDefined();
    for (const pod of [client, stranger]) {
      for (const [host, port] of [[hostIp!, bannerPort], [gateway!, bannerPort], ['172.17.0.1', bannerPort], [hostIp!, kubeletPort!], ['169.254.169.254', 80]] as const) {
        const r = await connectFrom(pod, host, port);
        expect(r.out, `${host}:${port}`).not.toContain('host-banner');
        expect(r.code, `${host}:${port} from ${pod.ip}: ${r.out}`).not.toBe(0);
      }
    }
  });

  it('pods still reach the API\'s pod-facing address and the DNS they are given', async () => {
    const env = inject('stack').env;
    const apiAddress = env.STRATUS_API_POD_ADDRESS!;
    const apiPort = Number(env.STRATUS_API_POD_PORT);
    expect(apiPort).toBeGreaterThan(0);
    for (const pod of [client, stranger]) {
      const api = await connectFrom(pod, apiAddress, apiPort);
      expect(api.code, `${apiAddress}:${apiPort}: ${api.out}`).toBe(0);
      const resolv = await execIn(pod.uid, ['cat', '/etc/resolv.conf']);
      expect(resolv.out).not.toContain('127.0.0.11');
      const nameserver = /^nameserver (\S+)/m.exec(resolv.out)?.[1];
      expect(nameserver, resolv.out).toBeDefined();
      // An answer of the resolver, whatever it is (no outside names here: NXDOMAIN), never a time-out.
      const dns = await execIn(pod.uid, ['nslookup', '-type=a', 'example.com', nameserver!]);
      expect(dns.out).not.toMatch(/timed out|no servers could be reached/);
      expect(dns.out).toMatch(/NXDOMAIN|Name:|Address: \d/);
    }
  });

  it('an agent restart keeps the table as it was, and the pods where they were', async () => {
    const table = dockerBridgeName(a.tenant);
    const before = (await run('nft', ['list', 'table', 'inet', table])).stdout;
    expect(before).toContain('@host_ports');
    await stopProcess(agents.a1);
    const restartedAt = Date.now();
    agents.a1 = startNodeAgent(nodes.a1, { tenant: a.tenant, joinToken: a.joinToken });
    await eventually(async () => {
      const l = await a.api.get(`/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/${nodes.a1}`);
      const renew = (l.body as { spec?: { renewTime?: string } }).spec?.renewTime;
      return renew && Date.parse(renew) >= restartedAt - 1000 ? true : undefined;
    }, 60_000, 'restarted agent renewed its lease');
    expect((await run('nft', ['list', 'table', 'inet', table])).stdout).toBe(before);
    expect((await fetchFrom(client, server.ip)).code).toBe(0);
    expect((await fetchFrom(stranger, client.ip)).code).not.toBe(0);
  });
});
