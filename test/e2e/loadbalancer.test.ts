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

/** One HTTP GET (2 s), or undefined when nothing answered; `localAddress`: the client's source address. */
function get(host: string, port: number, path = '/', localAddress?: string): Promise<{ status: number; body: string } | undefined> {
  return new Promise((resolve) => {
    const req = request({ host, port, path, timeout: 2000, ...(localAddress ? { localAddress } : {}) }, (res) => {
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

describe('loadBalancerSourceRanges, loadBalancerIP, allocateLoadBalancerNodePorts, loadBalancerClass (kubectl, the run\'s node)', { timeout: 300_000 }, () => {
  const svcYaml = (name: string, spec: string, annotations = '') => `apiVersion: v1\nkind: Service\nmetadata: {name: ${name}${annotations ? `, annotations: {${annotations}}` : ''}}\nspec: {type: LoadBalancer, selector: {app: web}, ports: [{port: 80, targetPort: 8080}]${spec ? `, ${spec}` : ''}}\n`;
  const answers = async (ip: string, port: number, from?: string) => (await get(ip, port, '/cgi-bin/who', from))?.status === 200;
  const warnings = async (name: string) => {
    const r = await kubectl(['get', 'events', '-n', ns, '--field-selector', `involvedObject.name=${name}`, '-o', 'json']);
    return r.code === 0 ? (JSON.parse(r.stdout) as { items: { type: string; reason: string; message: string }[] }).items.filter((e) => e.type === 'Warning') : [];
  };

  it('source ranges: a client in range reaches the address, one outside does not; the NodePort is not guarded; the annotation is read too', async () => {
    // Prepare: 127.0.0.2 is a loopback source the host can bind; 127.0.0.1 is outside the range.
    await ok(['apply', '-n', ns, '-f', '-'], svcYaml('fw', 'loadBalancerSourceRanges: [127.0.0.2/32]'));
    const ip = await lbIp('fw');
    const nodePort = Number(await ok(['get', 'svc', 'fw', '-n', ns, '-o', 'jsonpath={.spec.ports[0].nodePort}']));
    // Act
    const inRange = await eventually(async () => ((await answers(ip, 80, '127.0.0.2')) ? true : undefined), 90_000, `GET http://${ip}/ from 127.0.0.2`);
    const outside = await answers(ip, 80, '127.0.0.1');
    const viaNodePort = await eventually(async () => ((await answers('127.0.0.1', nodePort)) ? true : undefined), 30_000, `NodePort ${nodePort} from 127.0.0.1`);
    // A range holding the node's address lets the node's own (loopback) clients in, as kube-proxy lets the node in.
    await ok(['patch', 'svc', 'fw', '-n', ns, '--type=merge', '-p', JSON.stringify({ spec: { loadBalancerSourceRanges: [`${internalIPv4()}/32`] } })]);
    const nodeAllowed = await eventually(async () => ((await answers(ip, 80, '127.0.0.1')) ? true : undefined), 60_000, `GET http://${ip}/ from 127.0.0.1 once the node's address is in range`);
    // The field cleared, the annotation read.
    await ok(['patch', 'svc', 'fw', '-n', ns, '--type=merge', '-p', JSON.stringify({ metadata: { annotations: { 'service.beta.kubernetes.io/load-balancer-source-ranges': '127.0.0.3/32, 127.0.0.2/32' } }, spec: { loadBalancerSourceRanges: null } })]);
    const deniedAgain = await eventually(async () => ((await answers(ip, 80, '127.0.0.1')) ? undefined : true), 60_000, `127.0.0.1 refused under the annotation's ranges`);
    const annotatedInRange = await answers(ip, 80, '127.0.0.3');
    // Assess
    expect(inRange).toBe(true);
    expect(outside).toBe(false);
    expect(viaNodePort).toBe(true);
    expect(nodeAllowed).toBe(true);
    expect(deniedAgain).toBe(true);
    expect(annotatedInRange).toBe(true);
  });

  it('source ranges are validated as Kubernetes validates them', async () => {
    // Act
    const bad = await kubectl(['apply', '-n', ns, '-f', '-'], { input: svcYaml('badrange', 'loadBalancerSourceRanges: [10.0.0.1, " 10.0.0.0/8 "]') });
    const badAnnotation = await kubectl(['apply', '-n', ns, '-f', '-'], { input: svcYaml('badann', '', '"service.beta.kubernetes.io/load-balancer-source-ranges": "10.0.0.0/8,nope"') });
    // Assess
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain('spec.LoadBalancerSourceRanges[0]: Invalid value: "10.0.0.1": must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)');
    expect(badAnnotation.stderr).toContain('metadata.annotations[service.beta.kubernetes.io/load-balancer-source-ranges]: Invalid value: "nope": must be a valid CIDR value');
  });

  it('loadBalancerIP: a free address is the one allocated; a taken one stays pending with a Warning event; a change moves it', async () => {
    // Prepare: addresses of the range no other test asks for.
    const base = 127 * 2 ** 24 + 255 * 2 ** 16 + Math.floor(Math.random() * 250) * 256 + 1;
    const [x, y, z] = [0, 1, 2].map((i) => [24, 16, 8, 0].map((sh) => Math.floor((base + i) / 2 ** sh) % 256).join('.'));
    await ok(['apply', '-n', ns, '-f', '-'], svcYaml('fixed', `loadBalancerIP: ${x}`));
    // Act
    // 'fixed' holds the address before 'clash' asks for it: two creates in one stream batch would be
    // reconciled in key order, and which one wins then is not what this test is about.
    const fixed = await lbIp('fixed');
    await ok(['apply', '-n', ns, '-f', '-'], svcYaml('clash', `loadBalancerIP: ${x}`));
    const served = await eventually(async () => ((await answers(x!, 80)) ? true : undefined), 90_000, `GET http://${x}/`);
    const warned = await eventually(async () => (await warnings('clash')).find((e) => e.reason === 'SyncLoadBalancerFailed'), 60_000, 'clash warned');
    const pending = (await ok(['get', 'svc', 'clash', '-n', ns])).trim().split('\n')[1]!.trim().split(/\s{2,}/)[3];
    await ok(['patch', 'svc', 'clash', '-n', ns, '--type=merge', '-p', JSON.stringify({ spec: { loadBalancerIP: y } })]);
    const clash = await lbIp('clash');
    await ok(['patch', 'svc', 'fixed', '-n', ns, '--type=merge', '-p', JSON.stringify({ spec: { loadBalancerIP: z } })]);
    const moved = await eventually(async () => ((await ok(['get', 'svc', 'fixed', '-n', ns, '-o', 'jsonpath={.status.loadBalancer.ingress[0].ip}'])).trim() === z ? true : undefined), 60_000, `fixed moves to ${z}`);
    const freed = await eventually(async () => ((await allocations.holder(POOL_TENANT, LB_POOL, x!)) === undefined ? true : undefined), 30_000, `${x} released`);
    const servedAtZ = await eventually(async () => ((await answers(z!, 80)) ? true : undefined), 90_000, `GET http://${z}/`);
    // Assess
    expect(fixed).toBe(x);
    expect(served).toBe(true);
    expect(warned.message).toBe(`Error syncing load balancer: failed to ensure load balancer: requested load balancer IP "${x}" is already in use`);
    expect(pending).toBe('<pending>');
    expect(clash).toBe(y);
    expect(moved).toBe(true);
    expect(freed).toBe(true);
    expect(servedAtZ).toBe(true);
  });

  it('loadBalancerIP taken, then freed: the controller\'s retry (a timer) takes it', async () => {
    // Prepare
    const taken = await lbIp('fixed');
    await ok(['apply', '-n', ns, '-f', '-'], svcYaml('waiter', `loadBalancerIP: ${taken}`));
    await eventually(async () => (await warnings('waiter')).find((e) => e.reason === 'SyncLoadBalancerFailed'), 60_000, 'waiter warned');
    // Act
    await ok(['delete', 'svc', 'fixed', '-n', ns]);
    const got = await eventually(async () => ((await ok(['get', 'svc', 'waiter', '-n', ns, '-o', 'jsonpath={.status.loadBalancer.ingress[0].ip}'])).trim() === taken ? true : undefined), 120_000, `waiter gets ${taken} once it is free`);
    // Assess
    expect(got).toBe(true);
    expect(await allocations.holder(POOL_TENANT, LB_POOL, taken)).toMatch(/\/waiter$/);
  });

  it('loadBalancerIP out of the range: pending, and the event says why', async () => {
    // Act
    await ok(['apply', '-n', ns, '-f', '-'], svcYaml('outside', 'loadBalancerIP: 10.1.2.3'));
    const warned = await eventually(async () => (await warnings('outside')).find((e) => e.reason === 'SyncLoadBalancerFailed'), 60_000, 'outside warned');
    const status = await ok(['get', 'svc', 'outside', '-n', ns, '-o', 'jsonpath={.status}']);
    // Assess
    expect(warned.message).toBe('Error syncing load balancer: failed to ensure load balancer: requested load balancer IP "10.1.2.3" is not in the load balancer range 127.240.0.0/12');
    expect(status).not.toContain('ingress');
  });

  it('allocateLoadBalancerNodePorts false: no NodePort, and the address still answers', async () => {
    // Act
    await ok(['apply', '-n', ns, '-f', '-'], svcYaml('nonp', 'allocateLoadBalancerNodePorts: false'));
    const ip = await lbIp('nonp');
    const svc = JSON.parse(await ok(['get', 'svc', 'nonp', '-n', ns, '-o', 'json'])) as { spec: { ports: { nodePort?: number }[]; allocateLoadBalancerNodePorts: boolean } };
    const table = (await ok(['get', 'svc', 'nonp', '-n', ns])).trim().split('\n')[1]!.trim().split(/\s{2,}/);
    const served = await eventually(async () => ((await answers(ip, 80)) ? true : undefined), 90_000, `GET http://${ip}/`);
    // Assess
    expect(svc.spec.allocateLoadBalancerNodePorts).toBe(false);
    expect(svc.spec.ports[0]!.nodePort).toBeUndefined();
    expect(table[4]).toBe('80/TCP');
    expect(served).toBe(true);
  });

  it('loadBalancerClass may not change once set; another class gets no address', async () => {
    // Act
    await ok(['apply', '-n', ns, '-f', '-'], svcYaml('classy', 'loadBalancerClass: example.com/other'));
    const changed = await kubectl(['patch', 'svc', 'classy', '-n', ns, '--type=merge', '-p', '{"spec":{"loadBalancerClass":"example.com/else"}}']);
    const ours = await kubectl(['patch', 'svc', 'classy', '-n', ns, '--type=merge', '-p', '{"spec":{"loadBalancerClass":null}}']);
    const status = await ok(['get', 'svc', 'classy', '-n', ns, '-o', 'jsonpath={.status}']);
    // Assess
    expect(changed.code).not.toBe(0);
    expect(changed.stderr).toContain('spec.loadBalancerClass: Invalid value: "example.com/else": may not change once set');
    expect(ours.stderr).toContain('spec.loadBalancerClass: Invalid value: null: may not change once set');
    expect(status).not.toContain('ingress');
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
