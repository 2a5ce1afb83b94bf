import { describe, expect, it } from 'vitest';
import { jsonMergePatch, strategicMergePatch } from '../../shared/patch/merge';
import { PATCH_TABLES, patchTableFor } from '../../shared/patch/strategy';

describe('JSON merge patch (RFC 7386)', () => {
  it('merges maps, deletes with null, replaces lists', () => {
    // Prepare
    const target = { a: 1, b: { c: 2, d: 3 }, l: [1, 2] };
    // Act
    const out = jsonMergePatch(target, { b: { c: null, e: 4 }, l: [3] });
    // Assess
    expect(out).toEqual({ a: 1, b: { d: 3, e: 4 }, l: [3] });
    expect(target.b.c).toBe(2); // input untouched
  });
});

describe('strategic merge patch', () => {
  const pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    spec: {
      containers: [
        { name: 'a', image: 'img:1', env: [{ name: 'X', value: '1' }] },
        { name: 'b', image: 'img:2' },
      ],
    },
    metadata: { finalizers: ['f1'] },
  };

  it('merges containers by name and env by name (a new element goes before the server-only ones, as in Kubernetes)', () => {
    const out = strategicMergePatch(pod, { spec: { containers: [{ name: 'a', image: 'img:9', env: [{ name: 'Y', value: '2' }] }] } }) as typeof pod;
    expect(out.spec.containers).toEqual([
      { name: 'a', image: 'img:9', env: [{ name: 'Y', value: '2' }, { name: 'X', value: '1' }] },
      { name: 'b', image: 'img:2' },
    ]);
  });

  it('deletes a list element with $patch: delete', () => {
    const out = strategicMergePatch(pod, { spec: { containers: [{ name: 'b', $patch: 'delete' }] } }) as typeof pod;
    expect(out.spec.containers.map((c) => c.name)).toEqual(['a']);
  });

  it("merges finalizers as a set (in the patch's order) and removes with $deleteFromPrimitiveList", () => {
    const added = strategicMergePatch(pod, { metadata: { finalizers: ['f2', 'f1'] } }) as typeof pod;
    expect(added.metadata.finalizers).toEqual(['f2', 'f1']);
    const removed = strategicMergePatch(added, { metadata: { '$deleteFromPrimitiveList/finalizers': ['f1'] } }) as typeof pod;
    expect(removed.metadata.finalizers).toEqual(['f2']);
  });

  it('replaces lists without a merge key', () => {
    const out = strategicMergePatch({ kind: 'Pod', spec: { containers: [{ name: 'a', args: ['1', '2'] }] } }, { spec: { containers: [{ name: 'a', args: ['3'] }] } });
    expect(out).toEqual({ kind: 'Pod', spec: { containers: [{ name: 'a', args: ['3'] }] } });
  });
});

describe('strategic merge patch: what kubectl apply sends', () => {
  const current = {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { labels: { app: 'web', tier: 'front' }, annotations: { a: '1' } },
    spec: {
      template: { spec: { containers: [{ name: 'main', image: 'img:1', env: [{ name: 'A', value: '1' }, { name: 'B', value: '2' }] }] } },
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1 } },
    },
  };

  it('changes a value and keeps the order kubectl names in $setElementOrder', () => {
    // Prepare: kubectl 1.32 client-side apply, env B changed
    const patch = {
      spec: {
        template: {
          spec: {
            '$setElementOrder/containers': [{ name: 'main' }],
            containers: [{ '$setElementOrder/env': [{ name: 'B' }, { name: 'A' }], env: [{ name: 'B', value: '3' }], name: 'main' }],
          },
        },
      },
    };
    // Act
    const out = strategicMergePatch(current, patch) as typeof current;
    // Assess
    expect(out.spec.template.spec.containers[0]!.env).toEqual([{ name: 'B', value: '3' }, { name: 'A', value: '1' }]);
    expect(JSON.stringify(out)).not.toContain('$setElementOrder');
  });

  it('removes a field that left the last-applied configuration (null)', () => {
    // Prepare
    const patch = { metadata: { labels: { tier: null } } };
    // Act
    const out = strategicMergePatch(current, patch) as typeof current;
    // Assess
    expect(out.metadata.labels).toEqual({ app: 'web' });
  });

  it('removes a list element kubectl deletes with $patch: delete, keeping the rest in order', () => {
    // Prepare
    const patch = {
      spec: { template: { spec: { containers: [{ '$setElementOrder/env': [{ name: 'B' }], env: [{ name: 'A', $patch: 'delete' }], name: 'main' }] } } },
    };
    // Act
    const out = strategicMergePatch(current, patch) as typeof current;
    // Assess
    expect(out.spec.template.spec.containers[0]!.env).toEqual([{ name: 'B', value: '2' }]);
  });

  it('clears the keys $retainKeys does not list', () => {
    // Prepare: a strategy switched to Recreate drops rollingUpdate
    const patch = { spec: { strategy: { $retainKeys: ['type'], type: 'Recreate' } } };
    // Act
    const out = strategicMergePatch(current, patch) as typeof current;
    // Assess
    expect(out.spec.strategy).toEqual({ type: 'Recreate' });
  });

  it('orders primitive lists by $setElementOrder too', () => {
    // Prepare
    const target = { kind: 'ConfigMap', metadata: { finalizers: ['a', 'b'] } };
    // Act
    const out = strategicMergePatch(target, { metadata: { '$setElementOrder/finalizers': ['c', 'a'], finalizers: ['c'] } });
    // Assess
    expect(out).toEqual({ kind: 'ConfigMap', metadata: { finalizers: ['c', 'a', 'b'] } });
  });

  it('leaves the input untouched', () => {
    // Prepare
    const before = JSON.stringify(current);
    // Act
    strategicMergePatch(current, { metadata: { labels: { tier: null } }, spec: { strategy: { $retainKeys: ['type'], type: 'Recreate' } } });
    // Assess
    expect(JSON.stringify(current)).toBe(before);
  });
});

