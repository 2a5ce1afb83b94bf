import type { KubeObject } from '../../shared/resources';
import type { NodeSnapshot } from '../../shared/store/store';

/**
 * The scheduling framework, shaped as Kubernetes' (pkg/scheduler/framework): plugins at named
 * extension points. Filter says whether a pod fits a node, and why not; Score ranks the nodes
 * that fit, 0..100. Decisions are made on a snapshot; binding is a separate, conditional step.
 */
export interface FilterResult {
  readonly fits: boolean;
  /** Kubernetes' words for why not, e.g. "Insufficient cpu"; counted per reason in messages. */
  readonly reasons?: readonly string[];
}

/**
 * What the scheduler knows of the cluster while it decides: the nodes (with allocation sums)
 * and the pods bound to each. Contract: read-only for plugins; `assume` (snapshot.ts) is the
 * only writer, so a batch of decisions sees its own earlier placements.
 */
export interface ClusterSnapshot {
  readonly nodes: readonly NodeSnapshot[];
  /** Non-terminal pods bound to the node (including assumed ones), never undefined. */
  podsOn(nodeName: string): readonly KubeObject[];
  /** Every non-terminal bound pod, for plugins that look across nodes (affinity, spread). */
  boundPods(): Iterable<{ readonly pod: KubeObject; readonly node: NodeSnapshot }>;
  /** The bound pods with required pod anti-affinity terms (kept as an index: usually none). */
  podsWithRequiredAntiAffinity(): Iterable<{ readonly pod: KubeObject; readonly node: NodeSnapshot }>;
  node(name: string): NodeSnapshot | undefined;
}

/**
 * Per pod, per scheduling attempt: a plugin computes cluster-wide facts once (e.g. domain
 * counts for topology spread) and reuses them for every node, as Kubernetes' CycleState.
 */
export type CycleState = Map<string, unknown>;

/**
 * Contract: pure; never mutates pod, node or snapshot; cheap per node (state caches the rest).
 * `skips` is the PreFilter step's Skip status in Kubernetes: true when the plugin has nothing to
 * check for this pod (no host ports, no affinity terms...), so the framework leaves it out of the
 * per-node loop. It must only return true when `filter` would say "fits" on every node.
 */
export interface FilterPlugin {
  readonly name: string;
  skips?(pod: KubeObject, cluster: ClusterSnapshot): boolean;
  filter(pod: KubeObject, node: NodeSnapshot, cluster: ClusterSnapshot, state: CycleState): FilterResult;
}

/** Contract: pure; raw scores may use any non-negative scale when `normalize` maps them to 0..100. */
export interface ScorePlugin {
  readonly name: string;
  readonly weight: number;
  /** PreScore's Skip: true when every node would get the same score for this pod (no effect on ranking). */
  skips?(pod: KubeObject, cluster: ClusterSnapshot): boolean;
  /** 0 (worst) .. 100 (best), or raw when `normalize` is given. */
  score(pod: KubeObject, node: NodeSnapshot, cluster: ClusterSnapshot, state: CycleState): number;
  /** Maps the raw scores of all feasible nodes to 0..100 (Kubernetes' NormalizeScore). */
  normalize?(scores: number[], pod: KubeObject): number[];
}

export const fits: FilterResult = { fits: true };
export const unfit = (...reasons: string[]): FilterResult => ({ fits: false, reasons });

/** Scales raw scores so the highest becomes 100 (reverse: the lowest), as the default plugins do. */
export function normalizeToMax(scores: number[], reverse = false): number[] {
  const max = Math.max(0, ...scores);
  if (max === 0) return scores.map(() => (reverse ? 100 : 0));
  return scores.map((s) => {
    const v = Math.floor((s * 100) / max);
    return reverse ? 100 - v : v;
  });
}

export type Decision =
  | { readonly kind: 'bind'; readonly node: NodeSnapshot }
  | { readonly kind: 'unschedulable'; readonly message: string; readonly reasonsByNode: ReadonlyMap<string, readonly string[]> };

