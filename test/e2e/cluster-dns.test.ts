import type { ChildProcess } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as dnsPacket from 'dns-packet';
import Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { destroyNodeBridge, gatewayOf } from '../../node-agent/network/node-bridge';
import { removeNodeContainers, startNodeAgent, stopProcesses } from '../helpers/agent';
import { eventually, uniqueName } from '../helpers/api';
import { createTestCluster, execInPod, type TestCluster } from '../helpers/clusters';
import { TEST_IMAGES } from '../helpers/images';


/*
 * The cluster DNS end to end (issue #15): a node-bridge agent of cluster A serves DNS on its
 * gateway, reached by its pods as 10.96.0.10 (the kube-dns Service); a busybox pod resolves a
 * Service by short name, `svc.ns` and FQDN, a headless Service to its pods' IPs, a StatefulSet
 * pod by its stable name, and an outside name through the agent's upstream (a tiny dns-packet
 * server on a loopback address, given to the agent as its --resolv-conf). A pod of cluster B on
 * the same machine cannot query A's DNS server (isolation), and its own gets no A names.
 */

type Cluster = TestCluster;
const cluster = createTestCluster;

const docker = new Docker();

/** Runs a command in a pod's main container (docker exec), answering its exit code and output. */
const execIn = (uid: string, cmd: string[]) => execInPod(uid, cmd, 30_000);

const SERVE = 'mkdir -p /www && echo hello from $(hostname) > /www/index.html && exec httpd -f -p 8080 -h /www';

async function runningPod(c: Cluster, name: string): Promise<{ uid: string; ip: string }> {
  return eventually(async () => {
    const p = (await c.api.get(`/api/v1/namespaces/default/pods/${name}`)).body as { metadata?: { uid: string }; status?: { phase?: string; podIP?: string } };
    return p.status?.phase === 'Running' && p.status.podIP && p.metadata ? { uid: p.metadata.uid, ip: p.status.podIP } : undefined;
  }, 120_000, `pod ${name} running`);
}

async function createPod(c: Cluster, name: string, nodeName: string, labels: Record<string, string>, script: string, extra: Record<string, unknown> = {}): Promise<void> {
  const r = await c.api.post('/api/v1/namespaces/default/pods', {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, labels },
    spec: { nodeName, containers: [{ name: 'main', image: TEST_IMAGES.busybox, imagePullPolicy: 'Never', command: ['sh', '-c', script] }], terminationGracePeriodSeconds: 1, ...extra },
  });
  expect(r.status, r.text).toBe(201);
}

/** The addresses busybox nslookup printed for the name (after its "Name:" line). */
function addresses(out: string): string[] {
  const after = out.split(/^Name:/m).slice(1).join('\n');
  return [...after.matchAll(/Address(?: \d+)?:\s+(\d+\.\d+\.\d+\.\d+)/g)].map((m) => m[1]!).sort();
}

