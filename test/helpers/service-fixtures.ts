/**
 * Fixtures of the Service tests with real containers on `node-bridge` nodes
 * (test/e2e/service-proxy.test.ts, test/e2e/attacks/nodeport-conflict.test.ts): node agents of
 * test clusters and their teardown, a busybox echo server, pods waited for until Running, the
 * `web` Service in front of them, and a GET from the host.
 */
import type { ChildProcess } from 'node:child_process';
import { request } from 'node:http';
import Docker from 'dockerode';
import { expect } from 'vitest';
import { startNodeAgent, stopProcesses } from './agent';
import { eventually } from './api';
import { defaultRootDirs, removeBridgeNodes } from './bridge-nodes';
import type { TestCluster } from './clusters';
import { TEST_IMAGES } from './images';

/** A node to start: its cluster, its name, more agent flags. */
export interface BridgeNodeSpec {
  readonly cluster: TestCluster;
  readonly name: string;
  readonly args?: readonly string[];
}

/**
 * `node-bridge` node agents of test clusters, started at once, each waited for until its Node has
 * a podCIDR; `stop` stops them and removes what they left (containers, root dirs, service tables,
 * bridges, Node objects).
 */
export class BridgeNodes<K extends string> {
  readonly agents: Partial<Record<K, ChildProcess>> = {};
  /** Each node's podCIDR, once registered. */
  readonly cidrs: Partial<Record<K, string>> = {};
  /** The InternalIP of the first node registered (every node here is on this host). */
  nodeIP = '';
  private specs: Partial<Record<K, BridgeNodeSpec>> = {};

  async start(specs: Record<K, BridgeNodeSpec>): Promise<void> {
    this.specs = specs;
    const all = Object.entries(specs) as [K, BridgeNodeSpec][];
    for (const [key, s] of all) this.agents[key] = startNodeAgent(s.name, { tenant: s.cluster.tenant, joinToken: s.cluster.joinToken, podNetwork: 'node-bridge', ...(s.args ? { args: s.args } : {}) });
    for (const [key, s] of all) {
      const node = await eventually(async () => {
        const n = (await s.cluster.api.get(`/api/v1/nodes/${s.name}`)).body as { spec?: { podCIDR?: string }; status?: { addresses?: { type: string; address: string }[] } };
        return n.spec?.podCIDR ? n : undefined;
      }, 90_000, `node ${s.name} registered`);
      this.cidrs[key] = node.spec!.podCIDR!;
      this.nodeIP ||= node.status?.addresses?.find((x) => x.type === 'InternalIP')?.address ?? '';
    }
  }

  async stop(): Promise<void> {
    const specs = Object.values(this.specs) as BridgeNodeSpec[];
    const names = specs.map((s) => s.name);
    await stopProcesses(Object.values(this.agents) as ChildProcess[]);
    await removeBridgeNodes(new Docker(), names, Object.values(this.cidrs) as string[], defaultRootDirs(names));
    for (const s of specs) await s.cluster.api.send('DELETE', `/api/v1/nodes/${s.name}`);
  }
}

/** A busybox container serving its pod's name (its hostname) on :8080. */
export const echoServer = (extra: Record<string, unknown> = {}) => ({
  name: 'main',
  image: TEST_IMAGES.busybox,
  imagePullPolicy: 'Never',
  command: ['sh', '-c', 'mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 8080 -h /www'],
  ...extra,
});

/** Pod `name` of the default namespace once Running with an IP. */
export async function runningPod(c: TestCluster, name: string): Promise<{ uid: string; ip: string }> {
  return eventually(async () => {
    const p = (await c.api.get(`/api/v1/namespaces/default/pods/${name}`)).body as { metadata: { uid: string }; status?: { phase?: string; podIP?: string } };
    return p.status?.phase === 'Running' && p.status.podIP ? { uid: p.metadata.uid, ip: p.status.podIP } : undefined;
  }, 90_000, `pod ${name} running`);
}

/** Creates pod `name` in the default namespace (1 s grace) and waits until it runs. */
export async function createRunningPod(c: TestCluster, name: string, spec: Record<string, unknown>, labels: Record<string, string> = {}): Promise<{ uid: string; ip: string }> {
  const r = await c.api.post('/api/v1/namespaces/default/pods', { apiVersion: 'v1', kind: 'Pod', metadata: { name, labels }, spec: { terminationGracePeriodSeconds: 1, ...spec } });
  expect(r.status, r.text).toBe(201);
  return runningPod(c, name);
}

/** Creates the NodePort Service `web` (port 80 to 8080 of the pods labelled app=web; the given nodePort, else one allocated); its spec as created. */
export async function webNodePortService(c: TestCluster, nodePort?: number): Promise<{ clusterIP: string; ports: { nodePort: number }[] }> {
  const r = await c.api.post('/api/v1/namespaces/default/services', {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'web' },
    spec: { type: 'NodePort', selector: { app: 'web' }, ports: [{ port: 80, targetPort: 8080, ...(nodePort !== undefined ? { nodePort } : {}) }] },
  });
  expect(r.status, r.text).toBe(201);
  return r.body.spec;
}

/** One HTTP GET of `host`:`port` from the host; the body, or undefined when nothing answered (3 s). */
export function hostGet(host: string, port: number): Promise<string | undefined> {
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
