import type { KubeObject } from '../../shared/resources';
import { PodDisruptionBudgetSchema } from '../../shared/schemas/policy';
import type { NodeSnapshot } from '../../shared/store/store';
import { computePdbStatus } from '../../shared/registry/eviction';
import { runFilters, type FilterPlugin } from './framework';
import { labelSelectorMatches, type LabelSelector } from '../../shared/scheduling/labels';
import type { MutableSnapshot } from './snapshot';

/** spec.priority (set at admission from the PriorityClass), 0 when absent. */
export const priorityOf = (pod: KubeObject): number => (pod.spec as { priority?: number } | undefined)?.priority ?? 0;

export interface Preemption {
  readonly node: NodeSnapshot;
  /** Lower-priority pods to evict so the preemptor fits, lowest priority first. */
  readonly victims: readonly KubeObject[];
  /** Victims whose eviction goes beyond what their PodDisruptionBudget allows now. */
  readonly pdbViolations: number;
}

/** A PodDisruptionBudget as preemption weighs it: whom it selects, and how many may go now. */
export interface PodDisruptionBudgetInfo {
  readonly namespace: string;
  readonly name: string;
  readonly selector: LabelSelector | undefined;
  readonly disruptionsAllowed: number;
  /** Pods whose disruption the budget already counts (evicted, still going). */
  readonly disruptedPods: ReadonlySet<string>;
}

/**
 * The tenant's PDBs with disruptionsAllowed computed from the pods they select now (the same
 * computation the eviction subresource makes; Kubernetes reads it from the disruption
 * controller's status).
 */
export function disruptionBudgets(pdbs: readonly KubeObject[], allPods: Iterable<KubeObject>, now: number): PodDisruptionBudgetInfo[] {
  const parsed = pdbs.map((o) => PodDisruptionBudgetSchema.safeParse(o)).flatMap((r) => (r.success ? [r.data] : []));
  if (parsed.length === 0) return [];
  const podList = [...allPods];
  return parsed.map((pdb) => {
    const ns = pdb.metadata.namespace ?? '';
    const selector = pdb.spec.selector ?? undefined;
    const selected = selector ? podList.filter((p) => p.metadata.namespace === ns && labelSelectorMatches(selector, p.metadata.labels)) : [];
    const status = computePdbStatus(pdb, selected, now);
    return { namespace: ns, name: pdb.metadata.name ?? '', selector, disruptionsAllowed: status.disruptionsAllowed ?? 0, disruptedPods: new Set(Object.keys(status.disruptedPods ?? {})) };
  });
}

/**
 * Kubernetes' filterPodsWithPDBViolation: walks the pods in order, spending each matching
 * budget's allowed disruptions; a pod that finds a budget already spent would violate it.
 */
export function splitByPdbViolation(victims: readonly KubeObject[], pdbs: readonly PodDisruptionBudgetInfo[]): { violating: KubeObject[]; nonViolating: KubeObject[] } {
  const allowed = pdbs.map((p) => p.disruptionsAllowed);
  const violating: KubeObject[] = [];
  const nonViolating: KubeObject[] = [];
  for (const pod of victims) {
    let violates = false;
    pdbs.forEach((pdb, i) => {
      if (pdb.namespace !== pod.metadata.namespace || !pdb.selector) return;
      if (!labelSelectorMatches(pdb.selector, pod.metadata.labels)) return;
      if (pdb.disruptedPods.has(pod.metadata.name!)) return; // already counted as disrupted
      allowed[i]!--;
      if (allowed[i]! < 0) violates = true;
    });
    (violates ? violating : nonViolating).push(pod);
  }
  return { violating, nonViolating };
}

/** Reasons preemption cannot fix by removing pods (the node is wrong for the pod, not full). */
const UNRESOLVABLE = [/taint/, /node affinity/, /unschedulable/, /not ready/, /requested node name/, /missing required label/];

const startOf = (p: KubeObject): string => ((p.status as { startTime?: string } | undefined)?.startTime ?? p.metadata.creationTimestamp ?? '');

/** Kubernetes' MoreImportantPod: higher priority first, then the one that started earlier. */
const moreImportantFirst = (a: KubeObject, b: KubeObject): number => priorityOf(b) - priorityOf(a) || (startOf(a) < startOf(b) ? -1 : startOf(a) > startOf(b) ? 1 : 0);

interface Candidate {
  node: NodeSnapshot;
  victims: KubeObject[];
  pdbViolations: number;
}

