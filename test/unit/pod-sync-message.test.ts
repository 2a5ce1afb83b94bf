import { describe, expect, it } from 'vitest';
import { PlacementMessageSchema } from '../../node-agent/placement-queue';
import { batchBodies, MAX_BATCH_BYTES, MAX_BATCH_ENTRIES, MAX_CARRIED_MESSAGE_BYTES, podSyncMessage, podSyncMessageBody } from '../../shared/queue';
import type { KubeObject } from '../../shared/resources';

/*
 * The placement message on a node's queue, from both ends: what the scheduler sends
 * (shared/queue.ts) and what the node agent accepts (node-agent/placement-queue.ts).
 */

const boundPod = (extra: Record<string, unknown> = {}): KubeObject => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: 'web', namespace: 'default', uid: 'u-1', resourceVersion: '42', ...extra },
  spec: { nodeName: 'n1', containers: [{ name: 'main', image: 'busybox' }] },
  status: { phase: 'Pending' },
});

describe('pod sync message', () => {
  it('carries the pod, and the agent reads it back as that pod', () => {
    // Act
    const body = podSyncMessageBody(podSyncMessage('t', boundPod()));
    const parsed = PlacementMessageSchema.parse(JSON.parse(body));
    // Assess
    expect(parsed).toMatchObject({ kind: 'sync', tenant: 't', namespace: 'default', name: 'web', uid: 'u-1' });
    expect(parsed.pod).toEqual(boundPod());
  });

  it('leaves out a pod whose message would exceed the size limit (the agent reads it instead)', () => {
    // Prepare: an annotation of 250 KB (allowed on an object; not in an SQS message)
    const big = boundPod({ annotations: { blob: 'x'.repeat(250 * 1024) } });
    // Act
    const body = podSyncMessageBody(podSyncMessage('t', big));
    // Assess
    expect(Buffer.byteLength(body)).toBeLessThan(MAX_CARRIED_MESSAGE_BYTES);
    expect(JSON.parse(body)).toEqual({ kind: 'sync', tenant: 't', namespace: 'default', name: 'web', uid: 'u-1' });
  });

  it('carries no pod without a resourceVersion (it could not be ordered)', () => {
    // Act
    const message = podSyncMessage('t', boundPod({ resourceVersion: undefined }));
    // Assess
    expect(message.pod).toBeUndefined();
    expect(message).toMatchObject({ kind: 'sync', uid: 'u-1' });
  });

  it('is read without a pod (older senders) and with an unreadable pod (dropped, message kept)', () => {
    // Prepare
    const plain = { kind: 'sync', tenant: 't', namespace: 'default', name: 'web', uid: 'u-1' };
    // Act
    const withoutPod = PlacementMessageSchema.safeParse(plain);
    const badPod = PlacementMessageSchema.safeParse({ ...plain, pod: { metadata: { name: 7 } } });
    const notSync = PlacementMessageSchema.safeParse({ ...plain, kind: 'other', pod: boundPod() });
    // Assess
    expect(withoutPod.success && withoutPod.data.pod).toBeUndefined();
    expect(badPod.success).toBe(true);
    expect(badPod.success && badPod.data.pod).toBeUndefined();
    expect(notSync.success).toBe(false);
  });
});

describe('batchBodies (SendMessageBatch requests)', () => {
  it('groups bodies in order, at most 10 a request', () => {
    const bodies = Array.from({ length: 23 }, (_, i) => `m${i}`);
    const batches = batchBodies(bodies);
    expect(batches.map((b) => b.length)).toEqual([10, 10, 3]);
    expect(batches.flat()).toEqual(bodies);
  });

  it('starts a new request before the bodies together would exceed the byte limit; a body over it goes alone', () => {
    const kb = (n: number, c: string) => c.repeat(n * 1024);
    const bodies = [kb(100, 'a'), kb(100, 'b'), kb(100, 'c'), kb(300, 'd'), kb(1, 'e')];
    const batches = batchBodies(bodies, MAX_BATCH_ENTRIES, MAX_BATCH_BYTES);
    expect(batches.map((b) => b.map((x) => x[0]).join(''))).toEqual(['ab', 'c', 'd', 'e']);
    expect(batchBodies([])).toEqual([]);
  });
});
