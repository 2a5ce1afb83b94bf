import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, uniqueName } from '../helpers/api';
import { createTestCluster, execInPod, type TestCluster } from '../helpers/clusters';
import { TEST_IMAGES } from '../helpers/images';
import { BridgeNodes, createRunningPod, echoServer, hostGet, runningPod, webNodePortService } from '../helpers/service-fixtures';

/*
 * The nftables service proxy with real containers (issue #15): cluster A has two node-bridge
 * agents, cluster B one. A Deployment behind a NodePort Service answers from a pod of A through
 * its ClusterIP, spread over every ready endpoint and never the unready one; scaling down takes
 * the endpoint out; the NodePort answers from the host on 127.0.0.1 and on the node's address; a
 * hostPort answers on the node's address; a pod reaches itself through its Service (hairpin);
 * traffic keeps flowing while the agent is stopped (SIGSTOP: nothing in user space carries it);
 * B's pod reaches neither A's ClusterIP nor its NodePort.
 */

type Cluster = TestCluster;
const cluster = createTestCluster;

/** Runs a command in a pod's main container (docker exec), answering its exit code and output. */
const execIn = (uid: string, cmd: string[], timeout = 60_000) => execInPod(uid, cmd, timeout);

/** `n` HTTP GETs from inside a pod (busybox nc); the body's last line of each (the answering pod's name), "-" for a failure. */
async function getsFrom(uid: string, target: string, n: number): Promise<string[]> {
  const [host, port] = target.split(':');
  const script = `for i in $(seq ${n}); do r=$(printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 2 ${host} ${port} | tail -n 1); echo "got:\${r:--}"; done`;
  const r = await execIn(uid, ['sh', '-c', script], 20_000 + n * 3000);
  // Whitespace only (a reset or a reject mid-line) is no answer either.
  return r.out.split('\n').filter((l) => l.startsWith('got:')).map((l) => l.slice(4).trim() || '-');
}

/** Names of the web Deployment's ready pods. */
async function readyWebPods(c: Cluster): Promise<string[]> {
  const pods = (await c.api.get('/api/v1/namespaces/default/pods?labelSelector=app%3Dweb')).body as { items: { metadata: { name: string; deletionTimestamp?: string }; status?: { conditions?: { type: string; status: string }[] } }[] };
  return pods.items
    .filter((p) => !p.metadata.deletionTimestamp && p.status?.conditions?.some((x) => x.type === 'Ready' && x.status === 'True'))
    .map((p) => p.metadata.name)
    .sort();
}

