import { execFile } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { connect } from 'node:tls';
import { X509Certificate } from 'node:crypto';
import { promisify } from 'node:util';
import Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createTenantTokens } from '../../infra/local/stack';
import { loadConfig } from '../../shared/config';
import { createDocumentClient } from '../../shared/store/dynamo';
import { Api, eventually, uniqueName } from '../helpers/api';
import { ensureTestImages, TEST_IMAGES } from '../helpers/images';

const run = promisify(execFile);

/*
 * The API as pods see it (issues #15 and #16): the stack listens on one pod-facing host address
 * (docker0's) with a port of its own, the `kubernetes` Service's Endpoints name it, its serving
 * certificate names the Service, and the ca.crt pods get verifies it. An in-cluster client
 * (@kubernetes/client-node's loadFromCluster, in the stratus-test/node image) lists its
 * namespace's pods with a ServiceAccount bound to view and is refused Secrets. A request without
 * /clusters/NAME acts in its credential's cluster, never another. Pods reach that one host port
 * and none of the stack's others (DynamoDB Local, the SQS emulator, the API's 127.0.0.1 port).
 */

const stack = inject('stack');
const podAddress = stack.env.STRATUS_API_POD_ADDRESS!;
const podPort = Number(stack.env.STRATUS_API_POD_PORT);
const portOf = (url: string) => Number(new URL(url).port);
const docker = new Docker();
const admin = Api.forTenant('default');

/** Runs a command in a pod's container (docker exec), answering its exit code and output. */
async function execIn(uid: string, container: string, cmd: string[]): Promise<{ code: number; out: string }> {
  const [c] = await docker.listContainers({ filters: { label: [`io.stratus.pod.uid=${uid}`, `io.stratus.container.name=${container}`] } });
  if (!c) throw new Error(`no container ${container} for pod ${uid}`);
  try {
    const { stdout, stderr } = await run('docker', ['exec', c.Id, ...cmd], { timeout: 20_000 });
    return { code: 0, out: stdout + stderr };
  } catch (e) {
    const err = e as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof err.code === 'number' ? err.code : 1, out: `${err.stdout ?? ''}${err.stderr ?? ''}` };
  }
}

/** Whether a TCP connection from the pod to host:port opens (busybox nc, 3 s). */
async function connects(uid: string, host: string, port: number): Promise<boolean> {
  const r = await execIn(uid, 'main', ['sh', '-c', `nc -w 3 ${host} ${port} </dev/null >/dev/null 2>&1 && echo open || echo closed`]);
  return r.out.trim() === 'open';
}

/** The certificate served at host:port (TLS, verified with the stack's CA for `servername`). */
function servedCertificate(host: string, port: number, servername: string): Promise<X509Certificate> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port, ca: stack.caCert, servername, rejectUnauthorized: true }, () => {
      const pem = socket.getPeerX509Certificate();
      socket.end();
      if (pem) resolve(pem);
      else reject(new Error('no peer certificate'));
    });
    socket.on('error', reject);
  });
}

