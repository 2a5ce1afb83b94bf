import { execFileSync, type ChildProcess } from 'node:child_process';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { WebSocket } from 'ws';
import { kubeletTls } from '../../shared/auth/kubelet-client';
import { clusterPki, checkCsr, nodeCsr, signNodeServingCert } from '../../shared/auth/node-pki';
import { createNodeToken } from '../../shared/auth/node-identity';
import { loadConfig } from '../../shared/config';
import { KUBELET_RELAY_ANNOTATION, openRelaySession, RELAY_SESSION_TTL_SECONDS } from '../../shared/relay/session';
import { decodeDataMessage, pairedRelayStream, relaySideUrl } from '../../shared/relay/frames';
import { createDocumentClient } from '../../shared/store/dynamo';
import { ObjectStore } from '../../shared/store/store';
import { Api, eventually, uniqueName } from '../helpers/api';
import { removeNodeContainers, startNodeAgent } from '../helpers/agent';
import { kubectl } from '../helpers/kubectl';
import { waitForPod } from '../helpers/pods';
import { get, startKubectl } from '../helpers/port-forward';

/*
 * Issue #16, "Nodes": on AWS agents have no public address, so every API → agent call goes over
 * the agent's outbound relay with the same mutual authentication (docs/exec.md). Here one agent
 * runs in relay mode (--relay-url: the local stack's relay emulator) and opens no listening port;
 * logs (and -f), exec with stdin, port-forward, pods/proxy and metrics reach its pod through the
 * relay, with the real kubectl. Then the relay's refusals: another node's credential, no
 * credential, an expired or replayed session; and a node side that got through without the
 * node's serving key fails the TLS the API runs end to end over the relay.
 */
const IMAGE = 'stratus-test/busybox:1.36';
const NS = '/api/v1/namespaces/default';
const TAINT = { key: 'stratus.test/relay', value: 'true', effect: 'NoSchedule' };
const NODE = `relay-${process.pid}`;
const POD = uniqueName('relayed');
type Json = any;
let api: Api;
let agent: ChildProcess;
const config = loadConfig();
const doc = createDocumentClient(config);
const relayUrl = () => inject('stack').env.STRATUS_KUBELET_RELAY_URL!;
const caCert = () => inject('stack').caCert;

/** Connects to the relay as one side; resolves with the socket once open, or the refused status. */
function dialSide(url: string, token: string | undefined): Promise<{ ws: WebSocket } | { status: number }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { ca: caCert(), headers: token ? { authorization: `Bearer ${token}` } : {}, perMessageDeflate: false });
    ws.on('error', reject);
    ws.once('open', () => resolve({ ws }));
    ws.once('unexpected-response', (_req, res) => {
      res.resume();
      resolve({ status: res.statusCode ?? 0 });
    });
  });
}
const sessionPath = (side: 'api' | 'node', session: string, tenant = 'default') => relaySideUrl(relayUrl(), side, tenant, session);
const pairing = { timeout: () => 'not paired in time', closed: (code: number, reason: string) => `closed before pairing (${code} ${reason})` };

beforeAll(async () => {
  api = Api.forTenant('default');
  agent = startNodeAgent(NODE, { taint: TAINT, resyncSeconds: 2, args: ['--relay-url', relayUrl()] });
  await eventually(async () => {
    const node = (await api.get(`/api/v1/nodes/${NODE}`)).body;
    return node?.status?.conditions?.some((c: Json) => c.type === 'Ready' && c.status === 'True') ? node : undefined;
  }, 60_000, `node ${NODE} Ready`);
  const script = 'echo hello-relay; mkdir -p /www && echo relay-web > /www/index.html && httpd -p 8080 -h /www; i=0; while true; do echo tick $i; i=$((i+1)); sleep 1; done';
  const r = await api.post(`${NS}/pods`, {
    metadata: { name: POD },
    spec: {
      nodeName: NODE,
      tolerations: [{ key: TAINT.key, operator: 'Exists', effect: TAINT.effect }],
      terminationGracePeriodSeconds: 1,
      containers: [{ name: 'main', image: IMAGE, command: ['sh', '-c', script] }],
    },
  });
  expect(r.status, r.text).toBe(201);
  await waitForPod(api, NS, POD, 'running', (pod) => pod.status?.phase === 'Running');
}, 120_000);

afterAll(async () => {
  await api.delete(`${NS}/pods/${POD}?gracePeriodSeconds=0`);
  if (agent.exitCode === null && agent.signalCode === null) {
    const exited = new Promise((r) => agent.once('exit', r));
    agent.kill('SIGTERM');
    await exited;
  }
  removeNodeContainers(NODE);
  await api.delete(`/api/v1/nodes/${NODE}`);
  doc.destroy();
});

