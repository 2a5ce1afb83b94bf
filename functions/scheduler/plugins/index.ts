import type { FilterPlugin, ScorePlugin } from '../framework';
import { BalancedAllocation } from './balanced-allocation';
import { InterPodAffinity, InterPodAffinityScore } from './inter-pod-affinity';
import { LeastAllocated } from './least-allocated';
import { NodeAffinity, NodeAffinityScore } from './node-affinity';
import { NodeName } from './node-name';
import { NodePorts } from './node-ports';
import { NodeReady } from './node-ready';
import { NodeResourcesFit } from './node-resources-fit';
import { NodeUnschedulable } from './node-unschedulable';
import { PodTopologySpread, PodTopologySpreadScore } from './pod-topology-spread';
import { TaintToleration, TaintTolerationScore } from './taint-toleration';
import { VolumeBinding } from './volume-binding';

/** The default profile, in Kubernetes' filter order (cheap, node-local checks first). */
export const defaultFilters: readonly FilterPlugin[] = [
  NodeUnschedulable,
  NodeName,
  TaintToleration,
  NodeReady,
  NodeAffinity,
  NodePorts,
  NodeResourcesFit,
  VolumeBinding,
  PodTopologySpread,
  InterPodAffinity,
];

/** Default score plugins with Kubernetes' default weights. */
export const defaultScores: readonly ScorePlugin[] = [
  TaintTolerationScore,
  NodeAffinityScore,
  PodTopologySpreadScore,
  InterPodAffinityScore,
  LeastAllocated,
  BalancedAllocation,
];
