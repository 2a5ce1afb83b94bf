import { randomBytes } from 'node:crypto';
import { beforeAll, describe, expect, it, inject } from 'vitest';
import { syncResourceQuotas } from '../../functions/controllers/resourcequota';
import type { ControllerContext } from '../../functions/controllers/apply';
import type { Coordination } from '../../functions/controllers/coordination';
import { loadConfig, type Config } from '../../shared/config';
import { StatusError } from '../../shared/errors';
import { CHARGE_SEND_WINDOW_MS, PENDING_ANNOTATION, PENDING_TTL_MS } from '../../shared/quota/recompute';
import { systemContext } from '../../shared/registry/context';
import { createObject } from '../../shared/registry/generic';
import { resourceByName, type KubeObject } from '../../shared/resources';
import { createDocumentClient } from '../../shared/store/dynamo';
import { partitionKey } from '../../shared/store/keys';
import { ObjectStore } from '../../shared/store/store';

/*
 * Issue #16's quota flake (CI saw used 0/0 right after a pod create returned 201), made
 * deterministic. Admission charges the quota and enters the charge in its pending ledger; the pod
 * is written after. The quota controller counts a ledger entry only while it is younger than
 * PENDING_TTL_MS, and requeues itself for exactly when the entry expires. So a create whose
 * write comes later than that (a loaded machine: the writer's queue, re-reservations after its
 * 2 s deadline) had its charge dropped by the recomputation at expiry, which could not list the
 * pod yet, and then stored the pod anyway: a pod that exists and is charged nowhere, and
 * nothing recomputes on a pod's creation. Here the pod's write is held (the store's commit
 * hook) while the clock moves past the TTL and the controller recomputes; then it is let go.
 * The property: a charged write is sent only while its charge can still be counted
 * (CHARGE_SEND_WINDOW_MS after it; later it fails with 504 and writes nothing), so once the
 * create settles the quota's count equals the pods stored; within the window it is stored and
 * counted as before.
 * In-process: the registry (admission) and the controller's sync run here on a store with a
 * movable clock and the hook, against the stack's DynamoDB Local, in a tenant of their own.
 */
const pods = resourceByName('pods');
const quotas = resourceByName('resourcequotas');
let config: Config;

beforeAll(() => {
  Object.assign(process.env, inject('stack').env);
  config = loadConfig();
});

/** A clock that runs with the system's, plus whatever a test moved it on by. */
function movableClock() {
  let offset = 0;
  return { now: () => Date.now() + offset, advance: (ms: number) => void (offset += ms) };
}

const noCoordination = { requeueAt: () => Promise.resolve() } as unknown as Coordination;

async function outcome(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'created';
  } catch (e) {
    return e instanceof StatusError ? `${e.code} ${e.reason}` : String(e);
  }
}

/** A tenant of its own with namespace `q`, its ServiceAccount and a computed quota `life`, on a store whose pod writes can be held. */
async function setup() {
  const tenant = `t${randomBytes(4).toString('hex')}`;
  const ns = 'q';
  const clock = movableClock();
  let hold: (() => Promise<void>) | undefined;
  const podsSequence = partitionKey(tenant, pods);
  const store = new ObjectStore(createDocumentClient(config), config, {
    clock,
    beforeCommit: (sequence) => (sequence === podsSequence && hold ? hold() : Promise.resolve()),
  });
  const ctx = systemContext(store, tenant);
  const controller: ControllerContext = { store, tenant, coordination: noCoordination, now: new Date() };
  await store.create(tenant, resourceByName('namespaces'), { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns }, spec: { finalizers: ['kubernetes'] }, status: { phase: 'Active' } });
  await store.create(tenant, resourceByName('serviceaccounts'), { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'default', namespace: ns } });
  await createObject(ctx, { rt: quotas, namespace: ns }, { apiVersion: 'v1', kind: 'ResourceQuota', metadata: { name: 'life' }, spec: { hard: { pods: '3', 'count/pods': '10' } } });
  await syncResourceQuotas(controller, ns, 'life');
  const used = async () => ((await store.get(tenant, quotas, ns, 'life'))!.status as { used?: Record<string, string> }).used;
  expect(await used()).toEqual({ pods: '0', 'count/pods': '0' });
  const stored = async () => (await store.list(tenant, pods, { namespace: ns, versioned: false })).items.length;
  /** Creates pod `name` with its write held after admission charged it; `release` lets the write go; `result` is the create's fate. */
  async function heldCreate(name: string) {
    let reachedCommit!: () => void;
    const reached = new Promise<void>((r) => (reachedCommit = r));
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    hold = async () => {
      hold = undefined; // once
      reachedCommit();
      await released;
    };
    const pod: KubeObject = { apiVersion: 'v1', kind: 'Pod', metadata: { name }, spec: { containers: [{ name: 'c', image: 'i:1' }] } };
    const result = outcome(createObject(ctx, { rt: pods, namespace: ns }, pod));
    await reached;
    return { release, result };
  }
  return { store, tenant, ns, clock, controller, used, stored, heldCreate };
}

