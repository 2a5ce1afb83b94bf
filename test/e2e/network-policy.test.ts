import type { ChildProcess } from 'node:child_process';
import Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startNodeAgent, stopProcesses } from '../helpers/agent';
import { defaultRootDirs, removeBridgeNodes } from '../helpers/bridge-nodes';
import { eventually, uniqueName } from '../helpers/api';
import { createTestCluster, execInPod, type TestCluster } from '../helpers/clusters';
import { TEST_IMAGES } from '../helpers/images';

/*
 * NetworkPolicy enforced by the node agents' nft table `ip <bridge>-pol` (issue #15), with real
 * containers on two node-bridge nodes of one cluster: without a policy everything reaches the web
 * pod; a default-deny ingress policy stops a pod of the same namespace, straight and through the
 * Service's ClusterIP (the policy sees the DNATed destination); a pod selector, a namespace
 * selector and a port let the chosen peers back in; an egress policy that allows only DNS stops a
 * client's traffic but not its name lookups; deleting the policies restores traffic.
 */

const docker = new Docker();

/** Whether an HTTP GET from inside pod `uid` to host:port got an answer (busybox nc, 2 s). */
async function reaches(uid: string, host: string, port: number): Promise<boolean> {
  // Only the answer counts: nc's own complaints (stderr) are not an answer.
  const r = await execInPod(uid, ['sh', '-c', `r=$(printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 2 ${host} ${port} 2>/dev/null | tail -n 1); echo "got:$r"`], 20_000);
  const line = r.out.split('\n').find((l) => l.startsWith('got:'));
  return (line?.slice(4).trim() ?? '') !== '';
}

/** Waits until `uid` reaching host:port is `want`, then checks it once more (it stays so). */
async function settlesTo(uid: string, host: string, port: number, want: boolean, what: string): Promise<boolean> {
  await eventually(async () => ((await reaches(uid, host, port)) === want ? true : undefined), 60_000, what);
  return reaches(uid, host, port);
}

const server = {
  name: 'main',
  image: TEST_IMAGES.busybox,
  imagePullPolicy: 'Never',
  command: ['sh', '-c', 'mkdir -p /www && hostname > /www/index.html && (httpd -p 8081 -h /www &) && exec httpd -f -p 8080 -h /www'],
  ports: [{ name: 'http', containerPort: 8080 }, { name: 'alt', containerPort: 8081 }],
};
const sleeper = { name: 'main', image: TEST_IMAGES.busybox, imagePullPolicy: 'Never', command: ['sleep', '3600'] };

