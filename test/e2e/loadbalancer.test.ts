import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { gatewayOf } from '../../node-agent/network/node-bridge';
import { internalIPv4 } from '../../node-agent/node-status';
import { loadConfig } from '../../shared/config';
import { Allocations } from '../../shared/store/allocations';
import { createDocumentClient } from '../../shared/store/dynamo';
import { LB_POOL, POOL_TENANT } from '../../shared/services/load-balancer';
import { startNodeAgent, stopProcesses } from '../helpers/agent';
import { defaultRootDirs, removeBridgeNodes } from '../helpers/bridge-nodes';
import { Api, eventually, uniqueName } from '../helpers/api';
import { createTestCluster, type TestCluster } from '../helpers/clusters';
import { TEST_IMAGES } from '../helpers/images';
import { kubectl } from '../helpers/kubectl';

/*
 * LoadBalancer Services on the local machine (issue #15), with real containers: through kubectl a
 * Deployment behind a LoadBalancer Service gets a host-local address (127.240.0.0/12) in
 * status.loadBalancer.ingress, shown as EXTERNAL-IP, which reaches the pods from the host; two
 * Services get two addresses; a deleted Service or one changed to ClusterIP gives its address
 * back; a client cannot write an address of the range into status; another loadBalancerClass is
 * left pending. With two nodes of another cluster, externalTrafficPolicy Local: the health check
 * port answers 200 on the node with the endpoint and 503 on the other, and the pod sees the host's
 * address as the client's (not the bridge gateway's masquerade).
 */

const docker = new Docker();
const allocations = new Allocations(createDocumentClient(loadConfig()), loadConfig());
let ns: string;

/** busybox httpd whose /cgi-bin/who answers "REMOTE_ADDR hostname". */
const SERVER_CMD = [
  'sh',
  '-c',
  "mkdir -p /www/cgi-bin && printf '#!/bin/sh\\nprintf \"Content-Type: text/plain\\\\r\\\\n\\\\r\\\\n\"\\necho \"$REMOTE_ADDR $(hostname)\"\\n' > /www/cgi-bin/who && chmod +x /www/cgi-bin/who && exec httpd -f -p 8080 -h /www",
];

