import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { openPlacement, PlacementSealError, sealPlacement, SealedPlacementSchema, type PlacementKey } from '../../shared/placement-seal';
import { MAX_CARRIED_MESSAGE_BYTES, podSyncMessage, podSyncMessageBody } from '../../shared/queue';

/* Sealed placements (shared/placement-seal.ts): a node's queue message readable by that node only. */

const keyA: PlacementKey = { keyId: 'aa01', key: randomBytes(32) };
const keyB: PlacementKey = { keyId: 'bb02', key: randomBytes(32) };
const pod = {
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: 'payroll-db', namespace: 'finance', uid: 'uid-1', resourceVersion: '42' },
  spec: { nodeName: 'node-a', containers: [{ name: 'db', image: 'registry.example/payroll:1.2', env: [{ name: 'PASSWORD', value: 'hunter2' }] }] },
};
const message = podSyncMessage('acme', pod);
const toA = { cluster: 'acme', nodeName: 'node-a' };
const parse = (body: string) => SealedPlacementSchema.parse(JSON.parse(body));

describe('sealed placements', () => {
  it('round-trips, with the time it was sealed, and shows nothing of the pod in clear', () => {
    // Prepare
    const body = sealPlacement(message, toA, keyA, 1_000_000);
    // Act
    const opened = openPlacement(parse(body), toA, keyA);
    // Assess
    expect(opened.message).toEqual(message);
    expect(opened.sealedAt.getTime()).toBe(1_000_000);
    for (const clear of ['payroll', 'finance', 'hunter2', 'registry.example', 'uid-1', 'node-a', 'acme']) expect(body).not.toContain(clear);
    // A fresh nonce each time: two seals of one message differ.
    expect(sealPlacement(message, toA, keyA)).not.toBe(sealPlacement(message, toA, keyA));
  });

  it('does not open for another node, even one holding the same key (a message moved into another node\'s queue)', () => {
    const body = sealPlacement(message, toA, keyA);
    expect(() => openPlacement(parse(body), { cluster: 'acme', nodeName: 'node-b' }, keyA)).toThrow(PlacementSealError);
  });

  it('does not open with another node\'s key (replayed into node B\'s queue, B opens with its own key)', () => {
    const body = sealPlacement(message, toA, keyA);
    // The key id says A's key: B refuses before decrypting; with the id rewritten, the tag refuses.
    expect(() => openPlacement(parse(body), { cluster: 'acme', nodeName: 'node-b' }, keyB)).toThrow(PlacementSealError);
    const relabelled = { ...parse(body), k: keyB.keyId };
    expect(() => openPlacement(relabelled, { cluster: 'acme', nodeName: 'node-b' }, keyB)).toThrow(PlacementSealError);
    expect(() => openPlacement(relabelled, toA, { keyId: keyB.keyId, key: keyA.key })).toThrow(PlacementSealError);
  });

  it('does not open for another cluster with a node of the same name', () => {
    const body = sealPlacement(message, toA, keyA);
    expect(() => openPlacement(parse(body), { cluster: 'other', nodeName: 'node-a' }, keyA)).toThrow(PlacementSealError);
    expect(() => sealPlacement(message, { cluster: 'other', nodeName: 'node-a' }, keyA)).toThrow(/cluster acme/);
  });

  it('refuses a tampered body (every byte of it) and a truncated one', () => {
    const sealed = parse(sealPlacement(message, toA, keyA));
    const data = Buffer.from(sealed.d, 'base64');
    for (let i = 0; i < data.length; i += Math.max(1, Math.floor(data.length / 50))) {
      const changed = Buffer.from(data);
      changed[i]! ^= 0x01;
      expect(() => openPlacement({ ...sealed, d: changed.toString('base64') }, toA, keyA)).toThrow(PlacementSealError);
    }
    expect(() => openPlacement({ ...sealed, d: data.subarray(0, 20).toString('base64') }, toA, keyA)).toThrow(PlacementSealError);
  });

  it('refuses a forgery by a node that knows only its own key', () => {
    // Node B seals a pod "for A" with B's key, labelled with A's key id: A's key does not open it.
    const forged = sealPlacement(message, toA, { keyId: keyA.keyId, key: keyB.key });
    expect(() => openPlacement(parse(forged), toA, keyA)).toThrow(PlacementSealError);
  });

  it('is what a sender puts on the queue when it has the node\'s key, leaving out a pod whose sealed body would not fit', () => {
    // Prepare
    const big = { ...pod, metadata: { ...pod.metadata, annotations: { blob: 'x'.repeat(160 * 1024) } } };
    // Act
    const body = podSyncMessageBody(message, { nodeName: 'node-a', key: keyA });
    const bigBody = podSyncMessageBody(podSyncMessage('acme', big), { nodeName: 'node-a', key: keyA });
    // Assess: the plain body of the big pod fits (under 200 KiB), its sealed form (base64) would not
    expect(Buffer.byteLength(JSON.stringify(podSyncMessage('acme', big)))).toBeLessThan(MAX_CARRIED_MESSAGE_BYTES);
    expect(openPlacement(parse(body), toA, keyA).message).toEqual(message);
    expect(Buffer.byteLength(bigBody)).toBeLessThanOrEqual(MAX_CARRIED_MESSAGE_BYTES);
    expect(openPlacement(parse(bigBody), toA, keyA).message).toEqual({ kind: 'sync', tenant: 'acme', namespace: 'finance', name: 'payroll-db', uid: 'uid-1' });
    expect(JSON.parse(podSyncMessageBody(message))).toEqual(message); // no key: in clear, as before
  });
});
