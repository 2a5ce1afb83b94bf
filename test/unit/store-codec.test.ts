import { brotliCompressSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { approximateBytes, decodeObject, encodeObject } from '../../shared/store/codec';
import type { KubeObject } from '../../shared/resources';

/*
 * The stored form of objects (shared/store/codec.ts): compressed, and read back from every form
 * `o` takes (bytes from the SDK, base64 from Lambda stream events, JSON from before compression).
 */
const pod: KubeObject = {
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: 'p', namespace: 'default', uid: '8b0c8f1e-1f0e-4c7a-9d3b-3f1d2a9c0e11', resourceVersion: '7', labels: { app: 'web' } },
  spec: { containers: [{ name: 'main', image: 'stratus-test/busybox:1.36', command: ['sleep', '3600'] }], tolerations: Array.from({ length: 4 }, (_, i) => ({ key: `k${i}`, operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 })) },
  status: { phase: 'Running', conditions: ['PodScheduled', 'Initialized', 'ContainersReady', 'Ready'].map((type) => ({ type, status: 'True', lastTransitionTime: '2026-11-23T22:25:00Z' })) },
};

describe('stored object codec', () => {
  it('round-trips, and stores a pod in well under half its JSON', () => {
    const bytes = encodeObject(pod);
    expect(bytes).toBeInstanceOf(Uint8Array);
    expect(Buffer.isBuffer(bytes)).toBe(false);
    expect(bytes.length).toBeLessThan(JSON.stringify(pod).length / 2);
    expect(decodeObject(bytes)).toEqual(pod);
  });

  it('reads base64 (Lambda stream events) and plain JSON (older items, Events)', () => {
    expect(decodeObject(Buffer.from(encodeObject(pod)).toString('base64'))).toEqual(pod);
    expect(decodeObject(JSON.stringify(pod))).toEqual(pod);
    expect(decodeObject(Buffer.from(brotliCompressSync(JSON.stringify(pod))))).toEqual(pod);
    expect(() => decodeObject(undefined)).toThrow(/not a stored object/);
  });

  it('sizes binary attributes by their length', () => {
    const bytes = encodeObject(pod);
    expect(approximateBytes({ o: bytes })).toBe(Buffer.byteLength(JSON.stringify({ o: 'x'.repeat(bytes.length) })));
  });
});
