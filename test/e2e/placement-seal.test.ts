/**
 * Sealed placements against the local stack (shared/placement-seal.ts, docs/security.md): the
 * scheduler's message on a node's queue is sealed with that node's own key, which only that node
 * gets (POST /clusters/NAME/stratus/v1/placement-key with its own credential), and the agent
 * opens it and starts the pod.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CreateQueueCommand, DeleteQueueCommand, ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { createNodeToken } from '../../shared/auth/node-identity';
import { placementKeyItemKey } from '../../shared/auth/placement-keys';
import { isEnvelope, readHeader } from '../../shared/secrets/envelope';
import { secretKeyring } from '../../shared/secrets/keys';
import { dataKeysInUse, rotateSecretKeys } from '../../shared/secrets/rotate';
import { loadConfig, nodeDeadLetterQueueName, nodeQueueName } from '../../shared/config';
import { openPlacement, PlacementSealError, SealedPlacementSchema } from '../../shared/placement-seal';
import { createSqsClient } from '../../shared/queue';
import { createDocumentClient } from '../../shared/store/dynamo';
import { Api, eventually, uniqueName } from '../helpers/api';
import { createTestCluster } from '../helpers/clusters';
import { TEST_IMAGES } from '../helpers/images';
import { allRunning, createPod, waitForPod } from '../helpers/pods';

const stack = inject('stack');
const config = loadConfig();
const sqs = createSqsClient(config);
const admin = Api.forTenant();
const KEY_PATH = '/stratus/v1/placement-key';
const queues: string[] = [];
const operator = () => new Api(stack.apiUrl, readFileSync(join(stack.stateDir, 'operator-token'), 'utf8').trim(), stack.caCert);

afterAll(async () => {
  for (const QueueName of queues) {
    const url = `${(await sqs.send(new CreateQueueCommand({ QueueName }))).QueueUrl}`;
    await sqs.send(new DeleteQueueCommand({ QueueUrl: url })).catch(() => undefined);
  }
  sqs.destroy();
});

/** A node credential of `nodeName` (system:node:NAME), as a joined agent holds. */
async function nodeApi(nodeName: string, tenant = 'default'): Promise<Api> {
  return Api.forTenant(tenant, await createNodeToken(createDocumentClient(config), config, tenant, nodeName));
}

describe('placement keys', () => {
  it('are given to a node for itself only: another node, a user, no credential are refused', async () => {
    // Prepare
    const name = uniqueName('pk-node');
    const node = await nodeApi(name);
    // Act
    const own = await node.send('POST', KEY_PATH, { nodeName: name });
    const again = await node.send('POST', KEY_PATH, { nodeName: name });
    const other = await node.send('POST', KEY_PATH, { nodeName: stack.nodeName });
    const user = await admin.send('POST', KEY_PATH, { nodeName: name });
    const anonymous = await new Api(admin.base, undefined, stack.caCert).send('POST', KEY_PATH, { nodeName: name });
    // Assess
    expect(own.status, own.text).toBe(200);
    expect(own.body).toMatchObject({ apiVersion: 'stratus.io/v1', kind: 'PlacementKey', metadata: { name } });
    expect(Buffer.from(own.body.status.key, 'base64')).toHaveLength(32);
    expect(again.body.status).toEqual(own.body.status);
    expect(other.status).toBe(403);
    expect(other.body).toMatchObject({ kind: 'Status', reason: 'Forbidden' });
    expect(other.text).not.toContain(own.body.status.key);
    expect(user.status).toBe(403);
    expect(anonymous.status).toBe(401);
  });

  it('are replaced when the operator revokes the node\'s credentials (the revoked holder cannot read later placements)', async () => {
    // Prepare
    const name = uniqueName('pk-revoked');
    const before = (await (await nodeApi(name)).send('POST', KEY_PATH, { nodeName: name })).body.status as { keyId: string; key: string };
    // Act
    const revoked = await operator().send('DELETE', `/stratus/v1/clusters/default/node-credentials/${name}`);
    const after = (await (await nodeApi(name)).send('POST', KEY_PATH, { nodeName: name })).body.status as { keyId: string; key: string };
    // Assess
    expect(revoked.status, revoked.text).toBe(200);
    expect(after.keyId).not.toBe(before.keyId);
    expect(after.key).not.toBe(before.key);
  });
});

