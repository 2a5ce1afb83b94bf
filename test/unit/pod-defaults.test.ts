import { describe, expect, it } from 'vitest';
import { defaultPod } from '../../shared/validation/pod';
import type { PodSpec } from '../../shared/schemas/pod';

const podWith = (spec: Partial<PodSpec>) => defaultPod({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, spec: { containers: [{ name: 'c', image: 'busybox' }], ...spec } as PodSpec });
const specOf = (o: ReturnType<typeof defaultPod>) => o.spec as PodSpec & { volumes?: Record<string, unknown>[] };

describe('pod defaults kubectl notices on read-back', () => {
  it.each([
    ['no apiVersion', { fieldRef: { fieldPath: 'metadata.name' } }, { fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.name' } }],
    ['an apiVersion given', { fieldRef: { apiVersion: 'v2', fieldPath: 'metadata.name' } }, { fieldRef: { apiVersion: 'v2', fieldPath: 'metadata.name' } }],
    ['a resourceFieldRef (no apiVersion there)', { resourceFieldRef: { resource: 'limits.cpu' } }, { resourceFieldRef: { resource: 'limits.cpu' } }],
    ['a secretKeyRef', { secretKeyRef: { name: 's', key: 'k' } }, { secretKeyRef: { name: 's', key: 'k' } }],
  ])('env valueFrom with %s', (_what, valueFrom, expected) => {
    // Act
    const out = podWith({ containers: [{ name: 'c', image: 'busybox', env: [{ name: 'A', valueFrom }, { name: 'B', value: 'x' }] }] });
    // Assess
    expect(specOf(out).containers![0]!.env).toEqual([{ name: 'A', valueFrom: expected }, { name: 'B', value: 'x' }]);
  });

  it('defaults fieldRef in init containers too', () => {
    // Act
    const out = podWith({ initContainers: [{ name: 'i', image: 'busybox', env: [{ name: 'A', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } }] }] });
    // Assess
    expect(specOf(out).initContainers![0]!.env![0]!.valueFrom).toEqual({ fieldRef: { apiVersion: 'v1', fieldPath: 'spec.nodeName' } });
  });

  it.each([
    ['no source', { name: 'v' }, { name: 'v', emptyDir: {} }],
    ['an emptyDir with a limit', { name: 'v', emptyDir: { sizeLimit: '1Gi' } }, { name: 'v', emptyDir: { sizeLimit: '1Gi' } }],
    ['a hostPath', { name: 'v', hostPath: { path: '/tmp' } }, { name: 'v', hostPath: { path: '/tmp' } }],
    [
      'a downwardAPI item without apiVersion',
      { name: 'v', downwardAPI: { items: [{ path: 'n', fieldRef: { fieldPath: 'metadata.name' } }] } },
      { name: 'v', downwardAPI: { items: [{ path: 'n', fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.name' } }] } },
    ],
    [
      'a projected downwardAPI item',
      { name: 'v', projected: { sources: [{ downwardAPI: { items: [{ path: 'n', fieldRef: { fieldPath: 'metadata.name' } }] } }, { configMap: { name: 'c' } }] } },
      { name: 'v', projected: { sources: [{ downwardAPI: { items: [{ path: 'n', fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.name' } }] } }, { configMap: { name: 'c' } }] } },
    ],
  ])('a volume with %s', (_what, volume, expected) => {
    // Act
    const out = podWith({ volumes: [volume] });
    // Assess
    expect(specOf(out).volumes).toEqual([expected]);
  });

  it('is idempotent and leaves its input untouched', () => {
    // Prepare
    const input = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, spec: { volumes: [{ name: 'v' }], containers: [{ name: 'c', image: 'busybox', env: [{ name: 'A', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } }] }] } };
    const before = JSON.stringify(input);
    // Act
    const once = defaultPod(input);
    // Assess
    expect(JSON.stringify(input)).toBe(before);
    expect(defaultPod(once)).toEqual(once);
  });
});