describe('the API as pods reach it', { timeout: 300_000 }, () => {
  const ns = uniqueName('incluster').slice(0, 50);
  let probe: { uid: string; ip: string };

  beforeAll(async () => {
    ensureTestImages();
    expect((await admin.post('/api/v1/namespaces', { metadata: { name: ns } })).status).toBe(201);
    const pod = await admin.post(`/api/v1/namespaces/${ns}/pods`, {
      metadata: { name: 'probe' },
      spec: {
        nodeName: stack.nodeName,
        enableServiceLinks: false,
        terminationGracePeriodSeconds: 1,
        containers: [{ name: 'main', image: TEST_IMAGES.busybox, imagePullPolicy: 'Never', command: ['sleep', '3600'] }],
      },
    });
    expect(pod.status, pod.text).toBe(201);
    probe = await eventually(async () => {
      const p = (await admin.get(`/api/v1/namespaces/${ns}/pods/probe`)).body as { metadata: { uid: string }; status?: { phase?: string; podIP?: string } };
      return p.status?.phase === 'Running' && p.status.podIP ? { uid: p.metadata.uid, ip: p.status.podIP } : undefined;
    }, 120_000, 'probe pod running');
  }, 180_000);

  afterAll(async () => {
    await admin.delete(`/api/v1/namespaces/${ns}`);
  });

  it('the kubernetes Service\'s Endpoints and EndpointSlice name the pod-facing address and port', async () => {
    expect(podAddress).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    expect(podAddress).not.toMatch(/^127\./);
    expect(podPort).toBeGreaterThan(0);
    const ep = (await admin.get('/api/v1/namespaces/default/endpoints/kubernetes')).body;
    expect(ep.subsets).toEqual([{ addresses: [{ ip: podAddress }], ports: [{ name: 'https', port: podPort, protocol: 'TCP' }] }]);
    const slice = (await admin.get('/apis/discovery.k8s.io/v1/namespaces/default/endpointslices/kubernetes')).body;
    expect(slice.endpoints.map((e: { addresses: string[] }) => e.addresses)).toEqual([[podAddress]]);
    expect(slice.ports).toEqual([{ name: 'https', port: podPort, protocol: 'TCP' }]);
    const svc = (await admin.get('/api/v1/namespaces/default/services/kubernetes')).body;
    expect(svc.spec.clusterIP).toBe('10.96.0.1');
    expect(svc.spec.ports).toEqual([expect.objectContaining({ name: 'https', port: 443, targetPort: podPort })]);
  });

  it('serves the same API there, with a certificate for the kubernetes Service\'s names signed by the pods\' ca.crt', async () => {
    const cert = await servedCertificate(podAddress, podPort, 'kubernetes.default.svc');
    const sans = (cert.subjectAltName ?? '').split(/,\s*/);
    for (const dns of ['kubernetes', 'kubernetes.default', 'kubernetes.default.svc', 'kubernetes.default.svc.cluster.local', 'localhost']) expect(sans).toContain(`DNS:${dns}`);
    for (const ip of ['10.96.0.1', podAddress, '127.0.0.1']) expect(sans).toContain(`IP Address:${ip}`);
    // The CA pods get in kube-root-ca.crt (and so in the projected volume's ca.crt) signed it.
    const rootCa = (await admin.get(`/api/v1/namespaces/${ns}/configmaps/kube-root-ca.crt`)).body.data['ca.crt'] as string;
    expect(cert.verify(new X509Certificate(rootCa).publicKey)).toBe(true);
    const viaPodAddress = await new Api(`https://${podAddress}:${podPort}`, stack.adminToken, stack.caCert).get(`/api/v1/namespaces/${ns}/pods/probe`);
    expect(viaPodAddress.status, viaPodAddress.text).toBe(200);
  });

  it('a pod reaches the pod-facing API port and no other port of the stack, on any host address', async () => {
    const { stdout } = await run('ip', ['-4', '-o', 'route', 'get', '1.1.1.1']);
    const hostIp = /src (\S+)/.exec(stdout)?.[1];
    expect(hostIp).toBeDefined();
    const gateway = probe.ip.replace(/\.\d+$/, '.1');
    // A listener on every host address: the host port filter, not the bind address, keeps pods off it.
    const http = createServer((_req, res) => res.end('host\n'));
    await new Promise<void>((resolve) => http.listen(0, '0.0.0.0', resolve));
    const wildcardPort = (http.address() as AddressInfo).port;
    try {
      expect(await connects(probe.uid, podAddress, podPort)).toBe(true);
      const ports = { dynamodb: portOf(stack.env.AWS_ENDPOINT_URL_DYNAMODB!), sqs: portOf(stack.env.AWS_ENDPOINT_URL_SQS!), apiLoopback: portOf(stack.apiUrl), wildcard: wildcardPort };
      for (const host of [podAddress, hostIp!, gateway, '127.0.0.1']) {
        for (const [what, port] of Object.entries(ports)) expect(await connects(probe.uid, host, port), `${what} at ${host}:${port}`).toBe(false);
      }
      // The pod-facing port is open at its one address only.
      for (const host of [hostIp!, gateway]) expect(await connects(probe.uid, host, podPort), `${host}:${podPort}`).toBe(false);
    } finally {
      http.close();
    }
  });

  it('every container gets KUBERNETES_SERVICE_* for 10.96.0.1:443, even with enableServiceLinks false', async () => {
    const env = (await execIn(probe.uid, 'main', ['env'])).out.split('\n');
    for (const line of [
      'KUBERNETES_SERVICE_HOST=10.96.0.1',
      'KUBERNETES_SERVICE_PORT=443',
      'KUBERNETES_SERVICE_PORT_HTTPS=443',
      'KUBERNETES_PORT=tcp://10.96.0.1:443',
      'KUBERNETES_PORT_443_TCP=tcp://10.96.0.1:443',
      'KUBERNETES_PORT_443_TCP_PROTO=tcp',
      'KUBERNETES_PORT_443_TCP_PORT=443',
      'KUBERNETES_PORT_443_TCP_ADDR=10.96.0.1',
    ])
      expect(env).toContain(line);
  });

  it('client-node\'s in-cluster config in a pod lists its namespace\'s pods with view, and is refused Secrets (403)', async () => {
    expect((await admin.post(`/api/v1/namespaces/${ns}/serviceaccounts`, { metadata: { name: 'reader' } })).status).toBe(201);
    const binding = await admin.post(`/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/rolebindings`, {
      metadata: { name: 'reader-view' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'view' },
      subjects: [{ kind: 'ServiceAccount', name: 'reader', namespace: ns }],
    });
    expect(binding.status, binding.text).toBe(201);
    // The RBAC cache's staleness (1 s) before the pod asks.
    await new Promise((r) => setTimeout(r, 1_500));
    const created = await admin.post(`/api/v1/namespaces/${ns}/pods`, {
      metadata: { name: 'client' },
      spec: {
        nodeName: stack.nodeName,
        serviceAccountName: 'reader',
        restartPolicy: 'Never',
        containers: [
          {
            name: 'client',
            image: TEST_IMAGES.node,
            imagePullPolicy: 'Never',
            command: ['node', '/opt/stratus/in-cluster-client.cjs'],
            // 10.96.0.1 needs the service proxy (another slice): straight at its endpoint meanwhile.
            env: [
              { name: 'KUBERNETES_SERVICE_HOST', value: podAddress },
              { name: 'KUBERNETES_SERVICE_PORT', value: String(podPort) },
            ],
          },
        ],
      },
    });
    expect(created.status, created.text).toBe(201);
    const phase = await eventually(async () => {
      const p = (await admin.get(`/api/v1/namespaces/${ns}/pods/client`)).body as { status?: { phase?: string } };
      return p.status?.phase === 'Succeeded' || p.status?.phase === 'Failed' ? p.status.phase : undefined;
    }, 120_000, 'client pod done');
    const log = await admin.get(`/api/v1/namespaces/${ns}/pods/client/log`);
    expect(log.status, log.text).toBe(200);
    expect(phase, log.text).toBe('Succeeded');
    const out = JSON.parse(log.text.trim().split('\n').pop()!) as { server: string; pods?: string[]; podsStatus: number; secretsStatus: number; secretsReason?: string; namespace: string };
    expect(out.server).toBe(`https://${podAddress}:${podPort}`);
    expect(out.namespace).toBe(ns);
    expect(out.podsStatus, JSON.stringify(out)).toBe(200);
    expect(out.pods).toEqual(expect.arrayContaining(['probe', 'client']));
    expect(out.secretsStatus).toBe(403);
    expect(out.secretsReason).toBe('Forbidden');
  });
});