/** One HTTP GET (2 s), or undefined when nothing answered. */
function get(host: string, port: number, path = '/'): Promise<{ status: number; body: string } | undefined> {
  return new Promise((resolve) => {
    const req = request({ host, port, path, timeout: 2000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', () => resolve(undefined));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(undefined));
    req.end();
  });
}

/** The client address in a /cgi-bin/who answer (busybox httpd writes IPv4 clients as [::ffff:a.b.c.d]). */
const clientOf = (body: string) => (body.split(' ')[0] ?? '').replace(/^\[(::ffff:)?/, '').replace(/\]$/, '');

async function ok(args: string[], input?: string): Promise<string> {
  const r = await kubectl(args, { input });
  expect(r.code, `kubectl ${args.join(' ')}: ${r.stderr}`).toBe(0);
  return r.stdout;
}

const deployment = (name: string) => `apiVersion: apps/v1
kind: Deployment
metadata: {name: ${name}}
spec:
  replicas: 1
  selector: {matchLabels: {app: ${name}}}
  template:
    metadata: {labels: {app: ${name}}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: main
        image: ${TEST_IMAGES.busybox}
        imagePullPolicy: Never
        command: ${JSON.stringify(SERVER_CMD)}
        ports: [{containerPort: 8080}]
`;

const lbIp = (name: string) =>
  eventually(async () => {
    const r = await kubectl(['get', 'svc', name, '-n', ns, '-o', 'jsonpath={.status.loadBalancer.ingress[0].ip}']);
    return r.code === 0 && r.stdout.trim() ? r.stdout.trim() : undefined;
  }, 60_000, `service ${name} gets a load balancer address`);

beforeAll(async () => {
  ns = uniqueName('lb-e2e');
  await ok(['create', 'namespace', ns]);
  await ok(['apply', '-n', ns, '-f', '-'], deployment('web'));
});

afterAll(async () => {
  await kubectl(['delete', 'namespace', ns, '--wait=false']);
});

describe('LoadBalancer Services (kubectl, the run\'s node)', { timeout: 180_000 }, () => {
  let ip = '';

  it('a LoadBalancer Service gets its own host-local address, shown as EXTERNAL-IP, and it reaches the pod from the host', async () => {
    // Act
    await ok(['expose', 'deployment', 'web', '-n', ns, '--type=LoadBalancer', '--port=80', '--target-port=8080']);
    ip = await lbIp('web');
    const svc = JSON.parse(await ok(['get', 'svc', 'web', '-n', ns, '-o', 'json'])) as { spec: { ports: { nodePort?: number }[] }; status: unknown };
    const table = (await ok(['get', 'svc', 'web', '-n', ns])).trim().split('\n').map((l) => l.trim().split(/\s{2,}/));
    const answer = await eventually(async () => {
      const r = await get(ip, 80, '/cgi-bin/who');
      return r?.status === 200 ? r : undefined;
    }, 90_000, `GET http://${ip}/ answered by the pod`);
    // Assess
    expect(ip).toMatch(/^127\.(24\d|25[0-5])\.\d+\.\d+$/);
    expect(svc.status).toEqual({ loadBalancer: { ingress: [{ ip, ipMode: 'VIP' }] } });
    expect(svc.spec.ports[0]!.nodePort).toBeGreaterThanOrEqual(30000);
    expect(table[1]!.slice(0, 4)).toEqual(['web', 'LoadBalancer', expect.stringMatching(/^10\.9[6-9]|^10\.1[01]\d/), ip]);
    expect(answer.body).toMatch(/^\S+ web-/);
    expect(await allocations.holder(POOL_TENANT, LB_POOL, ip)).toMatch(/\/web$/);
  });

  it('two LoadBalancer Services get two addresses; another class is left pending', async () => {
    // Act
    await ok(['expose', 'deployment', 'web', '-n', ns, '--name=web2', '--type=LoadBalancer', '--port=8080']);
    await ok(['apply', '-n', ns, '-f', '-'], `apiVersion: v1\nkind: Service\nmetadata: {name: other-class}\nspec: {type: LoadBalancer, loadBalancerClass: example.com/other, selector: {app: web}, ports: [{port: 80, targetPort: 8080}]}\n`);
    const ip2 = await lbIp('web2');
    const r = await eventually(async () => {
      const x = await get(ip2, 8080, '/cgi-bin/who');
      return x?.status === 200 ? x : undefined;
    }, 60_000, `GET http://${ip2}:8080/`);
    const other = (await ok(['get', 'svc', 'other-class', '-n', ns])).trim().split('\n')[1]!.trim().split(/\s{2,}/);
    // Assess
    expect(ip2).not.toBe(ip);
    expect(r.body).toMatch(/ web-/);
    expect(other[3]).toBe('<pending>');
  });

  it('a client cannot write an address of the range into status', async () => {
    // Act
    const r = await kubectl(['patch', 'svc', 'other-class', '-n', ns, '--subresource=status', '--type=merge', '-p', '{"status":{"loadBalancer":{"ingress":[{"ip":"127.240.0.77"}]}}}']);
    const fine = await kubectl(['patch', 'svc', 'other-class', '-n', ns, '--subresource=status', '--type=merge', '-p', '{"status":{"loadBalancer":{"ingress":[{"ip":"203.0.113.7"}]}}}']);
    // Assess
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('status.loadBalancer.ingress[0].ip: Forbidden: 127.240.0.77 is in the load balancer range 127.240.0.0/12');
    expect(fine.code, fine.stderr).toBe(0);
  });

  it('changing the type to ClusterIP clears status and gives the address back; deleting gives it back too', async () => {
    // Prepare
    const ip2 = await lbIp('web2');
    // Act
    await ok(['patch', 'svc', 'web2', '-n', ns, '--type=merge', '-p', '{"spec":{"type":"ClusterIP"}}']);
    const cleared = await eventually(async () => {
      const r = await kubectl(['get', 'svc', 'web2', '-n', ns, '-o', 'jsonpath={.status}']);
      return r.code === 0 && !r.stdout.includes('ingress') ? r.stdout : undefined;
    }, 60_000, 'web2 status cleared');
    const released2 = await eventually(async () => ((await allocations.holder(POOL_TENANT, LB_POOL, ip2)) === undefined ? true : undefined), 30_000, `${ip2} released`);
    await ok(['delete', 'svc', 'web', '-n', ns]);
    const holder = await allocations.holder(POOL_TENANT, LB_POOL, ip);
    const gone = await eventually(async () => ((await get(ip, 80, '/')) === undefined ? true : undefined), 60_000, `${ip} no longer served`);
    // Assess
    expect(cleared).not.toContain('127.2');
    expect(released2).toBe(true);
    expect(holder).toBeUndefined();
    expect(gone).toBe(true);
  });
});

describe('externalTrafficPolicy Local (two nodes of another cluster)', { timeout: 400_000 }, () => {
  let c: TestCluster;
  const suffix = uniqueName('').replace(/[^a-z0-9-]/g, '').slice(-8);
  const nodes = [`lb1-${suffix}`, `lb2-${suffix}`];
  const agents: ChildProcess[] = [];
  const cidrs: string[] = [];

  beforeAll(async () => {
    c = await createTestCluster('lb');
    for (const n of nodes) agents.push(startNodeAgent(n, { tenant: c.tenant, joinToken: c.joinToken, podNetwork: 'node-bridge' }));
    for (const n of nodes)
      cidrs.push(await eventually(async () => ((await c.api.get(`/api/v1/nodes/${n}`)).body as { spec?: { podCIDR?: string } }).spec?.podCIDR, 90_000, `node ${n} registered`));
    const pod = await c.api.post('/api/v1/namespaces/default/pods', {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'web', labels: { app: 'web' } },
      spec: { nodeName: nodes[0], terminationGracePeriodSeconds: 1, containers: [{ name: 'main', image: TEST_IMAGES.busybox, imagePullPolicy: 'Never', command: SERVER_CMD, ports: [{ containerPort: 8080 }] }] },
    });
    expect(pod.status, pod.text).toBe(201);
    await eventually(async () => ((await c.api.get('/api/v1/namespaces/default/pods/web')).body as { status?: { phase?: string } }).status?.phase === 'Running' || undefined, 120_000, 'web running');
  }, 300_000);

  afterAll(async () => {
    await stopProcesses(agents);
    await removeBridgeNodes(docker, nodes, cidrs, defaultRootDirs(nodes));
    await c?.api.send('DELETE', '/api/v1/namespaces/default/services/local');
    for (const n of nodes) await c?.api.send('DELETE', `/api/v1/nodes/${n}`);
  }, 120_000);

  it('health check port: 200 with one local endpoint on the node that has it, 503 on the other; the pod sees the host as the client', async () => {
    // Act
    const r = await c.api.post('/api/v1/namespaces/default/services', {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'local' },
      spec: { type: 'LoadBalancer', externalTrafficPolicy: 'Local', selector: { app: 'web' }, ports: [{ port: 80, targetPort: 8080 }] },
    });
    expect(r.status, r.text).toBe(201);
    const spec = (r.body as { spec: { healthCheckNodePort: number; ports: { nodePort: number }[] } }).spec;
    const hc = spec.healthCheckNodePort;
    const ip = await eventually(async () => ((await c.api.get('/api/v1/namespaces/default/services/local')).body as { status?: { loadBalancer?: { ingress?: { ip: string }[] } } }).status?.loadBalancer?.ingress?.[0]?.ip, 60_000, 'local gets an address');
    const [withEp, without] = cidrs.map(gatewayOf);
    const healthy = await eventually(async () => {
      const x = await get(withEp!, hc);
      return x?.status === 200 ? x : undefined;
    }, 90_000, `health check on ${withEp}:${hc} says 200`);
    const unhealthy = await eventually(async () => {
      const x = await get(without!, hc);
      return x?.status === 503 ? x : undefined;
    }, 60_000, `health check on ${without}:${hc} says 503`);
    const viaLb = await eventually(async () => {
      const x = await get(ip, 80, '/cgi-bin/who');
      return x?.status === 200 ? x : undefined;
    }, 90_000, `GET http://${ip}/cgi-bin/who`);
    const host = internalIPv4();
    const viaNodePort = await eventually(async () => {
      const x = await get(host, spec.ports[0]!.nodePort, '/cgi-bin/who');
      return x?.status === 200 ? x : undefined;
    }, 60_000, `GET http://${host}:${spec.ports[0]!.nodePort}/cgi-bin/who`);
    // Assess
    expect(hc).toBeGreaterThanOrEqual(30000);
    expect(JSON.parse(healthy.body)).toEqual({ service: { namespace: 'default', name: 'local' }, localEndpoints: 1, serviceProxyHealthy: true });
    expect(JSON.parse(unhealthy.body)).toMatchObject({ localEndpoints: 0 });
    // The client's address as the pod saw it: the host's, never the gateway of the pod's bridge.
    expect(clientOf(viaLb.body)).toBe(host);
    expect(clientOf(viaNodePort.body)).toBe(host);
    expect(clientOf(viaLb.body)).not.toBe(withEp);
  });

  it('healthCheckNodePort is immutable, and a taken one is refused as Kubernetes does', async () => {
    // Prepare
    const cur = (await c.api.get('/api/v1/namespaces/default/services/local')).body as { spec: { healthCheckNodePort: number; ports: { nodePort: number }[] } };
    // Act
    const changed = await c.api.send('PATCH', '/api/v1/namespaces/default/services/local', { spec: { healthCheckNodePort: cur.spec.healthCheckNodePort === 32000 ? 32001 : 32000 } }, { 'content-type': 'application/merge-patch+json' });
    const taken = await c.api.post('/api/v1/namespaces/default/services', {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'taken' },
      spec: { type: 'LoadBalancer', externalTrafficPolicy: 'Local', healthCheckNodePort: cur.spec.ports[0]!.nodePort, selector: { app: 'web' }, ports: [{ port: 80, targetPort: 8080 }] },
    });
    // Assess
    expect(changed.status, changed.text).toBe(422);
    expect((changed.body as { message: string }).message).toContain('spec.healthCheckNodePort: Forbidden: field is immutable');
    expect(taken.status, taken.text).toBe(500);
    expect((taken.body as { message: string }).message).toBe(`Internal error occurred: failed to allocate requested HealthCheck NodePort ${cur.spec.ports[0]!.nodePort}: provided port is already allocated`);
  });

  it('deleting the cluster gives its load balancer addresses back (they are not under its own keys)', async () => {
    // Prepare
    const stack = inject('stack');
    const operator = new Api(stack.apiUrl, readFileSync(join(stack.stateDir, 'operator-token'), 'utf8').trim(), stack.caCert);
    const ip = ((await c.api.get('/api/v1/namespaces/default/services/local')).body as { status: { loadBalancer: { ingress: { ip: string }[] } } }).status.loadBalancer.ingress[0]!.ip;
    const before = await allocations.holder(POOL_TENANT, LB_POOL, ip);
    // Act
    const r = await operator.send('DELETE', `/stratus/v1/clusters/${c.tenant}`);
    // Assess
    expect(r.status, r.text).toBe(200);
    expect(before).toBe(`${c.tenant}/default/local`);
    expect(await allocations.holder(POOL_TENANT, LB_POOL, ip)).toBeUndefined();
  });
});
