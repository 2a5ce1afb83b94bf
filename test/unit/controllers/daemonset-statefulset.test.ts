import { describe, expect, it } from 'vitest';
import { creates, deletes, updates } from '../../../functions/controllers/actions';
import { templateHash } from '../../../functions/controllers/common';
import { eligible, reconcileDaemonSet, REVISION_LABEL } from '../../../functions/controllers/daemonset';
import { reconcileStatefulSet } from '../../../functions/controllers/statefulset';
import type { KubeObject } from '../../../shared/resources';
import { NOW, pod, stored, template } from './fixtures';

const node = (name: string, labels: Record<string, string> = {}, taints: unknown[] = []): KubeObject => ({ apiVersion: 'v1', kind: 'Node', metadata: { name, labels }, spec: { taints } });

function daemonSet(spec: Record<string, unknown> = {}) {
  return stored('daemonsets', { apiVersion: 'apps/v1', kind: 'DaemonSet', metadata: { name: 'agent' }, spec: { selector: { matchLabels: { app: 'agent' } }, template: template({ app: 'agent' }), ...spec } });
}

describe('reconcileDaemonSet', () => {
  it('one pod on every eligible node, bound to it: nodeSelector and NoSchedule taints decide', () => {
    // Prepare
    const ds = daemonSet({ template: { ...template({ app: 'agent' }), spec: { ...template({}).spec, nodeSelector: { disk: 'ssd' } } } });
    const nodes = [node('a', { disk: 'ssd' }), node('b', { disk: 'hdd' }), node('c', { disk: 'ssd' }, [{ key: 'dedicated', value: 'x', effect: 'NoSchedule' }]), node('d', { disk: 'ssd' }, [{ key: 'node.kubernetes.io/not-ready', effect: 'NoExecute' }])];
    // Act
    const actions = reconcileDaemonSet({ ds, nodes, pods: [], now: NOW });
    // Assess: a, and d (daemons tolerate not-ready); not b (selector) nor c (taint)
    expect(creates(actions).map((c) => (c.object.spec as { nodeName: string }).nodeName)).toEqual(['a', 'd']);
    expect(eligible(ds as never, nodes[2]!)).toBe(false);
    expect(updates(actions, 'daemonsets')[0]!.object.status).toMatchObject({ desiredNumberScheduled: 2, currentNumberScheduled: 0 });
  });

  it('removes pods from nodes that are no longer eligible, and extra pods on a node', () => {
    // Prepare
    const ds = daemonSet();
    const hash = templateHash((ds.spec as { template: unknown }).template);
    const pods = [
      pod('agent-1', { app: 'agent', [REVISION_LABEL]: hash }, { owner: ds, ownerKind: 'DaemonSet', ready: true, node: 'a' }),
      pod('agent-2', { app: 'agent', [REVISION_LABEL]: hash }, { owner: ds, ownerKind: 'DaemonSet', ready: true, node: 'a' }),
      pod('agent-3', { app: 'agent', [REVISION_LABEL]: hash }, { owner: ds, ownerKind: 'DaemonSet', ready: true, node: 'gone' }),
    ];
    // Act
    const actions = reconcileDaemonSet({ ds, nodes: [node('a')], pods, now: NOW });
    // Assess
    expect(deletes(actions).map((d) => d.name).sort()).toEqual(['agent-2', 'agent-3']);
    expect(creates(actions)).toHaveLength(0);
  });

  it('rolling update replaces at most maxUnavailable old pods at a time', () => {
    // Prepare
    const ds = daemonSet();
    const pods = ['a', 'b', 'c'].map((n) => pod(`agent-${n}`, { app: 'agent', [REVISION_LABEL]: 'old' }, { owner: ds, ownerKind: 'DaemonSet', ready: true, node: n }));
    // Act
    const actions = reconcileDaemonSet({ ds, nodes: [node('a'), node('b'), node('c')], pods, now: NOW });
    // Assess
    expect(deletes(actions)).toHaveLength(1);
  });
});

function statefulSet(replicas: number, spec: Record<string, unknown> = {}) {
  return stored('statefulsets', { apiVersion: 'apps/v1', kind: 'StatefulSet', metadata: { name: 'web' }, spec: { replicas, serviceName: 'web', selector: { matchLabels: { app: 'web' } }, template: template({ app: 'web' }), ...spec } });
}

describe('reconcileStatefulSet', () => {
  it('OrderedReady: creates web-0 first and web-1 only once web-0 is Running and Ready', () => {
    // Prepare
    const sts = statefulSet(3);
    // Act
    const first = reconcileStatefulSet({ sts, pods: [], now: NOW });
    const waiting = reconcileStatefulSet({ sts, pods: [pod('web-0', { app: 'web' }, { owner: sts, ownerKind: 'StatefulSet', ready: false, phase: 'Pending' })], now: NOW });
    const next = reconcileStatefulSet({ sts, pods: [pod('web-0', { app: 'web' }, { owner: sts, ownerKind: 'StatefulSet', ready: true })], now: NOW });
    // Assess
    expect(creates(first).map((c) => c.object.metadata.name)).toEqual(['web-0']);
    expect((creates(first)[0]!.object.spec as { hostname: string; subdomain: string })).toMatchObject({ hostname: 'web-0', subdomain: 'web' });
    expect(creates(waiting)).toHaveLength(0);
    expect(creates(next).map((c) => c.object.metadata.name)).toEqual(['web-1']);
  });

  it('Parallel creates all at once', () => {
    const actions = reconcileStatefulSet({ sts: statefulSet(3, { podManagementPolicy: 'Parallel' }), pods: [], now: NOW });
    expect(creates(actions).map((c) => c.object.metadata.name)).toEqual(['web-0', 'web-1', 'web-2']);
  });

  it('scales down from the highest ordinal, one at a time', () => {
    // Prepare
    const sts = statefulSet(1);
    const pods = [0, 1, 2].map((i) => pod(`web-${i}`, { app: 'web' }, { owner: sts, ownerKind: 'StatefulSet', ready: true }));
    // Act
    const actions = reconcileStatefulSet({ sts, pods, now: NOW });
    // Assess
    expect(deletes(actions).map((d) => d.name)).toEqual(['web-2']);
  });
});
