/**
 * NodeAgent end to end on one host: a small fake of the Kubernetes REST API (only the calls a
 * kubelet makes, under a /clusters/default prefix), the fauxqs SQS emulator, and real Docker.
 * The real API is covered by the stack's own e2e tests; this pins the agent's side of the contract.
 */
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import Docker from 'dockerode';
import { startFauxqs, type FauxqsServer } from 'fauxqs';
import { randomBytes, randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nodeDeadLetterQueueName, nodeQueueName } from '../../shared/config';
import { NodeAgent } from '../../node-agent/agent';
import { KubeApiClient } from '../../node-agent/api-client';
import { DockerRuntime, LABELS } from '../../node-agent/docker-runtime';
import { ApiEventRecorder } from '../../node-agent/events';
import { silentLogger } from '../../node-agent/log';
import type { HostFacts } from '../../node-agent/node-status';
import { PlacementQueue } from '../../node-agent/placement-queue';
import { PlacementKeyring } from '../../node-agent/placement-key';
import { sealPlacement, type PlacementKey } from '../../shared/placement-seal';
import { ensureTestImages, TEST_IMAGES } from '../helpers/images';

type Json = Record<string, unknown>;
const docker = new Docker();
const NODE = `itest-agent-${randomUUID().slice(0, 8)}`;
const TENANT = 'default';
const PREFIX = 'itest';

