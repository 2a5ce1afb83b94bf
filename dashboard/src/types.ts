/* Object shapes the views read (no DOM here: unit tests import it under Node). */

export interface ObjectMeta {
  name: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: { kind: string; name: string }[];
}
/**
 * The spec and status fields the views read, of every kind they show (each kind uses some):
 * typed loosely on purpose, since one shape serves Pods, Deployments, Nodes, Services...
 */
export interface Spec {
  replicas?: number;
  nodeName?: string;
  containers?: { name: string; image: string }[];
  completions?: number;
  schedule?: string;
  suspend?: boolean;
  type?: string;
  clusterIP?: string;
  ports?: { port: number; protocol?: string; nodePort?: number }[];
  [k: string]: unknown;
}
export interface ContainerStatus {
  name: string;
  ready?: boolean;
  restartCount?: number;
  state?: { waiting?: { reason?: string }; terminated?: { reason?: string; exitCode?: number }; running?: object };
}
export interface Status {
  phase?: string;
  reason?: string;
  podIP?: string;
  containerStatuses?: ContainerStatus[];
  conditions?: { type: string; status: string }[];
  replicas?: number;
  readyReplicas?: number;
  updatedReplicas?: number;
  availableReplicas?: number;
  desiredNumberScheduled?: number;
  currentNumberScheduled?: number;
  numberReady?: number;
  succeeded?: number;
  active?: unknown[];
  lastScheduleTime?: string;
  allocatable?: { cpu?: string; memory?: string };
  [k: string]: unknown;
}
export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
  spec?: Spec;
  status?: Status;
  [k: string]: unknown;
}
export interface KubeList {
  metadata: { resourceVersion?: string };
  items: KubeObject[];
}
