import { marshall } from '@aws-sdk/util-dynamodb';
import type { DynamoDBRecord, DynamoDBStreamEvent } from 'aws-lambda';
import { beforeAll, describe, expect, it } from 'vitest';
import { Coordination } from '../../functions/controllers/coordination';
import { handleStream, type ControllerDeps } from '../../functions/controllers/handler';
import { loadConfig } from '../../shared/config';
import { resourceByName, type KubeObject } from '../../shared/resources';
import { createDocumentClient } from '../../shared/store/dynamo';
import { partitionKey } from '../../shared/store/keys';
import { ObjectStore } from '../../shared/store/store';
import { Api, eventually, uniqueName } from '../helpers/api';

/*
 * The controllers under the stream's delivery model: at least once, any batch split, and
 * several invocations at once. Besides the controllers function the stack runs, this test
 * invokes the same handler directly with replayed, duplicated, split and stale batches, all
 * concurrently — and a ReplicaSet still ends with exactly N pods (never one created too many),
 * a Job never runs more than `parallelism`.
 * Pods are pinned to a node that does not exist, so they stay Pending and cost no containers.
 */
const NS = 'default';
const NOWHERE = { 'stratus.test/nowhere': 'true' };
let api: Api;
let deps: ControllerDeps;
let seq = 10n ** 20n;

function record(resource: string, obj: KubeObject, eventName: 'INSERT' | 'MODIFY' = 'INSERT'): DynamoDBRecord {
  const keys = { pk: partitionKey('default', resourceByName(resource)), sk: `${obj.metadata.namespace}/${obj.metadata.name}` };
  return {
    eventName,
    dynamodb: {
      Keys: marshall(keys) as never,
      NewImage: marshall({ ...keys, o: JSON.stringify(obj) }) as never,
      SequenceNumber: String(seq++),
    },
  };
}
const batch = (...records: DynamoDBRecord[]): DynamoDBStreamEvent => ({ Records: records });

async function eventsFor(name: string, reason: string): Promise<number> {
  const r = await api.get(`/api/v1/namespaces/${NS}/events?fieldSelector=involvedObject.name=${name},reason=${reason}`);
  return (r.body.items as unknown[]).length;
}

async function podsOwnedBy(uid: string): Promise<KubeObject[]> {
  const r = await api.get(`/api/v1/namespaces/${NS}/pods`);
  return (r.body.items as KubeObject[]).filter((p) => p.metadata.ownerReferences?.some((o) => o.uid === uid));
}

/** Every delivery shape at once: the batch three times concurrently, split in halves, reversed. */
async function hammer(records: DynamoDBRecord[]) {
  const mid = Math.ceil(records.length / 2);
  const results = await Promise.all([
    handleStream(deps, batch(...records)),
    handleStream(deps, batch(...records)),
    handleStream(deps, batch(...records.slice(0, mid))),
    handleStream(deps, batch(...records.slice(mid))),
    handleStream(deps, batch(...[...records].reverse())),
  ]);
  for (const r of results) expect(r.batchItemFailures).toEqual([]);
}

beforeAll(() => {
  api = Api.forTenant('default');
  const config = loadConfig();
  const doc = createDocumentClient(config);
  deps = { store: new ObjectStore(doc, config), coordination: new Coordination(doc, config) };
});

