import type { KubeObject } from '../../../shared/resources';
import { MutableSnapshot } from '../../../functions/scheduler/snapshot';

/** Test builders for scheduler tests: nodes and pods as the API stores them. */
export interface NodeOpts {
  cpu?: string;
  memory?: string;
  pods?: string;
  ready?: boolean;
  unschedulable?: boolean;
  taints?: object[];
  labels?: Record<string, string>;
}

export function node(name: string, o: NodeOpts = {}): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name, labels: { 'kubernetes.io/hostname': name, ...o.labels } },
    spec: { ...(o.unschedulable ? { unschedulable: true } : {}), ...(o.taints ? { taints: o.taints } : {}) },
    status: {
      allocatable: { cpu: o.cpu ?? '2', memory: o.memory ?? '4Gi', pods: o.pods ?? '110' },
      conditions: [{ type: 'Ready', status: o.ready === false ? 'False' : 'True' }],
    },
  };
}

let uid = 0;
export function pod(name: string, spec: Record<string, unknown> = {}, meta: { labels?: Record<string, string>; namespace?: string; nodeName?: string; requests?: Record<string, string> } = {}): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: meta.namespace ?? 'default', uid: `uid-${name}-${uid++}`, labels: meta.labels ?? {} },
    spec: {
      containers: [{ name: 'c', image: 'i', resources: { requests: meta.requests ?? {} } }],
      ...(meta.nodeName ? { nodeName: meta.nodeName } : {}),
      ...spec,
    },
    status: { phase: meta.nodeName ? 'Running' : 'Pending' },
  };
}

export const cluster = (nodes: KubeObject[], pods: KubeObject[] = []) => new MutableSnapshot(nodes, pods);

/** The NodeSnapshot of `name` in `c`. */
export const at = (c: MutableSnapshot, name: string) => c.node(name)!;
