import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import { KubeConfig, PortForward } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import WebSocket from 'ws';
import { Api, eventually, uniqueName } from '../helpers/api';
import { allRunning, createPod, waitForPod } from '../helpers/pods';
import { kubectl } from '../helpers/kubectl';
import { get, startKubectl } from '../helpers/port-forward';

/*
 * Issue #15, port-forward and the proxy subresources end to end: the real kubectl 1.32
 * (`port-forward` over SPDY tunnelled in a WebSocket, and its plain SPDY fallback; `proxy`;
 * `get --raw`), the official client's v4 WebSocket port-forward, and raw requests for what
 * kubectl does not show. The pods serve HTTP with busybox httpd, one bound to 127.0.0.1 only
 * (port-forward must connect inside the pod's network namespace, as container runtimes do).
 */
const IMAGE = 'stratus-test/busybox:1.36';
const NS = '/api/v1/namespaces/default';
let api: Api;
type Json = any;

/** A container serving `text` at / on `listen` (busybox httpd's -p: PORT or IP:PORT). */
const httpd = (text: string, listen: string, ports: Json[] = []) => ({
  name: 'web',
  image: IMAGE,
  command: ['sh', '-c', `mkdir -p /www && echo ${text} > /www/index.html && exec httpd -f -p ${listen} -h /www`],
  ports,
});

const local = `lo-${uniqueName('pf').slice(-6)}`;
const web = uniqueName('pfweb');
const svc = uniqueName('pfsvc');

const children: ChildProcess[] = [];
afterAll(() => {
  for (const c of children) c.kill('SIGKILL');
});

beforeAll(async () => {
  api = Api.forTenant('default');
  await createPod(api, NS, local, [httpd(`hello-from-${local}`, '127.0.0.1:8080')]);
  const p = await api.post(`${NS}/pods`, {
    metadata: { name: web, labels: { app: web } },
    spec: { terminationGracePeriodSeconds: 1, containers: [httpd(`hello-from-${web}`, '8080', [{ name: 'http', containerPort: 8080 }])] },
  });
  expect(p.status, p.text).toBe(201);
  const r = await api.post(`${NS}/services`, { metadata: { name: svc }, spec: { selector: { app: web }, ports: [{ name: 'web', port: 80, targetPort: 'http' }] } });
  expect(r.status, r.text).toBe(201);
  await waitForPod(api, NS, local, 'running', allRunning, 120_000);
  await waitForPod(api, NS, web, 'running', allRunning, 120_000);
}, 180_000);

/** kubectl port-forward TARGET :REMOTE: the local port it chose, and the process. */
async function portForward(target: string, remote: number, env: NodeJS.ProcessEnv = {}) {
  const { match, child, output } = await startKubectl(['port-forward', target, `:${remote}`], /Forwarding from 127\.0\.0\.1:(\d+) ->/, env);
  children.push(child);
  return { port: Number(match[1]), child, output };
}

describe('kubectl port-forward', () => {
  it('reaches a listener bound to 127.0.0.1 in the pod (SPDY over WebSocket, kubectl 1.32 default)', async () => {
    // Act
    const pf = await portForward(`pod/${local}`, 8080);
    const first = await get(pf.port);
    const second = await get(pf.port);
    pf.child.kill('SIGTERM');

    // Assess: it went through the WebSocket tunnel (the agent logs the subprotocol), not the fallback.
    expect(first).toEqual({ status: 200, body: `hello-from-${local}\n` });
    expect(readFileSync(inject('stack').agentLog, 'utf8')).toMatch(new RegExp(`"port-forward session".*"pod":"default/${local}".*"protocol":"SPDY/3\\.1\\+portforward\\.k8s\\.io"`));
    expect(second.body).toBe(`hello-from-${local}\n`);
  }, 90_000);

  it('works over the plain SPDY/3.1 fallback (KUBECTL_PORT_FORWARD_WEBSOCKETS=false)', async () => {
    const pf = await portForward(`pod/${local}`, 8080, { KUBECTL_PORT_FORWARD_WEBSOCKETS: 'false' });
    const res = await get(pf.port);
    pf.child.kill('SIGTERM');
    expect(res).toEqual({ status: 200, body: `hello-from-${local}\n` });
  }, 90_000);

  it('forwards to svc/NAME (kubectl picks a pod of the Service and its target port)', async () => {
    await eventually(async () => ((await api.get(`/apis/discovery.k8s.io/v1/namespaces/default/endpointslices?labelSelector=kubernetes.io/service-name=${svc}`)).body?.items?.[0]?.endpoints?.length ? true : undefined), 60_000, 'endpoints');
    const pf = await portForward(`svc/${svc}`, 80);
    const res = await get(pf.port);
    pf.child.kill('SIGTERM');
    expect(res.body).toBe(`hello-from-${web}\n`);
  }, 90_000);

  it('reports a refused connection on the error stream, as kubectl prints it', async () => {
    const pf = await portForward(`pod/${local}`, 9999);
    // The local connection is accepted, then closed: the pod refuses.
    await get(pf.port).catch(() => undefined);
    await eventually(async () => (/error forwarding port 9999 to pod .*connection refused/.test(pf.output()) ? true : undefined), 20_000, 'the error kubectl prints');
    pf.child.kill('SIGTERM');
  }, 90_000);
});