describe('a placement key at rest', () => {
  it('is sealed under the cluster\'s data key, re-sealed by a data key rotation, and counted by pruning', async () => {
    // Prepare: a cluster of its own (its data key is rotated here) and a node's key
    const { tenant } = await createTestCluster('pk-rest');
    const doc = createDocumentClient(config);
    const name = uniqueName('pk-node');
    const node = await nodeApi(name, tenant);
    const served = (await node.send('POST', KEY_PATH, { nodeName: name })).body.status as { keyId: string; key: string };
    const item = async () => (await doc.send(new GetCommand({ TableName: config.objectsTable, Key: placementKeyItemKey(tenant, name), ConsistentRead: true }))).Item!;
    const stored = await item();
    // Assess: sealed, nothing of the key in clear
    expect(isEnvelope(stored.sealed)).toBe(true);
    expect(stored.key).toBeUndefined();
    expect(Buffer.from(stored.sealed as Uint8Array).toString('latin1')).not.toContain(served.key);

    // Act: a data key rotation (as `npx stratus secrets rotate-key --data-key` does)
    const r = await rotateSecretKeys(doc, config, { kek: false, dataKey: true, clusters: [tenant] });

    // Assess: re-sealed under the new data key, which pruning counts as in use; the node's key is unchanged
    const newest = (await secretKeyring(doc, config).list(tenant)).at(-1)!.keyId;
    const resealed = await item();
    expect(r.resealed).toBeGreaterThanOrEqual(1);
    expect(readHeader(resealed.sealed as Uint8Array).header.keyId).toBe(newest);
    expect((await dataKeysInUse(doc, config, tenant)).has(newest)).toBe(true);
    expect((await node.send('POST', KEY_PATH, { nodeName: name })).body.status).toEqual(served);
  });
});

describe('a placement on a node queue', () => {
  it('holds nothing of the pod in clear, and opens with that node\'s key only', async () => {
    // Prepare: a node without an agent (this test reads its queue), with its queue and its key
    const nodeName = uniqueName('sealed-node');
    const queueName = nodeQueueName(config.queuePrefix, 'default', nodeName);
    queues.push(queueName, nodeDeadLetterQueueName(config.queuePrefix, 'default', nodeName));
    const QueueUrl = (await sqs.send(new CreateQueueCommand({ QueueName: queueName }))).QueueUrl!;
    const node = await nodeApi(nodeName);
    const key = (await node.send('POST', KEY_PATH, { nodeName })).body.status as { keyId: string; key: string };
    const podName = uniqueName('payroll-secret-pod');

    // Act: a pod bound to that node (the scheduler's stream consumer tells the node)
    await createPod(admin, '/api/v1/namespaces/default', podName, [{ name: 'main', image: TEST_IMAGES.busybox, command: ['sleep', '3600'], env: [{ name: 'DB_PASSWORD', value: 'hunter2-in-clear' }] }], { nodeName });
    const uid = (await admin.get(`/api/v1/namespaces/default/pods/${podName}`)).body.metadata.uid as string;
    const body = await eventually(async () => {
      const out = await sqs.send(new ReceiveMessageCommand({ QueueUrl, WaitTimeSeconds: 2, MaxNumberOfMessages: 10 }));
      return out.Messages?.map((m) => m.Body!).find((b) => b.includes('"sealed"'));
    }, 60_000, 'a placement on the node queue');

    // Assess: no pod name, namespace-qualified name, uid, image, command or env value in clear
    for (const clear of [podName, uid, TEST_IMAGES.busybox, 'busybox', 'sleep', 'hunter2', 'DB_PASSWORD', nodeName]) expect(body).not.toContain(clear);
    const sealed = SealedPlacementSchema.parse(JSON.parse(body));
    expect(sealed.k).toBe(key.keyId);
    const opened = openPlacement(sealed, { cluster: 'default', nodeName }, { keyId: key.keyId, key: Buffer.from(key.key, 'base64') });
    expect(opened.message).toMatchObject({ kind: 'sync', tenant: 'default', namespace: 'default', name: podName, uid });
    expect((opened.message.pod as { spec: { containers: { image: string }[] } }).spec.containers[0]!.image).toBe(TEST_IMAGES.busybox);
    // The agent node, even holding this very key, cannot open it as its own (moved into its queue).
    expect(() => openPlacement(sealed, { cluster: 'default', nodeName: stack.nodeName }, { keyId: key.keyId, key: Buffer.from(key.key, 'base64') })).toThrow(PlacementSealError);
    await admin.send('DELETE', `/api/v1/namespaces/default/pods/${podName}?gracePeriodSeconds=0`);
  });

  it('still starts a pod on the agent\'s node: the agent opens its sealed placement', async () => {
    // Prepare
    const podName = uniqueName('sealed-start');
    // Act
    await createPod(admin, '/api/v1/namespaces/default', podName, [{ name: 'main', image: TEST_IMAGES.busybox, command: ['sleep', '3600'] }], { nodeName: stack.nodeName });
    await waitForPod(admin, '/api/v1/namespaces/default', podName, 'running', allRunning, 90_000);
    // Assess: the sync that started it came from a placement message (its lines carry the message
    // id), and the agent dropped no placement as not its own.
    const lines = readFileSync(stack.agentLog, 'utf8').split('\n');
    expect(lines.some((l) => l.includes(`"default/${podName}"`) && l.includes('placementMessageId'))).toBe(true);
    expect(lines.filter((l) => l.includes('sealed placement not for this node'))).toEqual([]);
    expect(lines.some((l) => l.includes('placement key fetched'))).toBe(true);
    await admin.send('DELETE', `/api/v1/namespaces/default/pods/${podName}?gracePeriodSeconds=0`);
  });
});
