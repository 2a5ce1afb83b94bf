import { describe, expect, it } from 'vitest';
import { schedulePod } from '../../../functions/scheduler/framework';
import { defaultFilters, defaultScores } from '../../../functions/scheduler/plugins';
import { disruptionBudgets, findPreemption, pickOneNode, splitByPdbViolation, type PodDisruptionBudgetInfo } from '../../../functions/scheduler/preemption';
import type { KubeObject } from '../../../shared/resources';
import { at, cluster, node, pod } from './fixtures';

/** A bound pod of `priority` using `cpu` on `nodeName`, labelled app=`app`. */
const running = (name: string, nodeName: string, priority: number, app = 'web', cpu = '1', startTime = '2024-01-01T00:00:00Z') => {
  const p = pod(name, { priority }, { nodeName, requests: { cpu }, labels: { app } });
  return { ...p, status: { phase: 'Running', startTime } };
};
const budget = (app: string, disruptionsAllowed: number, namespace = 'default'): PodDisruptionBudgetInfo => ({
  namespace,
  name: `pdb-${app}`,
  selector: { matchLabels: { app } },
  disruptionsAllowed,
  disruptedPods: new Set(),
});
const vip = (cpu = '1', extra: Record<string, unknown> = {}) => pod('vip', { priority: 100, ...extra }, { requests: { cpu } });

/** Decides the pod on the cluster, then asks preemption where and whom. */
function preempt(nodes: KubeObject[], pods: KubeObject[], preemptor: KubeObject, pdbs: PodDisruptionBudgetInfo[] = []) {
  const c = cluster(nodes, pods);
  const d = schedulePod(preemptor, c, defaultFilters, defaultScores);
  if (d.kind !== 'unschedulable') throw new Error('expected the preemptor not to fit');
  const p = findPreemption(preemptor, c, defaultFilters, d.reasonsByNode, pdbs);
  return { c, p, summary: p && { node: p.node.node.metadata.name, victims: p.victims.map((v) => v.metadata.name), pdbViolations: p.pdbViolations } };
}

describe('splitByPdbViolation', () => {
  it.each([
    ['no budgets: nobody violates', [], ['a1', 'a2'], []],
    ['one disruption allowed: the second pod of the app violates', [budget('a', 1)], ['a1'], ['a2']],
    ['none allowed: every selected pod violates', [budget('a', 0)], [], ['a1', 'a2']],
    ['a budget in another namespace does not count', [budget('a', 0, 'other')], ['a1', 'a2'], []],
  ])('%s', (_name, pdbs, nonViolating, violating) => {
    const pods = [running('a1', 'n', 1, 'a'), running('a2', 'n', 1, 'a')];
    const split = splitByPdbViolation(pods, pdbs as PodDisruptionBudgetInfo[]);
    expect({ nonViolating: split.nonViolating.map((p) => p.metadata.name), violating: split.violating.map((p) => p.metadata.name) }).toEqual({ nonViolating, violating });
  });

  it('does not spend budget twice on a pod the budget already counts as disrupted', () => {
    const pdb = { ...budget('a', 0), disruptedPods: new Set(['a1']) };
    expect(splitByPdbViolation([running('a1', 'n', 1, 'a')], [pdb]).violating).toEqual([]);
  });
});

