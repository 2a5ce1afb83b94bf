import type { ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bridgeName, destroyNodeBridge } from '../../node-agent/network/node-bridge';
import { destroyServiceTable } from '../../node-agent/network/service-proxy';
import { proxyTableName } from '../../node-agent/network/service-rules';
import { removeNodeContainers, startNodeAgent, stopProcess } from '../helpers/agent';
import { eventually, uniqueName } from '../helpers/api';
import { hostGet } from '../helpers/http';
import { createTestCluster, type TestCluster } from '../helpers/clusters';
import { TEST_IMAGES } from '../helpers/images';

/*
 * The node agent's Ingress proxy with real containers (issue #15): the cluster's default
 * IngressClass `stratus`, an Ingress without a class gets it, its status names the node's address
 * and the proxy's port, requests route by host and path to the Service's ready pods, 404 when
 * nothing matches, 503 without ready endpoints; and the attack: a selector-less Service whose
 * user-written Endpoints name the node's bridge gateway (the host) or an address outside the
 * cluster's ranges gets no connection (503), never the host's answer.
 */

const docker = new Docker();

const web = (name: string, text: string) => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name },
  spec: {
    replicas: 2,
    selector: { matchLabels: { app: name } },
    template: {
      metadata: { labels: { app: name } },
      spec: {
        terminationGracePeriodSeconds: 1,
        containers: [{ name: 'main', image: TEST_IMAGES.busybox, imagePullPolicy: 'Never', command: ['sh', '-c', `mkdir -p /www/api && echo "${text} $(hostname)" > /www/index.html && cp /www/index.html /www/api/index.html && exec httpd -f -p 8080 -h /www`], readinessProbe: { tcpSocket: { port: 8080 }, periodSeconds: 1 } }],
      },
    },
  },
});
const service = (name: string, selector?: Record<string, string>) => ({ apiVersion: 'v1', kind: 'Service', metadata: { name }, spec: { ...(selector ? { selector } : {}), ports: [{ name: 'http', port: 80, targetPort: 8080 }] } });