describe('a node in relay mode', () => {
  it('reports the relay annotation and no kubelet endpoint, and listens on no TCP port', async () => {
    const node = (await api.get(`/api/v1/nodes/${NODE}`)).body;
    expect(node.metadata.annotations[KUBELET_RELAY_ANNOTATION]).toBe('true');
    expect(node.status.daemonEndpoints.kubeletEndpoint.Port).toBe(0);
    const listening = execFileSync('ss', ['-ltnpH'], { encoding: 'utf8' })
      .split('\n')
      .filter((l) => l.includes(`pid=${agent.pid},`));
    expect(listening).toEqual([]);
  });

  it('kubectl logs and logs -f go through the relay', async () => {
    const logs = await kubectl(['logs', POD]);
    expect(logs.stderr).toBe('');
    expect(logs.stdout).toMatch(/^hello-relay\n/);
    const follow = await startKubectl(['logs', '-f', POD], /tick (\d+)\n[^]*tick (\d+)\n/);
    follow.child.kill('SIGTERM');
    expect(Number(follow.match[2])).toBeGreaterThan(Number(follow.match[1]));
  }, 90_000);

  it('kubectl exec carries stdin and output both ways, and the exit code', async () => {
    const cat = await kubectl(['exec', '-i', POD, '--', 'sh', '-c', 'cat; echo done'], { input: 'hello\nthrough the relay\n' });
    expect(cat.stdout).toBe('hello\nthrough the relay\ndone\n');
    // More than one 32 KB relay frame each way.
    const big = 'x'.repeat(200_000);
    const count = await kubectl(['exec', '-i', POD, '--', 'wc', '-c'], { input: big });
    expect(count.stdout.trim()).toBe('200000');
    const failing = await kubectl(['exec', POD, '--', 'sh', '-c', 'exit 3']);
    expect(failing.code).toBe(3);
  }, 90_000);

  it('kubectl port-forward reaches the pod', async () => {
    const pf = await startKubectl(['port-forward', `pod/${POD}`, ':8080'], /Forwarding from 127\.0\.0\.1:(\d+) ->/);
    try {
      const first = await get(Number(pf.match[1]));
      const second = await get(Number(pf.match[1]));
      expect(first).toEqual({ status: 200, body: 'relay-web\n' });
      expect(second.body).toBe('relay-web\n');
    } finally {
      pf.child.kill('SIGTERM');
    }
  }, 90_000);

  it('pods/proxy reaches the pod', async () => {
    const r = await api.get(`${NS}/pods/${POD}:8080/proxy/`);
    expect(r.status, r.text).toBe(200);
    expect(r.text).toBe('relay-web\n');
  });

  it('metrics (kubectl top pod) are read through the relay', async () => {
    const top = await eventually(async () => {
      const r = await kubectl(['top', 'pod', POD, '--no-headers']);
      return r.code === 0 && r.stdout.includes(POD) ? r.stdout : undefined;
    }, 60_000, 'kubectl top pod');
    expect(top).toMatch(new RegExp(`^${POD}\\s+\\d+m\\s+\\d+Mi`));
  }, 90_000);

  it("the agent's own /metrics (nodes/NAME/proxy/metrics) is read through the relay", async () => {
    const r = await kubectl(['get', '--raw', `/api/v1/nodes/${NODE}/proxy/metrics`]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^kubelet_running_pods\\{[^}]*node="${NODE}"`, 'm'));
  });
});

describe('the relay refuses', () => {
  it("another node's credential for a session addressed to this node (403)", async () => {
    const { session } = await openRelaySession(doc, config, 'default', NODE);
    const other = await createNodeToken(doc, config, 'default', `other-${NODE}`);
    expect(await dialSide(sessionPath('node', session), other)).toEqual({ status: 403 });
  });

  it('a session id without a node credential (401), or with a user credential (403)', async () => {
    const { session } = await openRelaySession(doc, config, 'default', NODE);
    expect(await dialSide(sessionPath('node', session), undefined)).toEqual({ status: 401 });
    expect(await dialSide(sessionPath('node', session), 'st_not-a-token')).toEqual({ status: 401 });
    expect(await dialSide(sessionPath('node', session), inject('stack').adminToken)).toEqual({ status: 403 });
    // The API side needs the session's key.
    expect(await dialSide(sessionPath('api', session), 'wrong-key')).toEqual({ status: 401 });
  });

  it("the session through another cluster's URL (404)", async () => {
    const { session } = await openRelaySession(doc, config, 'default', NODE);
    const token = await createNodeToken(doc, config, 'default', NODE);
    expect(await dialSide(sessionPath('node', session, 'another'), token)).toEqual({ status: 404 });
  });

  it('an expired session (410) and a replayed one (409, then 404 once it ended)', async () => {
    const token = await createNodeToken(doc, config, 'default', NODE);
    const expired = await openRelaySession(doc, config, 'default', NODE, Date.now() - (RELAY_SESSION_TTL_SECONDS + 1) * 1000);
    expect(await dialSide(sessionPath('node', expired.session), token)).toEqual({ status: 410 });

    const { session, apiKey } = await openRelaySession(doc, config, 'default', NODE);
    const first = await dialSide(sessionPath('node', session), token);
    expect('ws' in first).toBe(true);
    expect(await dialSide(sessionPath('node', session), token)).toEqual({ status: 409 });
    const apiSide = await dialSide(sessionPath('api', session), apiKey);
    expect('ws' in apiSide).toBe(true);
    const closed = new Promise((r) => (first as { ws: WebSocket }).ws.once('close', r));
    (apiSide as { ws: WebSocket }).ws.close();
    await closed;
    await eventually(async () => ((await dialSide(sessionPath('node', session), token)) as { status?: number }).status === 404 || undefined, 10_000, 'session removed');
  });
});

describe('a node side that got through without the node serving key', () => {
  it("sees only TLS, and the API's TLS refuses it (the serving certificate must name the node)", async () => {
    // A stolen node credential gets past the relay; the thief serves a certificate of the same
    // cluster's node CA, but for another node (it has no key of NODE's).
    const store = new ObjectStore(doc, config);
    const token = await createNodeToken(doc, config, 'default', NODE);
    const pki = await clusterPki(doc, config, 'default');
    const { csr, key } = await nodeCsr('thief');
    const checked = await checkCsr(csr);
    if ('error' in checked) throw new Error(checked.error);
    const cert = await signNodeServingCert(pki, 'thief', checked.csr);

    const { session, apiKey } = await openRelaySession(doc, config, 'default', NODE);
    const thief = (await dialSide(sessionPath('node', session), token)) as { ws: WebSocket };
    const apiSide = (await dialSide(sessionPath('api', session), apiKey)) as { ws: WebSocket };
    // What the relay delivered to the thief, as it came (the TLS socket reads the same messages).
    const seen: { seq: number; bytes: Buffer }[] = [];
    thief.ws.on('message', (d: Buffer) => {
      const m = decodeDataMessage(d.toString());
      if (m) seen.push(m);
    });
    // Both sides say `ready`; the relay pairs them.
    const [thiefStream, apiStream] = await Promise.all([pairedRelayStream(thief.ws, 15_000, pairing), pairedRelayStream(apiSide.ws, 15_000, pairing)]);
    const served = new tls.TLSSocket(thiefStream, { isServer: true, key, cert, requestCert: true, rejectUnauthorized: false });
    served.on('error', () => undefined);
    const sawRequest = new Promise<boolean>((r) => {
      served.on('data', () => r(true));
      // The API gave up: the relay closes the thief's side.
      thief.ws.once('close', () => r(false));
    });

    const clientTls = await kubeletTls(store, 'default', NODE);
    const error = await new Promise<Error>((resolve) => {
      const socket = tls.connect({ socket: apiStream, servername: NODE, ca: clientTls.ca, cert: clientTls.cert, key: clientTls.key, rejectUnauthorized: true, checkServerIdentity: clientTls.checkServerIdentity });
      socket.once('secureConnect', () => {
        socket.write('GET /containerLogs/default/x/main HTTP/1.1\r\nhost: x\r\n\r\n');
        resolve(new Error('the handshake succeeded'));
      });
      socket.once('error', resolve);
      socket.once('close', () => apiStream.destroy());
    });
    expect(error.message).toMatch(/names "system:node:thief", not system:node:relay-/);
    expect(await sawRequest).toBe(false);
    const bytes = Buffer.concat(seen.sort((a, b) => a.seq - b.seq).map((m) => m.bytes));
    expect(bytes[0]).toBe(0x16); // a TLS handshake record, nothing readable
    expect(bytes.toString('latin1')).not.toMatch(/containerLogs|HTTP\/1\.1|authorization/i);
  });

  it('a Node a tenant made with the relay annotation gets nothing: no queue of its own, no session (500)', async () => {
    const fake = uniqueName('relay-fake');
    const pod = uniqueName('lure');
    expect((await api.post('/api/v1/nodes', { metadata: { name: fake, annotations: { [KUBELET_RELAY_ANNOTATION]: 'true' } }, spec: { taints: [{ key: 'stratus.test/evil', effect: 'NoSchedule' }] } })).status).toBe(201);
    try {
      expect((await api.post(`${NS}/pods`, { metadata: { name: pod }, spec: { nodeName: fake, containers: [{ name: 'main', image: IMAGE }] } })).status).toBe(201);
      const logs = await api.get(`${NS}/pods/${pod}/log`);
      expect(logs.status).toBe(500);
      expect(logs.body.message).toMatch(/has no queue to receive relay sessions on/);
    } finally {
      await api.delete(`${NS}/pods/${pod}?gracePeriodSeconds=0`);
      await api.delete(`/api/v1/nodes/${fake}`);
    }
  });
});