describe('NetworkPolicy', { timeout: 400_000 }, () => {
  let c: TestCluster;
  const suffix = uniqueName('').replace(/[^a-z0-9-]/g, '').slice(-8);
  const nodes = [`np1-${suffix}`, `np2-${suffix}`];
  const agents: ChildProcess[] = [];
  const cidrs: string[] = [];
  const pods: Record<string, { uid: string; ip: string }> = {};
  let clusterIP = '';

  const running = (ns: string, name: string) =>
    eventually(async () => {
      const p = (await c.api.get(`/api/v1/namespaces/${ns}/pods/${name}`)).body as { metadata: { uid: string }; status?: { phase?: string; podIP?: string } };
      return p.status?.phase === 'Running' && p.status.podIP ? { uid: p.metadata.uid, ip: p.status.podIP } : undefined;
    }, 90_000, `pod ${ns}/${name} running`);

  async function pod(ns: string, name: string, node: string, labels: Record<string, string>, container: Record<string, unknown>) {
    const r = await c.api.post(`/api/v1/namespaces/${ns}/pods`, { apiVersion: 'v1', kind: 'Pod', metadata: { name, labels }, spec: { nodeName: node, terminationGracePeriodSeconds: 1, containers: [container] } });
    expect(r.status, r.text).toBe(201);
    pods[name] = await running(ns, name);
  }

  async function policy(ns: string, name: string, spec: Record<string, unknown>) {
    const r = await c.api.post(`/apis/networking.k8s.io/v1/namespaces/${ns}/networkpolicies`, { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name }, spec });
    expect(r.status, r.text).toBe(201);
  }
  const unpolicy = async (ns: string, name: string) => expect((await c.api.send('DELETE', `/apis/networking.k8s.io/v1/namespaces/${ns}/networkpolicies/${name}`)).status).toBe(200);

  beforeAll(async () => {
    c = await createTestCluster('np');
    for (const n of nodes) agents.push(startNodeAgent(n, { tenant: c.tenant, joinToken: c.joinToken, podNetwork: 'node-bridge' }));
    for (const n of nodes)
      cidrs.push(await eventually(async () => ((await c.api.get(`/api/v1/nodes/${n}`)).body as { spec?: { podCIDR?: string } }).spec?.podCIDR, 90_000, `node ${n} registered`));
    const ns = await c.api.post('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'friends', labels: { team: 'friends' } } });
    expect(ns.status, ns.text).toBe(201);
    const svc = await c.api.post('/api/v1/namespaces/default/services', { apiVersion: 'v1', kind: 'Service', metadata: { name: 'web' }, spec: { selector: { app: 'web' }, ports: [{ port: 80, targetPort: 8080 }] } });
    expect(svc.status, svc.text).toBe(201);
    clusterIP = (svc.body as { spec: { clusterIP: string } }).spec.clusterIP;
    await Promise.all([
      pod('default', 'web', nodes[0]!, { app: 'web' }, server),
      pod('default', 'client', nodes[1]!, { role: 'client' }, sleeper),
      pod('default', 'other', nodes[0]!, { role: 'other' }, sleeper),
      pod('friends', 'friend', nodes[1]!, { role: 'other' }, sleeper),
    ]);
  }, 300_000);

  afterAll(async () => {
    await stopProcesses(agents);
    await removeBridgeNodes(docker, nodes, cidrs, defaultRootDirs(nodes));
    for (const n of nodes) await c?.api.send('DELETE', `/api/v1/nodes/${n}`);
  }, 120_000);

  it('without a policy every pod reaches the web pod, straight and through its ClusterIP', async () => {
    const web = pods.web!.ip;
    expect(await settlesTo(pods.client!.uid, web, 8080, true, 'client -> web')).toBe(true);
    expect(await settlesTo(pods.other!.uid, web, 8080, true, 'other -> web')).toBe(true);
    expect(await settlesTo(pods.friend!.uid, web, 8080, true, 'friend -> web')).toBe(true);
    expect(await settlesTo(pods.client!.uid, clusterIP, 80, true, 'client -> ClusterIP')).toBe(true);
  });

  it('a default-deny ingress policy stops every peer, on the same node and another, through the ClusterIP too', async () => {
    await policy('default', 'deny-all', { podSelector: {}, policyTypes: ['Ingress'] });
    const web = pods.web!.ip;
    expect(await settlesTo(pods.client!.uid, web, 8080, false, 'client -> web blocked')).toBe(false);
    expect(await settlesTo(pods.other!.uid, web, 8080, false, 'other (same node) -> web blocked')).toBe(false);
    expect(await settlesTo(pods.friend!.uid, web, 8080, false, 'friend -> web blocked')).toBe(false);
    expect(await settlesTo(pods.client!.uid, clusterIP, 80, false, 'client -> ClusterIP blocked')).toBe(false);
  });

  it('a pod selector lets the chosen pods back in, through the ClusterIP too, and no one else', async () => {
    await policy('default', 'from-clients', { podSelector: { matchLabels: { app: 'web' } }, ingress: [{ from: [{ podSelector: { matchLabels: { role: 'client' } } }] }] });
    const web = pods.web!.ip;
    expect(await settlesTo(pods.client!.uid, web, 8080, true, 'client -> web allowed')).toBe(true);
    expect(await settlesTo(pods.client!.uid, clusterIP, 80, true, 'client -> ClusterIP allowed')).toBe(true);
    expect(await reaches(pods.other!.uid, web, 8080)).toBe(false);
    // A pod with the same labels in another namespace is not selected by a bare podSelector.
    expect(await reaches(pods.friend!.uid, web, 8080)).toBe(false);
  });

  it('a namespace selector with a port lets another namespace in on that port only', async () => {
    await policy('default', 'from-friends', {
      podSelector: { matchLabels: { app: 'web' } },
      ingress: [{ from: [{ namespaceSelector: { matchLabels: { team: 'friends' } } }], ports: [{ port: 'http' }] }],
    });
    const web = pods.web!.ip;
    expect(await settlesTo(pods.friend!.uid, web, 8080, true, 'friend -> web:8080 allowed')).toBe(true);
    expect(await reaches(pods.friend!.uid, web, 8081)).toBe(false);
    expect(await reaches(pods.other!.uid, web, 8080)).toBe(false);
  });

  it('an egress policy allowing only DNS stops the client but not its lookups; deleting it restores traffic', async () => {
    await policy('default', 'client-egress', {
      podSelector: { matchLabels: { role: 'client' } },
      policyTypes: ['Egress'],
      egress: [{ to: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'kube-system' } }, podSelector: { matchLabels: { 'k8s-app': 'kube-dns' } } }], ports: [{ protocol: 'UDP', port: 53 }, { protocol: 'TCP', port: 53 }] }],
    });
    const web = pods.web!.ip;
    expect(await settlesTo(pods.client!.uid, web, 8080, false, 'client egress blocked')).toBe(false);
    const lookup = await execInPod(pods.client!.uid, ['nslookup', 'web.default.svc.cluster.local'], 20_000);
    expect(lookup.out).toContain(clusterIP);
    await unpolicy('default', 'client-egress');
    expect(await settlesTo(pods.client!.uid, web, 8080, true, 'client egress restored')).toBe(true);
  });

  it('deleting every policy restores traffic from every peer', async () => {
    for (const name of ['deny-all', 'from-clients', 'from-friends']) await unpolicy('default', name);
    const web = pods.web!.ip;
    expect(await settlesTo(pods.other!.uid, web, 8080, true, 'other -> web restored')).toBe(true);
    expect(await settlesTo(pods.friend!.uid, web, 8081, true, 'friend -> web:8081 restored')).toBe(true);
  });
});