/**
 * Kubernetes' DefaultPreemption. On each node where the pod failed for reasons that removing
 * pods could fix (selectVictimsOnNode): take away every pod of lower priority; if the pod then
 * fits, give back as many as still leave room, most important first, trying first the pods
 * whose eviction would violate a PodDisruptionBudget, then the others (the "reprieve").
 * Among the candidate nodes (pickOneNodeForPreemption) choose: the fewest PDB violations, then
 * the lowest highest-victim priority, the smallest sum of victim priorities, the fewest victims,
 * and the latest start of the highest-priority victims.
 * A pod that already has a nominated node where lower-priority victims are still terminating
 * waits for them instead of preempting again (podEligibleToPreemptOthers).
 * Pure apart from the snapshot's temporary what-if edits, which it always undoes.
 */
export function findPreemption(
  pod: KubeObject,
  snapshot: MutableSnapshot,
  filters: readonly FilterPlugin[],
  reasonsByNode: ReadonlyMap<string, readonly string[]>,
  pdbs: readonly PodDisruptionBudgetInfo[] = [],
): Preemption | undefined {
  const policy = (pod.spec as { preemptionPolicy?: string } | undefined)?.preemptionPolicy;
  if (policy === 'Never') return undefined;
  const priority = priorityOf(pod);
  const nominated = (pod.status as { nominatedNodeName?: string } | undefined)?.nominatedNodeName;
  if (nominated && snapshot.podsOn(nominated).some((p) => p.metadata.deletionTimestamp && priorityOf(p) < priority)) return undefined;
  const candidates: Candidate[] = [];
  for (const node of snapshot.nodes) {
    const name = node.node.metadata.name!;
    const reasons = reasonsByNode.get(name);
    if (!reasons || reasons.some((r) => UNRESOLVABLE.some((u) => u.test(r)))) continue;
    const lower = snapshot
      .podsOn(name)
      .filter((p) => priorityOf(p) < priority && !p.metadata.deletionTimestamp)
      .sort(moreImportantFirst);
    if (lower.length === 0) continue;
    const fitsWithout = (gone: readonly KubeObject[]) => {
      const undo = snapshot.removeTemporarily(name, gone);
      try {
        return runFilters(pod, node, snapshot, filters, new Map()).fits;
      } finally {
        undo();
      }
    };
    if (!fitsWithout(lower)) continue;
    const { violating, nonViolating } = splitByPdbViolation(lower, pdbs);
    let victims = [...lower];
    let pdbViolations = 0;
    const reprieve = (candidate: KubeObject): boolean => {
      const without = victims.filter((v) => v !== candidate);
      if (!fitsWithout(without)) return false;
      victims = without;
      return true;
    };
    for (const p of violating) if (!reprieve(p)) pdbViolations++;
    for (const p of nonViolating) reprieve(p);
    if (victims.length === 0) continue;
    candidates.push({ node, victims, pdbViolations });
  }
  const best = pickOneNode(candidates);
  return best && { node: best.node, victims: [...best.victims].sort((a, b) => priorityOf(a) - priorityOf(b)), pdbViolations: best.pdbViolations };
}

/** Kubernetes' pickOneNodeForPreemption, criterion by criterion until one candidate is left. */
export function pickOneNode(candidates: readonly Candidate[]): Candidate | undefined {
  const highest = (c: Candidate) => Math.max(...c.victims.map(priorityOf));
  // Kubernetes adds MaxInt32+1 to each priority so that negative priorities still add up.
  const sum = (c: Candidate) => c.victims.reduce((s, v) => s + priorityOf(v) + 2 ** 31, 0);
  /** Earliest start among the highest-priority victims: the later, the better (less work lost). */
  const earliestTopStart = (c: Candidate) => {
    const top = highest(c);
    return c.victims.filter((v) => priorityOf(v) === top).map(startOf).sort()[0] ?? '';
  };
  const criteria: ((c: Candidate) => number | string)[] = [(c) => c.pdbViolations, highest, sum, (c) => c.victims.length];
  let left = [...candidates];
  for (const key of criteria) {
    if (left.length <= 1) break;
    const values = left.map(key);
    const min = values.reduce((m, v) => (v < m ? v : m));
    left = left.filter((_, i) => values[i] === min);
  }
  if (left.length > 1) {
    const starts = left.map(earliestTopStart);
    const latest = starts.reduce((m, v) => (v > m ? v : m));
    left = left.filter((_, i) => starts[i] === latest);
  }
  return left[0];
}