describe('v4.channel.k8s.io port-forward', () => {
  it('serves the official client (PortForward of @kubernetes/client-node)', async () => {
    // Prepare
    const stack = inject('stack');
    const kc = new KubeConfig();
    kc.loadFromFile(stack.kubeconfigPath);
    const pf = new PortForward(kc, true);
    const server = net.createServer((socket) => void pf.portForward('default', local, [8080], socket, null, socket));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as net.AddressInfo).port;

    // Act
    const res = await get(port);
    server.close();

    // Assess
    expect(res).toEqual({ status: 200, body: `hello-from-${local}\n` });
  }, 60_000);

  it('sends each channel its port first, then the data, and the refusal on the error channel', async () => {
    const stack = inject('stack');
    const url = `${stack.apiUrl.replace(/^https/, 'wss')}/clusters/default${NS}/pods/${local}/portforward?ports=8080&ports=9999`;
    const ws = new WebSocket(url, ['v4.channel.k8s.io'], { ca: stack.caCert, headers: { authorization: `Bearer ${stack.adminToken}` } });
    const messages: Buffer[] = [];
    ws.on('message', (m: Buffer) => messages.push(m));
    await new Promise((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
    });
    ws.send(Buffer.concat([Buffer.from([0]), Buffer.from('GET / HTTP/1.0\r\n\r\n')]));
    await eventually(async () => (messages.some((m) => m[0] === 3 && m.length > 3) && messages.some((m) => m[0] === 0 && m.toString().includes(`hello-from-${local}`)) ? true : undefined), 20_000, 'data and error');
    ws.close();

    // The first message of channels 0..3 is its port, little endian.
    const firsts = [0, 1, 2, 3].map((c) => messages.find((m) => m[0] === c)!);
    expect(firsts.map((m) => [...m])).toEqual([[0, 0x90, 0x1f], [1, 0x90, 0x1f], [2, 0x0f, 0x27], [3, 0x0f, 0x27]]);
    expect(messages.filter((m) => m[0] === 3 && m.length > 3).map((m) => m.subarray(1).toString()).join('')).toMatch(/error forwarding port 9999 to pod .*connection refused/);
  }, 60_000);
});

describe('pods/proxy and services/proxy', () => {
  it('kubectl proxy reaches services/NAME:PORT/proxy/ and pods/NAME:PORT/proxy/', async () => {
    const proxy = await startKubectl(['proxy', '--port=0'], /Starting to serve on 127\.0\.0\.1:(\d+)/);
    children.push(proxy.child);
    const port = Number(proxy.match[1]);
    const viaService = await eventually(async () => {
      const r = await get(port, `${NS}/services/${svc}:web/proxy/`);
      return r.status === 200 ? r : undefined;
    }, 30_000, 'services/proxy');
    const viaPod = await get(port, `${NS}/pods/${local}:8080/proxy/index.html`);
    const missing = await get(port, `${NS}/pods/${local}:8080/proxy/nothing-here`);
    proxy.child.kill('SIGTERM');
    expect(viaService.body).toBe(`hello-from-${web}\n`);
    expect(viaPod).toEqual({ status: 200, body: `hello-from-${local}\n` });
    expect(missing.status).toBe(404);
  }, 90_000);

  it('kubectl get --raw through services/http:NAME:80 and pods/NAME (first container port)', async () => {
    const a = await kubectl(['get', '--raw', `${NS}/services/http:${svc}:80/proxy/`]);
    const b = await kubectl(['get', '--raw', `${NS}/pods/${web}/proxy/`]);
    expect(a.stdout, a.stderr).toBe(`hello-from-${web}\n`);
    expect(b.stdout, b.stderr).toBe(`hello-from-${web}\n`);
  }, 60_000);

  it('answers Kubernetes Status errors: no such pod, no endpoints, refused port', async () => {
    const none = await api.get(`${NS}/pods/nope-${local}:8080/proxy/`);
    expect(none.status).toBe(404);
    const empty = uniqueName('pfempty');
    expect((await api.post(`${NS}/services`, { metadata: { name: empty }, spec: { selector: { app: empty }, ports: [{ port: 80 }] } })).status).toBe(201);
    const noEndpoints = await api.get(`${NS}/services/${empty}/proxy/`);
    expect(noEndpoints.status).toBe(503);
    expect(noEndpoints.body.message).toBe(`no endpoints available for service "${empty}"`);
    const refused = await api.get(`${NS}/pods/${local}:9999/proxy/`);
    expect(refused.status).toBe(503);
    expect(refused.body.message).toMatch(/^error trying to reach service: .*connection refused/);
  }, 60_000);
});