describe('ingress proxy', { timeout: 400_000 }, () => {
  let c: TestCluster;
  const node = `ing-${uniqueName('').replace(/[^a-z0-9-]/g, '').slice(-8)}`;
  let agent: ChildProcess | undefined;
  let cidr = '';
  let port = 0;
  let tlsPort = 0;
  let nodeIP = '';

  beforeAll(async () => {
    c = await createTestCluster('ing');
    agent = startNodeAgent(node, { tenant: c.tenant, joinToken: c.joinToken, podNetwork: 'node-bridge' });
    const n = await eventually(async () => {
      const r = (await c.api.get(`/api/v1/nodes/${node}`)).body as { metadata?: { annotations?: Record<string, string> }; spec?: { podCIDR?: string }; status?: { addresses?: { type: string; address: string }[] } };
      return r.spec?.podCIDR && r.metadata?.annotations?.['stratus.dev/ingress-port'] ? r : undefined;
    }, 90_000, `node ${node} registered`);
    cidr = n.spec!.podCIDR!;
    port = Number(n.metadata!.annotations!['stratus.dev/ingress-port']);
    tlsPort = Number(n.metadata!.annotations!['stratus.dev/ingress-tls-port']);
    nodeIP = n.status?.addresses?.find((a) => a.type === 'InternalIP')?.address ?? '';
    for (const [path, body] of [
      ['/apis/apps/v1/namespaces/default/deployments', web('front', 'front')],
      ['/apis/apps/v1/namespaces/default/deployments', web('api', 'api')],
      ['/api/v1/namespaces/default/services', service('front', { app: 'front' })],
      ['/api/v1/namespaces/default/services', service('api', { app: 'api' })],
      ['/api/v1/namespaces/default/services', service('empty', { app: 'nothing' })],
    ] as const) {
      const r = await c.api.post(path, body);
      expect(r.status, r.text).toBe(201);
    }
    const ing = await c.api.post('/apis/networking.k8s.io/v1/namespaces/default/ingresses', {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'Ingress',
      metadata: { name: 'shop' },
      spec: {
        rules: [
          {
            host: 'shop.example.com',
            http: {
              paths: [
                { path: '/', pathType: 'Prefix', backend: { service: { name: 'front', port: { number: 80 } } } },
                { path: '/api', pathType: 'Prefix', backend: { service: { name: 'api', port: { name: 'http' } } } },
                { path: '/empty', pathType: 'Exact', backend: { service: { name: 'empty', port: { number: 80 } } } },
              ],
            },
          },
        ],
      },
    });
    expect(ing.status, ing.text).toBe(201);
    expect(ing.body.spec.ingressClassName).toBe('stratus');
  }, 200_000);

  afterAll(async () => {
    await stopProcess(agent);
    removeNodeContainers(node);
    rmSync(join('/var/lib/stratus', node), { recursive: true, force: true });
    if (cidr) {
      await destroyServiceTable(proxyTableName(bridgeName(cidr)));
      await destroyNodeBridge(docker, cidr);
    }
    await c?.api.send('DELETE', `/api/v1/nodes/${node}`);
  }, 120_000);

  it('the cluster has the default IngressClass stratus', async () => {
    const r = await c.api.get('/apis/networking.k8s.io/v1/ingressclasses/stratus');
    expect(r.status, r.text).toBe(200);
    expect(r.body.spec.controller).toBe('stratus.dev/ingress');
    expect(r.body.metadata.annotations['ingressclass.kubernetes.io/is-default-class']).toBe('true');
  });

  it('status.loadBalancer names the node\'s address and the proxy\'s ports (HTTP, then TLS)', async () => {
    const lb = await eventually(async () => {
      const r = (await c.api.get('/apis/networking.k8s.io/v1/namespaces/default/ingresses/shop')).body as { status?: { loadBalancer?: { ingress?: { ip: string; ports: { port: number }[] }[] } } };
      return r.status?.loadBalancer?.ingress?.length ? r.status.loadBalancer.ingress : undefined;
    }, 60_000, 'ingress status');
    expect(lb).toEqual([{ ip: nodeIP, ports: [{ port, protocol: 'TCP' }, { port: tlsPort, protocol: 'TCP' }] }]);
  });

  it('routes by host and path, spread over the ready pods; 404 when nothing matches; 503 without endpoints', async () => {
    const seen = new Set<string>();
    await eventually(async () => {
      const r = await hostGet(port, 'shop.example.com', '/');
      if (r?.status === 200 && r.body.startsWith('front ')) seen.add(r.body);
      return seen.size === 2 ? true : undefined;
    }, 120_000, 'both front pods answer through the Ingress');
    const api = await eventually(async () => {
      const r = await hostGet(port, 'shop.example.com', '/api/');
      return r?.status === 200 ? r : undefined;
    }, 60_000, '/api/ answers');
    expect(api.body).toMatch(/^api /);
    expect((await hostGet(port, 'other.example.com', '/'))?.status).toBe(404);
    expect((await hostGet(port, 'shop.example.com', '/empty'))?.status).toBe(503);
  });

  it('a selector-less Service whose Endpoints name the host (bridge gateway) or another range gets no connection', async () => {
    const gateway = `${cidr.split('.').slice(0, 3).join('.')}.1`;
    const r1 = await c.api.post('/api/v1/namespaces/default/services', service('sneaky'));
    expect(r1.status, r1.text).toBe(201);
    // The gateway answers on the host (the kubelet port, the DNS, this very proxy); 10.143.255.9 is no node of this cluster.
    const ep = await c.api.post('/api/v1/namespaces/default/endpoints', {
      apiVersion: 'v1',
      kind: 'Endpoints',
      metadata: { name: 'sneaky' },
      subsets: [{ addresses: [{ ip: gateway }, { ip: '10.143.255.9' }], ports: [{ name: 'http', port }] }],
    });
    expect(ep.status, ep.text).toBe(201);
    const ing = await c.api.post('/apis/networking.k8s.io/v1/namespaces/default/ingresses', {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'Ingress',
      metadata: { name: 'sneaky' },
      spec: { rules: [{ host: 'sneaky.example.com', http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: 'sneaky', port: { number: 80 } } } }] } }] },
    });
    expect(ing.status, ing.text).toBe(201);
    // Once the mirrored EndpointSlice is there, the route exists: every answer is 503 (no connection made).
    await eventually(async () => {
      const s = (await c.api.get('/apis/discovery.k8s.io/v1/namespaces/default/endpointslices?labelSelector=kubernetes.io%2Fservice-name%3Dsneaky')).body as { items: unknown[] };
      return s.items.length ? true : undefined;
    }, 60_000, 'the mirrored EndpointSlice');
    await new Promise((r) => setTimeout(r, 3000));
    for (let i = 0; i < 4; i++) expect((await hostGet(port, 'sneaky.example.com', '/'))?.status).toBe(503);
  });
});