describe('ResourceQuota: a charge and the write it pays for', () => {
  it('a pod write held past the ledger TTL while the controller recomputes is refused (504), never stored uncharged', async () => {
    // Prepare
    const { store, tenant, ns, clock, controller, used, stored, heldCreate } = await setup();
    // Act: the pod's write is held after admission charged it...
    const create = await heldCreate('done');
    const charged = (await store.get(tenant, quotas, ns, 'life'))!;
    expect((charged.status as { used?: Record<string, string> }).used).toEqual({ pods: '1', 'count/pods': '1' });
    expect(Object.keys(JSON.parse(charged.metadata.annotations?.[PENDING_ANNOTATION] ?? '{}') as object)).toEqual(['pods/done']);
    // ...while the ledger entry expires and the controller recomputes (what its requeue at expiry does)
    clock.advance(PENDING_TTL_MS + 1_000);
    await syncResourceQuotas(controller, ns, 'life');
    create.release();
    const result = await create.result;
    // Assess: the quota counts exactly the pods stored (before the fix: created, 1 stored, used 0/0)
    expect({ result, stored: await stored(), used: await used() }).toEqual({ result: '504 Timeout', stored: 0, used: { pods: '0', 'count/pods': '0' } });
  });

  it('a pod write held within the send window is stored and stays charged through a recomputation meanwhile', async () => {
    // Prepare
    const { ns, clock, controller, used, stored, heldCreate } = await setup();
    // Act: held, the clock moves on less than the window, the controller recomputes, then the write goes
    const create = await heldCreate('slow');
    clock.advance(CHARGE_SEND_WINDOW_MS - 1_000);
    await syncResourceQuotas(controller, ns, 'life');
    expect(await used()).toEqual({ pods: '1', 'count/pods': '1' }); // the live ledger entry counts the pod in flight
    create.release();
    const result = await create.result;
    // Assess
    expect({ result, stored: await stored(), used: await used() }).toEqual({ result: 'created', stored: 1, used: { pods: '1', 'count/pods': '1' } });
  });
});

describe('the store writer: a write with a send deadline (notAfter)', () => {
  it('is refused with 504 and writes nothing when its deadline passes between its reservation and its send', async () => {
    // Prepare: a hook that moves the clock on 500 ms (within the writer's own 2 s deadline) before the send
    const tenant = `t${randomBytes(4).toString('hex')}`;
    const clock = movableClock();
    const store = new ObjectStore(createDocumentClient(config), config, { clock, beforeCommit: () => Promise.resolve(clock.advance(500)) });
    const pod = (name: string): KubeObject => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: 'q' }, spec: { containers: [{ name: 'c', image: 'i:1' }] } });
    // Act
    const late = await outcome(store.create(tenant, pods, pod('late'), { notAfter: clock.now() + 100 }));
    const gone = await outcome(store.create(tenant, pods, pod('gone'), { notAfter: clock.now() - 1 }));
    const inTime = await outcome(store.create(tenant, pods, pod('in-time'), { notAfter: clock.now() + 60_000 }));
    // Assess
    expect([late, gone, inTime]).toEqual(['504 Timeout', '504 Timeout', 'created']);
    const names = (await store.list(tenant, pods, { namespace: 'q', versioned: false })).items.map((p) => p.metadata.name);
    expect(names).toEqual(['in-time']);
  });
});