/** Options Kubernetes exposes in its scheduler configuration. */
export interface ScheduleOptions {
  /**
   * percentageOfNodesToScore: stop filtering once this many feasible nodes are found. 0 means
   * Kubernetes' adaptive default (50% minus 1% per 125 nodes, at least 5%, at least 100 nodes).
   */
  readonly percentageOfNodesToScore?: number;
  /** Where to start looking (rotated between pods so the search spreads over all nodes). */
  readonly startIndex?: number;
}

const MIN_FEASIBLE_NODES_TO_FIND = 100;

/** Kubernetes' numFeasibleNodesToFind. */
export function feasibleNodesToFind(numNodes: number, percentage = 0): number {
  if (numNodes < MIN_FEASIBLE_NODES_TO_FIND) return numNodes;
  let pct = percentage;
  if (pct <= 0) pct = Math.max(5, 50 - Math.floor(numNodes / 125));
  if (pct >= 100) return numNodes;
  return Math.max(MIN_FEASIBLE_NODES_TO_FIND, Math.floor((numNodes * pct) / 100));
}

/** Kubernetes' unschedulable message: "0/3 nodes are available: 1 Insufficient cpu, 2 ...". */
export function unschedulableMessage(total: number, reasonsByNode: ReadonlyMap<string, readonly string[]>): string {
  const counts = new Map<string, number>();
  for (const reasons of reasonsByNode.values()) for (const r of reasons) counts.set(r, (counts.get(r) ?? 0) + 1);
  const parts = [...counts].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([reason, n]) => `${n} ${reason}`);
  const base = `0/${total} nodes are available`;
  return parts.length ? `${base}: ${parts.join(', ')}.` : `${base}.`;
}

/** Runs the filters on one node; the first failing filter explains it (as in Kubernetes). */
export function runFilters(pod: KubeObject, node: NodeSnapshot, cluster: ClusterSnapshot, filters: readonly FilterPlugin[], state: CycleState): FilterResult {
  for (const f of filters) {
    const r = f.filter(pod, node, cluster, state);
    if (!r.fits) return { fits: false, reasons: r.reasons?.length ? r.reasons : [f.name] };
  }
  return fits;
}

/**
 * Filters nodes (until enough feasible ones are found), then scores the feasible ones. Ties are
 * broken at random, as kube-scheduler does, to spread concurrent decisions.
 */
export function schedulePod(
  pod: KubeObject,
  cluster: ClusterSnapshot,
  filters: readonly FilterPlugin[],
  scores: readonly ScorePlugin[],
  opts: ScheduleOptions = {},
): Decision {
  const nodes = cluster.nodes;
  const want = feasibleNodesToFind(nodes.length, opts.percentageOfNodesToScore);
  const state: CycleState = new Map();
  // PreFilter / PreScore: plugins with nothing to do for this pod stay out of the per-node loops.
  const activeFilters = filters.filter((f) => !f.skips?.(pod, cluster));
  const activeScores = scores.filter((s) => !s.skips?.(pod, cluster));
  const reasonsByNode = new Map<string, readonly string[]>();
  const feasible: NodeSnapshot[] = [];
  const start = nodes.length ? (opts.startIndex ?? 0) % nodes.length : 0;
  for (let i = 0; i < nodes.length && feasible.length < want; i++) {
    const node = nodes[(start + i) % nodes.length]!;
    const r = runFilters(pod, node, cluster, activeFilters, state);
    if (r.fits) feasible.push(node);
    else reasonsByNode.set(node.node.metadata.name!, r.reasons!);
  }
  if (feasible.length === 0) return { kind: 'unschedulable', message: unschedulableMessage(nodes.length, reasonsByNode), reasonsByNode };
  if (feasible.length === 1) return { kind: 'bind', node: feasible[0]! };
  const totals = new Array<number>(feasible.length).fill(0);
  for (const s of activeScores) {
    let raw = feasible.map((n) => s.score(pod, n, cluster, state));
    if (s.normalize) raw = s.normalize(raw, pod);
    raw.forEach((v, i) => (totals[i]! += s.weight * v));
  }
  const best = Math.max(...totals);
  const top = feasible.filter((_, i) => totals[i] === best);
  return { kind: 'bind', node: top[Math.floor(Math.random() * top.length)]! };
}