describe('controllers under at-least-once, split and concurrent delivery', { timeout: 180_000 }, () => {
  it('a ReplicaSet ends with exactly N pods, never creating one too many, even from stale replays', async () => {
    // Prepare
    const name = uniqueName('dup');
    const created = await api.post(`/apis/apps/v1/namespaces/${NS}/replicasets`, {
      apiVersion: 'apps/v1',
      kind: 'ReplicaSet',
      metadata: { name },
      spec: { replicas: 5, selector: { matchLabels: { app: name } }, template: { metadata: { labels: { app: name } }, spec: { nodeSelector: NOWHERE, containers: [{ name: 'main', image: 'stratus-test/busybox:1.36' }] } } },
    });
    expect(created.status).toBe(201);
    const rs = created.body as KubeObject;
    // Act: the creation record, delivered every way at once, twice over
    await hammer([record('replicasets', rs)]);
    await hammer([record('replicasets', rs), record('replicasets', rs, 'MODIFY')]);
    // Assess
    await eventually(async () => ((await api.get(`/apis/apps/v1/namespaces/${NS}/replicasets/${name}`)).body.status?.replicas === 5 ? true : undefined), 60_000, 'status.replicas 5');
    expect(await podsOwnedBy(rs.metadata.uid!)).toHaveLength(5);
    expect(await eventsFor(name, 'SuccessfulCreate')).toBe(5);
    expect(await eventsFor(name, 'SuccessfulDelete')).toBe(0);

    // Act: scale down to 2, then replay the stale creation image (replicas 5) every way
    const scaled = await api.patch(`/apis/apps/v1/namespaces/${NS}/replicasets/${name}/scale`, { spec: { replicas: 2 } });
    expect(scaled.status).toBe(200);
    await hammer([record('replicasets', rs), record('replicasets', rs, 'MODIFY'), record('replicasets', rs, 'MODIFY')]);
    // Assess: level-triggered — the stale image changes nothing; exactly 2 remain
    const live = await eventually(async () => {
      const pods = (await podsOwnedBy(rs.metadata.uid!)).filter((p) => !p.metadata.deletionTimestamp);
      return pods.length === 2 ? pods : undefined;
    }, 60_000, 'two pods');
    expect(live).toHaveLength(2);
    expect(await eventsFor(name, 'SuccessfulCreate')).toBe(5);
    await api.delete(`/apis/apps/v1/namespaces/${NS}/replicasets/${name}`);
  });

  it('a Job never runs more than parallelism pods under concurrent, duplicated delivery', async () => {
    // Prepare
    const name = uniqueName('par');
    const created = await api.post(`/apis/batch/v1/namespaces/${NS}/jobs`, {
      apiVersion: 'batch/v1',
      kind: 'Job',
      metadata: { name },
      spec: { completions: 10, parallelism: 3, template: { spec: { restartPolicy: 'Never', nodeSelector: NOWHERE, containers: [{ name: 'main', image: 'stratus-test/busybox:1.36' }] } } },
    });
    expect(created.status).toBe(201);
    const job = created.body as KubeObject;
    // Act
    await hammer([record('jobs', job), record('jobs', job, 'MODIFY')]);
    await hammer([record('jobs', job)]);
    // Assess
    await eventually(async () => ((await api.get(`/apis/batch/v1/namespaces/${NS}/jobs/${name}`)).body.status?.active === 3 ? true : undefined), 60_000, 'status.active 3');
    expect(await podsOwnedBy(job.metadata.uid!)).toHaveLength(3);
    expect(await eventsFor(name, 'SuccessfulCreate')).toBe(3);
    await api.delete(`/apis/batch/v1/namespaces/${NS}/jobs/${name}?propagationPolicy=Background`);
  });

  it('the garbage collector deletes a pod created for an owner that is already gone', async () => {
    // Prepare: a pod that names a ReplicaSet uid that never existed (a controller that lost the race with a delete)
    const name = uniqueName('late');
    const r = await api.post(`/api/v1/namespaces/${NS}/pods`, {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name, ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'gone', uid: '00000000-0000-0000-0000-000000000000', controller: true }] },
      spec: { nodeSelector: NOWHERE, containers: [{ name: 'main', image: 'stratus-test/busybox:1.36' }] },
    });
    expect(r.status).toBe(201);
    // Act + Assess
    await eventually(async () => ((await api.get(`/api/v1/namespaces/${NS}/pods/${name}`)).status === 404 ? true : undefined), 60_000, 'orphaned pod collected');
  });
});