describe('service proxy', { timeout: 400_000 }, () => {
  let a: Cluster;
  let b: Cluster;
  const suffix = uniqueName('').replace(/[^a-z0-9-]/g, '').slice(-8);
  const nodes = { a1: `svc-a1-${suffix}`, a2: `svc-a2-${suffix}`, b1: `svc-b1-${suffix}` };
  const bridge = new BridgeNodes<keyof typeof nodes>();
  let client: { uid: string; ip: string };
  let stranger: { uid: string; ip: string };
  let clusterIP = '';
  let nodePort = 0;
  let nodeIP = '';
  const hostPort = 20000 + (process.pid % 9000);

  beforeAll(async () => {
    [a, b] = await Promise.all([cluster('svca'), cluster('svcb')]);
    await bridge.start({
      // a1 runs the hostPort pod: only a node started with --allow-privileged runs one (node-agent/security.ts).
      a1: { cluster: a, name: nodes.a1, args: ['--allow-privileged'] },
      a2: { cluster: a, name: nodes.a2 },
      b1: { cluster: b, name: nodes.b1 },
    });
    nodeIP = bridge.nodeIP;
    // hostPort is beyond Pod Security's baseline, which new clusters enforce.
    const labelled = await a.api.patch('/api/v1/namespaces/default', { metadata: { labels: { 'pod-security.kubernetes.io/enforce': 'privileged' } } }, 'application/merge-patch+json');
    expect(labelled.status, labelled.text).toBe(200);
    const svc = await webNodePortService(a);
    clusterIP = svc.clusterIP;
    nodePort = svc.ports[0]!.nodePort;
    const dep = await a.api.post('/apis/apps/v1/namespaces/default/deployments', {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'web' },
      spec: {
        replicas: 3,
        selector: { matchLabels: { app: 'web' } },
        template: {
          metadata: { labels: { app: 'web' } },
          spec: { terminationGracePeriodSeconds: 1, containers: [echoServer({ readinessProbe: { tcpSocket: { port: 8080 }, periodSeconds: 1 } })] },
        },
      },
    });
    expect(dep.status, dep.text).toBe(201);
    [client, stranger] = await Promise.all([
      createRunningPod(a, 'client', { nodeName: nodes.a1, containers: [{ name: 'main', image: TEST_IMAGES.busybox, imagePullPolicy: 'Never', command: ['sleep', '3600'] }] }),
      createRunningPod(b, 'stranger', { nodeName: nodes.b1, containers: [{ name: 'main', image: TEST_IMAGES.busybox, imagePullPolicy: 'Never', command: ['sleep', '3600'] }] }),
      // Selected by the Service but never ready: it must get no traffic.
      createRunningPod(a, 'unready', { nodeName: nodes.a2, containers: [echoServer({ readinessProbe: { exec: { command: ['false'] }, periodSeconds: 1 } })] }, { app: 'web' }),
      // A hostPort on node a1.
      createRunningPod(a, 'hostport', { nodeName: nodes.a1, containers: [echoServer({ ports: [{ containerPort: 8080, hostPort }] })] }),
    ]);
    await eventually(async () => ((await readyWebPods(a)).length === 3 ? true : undefined), 120_000, '3 ready web pods');
  }, 300_000);

  afterAll(() => bridge.stop(), 120_000);

  it('a pod reaches the Deployment through its ClusterIP, spread over every ready endpoint and never the unready one', async () => {
    const ready = await readyWebPods(a);
    const seen = new Set<string>();
    await eventually(async () => {
      for (const name of await getsFrom(client.uid, `${clusterIP}:80`, 15)) seen.add(name);
      return ready.every((n) => seen.has(n)) ? true : undefined;
    }, 120_000, `answers from all of ${ready.join(', ')}`);
    // Once settled: every answer is from a ready pod (none failed, none from the unready one).
    const answers = await getsFrom(client.uid, `${clusterIP}:80`, 30);
    expect(answers).toHaveLength(30);
    for (const name of answers) expect(ready, `answer ${name}`).toContain(name);
    expect(answers).not.toContain('unready');
  });

  it('answers on the NodePort from the host, on 127.0.0.1 and on the node\'s address', async () => {
    const ready = await readyWebPods(a);
    const local = await eventually(() => hostGet('127.0.0.1', nodePort), 60_000, `127.0.0.1:${nodePort}`);
    expect(ready).toContain(local);
    expect(nodeIP).not.toBe('');
    const viaNode = await eventually(() => hostGet(nodeIP, nodePort), 60_000, `${nodeIP}:${nodePort}`);
    expect(ready).toContain(viaNode);
  });

  it('serves a hostPort on the node\'s address', async () => {
    expect(await eventually(() => hostGet(nodeIP, hostPort), 60_000, `${nodeIP}:${hostPort}`)).toBe('hostport');
  });

  it('keeps traffic flowing through existing Services while the agent is stopped (SIGSTOP)', async () => {
    bridge.agents.a1!.kill('SIGSTOP');
    try {
      const answers = await getsFrom(client.uid, `${clusterIP}:80`, 10);
      expect(answers.filter((x) => x !== '-')).toHaveLength(10);
      expect(await hostGet('127.0.0.1', nodePort)).toBeDefined();
    } finally {
      bridge.agents.a1!.kill('SIGCONT');
    }
  });

  it('a pod of another cluster reaches neither the ClusterIP nor the NodePort', async () => {
    // B's pod: A's ClusterIP is not in B's table (and service CIDRs overlap between clusters);
    // A's NodePort on the node's address is DNATed into A's bridge, where node-bridge drops B.
    expect(await getsFrom(stranger.uid, `${clusterIP}:80`, 2)).toEqual(['-', '-']);
    expect(await getsFrom(stranger.uid, `${nodeIP}:${nodePort}`, 2)).toEqual(['-', '-']);
    // The same paths work from A (the failure above is isolation, not a dead Service).
    expect((await getsFrom(client.uid, `${clusterIP}:80`, 1))[0]).not.toBe('-');
    expect((await getsFrom(client.uid, `${nodeIP}:${nodePort}`, 1))[0]).not.toBe('-');
  });

  it('scaling down takes the endpoints out; the last pod reaches itself through its Service (hairpin)', async () => {
    const r = await a.api.patch('/apis/apps/v1/namespaces/default/deployments/web', { spec: { replicas: 1 } }, 'application/merge-patch+json');
    expect(r.status, r.text).toBe(200);
    const left = await eventually(async () => {
      const names = await readyWebPods(a);
      return names.length === 1 ? names[0] : undefined;
    }, 120_000, 'one web pod left');
    await eventually(async () => {
      const answers = await getsFrom(client.uid, `${clusterIP}:80`, 10);
      return answers.every((x) => x === left) ? true : undefined;
    }, 60_000, `every answer from ${left}`);
    const self = await runningPod(a, left!);
    const answers = await getsFrom(self.uid, `${clusterIP}:80`, 3);
    expect(answers).toEqual([left, left, left]);
  });
});