/** RFC 7386 JSON merge patch. */
function mergePatch(target: unknown, patch: unknown): unknown {
  if (typeof patch !== 'object' || patch === null || Array.isArray(patch)) return patch;
  const out: Json = typeof target === 'object' && target !== null && !Array.isArray(target) ? { ...(target as Json) } : {};
  for (const [k, v] of Object.entries(patch as Json)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

/** The API calls a kubelet makes, over an in-memory store. */
class FakeApi {
  readonly nodes = new Map<string, Json>();
  readonly leases = new Map<string, Json>();
  readonly pods = new Map<string, Json>(); // ns/name
  readonly events: Json[] = [];
  readonly deletes: { path: string; body: unknown }[] = [];
  /** Every request served, as "METHOD path" (what a test counts calls with). */
  readonly requests: string[] = [];
  private rv = 1;
  server!: http.Server;
  url = '';

  async start(): Promise<void> {
    this.server = http.createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        const [code, out] = this.route(req.method ?? 'GET', new URL(req.url ?? '/', 'http://x'), body ? JSON.parse(body) : undefined, req.headers);
        res.writeHead(code, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify(out));
      });
    });
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/clusters/default`;
  }

  private status(code: number, reason: string, message: string): [number, Json] {
    return [code, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code }];
  }

  private stamp(o: Json): Json {
    const meta = (o.metadata ?? {}) as Json;
    return { ...o, metadata: { ...meta, uid: meta.uid ?? randomUUID(), resourceVersion: String(this.rv++) } };
  }

  private route(method: string, url: URL, body: unknown, headers: http.IncomingHttpHeaders): [number, unknown] {
    if (headers.authorization !== 'Bearer node-token') return this.status(401, 'Unauthorized', 'Unauthorized');
    const p = url.pathname.replace(/^\/clusters\/default/, '');
    this.requests.push(`${method} ${p}`);
    let m: RegExpExecArray | null;
    if (method === 'POST' && p === '/api/v1/nodes') {
      const n = this.stamp(body as Json);
      this.nodes.set((n.metadata as Json).name as string, n);
      return [201, n];
    }
    if ((m = /^\/api\/v1\/nodes\/([^/]+)(\/status)?$/.exec(p))) {
      const n = this.nodes.get(m[1]);
      if (!n) return this.status(404, 'NotFound', `nodes "${m[1]}" not found`);
      if (method === 'GET') return [200, n];
      if (method === 'PATCH') {
        if (headers['content-type'] !== 'application/merge-patch+json') return this.status(415, 'UnsupportedMediaType', 'bad type');
        const next = this.stamp(mergePatch(n, body) as Json);
        this.nodes.set(m[1], next);
        return [200, next];
      }
    }
    if ((m = /^\/apis\/coordination\.k8s\.io\/v1\/namespaces\/kube-node-lease\/leases(?:\/([^/]+))?$/.exec(p))) {
      if (method === 'POST') {
        const l = this.stamp(body as Json);
        this.leases.set((l.metadata as Json).name as string, l);
        return [201, l];
      }
      const l = this.leases.get(m[1]);
      if (!l) return this.status(404, 'NotFound', 'lease not found');
      if (method === 'GET') return [200, l];
      if (method === 'PUT') {
        const b = body as Json;
        if ((b.metadata as Json).resourceVersion !== (l.metadata as Json).resourceVersion) return this.status(409, 'Conflict', 'the object has been modified');
        const next = this.stamp(b);
        this.leases.set(m[1], next);
        return [200, next];
      }
    }
    if (method === 'GET' && p === '/api/v1/pods') {
      const node = (url.searchParams.get('fieldSelector') ?? '').replace('spec.nodeName=', '');
      const items = [...this.pods.values()].filter((x) => (x.spec as Json).nodeName === node);
      return [200, { kind: 'PodList', apiVersion: 'v1', metadata: { resourceVersion: String(this.rv) }, items }];
    }
    if (method === 'POST' && (m = /^\/api\/v1\/namespaces\/([^/]+)\/events$/.exec(p))) {
      this.events.push(body as Json);
      return [201, body];
    }
    if ((m = /^\/api\/v1\/namespaces\/([^/]+)\/pods\/([^/]+)(\/status)?$/.exec(p))) {
      const key = `${m[1]}/${m[2]}`;
      const pod = this.pods.get(key);
      if (!pod) return this.status(404, 'NotFound', `pods "${m[2]}" not found`);
      if (method === 'GET') return [200, pod];
      if (method === 'PATCH' && m[3]) {
        const next = this.stamp(mergePatch(pod, body) as Json);
        this.pods.set(key, next);
        return [200, next];
      }
      if (method === 'DELETE') {
        this.deletes.push({ path: p, body });
        this.pods.delete(key);
        return [200, pod];
      }
    }
    return this.status(404, 'NotFound', `no route ${method} ${p}`);
  }

  /** Changes a pod as a client would: the result gets a new resourceVersion. */
  updatePod(name: string, change: (pod: Json) => Json): Json {
    const next = this.stamp(change(this.pods.get(`default/${name}`)!));
    this.pods.set(`default/${name}`, next);
    return next;
  }

  addPod(name: string, containers: Json[]): Json {
    const pod = this.stamp({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name, namespace: 'default' },
      spec: { nodeName: NODE, restartPolicy: 'Always', terminationGracePeriodSeconds: 1, containers },
    });
    this.pods.set(`default/${name}`, pod);
    return pod;
  }
}

const host: HostFacts = {
  hostname: 'itest-host',
  internalIP: '127.0.0.1',
  cpus: 2,
  memoryBytes: 4 * 2 ** 30,
  kernelVersion: '6.1.0',
  osImage: 'Test Linux',
  architecture: 'amd64',
  containerRuntimeVersion: 'docker://20.10',
  machineID: 'm',
  bootID: 'b',
};

let fake: FakeApi;
let sqsServer: FauxqsServer;
let sqs: SQSClient;
let agent: NodeAgent;
let queueUrl: string;

async function waitFor<T>(what: string, fn: () => T | undefined | Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const send = (body: unknown) => sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: typeof body === 'string' ? body : JSON.stringify(body) }));
const syncMessage = (pod: Json) => ({ kind: 'sync', tenant: TENANT, namespace: 'default', name: (pod.metadata as Json).name, uid: (pod.metadata as Json).uid });
/** The node's placement key (the API would serve it: shared/auth/placement-keys.ts). */
const placementKey: PlacementKey = { keyId: 'feed01', key: randomBytes(32) };
const seal = (message: Json) => sealPlacement(message as Json & { tenant: string }, { cluster: TENANT, nodeName: NODE }, placementKey);
/** A message as the scheduler sends it now: with the pod, sealed for this node. */
const carryingMessage = (pod: Json) => seal({ ...syncMessage(pod), pod });
const queueDepth = () => {
  const q = sqsServer.inspectQueue(nodeQueueName(PREFIX, TENANT, NODE));
  return q ? q.messages.ready.length + q.messages.inflight.length + q.messages.delayed.length : -1;
};

beforeAll(async () => {
  ensureTestImages();
  fake = new FakeApi();
  await fake.start();
  sqsServer = await startFauxqs({ port: 0, logger: false });
  sqs = new SQSClient({
    region: 'us-east-1',
    endpoint: `http://127.0.0.1:${sqsServer.port}`,
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
  });
  const api = new KubeApiClient({ server: fake.url, token: 'node-token' });
  const runtime = new DockerRuntime({ docker, nodeName: NODE, tenant: TENANT, hostIP: host.internalIP, pauseImage: TEST_IMAGES.pause, recorder: new ApiEventRecorder(api, NODE, silentLogger) });
  const queue = new PlacementQueue({
    sqs,
    queueName: nodeQueueName(PREFIX, TENANT, NODE),
    deadLetterQueueName: nodeDeadLetterQueueName(PREFIX, TENANT, NODE),
    log: silentLogger,
    waitTimeSeconds: 1,
    keys: new PlacementKeyring({ cluster: TENANT, nodeName: NODE, fetch: async () => placementKey, log: silentLogger }),
  });
  // A long resync period: these tests must pass on SQS messages alone.
  agent = new NodeAgent({ api, runtime, nodeName: NODE, tenant: TENANT, host, queue, log: silentLogger, resyncSeconds: 3600 });
  await agent.start();
  queueUrl = (await queue.ensure());
}, 120_000);