/** Cases after apimachinery's strategicpatch tests and design docs, against the kinds' path tables. */
describe('strategic merge patch: Kubernetes semantics by field path', () => {
  type Case = [string, Record<string, unknown>, Record<string, unknown>, Record<string, unknown>];
  const pod = (spec: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, spec, ...extra });
  const svc = (spec: Record<string, unknown>) => ({ apiVersion: 'v1', kind: 'Service', metadata: { name: 's' }, spec });
  const cases: Case[] = [
    [
      'container ports merge by containerPort',
      pod({ containers: [{ name: 'c', ports: [{ containerPort: 80 }, { containerPort: 81 }] }] }),
      { spec: { containers: [{ name: 'c', ports: [{ containerPort: 81, name: 'web' }] }] } },
      pod({ containers: [{ name: 'c', ports: [{ containerPort: 80 }, { containerPort: 81, name: 'web' }] }] }),
    ],
    [
      'Service ports merge by port, not containerPort',
      svc({ ports: [{ port: 80, targetPort: 8080 }, { port: 443 }] }),
      { spec: { ports: [{ port: 80, targetPort: 9090 }] } },
      svc({ ports: [{ port: 80, targetPort: 9090 }, { port: 443 }] }),
    ],
    [
      'volumeMounts merge by mountPath',
      pod({ containers: [{ name: 'c', volumeMounts: [{ name: 'a', mountPath: '/a' }] }] }),
      { spec: { containers: [{ name: 'c', volumeMounts: [{ name: 'b', mountPath: '/a', readOnly: true }] }] } },
      pod({ containers: [{ name: 'c', volumeMounts: [{ name: 'b', mountPath: '/a', readOnly: true }] }] }),
    ],
    [
      'tolerations are atomic: replaced whole',
      pod({ containers: [], tolerations: [{ key: 'a', operator: 'Exists' }, { key: 'b', operator: 'Exists' }] }),
      { spec: { tolerations: [{ key: 'c', operator: 'Exists' }] } },
      pod({ containers: [], tolerations: [{ key: 'c', operator: 'Exists' }] }),
    ],
    [
      'Node taints are atomic',
      { apiVersion: 'v1', kind: 'Node', metadata: { name: 'n' }, spec: { taints: [{ key: 'a', effect: 'NoSchedule' }] } },
      { spec: { taints: [{ key: 'b', effect: 'NoSchedule' }] } },
      { apiVersion: 'v1', kind: 'Node', metadata: { name: 'n' }, spec: { taints: [{ key: 'b', effect: 'NoSchedule' }] } },
    ],
    [
      'a field named like a merge list elsewhere is atomic where Kubernetes says so (container args)',
      pod({ containers: [{ name: 'c', args: ['1', '2'] }] }),
      { spec: { containers: [{ name: 'c', args: ['3'] }] } },
      pod({ containers: [{ name: 'c', args: ['3'] }] }),
    ],
    [
      'ownerReferences merge by uid',
      pod({ containers: [] }, { metadata: { name: 'p', ownerReferences: [{ uid: '1', name: 'a' }] } }),
      { metadata: { ownerReferences: [{ uid: '2', name: 'b' }] } },
      pod({ containers: [] }, { metadata: { name: 'p', ownerReferences: [{ uid: '2', name: 'b' }, { uid: '1', name: 'a' }] } }),
    ],
    [
      'status conditions merge by type',
      pod({ containers: [] }, { status: { conditions: [{ type: 'Ready', status: 'False' }, { type: 'PodScheduled', status: 'True' }] } }),
      { status: { conditions: [{ type: 'Ready', status: 'True' }] } },
      pod({ containers: [] }, { status: { conditions: [{ type: 'Ready', status: 'True' }, { type: 'PodScheduled', status: 'True' }] } }),
    ],
    [
      'Deployment template containers merge by name at spec.template.spec.containers',
      { apiVersion: 'apps/v1', kind: 'Deployment', spec: { template: { spec: { containers: [{ name: 'a', image: '1' }, { name: 'b', image: '1' }] } } } },
      { spec: { template: { spec: { containers: [{ name: 'b', image: '2' }] } } } },
      { apiVersion: 'apps/v1', kind: 'Deployment', spec: { template: { spec: { containers: [{ name: 'a', image: '1' }, { name: 'b', image: '2' }] } } } },
    ],
    [
      'CronJob job template containers merge by name',
      { apiVersion: 'batch/v1', kind: 'CronJob', spec: { jobTemplate: { spec: { template: { spec: { containers: [{ name: 'a', image: '1' }, { name: 'b', image: '1' }] } } } } } },
      { spec: { jobTemplate: { spec: { template: { spec: { containers: [{ name: 'a', image: '2' }] } } } } } },
      { apiVersion: 'batch/v1', kind: 'CronJob', spec: { jobTemplate: { spec: { template: { spec: { containers: [{ name: 'a', image: '2' }, { name: 'b', image: '1' }] } } } } } },
    ],
    [
      'a {$patch: replace} element replaces the whole list',
      pod({ containers: [{ name: 'a' }, { name: 'b' }] }),
      { spec: { containers: [{ name: 'c' }, { $patch: 'replace' }] } },
      pod({ containers: [{ name: 'c' }] }),
    ],
    [
      '$patch: replace on a map replaces it',
      pod({ containers: [], nodeSelector: { a: '1', b: '2' } }),
      { spec: { nodeSelector: { c: '3', $patch: 'replace' } } },
      pod({ containers: [], nodeSelector: { c: '3' } }),
    ],
    [
      '$patch: delete on a map empties it',
      pod({ containers: [], nodeSelector: { a: '1' } }),
      { spec: { nodeSelector: { $patch: 'delete' } } },
      pod({ containers: [], nodeSelector: {} }),
    ],
    [
      '$retainKeys on a volume (strategy merge,retainKeys) switches its source',
      pod({ containers: [], volumes: [{ name: 'v', emptyDir: {} }] }),
      { spec: { volumes: [{ name: 'v', hostPath: { path: '/tmp' }, $retainKeys: ['name', 'hostPath'] }] } },
      pod({ containers: [], volumes: [{ name: 'v', hostPath: { path: '/tmp' } }] }),
    ],
    [
      '$deleteFromPrimitiveList leaves other values and a list the server does not have',
      pod({ containers: [] }, { metadata: { name: 'p', finalizers: ['a', 'b', 'c'] } }),
      { metadata: { '$deleteFromPrimitiveList/finalizers': ['b', 'x'], '$deleteFromPrimitiveList/other': ['z'] } },
      pod({ containers: [] }, { metadata: { name: 'p', finalizers: ['a', 'c'] } }),
    ],
    [
      // the design doc's example ("preserve order in strategic merge patch"); the result is what
      // apimachinery's mergeSortedSlice gives (a server-only element keeps its place relative to
      // listed ones the live list also had), not the doc's simplified one
      '$setElementOrder: listed order, server-only elements interleaved by their live position',
      pod({ containers: [{ name: 'c', env: [{ name: 'ENV2', value: 'bar' }, { name: 'ENV5', value: 's2' }, { name: 'ENV1', value: 'foo' }, { name: 'ENV3', value: 'baz' }, { name: 'ENV4', value: 's1' }] }] }),
      {
        spec: {
          containers: [
            {
              name: 'c',
              '$setElementOrder/env': [{ name: 'ENV1' }, { name: 'ENV2' }, { name: 'ENV6' }],
              env: [{ name: 'ENV3', $patch: 'delete' }, { name: 'ENV6', value: 'new' }],
            },
          ],
        },
      },
      pod({ containers: [{ name: 'c', env: [{ name: 'ENV5', value: 's2' }, { name: 'ENV1', value: 'foo' }, { name: 'ENV2', value: 'bar' }, { name: 'ENV6', value: 'new' }, { name: 'ENV4', value: 's1' }] }] }),
    ],
    [
      '$setElementOrder alone reorders',
      pod({ containers: [{ name: 'c', env: [{ name: 'B' }, { name: 'A' }] }] }),
      { spec: { containers: [{ name: 'c', '$setElementOrder/env': [{ name: 'A' }, { name: 'B' }] }] } },
      pod({ containers: [{ name: 'c', env: [{ name: 'A' }, { name: 'B' }] }] }),
    ],
    [
      'a list the server lacks is taken from the patch, its directives dropped',
      pod({ containers: [{ name: 'c' }] }),
      { spec: { containers: [{ name: 'c', env: [{ name: 'A', value: '1' }, { name: 'B', $patch: 'delete' }] }] } },
      pod({ containers: [{ name: 'c', env: [{ name: 'A', value: '1' }] }] }),
    ],
  ];
  it.each(cases)('%s', (_name, target, patch, expected) => {
    // Act
    const out = strategicMergePatch(target, patch);
    // Assess
    expect(out).toEqual(expected);
  });

  it.each([
    ['$retainKeys not a list', { spec: { strategy: { $retainKeys: 'type', type: 'Recreate' } } }, 'invalid patch format of retainKeys'],
    ['a patched key missing from $retainKeys', { spec: { strategy: { $retainKeys: ['type'], type: 'Recreate', rollingUpdate: {} } } }, 'invalid patch format of retainKeys'],
    ['an unknown $patch directive', { spec: { strategy: { $patch: 'bogus' } } }, 'unknown patch type: bogus'],
    ['$patch: merge in a list', { spec: { template: { spec: { containers: [{ $patch: 'merge' }] } } } }, 'merging lists cannot yet be specified in the patch'],
    ['a list element without its merge key', { spec: { template: { spec: { containers: [{ image: 'x' }] } } } }, 'does not contain declared merge key: name'],
    ['$setElementOrder out of step with the patch list', { spec: { template: { spec: { '$setElementOrder/containers': [{ name: 'a' }], containers: [{ name: 'b' }] } } } }, "doesn't match $setElementOrder list"],
    ['a patch that is not an object', [1, 2], 'json: cannot unmarshal array'],
  ])('rejects %s with 400', (_name, patch, message) => {
    // Prepare
    const target = { apiVersion: 'apps/v1', kind: 'Deployment', spec: { strategy: { type: 'RollingUpdate' }, template: { spec: { containers: [{ name: 'a' }] } } } };
    // Act
    const run = () => strategicMergePatch(target, patch);
    // Assess
    expect(run).toThrow(expect.objectContaining({ code: 400, message: expect.stringContaining(message) }));
  });
});