/** Sends a request with its path exactly as given (no dot-segment normalization, unlike URL). */
function rawGet(path: string): Promise<{ status: number; text: string }> {
  const stack = inject('stack');
  const base = new URL(stack.apiUrl);
  return new Promise((resolve, reject) => {
    const req = https.request({ host: base.hostname, port: base.port, path: `/clusters/default${path}`, method: 'GET', ca: stack.caCert, agent: false, headers: { authorization: `Bearer ${stack.adminToken}` } }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.once('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.once('error', reject);
    req.end();
  });
}

describe('no tenant can aim port-forward or the proxies elsewhere (attack tests)', () => {
  it('a pod port means the pod: the host ports of the API, DynamoDB Local and the SQS emulator are not reachable', async () => {
    const stack = inject('stack');
    const hostPorts = [new URL(stack.apiUrl).port, ...['AWS_ENDPOINT_URL_DYNAMODB', 'AWS_ENDPOINT_URL_SQS', 'AWS_ENDPOINT_URL'].map((k) => stack.env[k]).filter((u): u is string => !!u).map((u) => new URL(u).port)]
      .filter(Boolean);
    expect(hostPorts.length).toBeGreaterThan(1);
    for (const port of new Set(hostPorts)) {
      // Act: the host listens on these; the pod does not.
      const viaProxy = await api.get(`${NS}/pods/${local}:${port}/proxy/`);
      // Assess
      expect(viaProxy.status, `port ${port}: ${viaProxy.text}`).toBe(503);
      expect(viaProxy.body.message).toMatch(/connection refused/);
    }
  }, 60_000);

  it('a Service whose hand-written EndpointSlice points at a host address, at no pod, or at another pod under a wrong name gets nothing', async () => {
    // Prepare: a selector-less Service and slices a tenant may write.
    const name = uniqueName('pfevil');
    expect((await api.post(`${NS}/services`, { metadata: { name }, spec: { ports: [{ name: 'web', port: 80 }] } })).status).toBe(201);
    const webPod = (await api.get(`${NS}/pods/${web}`)).body;
    const hostIP: string = webPod.status.hostIP;
    const endpoints = [
      { addresses: [hostIP] },
      { addresses: [webPod.status.podIP], targetRef: { kind: 'Pod', name: local, namespace: 'default' } },
      { addresses: ['10.250.0.9'], targetRef: { kind: 'Pod', name: 'pod-of-another-cluster', namespace: 'default' } },
      { addresses: [webPod.status.podIP], targetRef: { kind: 'Pod', name: web, namespace: 'kube-system' } },
    ];
    const slice = await api.post('/apis/discovery.k8s.io/v1/namespaces/default/endpointslices', {
      metadata: { name: `${name}-x`, labels: { 'kubernetes.io/service-name': name } },
      addressType: 'IPv4',
      endpoints: endpoints.map((e) => ({ ...e, conditions: { ready: true } })),
      ports: [{ name: 'web', port: 8080, protocol: 'TCP' }],
    });
    expect(slice.status, slice.text).toBe(201);

    // Act
    const r = await api.get(`${NS}/services/${name}:web/proxy/`);

    // Assess
    expect(r.status, r.text).toBe(503);
    expect(r.body.message).toBe(`no endpoints available for service "${name}"`);
  }, 60_000);

  it('dot segments in the proxied path stay the pod\'s path; in the name they are not found', async () => {
    for (const path of [`${NS}/pods/${local}:8080/proxy/../../../../stats/summary`, `${NS}/pods/${local}:8080/proxy/%2e%2e/%2e%2e/%2e%2e/%2e%2e/${web}/proxy/`]) {
      const r = await rawGet(path);
      // busybox httpd answers for itself (never the agent's stats, never the other pod).
      expect(r.text, path).not.toMatch(/"node"|hello-from-/);
      expect(r.status, path).toBeGreaterThanOrEqual(400);
    }
    for (const path of [`${NS}/pods/%2e%2e/proxy/`, `${NS}/pods/${local}%2F..%2F${web}/proxy/`, `${NS}/services/%2e%2e:80/proxy/`]) {
      const r = await rawGet(path);
      expect(r.status, `${path}: ${r.text}`).toBe(404);
    }
  }, 60_000);
});
