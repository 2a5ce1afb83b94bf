import { describe, expect, it } from 'vitest';
import { validatePod } from '../../shared/validation/pod';
import type { PodSpec } from '../../shared/schemas/pod';

// Kubernetes' pod validation of volume item paths, hostPath and subPath (pkg/apis/core/validation):
// the API refuses a pod whose files would land outside their volume, with these fields and words.
const pod = (spec: Record<string, unknown>) => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, spec: { containers: [{ name: 'c', image: 'busybox' }], ...spec } as PodSpec });
const causesOf = (spec: Record<string, unknown>) => validatePod(pod(spec)).map((c) => `${c.field}: ${c.message}`);

describe('volume paths (pod validation)', () => {
  it.each([
    ['a configMap item climbing out', { volumes: [{ name: 'v', configMap: { name: 'cm', items: [{ key: 'k', path: '../../etc/x' }] } }] }, [`spec.volumes[0].configMap.items[0].path: Invalid value: "../../etc/x": must not contain '..'`]],
    ['a secret item with an absolute path', { volumes: [{ name: 'v', secret: { secretName: 's', items: [{ key: 'k', path: '/etc/x' }] } }] }, [`spec.volumes[0].secret.items[0].path: Invalid value: "/etc/x": must be a relative path`]],
    ['a secret item with .. inside', { volumes: [{ name: 'v', secret: { secretName: 's', items: [{ key: 'k', path: 'a/../../x' }] } }] }, [`spec.volumes[0].secret.items[0].path: Invalid value: "a/../../x": must not contain '..'`]],
    ['an item named like the atomic writer\'s ..data', { volumes: [{ name: 'v', configMap: { name: 'cm', items: [{ key: 'k', path: '..data' }] } }] }, [`spec.volumes[0].configMap.items[0].path: Invalid value: "..data": must not start with '..'`]],
    ['an item without key or path', { volumes: [{ name: 'v', configMap: { name: 'cm', items: [{}] } }] }, ['spec.volumes[0].configMap.items[0].key: Required value', 'spec.volumes[0].configMap.items[0].path: Required value']],
    ['a downwardAPI item climbing out (Kubernetes reports it without the index)', { volumes: [{ name: 'v', downwardAPI: { items: [{ path: '../x', fieldRef: { fieldPath: 'metadata.name' } }] } }] }, [`spec.volumes[0].downwardAPI.path: Invalid value: "../x": must not contain '..'`]],
    ['a projected configMap item', { volumes: [{ name: 'v', projected: { sources: [{ configMap: { name: 'cm', items: [{ key: 'k', path: '/x' }] } }] } }] }, [`spec.volumes[0].projected.sources[0].configMap.items[0].path: Invalid value: "/x": must be a relative path`]],
    ['a projected downwardAPI item', { volumes: [{ name: 'v', projected: { sources: [{ downwardAPI: { items: [{ path: '..x', fieldRef: { fieldPath: 'metadata.name' } }] } }] } }] }, [`spec.volumes[0].projected.sources[0].downwardAPI.path: Invalid value: "..x": must not start with '..'`]],
    ['a projected token path', { volumes: [{ name: 'v', projected: { sources: [{ serviceAccountToken: { path: '../token' } }] } }] }, [`spec.volumes[0].projected.path: Invalid value: "../token": must not contain '..'`]],
    ['a hostPath with ..', { volumes: [{ name: 'v', hostPath: { path: '/tmp/../etc' } }] }, [`spec.volumes[0].hostPath.path: Invalid value: "/tmp/../etc": must not contain '..'`]],
    ['a subPath climbing out', { volumes: [{ name: 'v', emptyDir: {} }], containers: [{ name: 'c', image: 'busybox', volumeMounts: [{ name: 'v', mountPath: '/v', subPath: '../..' }] }] }, [`spec.containers[0].volumeMounts[0].subPath: Invalid value: "../..": must not contain '..'`]],
    ['an absolute subPath of an init container', { volumes: [{ name: 'v', emptyDir: {} }], initContainers: [{ name: 'i', image: 'busybox', volumeMounts: [{ name: 'v', mountPath: '/v', subPath: '/etc' }] }] }, [`spec.initContainers[0].volumeMounts[0].subPath: Invalid value: "/etc": must be a relative path`]],
    ['a subPathExpr climbing out', { volumes: [{ name: 'v', emptyDir: {} }], containers: [{ name: 'c', image: 'busybox', volumeMounts: [{ name: 'v', mountPath: '/v', subPathExpr: '../$(POD)' }] }] }, [`spec.containers[0].volumeMounts[0].subPathExpr: Invalid value: "../$(POD)": must not contain '..'`]],
    ['subPath and subPathExpr together', { volumes: [{ name: 'v', emptyDir: {} }], containers: [{ name: 'c', image: 'busybox', volumeMounts: [{ name: 'v', mountPath: '/v', subPath: 'a', subPathExpr: '$(POD)' }] }] }, [`spec.containers[0].volumeMounts[0].subPathExpr: Invalid value: "$(POD)": subPathExpr and subPath are mutually exclusive`]],
  ])('refuses %s', (_what, spec, expected) => {
    expect(causesOf(spec)).toEqual(expected);
  });

  it.each([
    ['nested item paths, dots inside names', { volumes: [{ name: 'v', configMap: { name: 'cm', items: [{ key: 'k', path: 'a/b..c/.d' }] } }] }],
    ['a subPath below the volume', { volumes: [{ name: 'v', emptyDir: {} }], containers: [{ name: 'c', image: 'busybox', volumeMounts: [{ name: 'v', mountPath: '/v', subPath: 'a/b' }] }] }],
    ['a subPathExpr below the volume', { volumes: [{ name: 'v', emptyDir: {} }], containers: [{ name: 'c', image: 'busybox', volumeMounts: [{ name: 'v', mountPath: '/v', subPathExpr: 'logs/$(POD_NAME)' }] }] }],
    ['a hostPath without ..', { volumes: [{ name: 'v', hostPath: { path: '/srv/data' } }] }],
    ['a projected token with a plain path', { volumes: [{ name: 'v', projected: { sources: [{ serviceAccountToken: { path: 'token' } }] } }] }],
  ])('takes %s', (_what, spec) => {
    expect(causesOf(spec)).toEqual([]);
  });

  it('checks paths when the pod is made, not on its later updates (volumes are immutable)', () => {
    const bad = pod({ volumes: [{ name: 'v', configMap: { name: 'cm', items: [{ key: 'k', path: '..data' }] } }] });
    expect(validatePod(bad, bad)).toEqual([]);
  });
});