describe('patch tables by kind', () => {
  it.each([
    ['', 'Pod', 'spec.containers', { mergeKey: 'name', strategy: 'merge' }],
    ['', 'Pod', 'spec.initContainers', { mergeKey: 'name', strategy: 'merge' }],
    ['', 'Pod', 'spec.containers.ports', { mergeKey: 'containerPort', strategy: 'merge' }],
    ['', 'Pod', 'spec.containers.env', { mergeKey: 'name', strategy: 'merge' }],
    ['', 'Pod', 'spec.containers.volumeMounts', { mergeKey: 'mountPath', strategy: 'merge' }],
    ['', 'Pod', 'spec.volumes', { mergeKey: 'name', strategy: 'merge,retainKeys' }],
    ['', 'Pod', 'spec.imagePullSecrets', { mergeKey: 'name', strategy: 'merge' }],
    ['', 'Pod', 'spec.tolerations', undefined],
    ['', 'Pod', 'metadata.finalizers', { strategy: 'merge' }],
    ['', 'Pod', 'metadata.ownerReferences', { mergeKey: 'uid', strategy: 'merge' }],
    ['', 'Pod', 'status.conditions', { mergeKey: 'type', strategy: 'merge' }],
    ['', 'Service', 'spec.ports', { mergeKey: 'port', strategy: 'merge' }],
    ['', 'Node', 'spec.taints', undefined],
    ['', 'Node', 'spec.podCIDRs', { strategy: 'merge' }],
    ['apps', 'Deployment', 'spec.strategy', { strategy: 'retainKeys' }],
    ['apps', 'Deployment', 'spec.template.spec.containers.env', { mergeKey: 'name', strategy: 'merge' }],
    ['apps', 'Deployment', 'spec.template.metadata.finalizers', { strategy: 'merge' }],
    ['batch', 'CronJob', 'spec.jobTemplate.spec.template.spec.volumes', { mergeKey: 'name', strategy: 'merge,retainKeys' }],
    ['policy', 'PodDisruptionBudget', 'status.conditions', { mergeKey: 'type', strategy: 'merge' }],
    ['', 'ConfigMap', 'metadata.finalizers', { strategy: 'merge' }],
  ])('%s %s %s', (group, kind, path, meta) => {
    // Assess
    expect(patchTableFor(group, kind)[path]).toEqual(meta);
  });

  it('names every kind it holds in Kubernetes GroupKind spelling', () => {
    // Assess
    expect(Object.keys(PATCH_TABLES)).toContain('Deployment.apps');
    expect(Object.keys(PATCH_TABLES)).toContain('Pod');
  });
});