describe('a request without /clusters/NAME acts in its credential\'s cluster', { timeout: 120_000 }, () => {
  it('a bearer token of cluster A acts in A without the prefix, and is unknown (401) at /clusters/default', async () => {
    // Prepare
    const config = loadConfig();
    const tenant = uniqueName('nopfx').replace(/[^a-z0-9-]/g, '').slice(0, 40);
    const { adminToken } = await createTenantTokens(createDocumentClient(config), config, tenant);
    const bare = new Api(stack.apiUrl, adminToken, stack.caCert);
    const name = uniqueName('only-in-a');
    // Act
    const created = await bare.post('/api/v1/namespaces/default/configmaps', { metadata: { name }, data: { k: 'v' } });
    // Assess
    expect(created.status, created.text).toBe(201);
    expect((await Api.forTenant(tenant, adminToken).get(`/api/v1/namespaces/default/configmaps/${name}`)).status).toBe(200);
    expect((await admin.get(`/api/v1/namespaces/default/configmaps/${name}`)).status).toBe(404);
    const cross = await new Api(`${stack.apiUrl}/clusters/default`, adminToken, stack.caCert).get('/api/v1/namespaces/default/configmaps');
    expect(cross.status).toBe(401);
    expect(cross.body.message).toBe('Unauthorized');
    // and default's own admin token without the prefix stays in default
    expect((await new Api(stack.apiUrl, stack.adminToken, stack.caCert).get(`/api/v1/namespaces/default/configmaps/${name}`)).status).toBe(404);
  });

  it('a ServiceAccount token of cluster A acts in A without the prefix, and is unknown (401) at /clusters/default', async () => {
    // Prepare
    const config = loadConfig();
    const tenant = uniqueName('nopfxsa').replace(/[^a-z0-9-]/g, '').slice(0, 40);
    const { adminToken } = await createTenantTokens(createDocumentClient(config), config, tenant);
    const a = Api.forTenant(tenant, adminToken);
    expect((await a.post('/api/v1/namespaces/default/serviceaccounts', { metadata: { name: 'robot' } })).status).toBe(201);
    expect(
      (await a.post('/apis/rbac.authorization.k8s.io/v1/namespaces/default/rolebindings', {
        metadata: { name: 'robot-view' },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'view' },
        subjects: [{ kind: 'ServiceAccount', name: 'robot', namespace: 'default' }],
      })).status,
    ).toBe(201);
    const name = uniqueName('sa-only-in-a');
    expect((await a.post('/api/v1/namespaces/default/configmaps', { metadata: { name } })).status).toBe(201);
    const tr = await a.post('/api/v1/namespaces/default/serviceaccounts/robot/token', { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: {} });
    expect(tr.status, tr.text).toBe(201);
    const jwt = tr.body.status.token as string;
    // Act
    const bare = new Api(stack.apiUrl, jwt, stack.caCert);
    const got = await eventually(async () => {
      const r = await bare.get(`/api/v1/namespaces/default/configmaps/${name}`);
      return r.status === 403 ? undefined : r;
    }, 10_000, 'the view binding');
    // Assess
    expect(got.status, got.text).toBe(200);
    expect(got.body.metadata.name).toBe(name);
    const cross = await new Api(`${stack.apiUrl}/clusters/default`, jwt, stack.caCert).get('/api/v1/namespaces/default/configmaps');
    expect(cross.status).toBe(401);
    expect(cross.body.message).toBe('Unauthorized');
    // The view binding does not write: the token is still A's robot, not an admin anywhere.
    expect((await bare.post('/api/v1/namespaces/default/configmaps', { metadata: { name: `${name}-w` } })).status).toBe(403);
  });
});
