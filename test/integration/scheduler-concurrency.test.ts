import { randomBytes } from 'node:crypto';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { TenantCaches } from '../../functions/scheduler/cache';
import { Scheduler } from '../../functions/scheduler/scheduler';
import { loadConfig } from '../../shared/config';
import { NodeQueues } from '../../shared/queue';
import { resourceByName, type KubeObject } from '../../shared/resources';
import { createDocumentClient } from '../../shared/store/dynamo';
import { BatchBindFailed, ObjectStore } from '../../shared/store/store';

/*
 * Several scheduler invocations at once, each with its own caches (as separate Lambda instances
 * would have), against DynamoDB Local: the conditional (batch) binds must never overcommit a node
 * nor bind a pod twice, whatever the interleaving.
 */
const pods = resourceByName('pods');
const nodes = resourceByName('nodes');
const SCHEDULER = 'concurrency-test'; // the stack's own scheduler leaves these pods alone
let store: ObjectStore;
let queues: NodeQueues;

const podBody = (name: string, cpu: string): KubeObject => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, namespace: 'default' },
  spec: { schedulerName: SCHEDULER, containers: [{ name: 'c', image: 'i:1', resources: { requests: { cpu } } }] },
  status: { phase: 'Pending' },
});
const nodeBody = (name: string, cpu: string): KubeObject => ({
  apiVersion: 'v1',
  kind: 'Node',
  metadata: { name, labels: { 'kubernetes.io/hostname': name } },
  status: { allocatable: { cpu, memory: '8Gi', pods: '110' }, conditions: [{ type: 'Ready', status: 'True' }] },
});

beforeAll(() => {
  Object.assign(process.env, inject('stack').env);
  const config = loadConfig();
  store = new ObjectStore(createDocumentClient(config), config);
  queues = new NodeQueues(config);
});

/** Every change to every pod of the tenant, from the gap-free log. */
async function podLog(tenant: string) {
  const all = [];
  for (let after = 0; ; ) {
    const page = await store.changesSince(tenant, pods, after, 500);
    all.push(...page);
    if (page.length < 500) return all;
    after = page[page.length - 1]!.resourceVersion;
  }
}

