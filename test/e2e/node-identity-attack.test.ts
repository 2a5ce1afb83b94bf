import net from 'node:net';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createJoinToken } from '../../shared/auth/join-tokens';
import { createNodeToken } from '../../shared/auth/node-identity';
import { loadConfig } from '../../shared/config';
import { createDocumentClient } from '../../shared/store/dynamo';
import { Api, uniqueName } from '../helpers/api';

/*
 * Issue #16, node identity. A tenant registers a Node whose status points at a listener this
 * test runs: the API must not hand it anything usable (it talks to a node only over mutual TLS,
 * trusting only a serving certificate of the cluster's node CA naming that Node), and what the
 * listener got, replayed against the real agent, must get nothing either. A join token is good
 * for joining only, and not once it has expired.
 */
const NS = '/api/v1/namespaces/default';
const FAKE = uniqueName('evil-node');
const POD = uniqueName('lure');
let api: Api;
let listener: net.Server;
const received: Buffer[] = [];

beforeAll(async () => {
  api = Api.forTenant('default');
  listener = net.createServer((socket) => {
    socket.on('data', (d: Buffer) => {
      received.push(d);
      // Whatever it is, answer nothing useful and hang up (the API gives up at once).
      socket.destroy();
    });
    socket.on('error', () => undefined);
  });
  await new Promise<void>((r) => listener.listen(0, '127.0.0.1', () => r()));
  const port = (listener.address() as net.AddressInfo).port;
  const node = await api.post('/api/v1/nodes', { metadata: { name: FAKE }, spec: { taints: [{ key: 'stratus.test/evil', effect: 'NoSchedule' }] } });
  expect(node.status, node.text).toBe(201);
  const st = await api.patch(`/api/v1/nodes/${FAKE}/status`, { status: { addresses: [{ type: 'InternalIP', address: '127.0.0.1' }], daemonEndpoints: { kubeletEndpoint: { Port: port } } } }, 'application/merge-patch+json');
  expect(st.status, st.text).toBe(200);
  const pod = await api.post(`${NS}/pods`, { metadata: { name: POD }, spec: { nodeName: FAKE, containers: [{ name: 'main', image: 'stratus-test/busybox:1.36' }] } });
  expect(pod.status, pod.text).toBe(201);
});

afterAll(async () => {
  await api.delete(`${NS}/pods/${POD}?gracePeriodSeconds=0`);
  await api.delete(`/api/v1/nodes/${FAKE}`);
  listener.close();
});

describe('a Node pointing at a tenant listener', () => {
  it('gets no usable secret from the API, and the API refuses to talk to it', async () => {
    const logs = await api.get(`${NS}/pods/${POD}/log`);
    expect(logs.status).toBe(500);
    const got = Buffer.concat(received);
    // A TLS ClientHello at most: never an HTTP request, a bearer credential or a path.
    expect(got.length).toBeGreaterThan(0);
    expect(got[0]).toBe(0x16);
    expect(got.toString('latin1')).not.toMatch(/authorization|bearer|containerLogs|HTTP\/1\.1/i);
  });

  it('a replay of what the listener received against the real agent gets nothing', async () => {
    const stack = inject('stack');
    const node = (await api.get(`/api/v1/nodes/${stack.nodeName}`)).body;
    const port = node.status.daemonEndpoints.kubeletEndpoint.Port as number;
    const answer = await new Promise<string>((resolve) => {
      const chunks: Buffer[] = [];
      const socket = net.connect(port, '127.0.0.1', () => socket.write(Buffer.concat(received)));
      socket.on('data', (d: Buffer) => chunks.push(d));
      socket.on('error', () => resolve(Buffer.concat(chunks).toString('latin1')));
      socket.on('close', () => resolve(Buffer.concat(chunks).toString('latin1')));
      setTimeout(() => socket.destroy(), 3000);
    });
    expect(answer).not.toMatch(/HTTP\/1\.1 200/);
  });
});

describe('a node identity', () => {
  it('cannot patch another Node (NodeRestriction, 403 in its words)', async () => {
    const config = loadConfig();
    const stack = inject('stack');
    const token = await createNodeToken(createDocumentClient(config), config, 'default', 'node-a');
    const r = await Api.forTenant('default', token).patch(`/api/v1/nodes/${stack.nodeName}`, { metadata: { labels: { owned: 'yes' } } });
    expect(r.status).toBe(403);
    expect(r.body.message).toBe(`nodes "${stack.nodeName}" is forbidden: node "node-a" is not allowed to modify node "${stack.nodeName}"`);
  });
});

describe('join tokens', () => {
  const joinPath = `/stratus/v1/node-join`;

  it('a bootstrap token cannot list pods (403)', async () => {
    const stack = inject('stack');
    const r = await Api.forTenant('default', stack.joinToken).get(`${NS}/pods`);
    expect(r.status).toBe(403);
    expect(r.body.message).toContain('cannot list resource "pods"');
  });

  it('an expired join token is refused with 401', async () => {
    const config = loadConfig();
    const { token } = await createJoinToken(createDocumentClient(config), config, 'default', -60);
    const r = await Api.forTenant('default', token).post(joinPath, { nodeName: 'late', csr: 'x' });
    expect(r.status).toBe(401);
  });

  it('only a bootstrapper may join (an admin token is 403)', async () => {
    const r = await api.post(joinPath, { nodeName: 'admin-node', csr: 'x' });
    expect(r.status).toBe(403);
  });
});