describe('findPreemption with PodDisruptionBudgets', () => {
  it('prefers the node whose victims violate no budget, even when the other one has lower priorities', () => {
    // Prepare: node a's victim has the lowest priority but is protected (0 disruptions allowed).
    const pods = [running('a-db', 'a', 1, 'db', '2'), running('b-web', 'b', 5, 'web', '2')];
    // Act
    const { summary } = preempt([node('a'), node('b')], pods, vip(), [budget('db', 0)]);
    // Assess
    expect(summary).toEqual({ node: 'b', victims: ['b-web'], pdbViolations: 0 });
  });

  it('without budgets takes the node with the lowest highest-victim priority', () => {
    const pods = [running('a-db', 'a', 1, 'db', '2'), running('b-web', 'b', 5, 'web', '2')];
    expect(preempt([node('a'), node('b')], pods, vip()).summary).toEqual({ node: 'a', victims: ['a-db'], pdbViolations: 0 });
  });

  it('reprieves the pods whose eviction would violate a budget first, when another victim makes room', () => {
    // Prepare: one node, two 1-cpu pods of equal priority; evicting either frees enough. 'free'
    // started first, so it is the more important one and would be kept without budgets.
    const pods = [running('free', 'a', 1, 'web', '1', '2024-01-01T00:00:00Z'), running('protected', 'a', 1, 'db', '1', '2024-02-01T00:00:00Z')];
    // Act
    const withBudget = preempt([node('a')], pods, vip(), [budget('db', 0)]).summary;
    const without = preempt([node('a')], pods, vip()).summary;
    // Assess
    expect(withBudget).toEqual({ node: 'a', victims: ['free'], pdbViolations: 0 });
    expect(without).toEqual({ node: 'a', victims: ['protected'], pdbViolations: 0 });
  });

  it('violates a budget when nothing else makes room, and says so', () => {
    const pods = [running('db-1', 'a', 1, 'db', '2')];
    expect(preempt([node('a')], pods, vip(), [budget('db', 0)]).summary).toEqual({ node: 'a', victims: ['db-1'], pdbViolations: 1 });
  });

  it('leaves the snapshot as it was', () => {
    const { c } = preempt([node('a')], [running('x', 'a', 1, 'web', '2')], vip(), [budget('web', 0)]);
    expect(at(c, 'a').allocated.cpu).toBe(2000);
  });

  it('waits instead of preempting again while victims on its nominated node are terminating', () => {
    const terminating = { ...running('going', 'a', 1, 'web', '2'), metadata: { ...running('going', 'a', 1).metadata, deletionTimestamp: '2024-01-01T00:00:00Z' } };
    const preemptor = { ...vip(), status: { phase: 'Pending', nominatedNodeName: 'a' } };
    expect(preempt([node('a')], [terminating], preemptor).p).toBeUndefined();
  });
});

describe('pickOneNode (pickOneNodeForPreemption)', () => {
  const cand = (name: string, pdbViolations: number, victims: [priority: number, start?: string][]) => ({
    node: at(cluster([node(name)]), name),
    pdbViolations,
    victims: victims.map(([priority, start], i) => running(`${name}-${i}`, name, priority, 'web', '1', start)),
  });
  it.each([
    ['fewest PDB violations first', [cand('a', 1, [[1]]), cand('b', 0, [[9]])], 'b'],
    ['then the lowest highest-victim priority', [cand('a', 0, [[5]]), cand('b', 0, [[1], [3]])], 'b'],
    ['then the smallest sum of priorities', [cand('a', 0, [[3], [3]]), cand('b', 0, [[3], [1]])], 'b'],
    ['then the fewest victims', [cand('a', 0, [[0], [0]]), cand('b', 0, [[0]])], 'b'],
    ['then the latest start of the top victims', [cand('a', 0, [[2, '2024-01-01T00:00:00Z']]), cand('b', 0, [[2, '2024-06-01T00:00:00Z']])], 'b'],
    ['then the first', [cand('a', 0, [[2]]), cand('b', 0, [[2]])], 'a'],
  ])('%s', (_name, candidates, want) => {
    expect(pickOneNode(candidates)?.node.node.metadata.name).toBe(want);
  });

  it('has nothing to pick from no candidates', () => {
    expect(pickOneNode([])).toBeUndefined();
  });
});

describe('disruptionBudgets', () => {
  it("computes disruptionsAllowed from the selected pods' readiness", () => {
    // Prepare: minAvailable 2 over three ready pods of app=db, one other pod.
    const ready = (name: string, app: string) => ({ ...running(name, 'n', 0, app), status: { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] } });
    const pdb = { apiVersion: 'policy/v1', kind: 'PodDisruptionBudget', metadata: { name: 'db', namespace: 'default' }, spec: { minAvailable: 2, selector: { matchLabels: { app: 'db' } } } };
    // Act
    const [info] = disruptionBudgets([pdb], [ready('d1', 'db'), ready('d2', 'db'), ready('d3', 'db'), ready('w', 'web')], Date.now());
    // Assess
    expect(info).toMatchObject({ namespace: 'default', name: 'db', disruptionsAllowed: 1 });
  });
});