describe('concurrent schedulers', () => {
  it('never overcommit a node and never bind a pod twice', async () => {
    // Prepare: 6 nodes of 1 cpu; 60 pods of 300m: exactly 18 fit (3 per node).
    const tenant = `sc${randomBytes(4).toString('hex')}`;
    for (let i = 0; i < 6; i++) await store.create(tenant, nodes, nodeBody(`n${i}`, '1'));
    await Promise.all(Array.from({ length: 60 }, (_, i) => store.create(tenant, pods, podBody(`p${i}`, '300m'))));
    // Act: four invocations at once, two binding in batches and two one by one.
    const schedulers = [true, true, false, false].map(
      (batchBind) => new Scheduler(store, queues, tenant, new TenantCaches(store, nodes, pods).of(tenant), { batchBind, schedulerName: SCHEDULER }),
    );
    const runs = await Promise.all(schedulers.map((s) => s.retryPending()));
    await Promise.all(schedulers.map((s) => s.events.flush()));
    // Assess
    const { items } = await store.list(tenant, pods);
    const bound = items.filter((p) => (p.spec as { nodeName?: string }).nodeName);
    expect(bound).toHaveLength(18);
    expect(runs.reduce((n, r) => n + r.bound, 0)).toBe(18); // each bind counted by exactly one invocation
    const perNode = new Map<string, number>();
    for (const p of bound) {
      const n = (p.spec as { nodeName: string }).nodeName;
      perNode.set(n, (perNode.get(n) ?? 0) + 300);
    }
    for (const used of perNode.values()) expect(used).toBeLessThanOrEqual(1000);
    const snapshots = await store.listNodeSnapshots(tenant, nodes);
    for (const s of snapshots) expect(s.allocated.cpu).toBe(perNode.get(s.node.metadata.name!) ?? 0);
    // The log shows one bind per pod: nodeName goes from unset to set exactly once.
    const binds = new Map<string, number>();
    const last = new Map<string, string | undefined>();
    for (const e of await podLog(tenant)) {
      const name = e.object.metadata.name!;
      const nodeName = (e.object.spec as { nodeName?: string }).nodeName;
      if (nodeName && !last.get(name)) binds.set(name, (binds.get(name) ?? 0) + 1);
      last.set(name, nodeName);
    }
    expect([...binds.values()].every((n) => n === 1)).toBe(true);
    expect(binds.size).toBe(18);
  });

  it('a batch bind is all or nothing, with consecutive versions in the log (a failed one leaves none)', async () => {
    // Prepare: a node with room for one pod, and two pods decided onto it.
    const tenant = `sb${randomBytes(4).toString('hex')}`;
    await store.create(tenant, nodes, nodeBody('n0', '500m'));
    const a = await store.create(tenant, pods, podBody('a', '300m'));
    const b = await store.create(tenant, pods, podBody('b', '300m'));
    const [target] = await store.listNodeSnapshots(tenant, nodes);
    const bindTo = (p: KubeObject) => ({ ...p, spec: { ...(p.spec as object), nodeName: 'n0' } });
    const before = await store.currentVersion(tenant, pods);
    // Act
    const overcommit = await store.bindPods(tenant, pods, nodes, [a, b].map((pod) => ({ pod, target: target!, transform: bindTo }))).catch((e: unknown) => e);
    const c = await store.create(tenant, pods, podBody('c', '100m'));
    const ok = await store.bindPods(tenant, pods, nodes, [a, c].map((pod) => ({ pod, target: target!, transform: bindTo })));
    // Assess
    expect(overcommit).toBeInstanceOf(BatchBindFailed);
    expect((overcommit as BatchBindFailed).nodeNames).toEqual(['n0']);
    // The failed batch's versions were voided: later versions skip them, consecutive within a batch.
    const [va, vc] = ok.map((p) => Number(p.metadata.resourceVersion));
    expect(vc).toBe(va! + 1);
    const log = await store.changesSince(tenant, pods, before);
    expect(log.map((e) => [e.resourceVersion, e.object.metadata.name])).toEqual([
      [Number(c.metadata.resourceVersion), 'c'],
      [va, 'a'],
      [vc, 'c'],
    ]);
    expect(Number(c.metadata.resourceVersion)).toBeGreaterThan(before);
    expect(va).toBeGreaterThan(Number(c.metadata.resourceVersion));
    const [after] = await store.listNodeSnapshots(tenant, nodes);
    expect(after!.allocated).toEqual({ cpu: 400, memory: 0, pods: 2 });
  });

  it('preempts lower-priority pods on the node whose victims no PodDisruptionBudget protects, and nominates it', async () => {
    // Prepare: two full nodes of 1 cpu. On n0 a low-priority db pod that a PDB protects (no
    // disruption allowed); on n1 a web pod of higher (but still lower than the preemptor's)
    // priority. Without the budget n0 (lowest victim priority) would be chosen.
    const tenant = `sp${randomBytes(4).toString('hex')}`;
    for (const n of ['n0', 'n1']) await store.create(tenant, nodes, nodeBody(n, '1'));
    const boundPod = (name: string, node: string, priority: number, app: string): KubeObject => ({
      ...podBody(name, '1'),
      metadata: { name, namespace: 'default', labels: { app } },
      spec: { ...(podBody(name, '1').spec as object), nodeName: node, priority },
      status: { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] },
    });
    await store.create(tenant, pods, boundPod('db', 'n0', 1, 'db'));
    await store.create(tenant, pods, boundPod('web', 'n1', 5, 'web'));
    await store.create(tenant, resourceByName('poddisruptionbudgets'), {
      apiVersion: 'policy/v1',
      kind: 'PodDisruptionBudget',
      metadata: { name: 'db', namespace: 'default' },
      spec: { minAvailable: 1, selector: { matchLabels: { app: 'db' } } },
    });
    const vip = await store.create(tenant, pods, { ...podBody('vip', '1'), spec: { ...(podBody('vip', '1').spec as object), priority: 100 } });
    const scheduler = new Scheduler(store, queues, tenant, new TenantCaches(store, nodes, pods).of(tenant), { schedulerName: SCHEDULER });
    // Act
    const r = await scheduler.schedule('default', 'vip');
    await scheduler.flush();
    // Assess
    expect(r).toBeUndefined(); // not bound yet: the victim must go first
    const after = await store.get(tenant, pods, 'default', 'vip');
    expect((after!.status as { nominatedNodeName?: string }).nominatedNodeName).toBe('n1');
    expect(after!.metadata.uid).toBe(vip.metadata.uid);
    const [db, web] = await Promise.all(['db', 'web'].map((n) => store.get(tenant, pods, 'default', n)));
    expect(db!.metadata.deletionTimestamp).toBeUndefined();
    expect(web!.metadata.deletionTimestamp).toBeDefined(); // graceful: its kubelet finishes it
  });
});
