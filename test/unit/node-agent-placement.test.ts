import { afterEach, describe, expect, it } from 'vitest';
import type { z } from 'zod';
import { NodeAgent, PENDING_REPORT_DELAY_MS } from '../../node-agent/agent';
import { KubeApiClient, KubeApiError, type RequestOptions } from '../../node-agent/api-client';
import { agentLogger, silentLogger, withLogKeys, type Logger } from '../../node-agent/log';
import type { HostFacts } from '../../node-agent/node-status';
import type { PlacementHandler, PlacementMessage, PlacementQueue } from '../../node-agent/placement-queue';
import type { PodChangeNotifier, PodRuntime } from '../../node-agent/runtime';
import type { Pod, PodKey, PodStatus } from '../../node-agent/types';

/*
 * What the node agent does with the pod a placement message carries, and when it reads the pod
 * from the API instead: a fake API (recording every request), a fake runtime and a fake queue
 * (the test hands messages to the agent's handler). The same against real Docker and SQS is in
 * test/integration/node-agent.test.ts.
 */

const NODE = 'n1';
type Json = Record<string, unknown>;

/** An API server holding one namespace's pods and whatever the agent registers. */
class FakeApi extends KubeApiClient {
  readonly requests: string[] = [];
  readonly pods = new Map<string, Pod>();
  private readonly other = new Map<string, unknown>();
  private rv = 100;

  constructor() {
    super({ server: 'http://fake.invalid', token: 't' });
  }

  setPod(name: string, change: Partial<Pod['metadata']> = {}, status?: PodStatus): Pod {
    const have = this.pods.get(name);
    const pod: Pod = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { ...(have?.metadata ?? { name, namespace: 'default', uid: `uid-${name}` }), ...change, resourceVersion: String(++this.rv) },
      spec: have?.spec ?? { nodeName: NODE, containers: [{ name: 'main', image: 'busybox' }] },
      ...(status ?? have?.status ? { status: status ?? have?.status } : {}),
    };
    this.pods.set(name, pod);
    return pod;
  }

  override async request<T>(method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE', path: string, schema: z.ZodType<T>, ro: RequestOptions = {}): Promise<T> {
    this.requests.push(`${method} ${path}`);
    const answer = (body: unknown): T => schema.parse(body);
    const notFound = () => new KubeApiError(404, 'NotFound', `${path} not found`);
    const m = /^\/api\/v1\/namespaces\/default\/pods\/([^/]+)(\/status)?$/.exec(path);
    if (m) {
      const pod = this.pods.get(m[1]!);
      if (!pod) throw notFound();
      if (method === 'GET') return answer(pod);
      if (method === 'PATCH') return answer(this.setPod(m[1]!, {}, (ro.body as { status: PodStatus }).status));
      if (method === 'DELETE') {
        this.pods.delete(m[1]!);
        return answer(pod);
      }
    }
    if (method === 'GET' && path === '/api/v1/pods') return answer({ items: [...this.pods.values()].filter((p) => p.spec.nodeName === NODE) });
    if (path.endsWith('/events')) return answer(ro.body);
    // Node and Lease: what registration and heartbeats need.
    const stored = this.other.get(path);
    if (method === 'GET') {
      if (stored === undefined) throw notFound();
      return answer(stored);
    }
    if (method === 'PATCH' && path.endsWith('/status')) {
      // A merge patch of the status subresource: the rest of the object stays.
      const key = path.replace(/\/status$/, '');
      const merged = { ...(this.other.get(key) as Json), status: (ro.body as Json).status };
      this.other.set(key, merged);
      return answer(merged);
    }
    const obj = { ...(ro.body as Json), metadata: { ...((ro.body as Json).metadata as Json), uid: 'x', resourceVersion: '1' } };
    const name = (obj.metadata as { name?: string }).name;
    this.other.set(method === 'POST' ? `${path}/${name}` : path, obj);
    return answer(obj);
  }

  podRequests(name: string): string[] {
    return this.requests.filter((r) => r.includes(`/pods/${name}`));
  }
}