afterAll(async () => {
  await agent?.stop();
  await sqsServer?.stop();
  fake?.server.close();
  const left = await docker.listContainers({ all: true, filters: { label: [`${LABELS.node}=${NODE}`] } });
  await Promise.all(left.map((c) => docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined)));
});

describe('NodeAgent', () => {
  it('registers a Ready node with capacity, labels and nodeInfo, and a Lease', () => {
    // Assess
    const node = fake.nodes.get(NODE) as { metadata: Json; status: Json };
    expect(node.metadata.labels).toMatchObject({ 'kubernetes.io/hostname': NODE, 'kubernetes.io/os': 'linux', 'kubernetes.io/arch': 'amd64' });
    expect(node.status.capacity).toEqual({ cpu: '2', memory: '4194304Ki', pods: '110' });
    expect(node.status.conditions).toContainEqual(expect.objectContaining({ type: 'Ready', status: 'True', reason: 'KubeletReady' }));
    expect(node.status.nodeInfo).toMatchObject({ kubeletVersion: 'stratus-0.1.0', containerRuntimeVersion: 'docker://20.10', operatingSystem: 'linux' });
    const lease = fake.leases.get(NODE) as { spec: Json };
    expect(lease.spec).toMatchObject({ holderIdentity: NODE, leaseDurationSeconds: 40 });
    expect(lease.spec.renewTime).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    const redrive = JSON.parse(sqsServer.inspectQueue(nodeQueueName(PREFIX, TENANT, NODE))?.attributes.RedrivePolicy ?? '{}');
    expect(redrive).toMatchObject({ maxReceiveCount: expect.anything(), deadLetterTargetArn: expect.stringContaining(nodeDeadLetterQueueName(PREFIX, TENANT, NODE)) });
    expect(Number(redrive.maxReceiveCount)).toBe(5);
  });

  it('runs a pod named in a placement message, patches its status, and deletes the message', async () => {
    // Prepare
    const pod = fake.addPod('web', [{ name: 'main', image: TEST_IMAGES.busybox, command: ['sleep', '3600'] }]);

    // Act
    await send(syncMessage(pod));

    // Assess
    const running = await waitFor('pod Running', () => {
      const s = fake.pods.get('default/web')?.status as Json | undefined;
      return s?.phase === 'Running' ? s : undefined;
    });
    expect(running.podIP).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    await waitFor('message deleted', () => queueDepth() === 0);
    await waitFor('Started event', () => fake.events.some((e) => e.reason === 'Started' && (e.involvedObject as Json).name === 'web'));
    const started = fake.events.find((e) => e.reason === 'Started')!;
    expect(started).toMatchObject({ type: 'Normal', source: { component: 'kubelet', host: NODE }, reportingComponent: 'kubelet', count: 1 });
  });

  it('deletes a malformed message without crashing', async () => {
    // Act
    await send('{"kind":"sync","name":42}');
    await send('not json');

    // Assess
    await waitFor('malformed messages deleted', () => queueDepth() === 0);
  });

  it('kills a pod with deletionTimestamp, then removes the pod with gracePeriodSeconds 0', async () => {
    // Prepare
    const pod = fake.addPod('bye', [{ name: 'main', image: TEST_IMAGES.busybox, command: ['sleep', '3600'] }]);
    await send(syncMessage(pod));
    await waitFor('pod Running', () => (fake.pods.get('default/bye')?.status as Json | undefined)?.phase === 'Running');
    const uid = (pod.metadata as Json).uid as string;
    const current = fake.pods.get('default/bye')!;
    fake.pods.set('default/bye', { ...current, metadata: { ...(current.metadata as Json), deletionTimestamp: new Date().toISOString(), deletionGracePeriodSeconds: 1 } });

    // Act
    await send(syncMessage(pod));

    // Assess
    await waitFor('pod removed', () => !fake.pods.has('default/bye'));
    expect(fake.deletes.at(-1)).toEqual({
      path: '/api/v1/namespaces/default/pods/bye',
      // As the kubelet: grace 0, and only the pod with this uid (never a namesake created since).
      body: { kind: 'DeleteOptions', apiVersion: 'v1', gracePeriodSeconds: 0, preconditions: { uid } },
    });
    expect(await docker.listContainers({ all: true, filters: { label: [`${LABELS.podUid}=${uid}`] } })).toHaveLength(0);
  });

  it('kills containers of a pod the API no longer has, on a message (404) and on resync', async () => {
    // Prepare
    const a = fake.addPod('gone-a', [{ name: 'main', image: TEST_IMAGES.busybox, command: ['sleep', '3600'] }]);
    const b = fake.addPod('gone-b', [{ name: 'main', image: TEST_IMAGES.busybox, command: ['sleep', '3600'] }]);
    await send(syncMessage(a));
    await send(syncMessage(b));
    await waitFor('pods Running', () => ['gone-a', 'gone-b'].every((n) => (fake.pods.get(`default/${n}`)?.status as Json | undefined)?.phase === 'Running'));
    fake.pods.delete('default/gone-a');
    fake.pods.delete('default/gone-b');
    const count = async (pod: Json) => (await docker.listContainers({ all: true, filters: { label: [`${LABELS.podUid}=${String((pod.metadata as Json).uid)}`] } })).length;

    // Act
    await send(syncMessage(a));
    await waitFor('gone-a killed', async () => (await count(a)) === 0);
    await agent.resync();

    // Assess
    expect(await count(a)).toBe(0);
    expect(await count(b)).toBe(0);
  });
});