describe('cluster DNS', { timeout: 400_000 }, () => {
  let a: Cluster;
  let b: Cluster;
  const suffix = uniqueName('').replace(/[^a-z0-9-]/g, '').slice(-8);
  const nodes = { a1: `dns-a1-${suffix}`, b1: `dns-b1-${suffix}` };
  const agents: Record<string, ChildProcess | undefined> = {};
  const cidrs: Record<string, string> = {};
  const dir = mkdtempSync(join(tmpdir(), 'stratus-dns-'));
  // The agent's upstream: a loopback address of its own, port 53 (resolv.conf has no port).
  const upstreamIp = `127.53.${Math.floor(Math.random() * 250) + 1}.${Math.floor(Math.random() * 250) + 1}`;
  let upstream: Socket;
  let apiIP: string;
  let web: { uid: string; ip: string }[];
  let client: { uid: string; ip: string };
  let stranger: { uid: string; ip: string };

  beforeAll(async () => {
    upstream = createSocket('udp4');
    upstream.on('message', (msg, rinfo) => {
      try {
        const q = dnsPacket.decode(msg);
        const name = q.questions?.[0]?.name ?? '';
        const answers = name === 'outside.stratus.test' && q.questions?.[0]?.type === 'A' ? [{ type: 'A' as const, name, ttl: 30, data: '192.0.2.53' }] : [];
        const rcode = name === 'outside.stratus.test' ? 0 : 3;
        upstream.send(dnsPacket.encode({ type: 'response', id: q.id, flags: dnsPacket.RECURSION_AVAILABLE | rcode, questions: q.questions, answers }), rinfo.port, rinfo.address);
      } catch {
        // not a query
      }
    });
    await new Promise<void>((r) => upstream.bind(53, upstreamIp, () => r()));
    const resolv = join(dir, 'resolv.conf');
    writeFileSync(resolv, `nameserver ${upstreamIp}\nsearch stratus.test\n`);

    [a, b] = await Promise.all([cluster('dnsa'), cluster('dnsb')]);
    agents.a1 = startNodeAgent(nodes.a1, { tenant: a.tenant, joinToken: a.joinToken, podNetwork: 'node-bridge', args: ['--resolv-conf', resolv] });
    agents.b1 = startNodeAgent(nodes.b1, { tenant: b.tenant, joinToken: b.joinToken, podNetwork: 'node-bridge', args: ['--resolv-conf', resolv] });
    for (const [key, c] of [['a1', a], ['b1', b]] as const) {
      cidrs[key] = await eventually(async () => ((await c.api.get(`/api/v1/nodes/${nodes[key]}`)).body as { spec?: { podCIDR?: string } }).spec?.podCIDR, 60_000, `node ${nodes[key]}`);
    }
    // Services first (their variables go to pods made after them), then the pods.
    const svcs = [
      { metadata: { name: 'api' }, spec: { selector: { app: 'api' }, ports: [{ name: 'http', port: 80, targetPort: 8080 }] } },
      { metadata: { name: 'web' }, spec: { clusterIP: 'None', selector: { app: 'web' }, ports: [{ name: 'http', port: 8080 }] } },
    ];
    for (const s of svcs) {
      const r = await a.api.post('/api/v1/namespaces/default/services', { apiVersion: 'v1', kind: 'Service', ...s });
      expect(r.status, r.text).toBe(201);
    }
    apiIP = ((await a.api.get('/api/v1/namespaces/default/services/api')).body as { spec: { clusterIP: string } }).spec.clusterIP;
    const ss = await a.api.post('/apis/apps/v1/namespaces/default/statefulsets', {
      apiVersion: 'apps/v1',
      kind: 'StatefulSet',
      metadata: { name: 'web' },
      spec: {
        serviceName: 'web',
        replicas: 2,
        selector: { matchLabels: { app: 'web' } },
        template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'main', image: TEST_IMAGES.busybox, imagePullPolicy: 'Never', command: ['sh', '-c', SERVE] }], terminationGracePeriodSeconds: 1 } },
      },
    });
    expect(ss.status, ss.text).toBe(201);
    await createPod(a, 'api-1', nodes.a1, { app: 'api' }, SERVE);
    await createPod(a, 'client', nodes.a1, {}, 'exec sleep 3600');
    await createPod(b, 'stranger', nodes.b1, {}, 'exec sleep 3600');
    [client, stranger] = await Promise.all([runningPod(a, 'client'), runningPod(b, 'stranger'), runningPod(a, 'api-1')]);
    web = await Promise.all([runningPod(a, 'web-0'), runningPod(a, 'web-1')]);
  }, 360_000);

  afterAll(async () => {
    await stopProcesses(Object.values(agents));
    for (const n of Object.values(nodes)) removeNodeContainers(n);
    for (const n of Object.values(nodes)) rmSync(join('/var/lib/stratus', n), { recursive: true, force: true });
    for (const c of Object.values(cidrs)) await destroyNodeBridge(docker, c);
    for (const [c, n] of [[a, nodes.a1], [b, nodes.b1]] as const) await c?.api.send('DELETE', `/api/v1/nodes/${n}`);
    upstream?.close();
    rmSync(dir, { recursive: true, force: true });
  }, 120_000);

  const lookup = (from: { uid: string }, name: string, server?: string) => execIn(from.uid, ['nslookup', name, ...(server ? [server] : [])]);

  it('has the kube-dns Service in kube-system at 10.96.0.10', async () => {
    const s = (await a.api.get('/api/v1/namespaces/kube-system/services/kube-dns')).body as { spec: { clusterIP: string; ports: { name: string; port: number; protocol: string }[] } };
    expect(s.spec.clusterIP).toBe('10.96.0.10');
    expect(s.spec.ports.map((p) => `${p.name}/${p.port}/${p.protocol}`)).toEqual(['dns/53/UDP', 'dns-tcp/53/TCP']);
  });

  it('gives the pod the kubelet\'s resolv.conf and the Service environment variables', async () => {
    const r = await execIn(client.uid, ['cat', '/etc/resolv.conf']);
    expect(r.out).toContain('nameserver 10.96.0.10');
    expect(r.out).toContain('search default.svc.cluster.local svc.cluster.local cluster.local stratus.test');
    expect(r.out).toContain('options ndots:5');
    const env = await execIn(client.uid, ['env']);
    expect(env.out).toContain(`API_SERVICE_HOST=${apiIP}`);
    expect(env.out).toContain('API_SERVICE_PORT_HTTP=80');
    expect(env.out).toContain(`API_PORT_80_TCP=tcp://${apiIP}:80`);
    expect(env.out).not.toContain('WEB_SERVICE_HOST'); // headless
  });

  it.each(['api', 'api.default.svc.cluster.local'])('resolves the Service as %s (nslookup)', async (name) => {
    const r = await eventually(async () => {
      const got = await lookup(client, name);
      return addresses(got.out).length ? got : undefined;
    }, 60_000, `nslookup ${name}`);
    expect(addresses(r.out), r.out).toEqual([apiIP]);
  });

  /** An HTTP GET by name through the C library's resolver (busybox nslookup does not search dotted names; nc does). */
  const get = (host: string, port: number, want: string) =>
    eventually(async () => {
      const got = await execIn(client.uid, ['sh', '-c', `printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 ${host} ${port}`]);
      return got.out.includes(want) ? got : undefined;
    }, 60_000, `GET http://${host}:${port}/`);

  it.each(['api', 'api.default', 'api.default.svc', 'api.default.svc.cluster.local'])('reaches the Service by name as %s (search path, ndots:5)', async (name) => {
    expect((await get(name, 80, 'hello from api-1')).out).toContain('hello from api-1');
  });

  it('resolves the headless Service to its pods\' IPs, and a StatefulSet pod by its stable name', async () => {
    const all = await eventually(async () => {
      const got = await lookup(client, 'web');
      return addresses(got.out).length === 2 ? got : undefined;
    }, 60_000, 'nslookup web: 2 addresses');
    expect(addresses(all.out)).toEqual(web.map((w) => w.ip).sort());
    const one = await lookup(client, 'web-1.web.default.svc.cluster.local');
    expect(addresses(one.out), one.out).toEqual([web[1]!.ip]);
    expect((await get('web-0.web', 8080, 'hello from web-0')).out).toContain('hello from web-0');
  });

  it('answers NXDOMAIN for an unknown cluster name', async () => {
    const r = await lookup(client, 'nothing-here.default.svc.cluster.local');
    expect(r.code).not.toBe(0);
    expect(addresses(r.out)).toEqual([]);
    expect(r.out).toMatch(/NXDOMAIN|can't find/);
  });

  it('forwards an outside name to the host\'s resolver', async () => {
    const r = await lookup(client, 'outside.stratus.test.');
    expect(addresses(r.out), r.out).toEqual(['192.0.2.53']);
  });

  it('a pod of another cluster cannot query this node\'s DNS server; its own knows none of these names', async () => {
    const gw = gatewayOf(cidrs.a1!);
    const direct = await lookup(stranger, 'api.default.svc.cluster.local', gw);
    expect(addresses(direct.out), direct.out).toEqual([]);
    expect(direct.code).not.toBe(0);
    // Its own DNS (10.96.0.10 from its node) answers for its own cluster only.
    const own = await lookup(stranger, 'web.default.svc.cluster.local');
    expect(addresses(own.out), own.out).toEqual([]);
    const kubeDns = await lookup(stranger, 'kube-dns.kube-system.svc.cluster.local');
    expect(addresses(kubeDns.out), kubeDns.out).toEqual(['10.96.0.10']);
    // and A's own pod does reach it (the failure above is isolation, not a dead server)
    expect(addresses((await lookup(client, 'api.default.svc.cluster.local', gw)).out)).toEqual([apiIP]);
  });
});