/** A runtime that records what it is asked; a pod it synced runs until killed. */
class FakeRuntime implements PodRuntime, PodChangeNotifier {
  readonly synced: { uid: string; resourceVersion?: string; deleting: boolean }[] = [];
  readonly killed: string[] = [];
  readonly running = new Map<string, PodKey>();
  /** While set, syncPod waits for it (to hold a sync in progress). */
  hold?: Promise<void>;
  /** While set, the status of every pod (else Running once synced). */
  status?: PodStatus;
  private listener?: (pod: PodKey) => void;

  async syncPod(pod: Pod): Promise<void> {
    this.synced.push({ uid: pod.metadata.uid, resourceVersion: pod.metadata.resourceVersion, deleting: !!pod.metadata.deletionTimestamp });
    if (this.hold) await this.hold;
    this.running.set(pod.metadata.uid, { uid: pod.metadata.uid, namespace: 'default', name: pod.metadata.name });
  }
  async killPod(pod: PodKey): Promise<void> {
    this.killed.push(pod.uid);
    this.running.delete(pod.uid);
  }
  async getPodStatus(pod: Pod): Promise<PodStatus | undefined> {
    if (this.status) return this.status;
    return this.running.has(pod.metadata.uid) ? { phase: 'Running', containerStatuses: [{ name: 'main', ready: true, restartCount: 0, image: 'busybox', imageID: '', state: { running: {} } }] } : undefined;
  }
  async listPods(): Promise<PodKey[]> {
    return [...this.running.values()];
  }
  watchPodChanges(onPodChanged: (pod: PodKey) => void): () => void {
    this.listener = onPodChanged;
    return () => (this.listener = undefined);
  }
  /** A container of the pod started or died (a Docker event). */
  containerChanged(pod: Pod): void {
    this.listener?.({ uid: pod.metadata.uid, namespace: 'default', name: pod.metadata.name });
  }
}

const host: HostFacts = {
  hostname: NODE,
  internalIP: '10.0.0.1',
  cpus: 2,
  memoryBytes: 2 ** 32,
  kernelVersion: '6.1.0',
  osImage: 'Test Linux',
  architecture: 'amd64',
  containerRuntimeVersion: 'docker://27',
  machineID: 'm',
  bootID: 'b',
};

let agent: NodeAgent | undefined;
afterEach(async () => {
  await agent?.stop();
  agent = undefined;
});

async function startAgent(timing: { nodeStatusSeconds?: number; nodeStatusReportSeconds?: number } = {}, log: Logger = silentLogger) {
  const api = new FakeApi();
  const runtime = new FakeRuntime();
  let handler: PlacementHandler | undefined;
  const queue = {
    poll: (signal: AbortSignal, h: PlacementHandler) => {
      handler = h;
      return new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve()));
    },
  } as unknown as PlacementQueue;
  agent = new NodeAgent({ api, runtime, queue, nodeName: NODE, tenant: 't', host, log, resyncSeconds: 3600, leaseRenewSeconds: 3600, nodeStatusSeconds: 3600, ...timing });
  await agent.start();
  await agent.resync(); // the first resync (also started by start) has nothing to do
  const deliver = (pod: Pod, opts: { carry?: boolean; ageMs?: number } = {}) => {
    const msg: PlacementMessage = { kind: 'sync', tenant: 't', namespace: 'default', name: pod.metadata.name, uid: pod.metadata.uid, ...(opts.carry === false ? {} : { pod }) };
    return handler!(msg, { sentAt: new Date(Date.now() - (opts.ageMs ?? 0)) });
  };
  /** Lets queued per-pod syncs run. */
  const settle = (ms = 20) => new Promise((r) => setTimeout(r, ms));
  return { api, runtime, deliver, settle };
}

