import { describe, expect, it } from 'vitest';
import { ContainerConfigError, expand, makeEnvironment, type ConfigSource } from '../../node-agent/env';
import type { Pod } from '../../node-agent/types';

const pod = (env: unknown[], envFrom: unknown[] = []): Pod => ({
  metadata: { name: 'web', namespace: 'shop', uid: 'u-1', labels: { b: '2', a: '1' } },
  spec: { nodeName: 'n1', containers: [{ name: 'main', image: 'x', env: env as Pod['spec']['containers'][0]['env'], envFrom: envFrom as Pod['spec']['containers'][0]['envFrom'], resources: { limits: { cpu: '1500m' } } }] },
});
const ctx = { podIP: '10.0.0.9', hostIP: '192.0.2.1', nodeCpuCores: 4, nodeMemoryBytes: 8 * 2 ** 30 };
const source: ConfigSource = {
  configMap: async (_ns, name) => (name === 'cfg' ? { data: { color: 'blue', '1bad': 'x' } } : undefined),
  secret: async (_ns, name) => (name === 'sec' ? { data: { pw: 'p' } } : undefined),
};

describe('expand', () => {
  it.each([
    ['$(A)-$(B)', 'a-$(B)'],
    ['$$(A)', '$(A)'],
    ['$$', '$'],
    ['$(A', '$(A'],
    ['no vars', 'no vars'],
    ['$()', '$()'],
    ['x$', 'x$'],
  ])('%s becomes %s', (input, want) => {
    // Act
    const got = expand(input, (n) => (n === 'A' ? 'a' : undefined));
    // Assess
    expect(got).toBe(want);
  });
});

describe('makeEnvironment', () => {
  it('reads fields, resources, ConfigMaps and Secrets; later entries win and expand earlier ones', async () => {
    // Prepare
    const p = pod(
      [
        { name: 'LABELS', valueFrom: { fieldRef: { fieldPath: 'metadata.labels' } } },
        { name: 'CPU', valueFrom: { resourceFieldRef: { resource: 'limits.cpu' } } },
        { name: 'MEM', valueFrom: { resourceFieldRef: { resource: 'limits.memory', divisor: '1Gi' } } },
        { name: 'color', value: 'red:$(color)' },
        { name: 'PW', valueFrom: { secretKeyRef: { name: 'sec', key: 'pw' } } },
      ],
      [{ configMapRef: { name: 'cfg' } }],
    );
    // Act
    const got = await makeEnvironment(p, p.spec.containers[0]!, ctx, source);
    // Assess
    expect(Object.fromEntries(got.env.map((e) => [e.name, e.value]))).toEqual({ LABELS: 'a="1"\nb="2"', CPU: '2', MEM: '8', color: 'red:blue', PW: 'p' });
    expect(got.invalidKeys).toEqual(['1bad']);
  });

  it.each([
    [[{ name: 'X', valueFrom: { configMapKeyRef: { name: 'cfg', key: 'nope' } } }], "couldn't find key nope in ConfigMap shop/cfg"],
    [[{ name: 'X', valueFrom: { secretKeyRef: { name: 'gone', key: 'k' } } }], 'secret "gone" not found'],
    [[{ name: 'X', valueFrom: { fieldRef: { fieldPath: 'spec.bogus' } } }], 'unsupported fieldPath: spec.bogus'],
    [[{ name: 'X', valueFrom: {} }], 'invalid valueFrom for X: must specify one of fieldRef, resourceFieldRef, configMapKeyRef or secretKeyRef'],
  ])('refuses %j with "%s"', async (env, message) => {
    // Prepare
    const p = pod(env);
    // Act
    const got = makeEnvironment(p, p.spec.containers[0]!, ctx, source);
    // Assess
    await expect(got).rejects.toThrow(ContainerConfigError);
    await expect(got).rejects.toThrow(message);
  });

  it('skips optional references that are missing', async () => {
    // Prepare
    const p = pod([{ name: 'X', valueFrom: { configMapKeyRef: { name: 'gone', key: 'k', optional: true } } }], [{ secretRef: { name: 'gone', optional: true } }]);
    // Act
    const got = await makeEnvironment(p, p.spec.containers[0]!, ctx, source);
    // Assess
    expect(got.env).toEqual([]);
  });
});
