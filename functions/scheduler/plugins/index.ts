import type { FilterPlugin, ScorePlugin } from '../framework';
import { LeastAllocated } from './least-allocated';
import { NodeReady } from './node-ready';
import { NodeResourcesFit } from './node-resources-fit';
import { NodeSelector } from './node-selector';
import { NodeUnschedulable } from './node-unschedulable';
import { TaintToleration } from './taint-toleration';

/** The default profile, in Kubernetes' filter order. */
export const defaultFilters: readonly FilterPlugin[] = [NodeUnschedulable, NodeReady, NodeSelector, TaintToleration, NodeResourcesFit];
export const defaultScores: readonly ScorePlugin[] = [LeastAllocated];