describe('NodeAgent logs', () => {
  it('tags the lines of a pod sync with a syncId, the pod and its uid, and the placement message that triggered it', async () => {
    // Prepare
    const lines: Record<string, unknown>[] = [];
    const sink = { write: (l: string) => lines.push(JSON.parse(l) as Record<string, unknown>) };
    const { api, runtime, deliver, settle } = await startAgent({}, agentLogger({ node: NODE, tenant: 't', sink }));
    const pod = api.setPod('web');
    // Act: a message (its id set as PlacementQueue sets it), then a second sync of the same pod
    await withLogKeys({ placementMessageId: 'm-1' }, () => deliver(pod));
    runtime.status = { phase: 'Succeeded' };
    await agent!.syncByKey({ uid: pod.metadata.uid, namespace: 'default', name: 'web' });
    await settle();
    // Assess
    const updates = lines.filter((l) => l.message === 'pod status updated');
    expect(updates).toHaveLength(2);
    expect(updates[0]).toMatchObject({ service: 'node-agent', node: NODE, tenant: 't', pod: 'default/web', podUID: 'uid-web', placementMessageId: 'm-1' });
    expect(updates[1]!.placementMessageId).toBeUndefined();
    expect(typeof updates[0]!.syncId).toBe('string');
    expect(updates[1]!.syncId).not.toBe(updates[0]!.syncId);
  });
});

