import { describe, expect, it } from 'vitest';
import { podActions, reconcileNode } from '../../../functions/node-lifecycle/controller';
import { withDefaultTolerations } from '../../../shared/scheduling/taints';
import { computePdbStatus } from '../../../shared/registry/eviction';
import type { PodDisruptionBudget } from '../../../shared/schemas/policy';
import type { KubeObject } from '../../../shared/resources';
import { node, pod } from './fixtures';

const NOW = new Date('2025-01-01T00:10:00Z');
const ago = (s: number) => new Date(NOW.getTime() - s * 1000).toISOString().replace(/\.\d+Z$/, 'Z');
const lease = (renewedSecondsAgo: number): KubeObject => ({ metadata: { name: 'n' }, spec: { renewTime: ago(renewedSecondsAgo) } });
const withHeartbeat = (n: KubeObject, secondsAgo: number, status = 'True'): KubeObject => ({
  ...n,
  metadata: { ...n.metadata, creationTimestamp: ago(3600) },
  status: { ...(n.status as object), conditions: [{ type: 'Ready', status, lastHeartbeatTime: ago(secondsAgo) }] },
});
const settings = { nodeMonitorGraceSeconds: 50 };
const taintKeys = (n: KubeObject | undefined) => ((n?.spec as { taints?: { key: string; effect: string }[] })?.taints ?? []).map((t) => `${t.key}:${t.effect}`);

describe('reconcileNode', () => {
  it.each([
    ['fresh lease: nothing to do', 10, 5, 'True', undefined, []],
    ['lease and status stale past the grace period: Unknown, unreachable taints', 120, 60, 'True', 'Unknown', ['node.kubernetes.io/unreachable:NoSchedule', 'node.kubernetes.io/unreachable:NoExecute']],
    ['status stale but the lease fresh: still alive', 120, 5, 'True', undefined, []],
    ['the kubelet says NotReady: not-ready taints', 5, 5, 'False', 'False', ['node.kubernetes.io/not-ready:NoSchedule', 'node.kubernetes.io/not-ready:NoExecute']],
  ])('%s', (_n, statusAgo, leaseAgo, ready, wantReady, wantTaints) => {
    // Prepare
    const n = withHeartbeat(node('n'), statusAgo, ready);
    // Act
    const next = reconcileNode(n, lease(leaseAgo), NOW, settings);
    // Assess
    if (wantReady === undefined) expect(next).toBeUndefined();
    else {
      expect((next!.status as { conditions: { type: string; status: string }[] }).conditions.find((c) => c.type === 'Ready')?.status).toBe(wantReady);
      expect(taintKeys(next)).toEqual(wantTaints);
    }
  });

  it('clears its taints once the node is Ready again, keeping the others', () => {
    // Prepare
    const n = withHeartbeat(node('n', { taints: [{ key: 'node.kubernetes.io/unreachable', effect: 'NoExecute' }, { key: 'dedicated', value: 'x', effect: 'NoSchedule' }] }), 1);
    // Act
    const next = reconcileNode(n, lease(1), NOW, settings);
    // Assess
    expect(taintKeys(next)).toEqual(['dedicated:NoSchedule']);
  });

  it('honours a shorter grace period', () => {
    const next = reconcileNode(withHeartbeat(node('n'), 15), lease(15), NOW, { nodeMonitorGraceSeconds: 10 });
    expect(taintKeys(next)).toContain('node.kubernetes.io/unreachable:NoExecute');
  });
});

describe('podActions (taint-based eviction)', () => {
  const tainted = node('n', { taints: [{ key: 'node.kubernetes.io/unreachable', effect: 'NoExecute', timeAdded: ago(10) }] });
  it.each([
    ['no toleration: evict now', [], 'evict'],
    ['tolerated for 5 s, tainted 10 s ago: evict', [{ key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 5 }], 'evict'],
    ['tolerated for 300 s: wait', [{ key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 }], 'wait'],
    ['tolerated forever: stay', [{ key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute' }], undefined],
  ])('%s', (_n, tolerations, want) => {
    // Prepare
    const p = pod('p', { tolerations }, { nodeName: 'n' });
    // Act
    const actions = podActions(tainted, [p], NOW);
    // Assess
    expect(actions[0]?.kind).toBe(want);
  });

  it('adds the default tolerations only where the pod has none of its own', () => {
    // Prepare
    const own = pod('p', { tolerations: [{ key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 5 }] });
    // Act
    const t = (withDefaultTolerations(own, 300).spec as { tolerations: { key: string; tolerationSeconds: number }[] }).tolerations;
    // Assess
    expect(t.map((x) => [x.key, x.tolerationSeconds])).toEqual([
      ['node.kubernetes.io/unreachable', 5],
      ['node.kubernetes.io/not-ready', 300],
    ]);
  });
});

describe('PodDisruptionBudget status', () => {
  const ready = (name: string, extra: Partial<KubeObject['metadata']> = {}): KubeObject => ({
    metadata: { name, labels: { app: 'web' }, ...extra },
    status: { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] },
  });
  const pdb = (spec: PodDisruptionBudget['spec']): PodDisruptionBudget => ({ metadata: { name: 'b', generation: 1 }, spec: { selector: { matchLabels: { app: 'web' } }, ...spec } });
  it.each([
    ['minAvailable 2 of 3 healthy', { minAvailable: 2 }, [ready('a'), ready('b'), ready('c')], 1],
    ['minAvailable 3 of 3', { minAvailable: 3 }, [ready('a'), ready('b'), ready('c')], 0],
    ['maxUnavailable 1', { maxUnavailable: 1 }, [ready('a'), ready('b'), ready('c')], 1],
    ['minAvailable 50% rounds up', { minAvailable: '50%' }, [ready('a'), ready('b'), ready('c')], 1],
    ['a pod already terminating is not healthy', { minAvailable: 2 }, [ready('a'), ready('b'), ready('c', { deletionTimestamp: ago(1) })], 0],
  ])('%s', (_n, spec, pods, want) => {
    expect(computePdbStatus(pdb(spec), pods, NOW.getTime()).disruptionsAllowed).toBe(want);
  });
});