describe('NodeAgent with the pod carried in its placement message', () => {
  const podRequests = (name: string, from: number) => fake.requests.slice(from).filter((r) => r.includes(`/pods/${name}`));
  const podEvents = (name: string) => fake.events.filter((e) => (e.involvedObject as Json).name === name).map((e) => e.reason);
  const containersOf = async (uid: string) => docker.listContainers({ all: true, filters: { label: [`${LABELS.podUid}=${uid}`] } });

  it('runs and removes a pod from the pods its messages carry, without one GET of the pod', async () => {
    // Prepare
    const pod = fake.addPod('carried', [{ name: 'main', image: TEST_IMAGES.busybox, command: ['sleep', '3600'] }]);
    const uid = (pod.metadata as Json).uid as string;
    const from = fake.requests.length;

    // Act: bind message, then (once it runs) the deletion's message
    await send(carryingMessage(pod));
    await waitFor('pod Running', () => (fake.pods.get('default/carried')?.status as Json | undefined)?.phase === 'Running');
    await waitFor('message deleted', () => queueDepth() === 0);
    const terminating = fake.updatePod('carried', (p) => ({ ...p, metadata: { ...(p.metadata as Json), deletionTimestamp: new Date().toISOString(), deletionGracePeriodSeconds: 1 } }));
    await send(carryingMessage(terminating));
    await waitFor('pod removed', () => !fake.pods.has('default/carried'));
    await waitFor('containers removed', async () => (await containersOf(uid)).length === 0);
    await waitFor('Killing event', () => podEvents('carried').includes('Killing'));

    // Assess: the kubelet's Events, one status patch, the delete, and no read of the pod, neither
    // for the messages nor for the Docker events (container started, died) that followed them.
    expect(podRequests('carried', from)).toEqual(['PATCH /api/v1/namespaces/default/pods/carried/status', 'DELETE /api/v1/namespaces/default/pods/carried']);
    expect(podEvents('carried')).toEqual(['Pulled', 'Created', 'Started', 'Killing']);
  });

  it('ignores a carried pod older than the one it acted on, and messages for a pod it removed', async () => {
    // Prepare: a pod started from its message (the agent now knows it as its status patch left it)
    const pod = fake.addPod('stale', [{ name: 'main', image: TEST_IMAGES.busybox, command: ['sleep', '3600'] }]);
    const uid = (pod.metadata as Json).uid as string;
    await send(carryingMessage(pod));
    await waitFor('pod Running', () => (fake.pods.get('default/stale')?.status as Json | undefined)?.phase === 'Running');
    await waitFor('message deleted', () => queueDepth() === 0);
    const from = fake.requests.length;

    // Act: the bind message again (SQS redelivers), carrying the pod without the status the agent
    // patched; used, it would make the agent patch that status again.
    await send(carryingMessage(pod));
    await waitFor('message deleted', () => queueDepth() === 0);

    // Assess: neither a read nor a write of the pod
    expect(podRequests('stale', from)).toEqual([]);
    expect(fake.pods.get('default/stale')!.status).toMatchObject({ phase: 'Running' });

    // Act: remove it, then the old message once more (it would start the pod again)
    const terminating = fake.updatePod('stale', (p) => ({ ...p, metadata: { ...(p.metadata as Json), deletionTimestamp: new Date().toISOString(), deletionGracePeriodSeconds: 1 } }));
    await send(carryingMessage(terminating));
    await waitFor('pod removed', () => !fake.pods.has('default/stale'));
    await waitFor('containers removed', async () => (await containersOf(uid)).length === 0);
    const afterRemoval = fake.requests.length;
    await send(carryingMessage(pod));
    await waitFor('message deleted', () => queueDepth() === 0);

    // Assess: ignored (no request, no container); a message without a pod still reads the API
    expect(podRequests('stale', afterRemoval)).toEqual([]);
    expect(await containersOf(uid)).toHaveLength(0);
  });

  it('reads the pod from the API when the carried pod is not that pod or the message carries none', async () => {
    // Prepare
    const pod = fake.addPod('mismatch', [{ name: 'main', image: TEST_IMAGES.busybox, command: ['sleep', '3600'] }]);
    const from = fake.requests.length;
    const other = { ...pod, metadata: { ...(pod.metadata as Json), uid: randomUUID() } };

    // Act: a message whose pod has another uid than the message names
    await send(seal({ ...syncMessage(pod), pod: other }));
    await waitFor('pod Running', () => (fake.pods.get('default/mismatch')?.status as Json | undefined)?.phase === 'Running');
    await waitFor('message deleted', () => queueDepth() === 0);

    // Assess: it was read, once, and run as the API has it
    expect(podRequests('mismatch', from).filter((r) => r.startsWith('GET '))).toEqual(['GET /api/v1/namespaces/default/pods/mismatch']);
    expect(await docker.listContainers({ all: true, filters: { label: [`${LABELS.podUid}=${String((other.metadata as Json).uid)}`] } })).toHaveLength(0);
  });

  it('takes a placement in clear as a hint only: the pod it carries is not run, the API\'s is (anyone on the fleet\'s role may send one)', async () => {
    // Prepare: the API's pod sleeps; the forged message carries it with another command and a newer version
    const pod = fake.addPod('forged', [{ name: 'main', image: TEST_IMAGES.busybox, command: ['sleep', '3600'] }]);
    const from = fake.requests.length;
    const forgedPod = {
      ...pod,
      metadata: { ...(pod.metadata as Json), resourceVersion: '999999999' },
      spec: { ...(pod.spec as Json), containers: [{ name: 'main', image: TEST_IMAGES.busybox, command: ['sh', '-c', 'echo taken; sleep 3600'] }] },
    };

    // Act
    await send({ ...syncMessage(pod), pod: forgedPod });
    await waitFor('pod Running', () => (fake.pods.get('default/forged')?.status as Json | undefined)?.phase === 'Running');
    await waitFor('message deleted', () => queueDepth() === 0);

    // Assess: read from the API, and run as the API has it
    expect(podRequests('forged', from).filter((r) => r.startsWith('GET '))).toEqual(['GET /api/v1/namespaces/default/pods/forged']);
    const [c] = await docker.listContainers({ filters: { label: [`${LABELS.podUid}=${String((pod.metadata as Json).uid)}`, `${LABELS.containerName}=main`] } });
    expect(c?.Command).toContain('sleep 3600');
    expect(c?.Command).not.toContain('taken');
  });

  it('drops a placement sealed for another node (copied into this queue), without a read or a container', async () => {
    const pod = fake.addPod('misdirected', [{ name: 'main', image: TEST_IMAGES.busybox, command: ['sleep', '3600'] }]);
    const from = fake.requests.length;
    const otherNodes = sealPlacement({ ...syncMessage(pod), pod } as Json & { tenant: string }, { cluster: TENANT, nodeName: 'another-node' }, placementKey);

    await send(otherNodes);
    await waitFor('message deleted', () => queueDepth() === 0);

    expect(podRequests('misdirected', from)).toEqual([]);
    expect(await docker.listContainers({ all: true, filters: { label: [`${LABELS.podUid}=${String((pod.metadata as Json).uid)}`] } })).toHaveLength(0);
  });
});