describe('NodeAgent and the pod a placement message carries', () => {
  it('runs the carried pod without reading it, and syncs from memory on Docker events (no GET, no second patch)', async () => {
    // Prepare
    const { api, runtime, deliver, settle } = await startAgent();
    const pod = api.setPod('web');
    // Act
    await deliver(pod);
    runtime.containerChanged(pod);
    await settle();
    // Assess
    expect(runtime.synced.map((s) => s.resourceVersion)).toEqual([pod.metadata.resourceVersion, api.pods.get('web')!.metadata.resourceVersion]);
    expect(api.podRequests('web')).toEqual(['PATCH /api/v1/namespaces/default/pods/web/status']);
  });

  it('uses a carried pod newer than the one it knows: a deletion is acted on without a read', async () => {
    // Prepare
    const { api, runtime, deliver } = await startAgent();
    await deliver(api.setPod('web'));
    // Act
    const terminating = api.setPod('web', { deletionTimestamp: new Date().toISOString(), deletionGracePeriodSeconds: 1 });
    await deliver(terminating);
    // Assess
    expect(runtime.killed).toEqual(['uid-web']);
    expect(api.podRequests('web')).toEqual(['PATCH /api/v1/namespaces/default/pods/web/status', 'DELETE /api/v1/namespaces/default/pods/web']);
  });

  it('reads the pod when the message is older than a minute (it may have waited while the agent was down)', async () => {
    // Prepare: the pod changed since the message was sent
    const { api, runtime, deliver } = await startAgent();
    const sent = api.setPod('web');
    const now = api.setPod('web', { labels: { changed: 'yes' } });
    // Act
    await deliver(sent, { ageMs: 2 * 60_000 });
    // Assess
    expect(api.podRequests('web')[0]).toBe('GET /api/v1/namespaces/default/pods/web');
    expect(runtime.synced[0]!.resourceVersion).toBe(now.metadata.resourceVersion);
  });

  it('reads the pod for a message without one, even when that message joins a sync already waiting', async () => {
    // Prepare: a sync in progress (held), and one waiting behind it (a Docker event)
    const { api, runtime, deliver, settle } = await startAgent();
    const pod = api.setPod('web');
    let release!: () => void;
    runtime.hold = new Promise((r) => (release = r));
    const first = deliver(pod);
    await settle();
    runtime.containerChanged(pod);
    // Act: a message without a pod (it says "read it"), coalesced with the waiting sync
    api.setPod('web', { labels: { changed: 'yes' } });
    const second = deliver(pod, { carry: false });
    runtime.hold = undefined;
    release();
    await Promise.all([first, second]);
    // Assess
    expect(api.podRequests('web')).toContain('GET /api/v1/namespaces/default/pods/web');
    expect(runtime.synced.at(-1)!.resourceVersion).toBe(api.pods.get('web')!.metadata.resourceVersion);
  });

  it('does not start again from memory a pod the resync killed as an orphan', async () => {
    // Prepare: a pod run from its message, then removed from the API without a message reaching the node
    const { api, runtime, deliver, settle } = await startAgent();
    const pod = api.setPod('web');
    await deliver(pod);
    api.pods.delete('web');
    // Act: the resync kills it; its containers' Docker events follow; a late bind message too
    await agent!.resync();
    runtime.containerChanged(pod);
    await settle();
    await deliver(pod);
    // Assess: read once, found gone, never synced again; the late message is ignored
    expect(runtime.killed).toContain('uid-web');
    expect(runtime.running.has('uid-web')).toBe(false);
    expect(runtime.synced).toHaveLength(1);
    expect(api.podRequests('web').filter((r) => r.startsWith('GET'))).toEqual(['GET /api/v1/namespaces/default/pods/web']);
  });

  const initRunning: PodStatus = {
    phase: 'Pending',
    initContainerStatuses: [{ name: 'init', ready: false, restartCount: 0, image: 'busybox', imageID: '', state: { running: {} } }],
    containerStatuses: [{ name: 'main', ready: false, restartCount: 0, image: 'busybox', imageID: '', state: { waiting: { reason: 'PodInitializing' } } }],
  };
  const statusPatches = (api: FakeApi) => api.requests.filter((r) => r.endsWith('/status') && r.startsWith('PATCH /api/v1/namespaces/'));

  it('sends one status patch when a Pending status is followed moments later by the next (init done, app running)', async () => {
    // Prepare: the first sync leaves an init container running
    const { api, runtime, deliver, settle } = await startAgent();
    const pod = api.setPod('web');
    runtime.status = initRunning;
    await deliver(pod);
    // Act: the init container exits at once (a Docker event); the app container runs
    runtime.status = undefined;
    runtime.containerChanged(pod);
    await settle(PENDING_REPORT_DELAY_MS * 2); // past the delay: the deferred sync has run too
    // Assess
    expect(statusPatches(api)).toHaveLength(1);
    expect(api.pods.get('web')!.status?.phase).toBe('Running');
  });

  it('reports a Pending status that stays, once the delay is over', async () => {
    // Prepare
    const { api, runtime, deliver, settle } = await startAgent();
    const pod = api.setPod('web');
    runtime.status = initRunning;
    // Act
    await deliver(pod);
    const before = statusPatches(api).length;
    for (let i = 0; i < 100 && statusPatches(api).length === 0; i++) await settle(50);
    // Assess: nothing at once, the Pending status later
    expect(before).toBe(0);
    expect(statusPatches(api)).toHaveLength(1);
    expect(api.pods.get('web')!.status).toMatchObject({ phase: 'Pending', initContainerStatuses: [{ name: 'init', state: { running: {} } }] });
  });
});

describe('NodeAgent node status', () => {
  it('posts the node status only when it changed or the report interval passed (the Lease is the heartbeat)', async () => {
    // Prepare: checks every 50 ms, reports at least every hour
    const { api, settle } = await startAgent({ nodeStatusSeconds: 0.05, nodeStatusReportSeconds: 3600 });
    // Act
    await settle(500);
    // Assess: registration's status report; the checks after it found nothing new to post
    const patches = api.requests.filter((r) => r === `PATCH /api/v1/nodes/${NODE}/status`);
    const reads = api.requests.filter((r) => r === `GET /api/v1/nodes/${NODE}`);
    expect(reads.length).toBeGreaterThan(3);
    expect(patches).toHaveLength(1);
  });

  it('posts it on every check when the report interval is that short', async () => {
    const { api, settle } = await startAgent({ nodeStatusSeconds: 0.05, nodeStatusReportSeconds: 0 });
    await settle(500);
    expect(api.requests.filter((r) => r === `PATCH /api/v1/nodes/${NODE}/status`).length).toBeGreaterThan(3);
  });
});
