/**
 * The kinds the dashboard lists, as data: where each lives in the API, the columns its list shows
 * (kubectl's column names), and which actions it offers. Adding a kind adds an entry here.
 */
import type { KubeObject } from './types';
import { age } from './format';

export interface Column {
  readonly name: string;
  readonly value: (o: KubeObject, now: number) => string | number;
}

export interface Kind {
  /** The URL segment of its views (#/r/{plural}) and the API's plural. */
  readonly plural: string;
  readonly title: string;
  readonly kind: string;
  /** `/api/v1` or `/apis/{group}/{version}`. */
  readonly groupVersion: string;
  readonly namespaced: boolean;
  readonly columns: readonly Column[];
  /** Has the scale subresource. */
  readonly scalable?: boolean;
  /** Restartable as `kubectl rollout restart` (a pod template annotation). */
  readonly restartable?: boolean;
  /** Listed without the Actions column (no scale, restart or delete offered). */
  readonly readOnly?: boolean;
  /** Orders the list (an Event list: newest first); absent, the informer's order. */
  readonly sort?: (a: KubeObject, b: KubeObject) => number;
}

const n = (v: unknown): number => (typeof v === 'number' ? v : 0);
const AGE: Column = { name: 'Age', value: (o, now) => age(o.metadata.creationTimestamp, now) };
const NAMESPACE: Column = { name: 'Namespace', value: (o) => o.metadata.namespace ?? '' };

export const KINDS: readonly Kind[] = [
  {
    plural: 'deployments',
    title: 'Deployments',
    kind: 'Deployment',
    groupVersion: '/apis/apps/v1',
    namespaced: true,
    scalable: true,
    restartable: true,
    columns: [
      { name: 'Ready', value: (o) => `${n(o.status?.readyReplicas)}/${n(o.spec?.replicas)}` },
      { name: 'Up-to-date', value: (o) => n(o.status?.updatedReplicas) },
      { name: 'Available', value: (o) => n(o.status?.availableReplicas) },
      AGE,
    ],
  },
  {
    plural: 'replicasets',
    title: 'ReplicaSets',
    kind: 'ReplicaSet',
    groupVersion: '/apis/apps/v1',
    namespaced: true,
    scalable: true,
    columns: [
      { name: 'Desired', value: (o) => n(o.spec?.replicas) },
      { name: 'Current', value: (o) => n(o.status?.replicas) },
      { name: 'Ready', value: (o) => n(o.status?.readyReplicas) },
      AGE,
    ],
  },
  {
    plural: 'statefulsets',
    title: 'StatefulSets',
    kind: 'StatefulSet',
    groupVersion: '/apis/apps/v1',
    namespaced: true,
    scalable: true,
    restartable: true,
    columns: [{ name: 'Ready', value: (o) => `${n(o.status?.readyReplicas)}/${n(o.spec?.replicas)}` }, AGE],
  },
  {
    plural: 'daemonsets',
    title: 'DaemonSets',
    kind: 'DaemonSet',
    groupVersion: '/apis/apps/v1',
    namespaced: true,
    restartable: true,
    columns: [
      { name: 'Desired', value: (o) => n(o.status?.desiredNumberScheduled) },
      { name: 'Current', value: (o) => n(o.status?.currentNumberScheduled) },
      { name: 'Ready', value: (o) => n(o.status?.numberReady) },
      AGE,
    ],
  },
  {
    plural: 'jobs',
    title: 'Jobs',
    kind: 'Job',
    groupVersion: '/apis/batch/v1',
    namespaced: true,
    columns: [
      { name: 'Status', value: (o) => (((o.status?.conditions as { type: string; status: string }[] | undefined) ?? []).find((c) => c.status === 'True')?.type ?? 'Running') },
      { name: 'Completions', value: (o) => `${n(o.status?.succeeded)}/${typeof o.spec?.completions === 'number' ? o.spec.completions : 1}` },
      AGE,
    ],
  },
  {
    plural: 'cronjobs',
    title: 'CronJobs',
    kind: 'CronJob',
    groupVersion: '/apis/batch/v1',
    namespaced: true,
    columns: [
      { name: 'Schedule', value: (o) => String(o.spec?.schedule ?? '') },
      { name: 'Suspend', value: (o) => String(o.spec?.suspend ?? false) },
      { name: 'Active', value: (o) => ((o.status?.active as unknown[] | undefined) ?? []).length },
      { name: 'Last schedule', value: (o, now) => (o.status?.lastScheduleTime ? age(o.status.lastScheduleTime as string, now) : '<none>') },
      AGE,
    ],
  },
  {
    plural: 'replicationcontrollers',
    title: 'ReplicationControllers',
    kind: 'ReplicationController',
    groupVersion: '/api/v1',
    namespaced: true,
    scalable: true,
    columns: [
      { name: 'Desired', value: (o) => n(o.spec?.replicas) },
      { name: 'Current', value: (o) => n(o.status?.replicas) },
      { name: 'Ready', value: (o) => n(o.status?.readyReplicas) },
      AGE,
    ],
  },
  {
    plural: 'services',
    title: 'Services',
    kind: 'Service',
    groupVersion: '/api/v1',
    namespaced: true,
    columns: [
      { name: 'Type', value: (o) => String(o.spec?.type ?? 'ClusterIP') },
      { name: 'Cluster-IP', value: (o) => String(o.spec?.clusterIP ?? '<none>') },
      {
        name: 'Port(s)',
        value: (o) =>
          ((o.spec?.ports as { port: number; protocol?: string; nodePort?: number }[] | undefined) ?? [])
            .map((p) => `${p.port}${p.nodePort ? `:${p.nodePort}` : ''}/${p.protocol ?? 'TCP'}`)
            .join(',') || '<none>',
      },
      AGE,
    ],
  },
  {
    plural: 'configmaps',
    title: 'ConfigMaps',
    kind: 'ConfigMap',
    groupVersion: '/api/v1',
    namespaced: true,
    columns: [{ name: 'Data', value: (o) => Object.keys((o.data as object | undefined) ?? {}).length + Object.keys((o.binaryData as object | undefined) ?? {}).length }, AGE],
  },
  {
    plural: 'secrets',
    title: 'Secrets',
    kind: 'Secret',
    groupVersion: '/api/v1',
    namespaced: true,
    columns: [{ name: 'Type', value: (o) => String(o.type ?? 'Opaque') }, { name: 'Data', value: (o) => Object.keys((o.data as object | undefined) ?? {}).length }, AGE],
  },
  {
    plural: 'ingresses',
    title: 'Ingresses',
    kind: 'Ingress',
    groupVersion: '/apis/networking.k8s.io/v1',
    namespaced: true,
    readOnly: true,
    columns: [
      { name: 'Class', value: (o) => String(o.spec?.ingressClassName ?? '<none>') },
      { name: 'Hosts', value: (o) => ((o.spec?.rules as { host?: string }[] | undefined) ?? []).map((r) => r.host ?? '*').join(',') || '*' },
      {
        name: 'Address',
        value: (o) => (((o.status?.loadBalancer as { ingress?: { ip?: string; hostname?: string }[] } | undefined)?.ingress ?? []).map((i) => i.ip ?? i.hostname ?? '').join(',') || ''),
      },
      { name: 'Ports', value: (o) => ((o.spec?.tls as unknown[] | undefined)?.length ? '80, 443' : '80') },
      AGE,
    ],
  },
  {
    plural: 'endpointslices',
    title: 'EndpointSlices',
    kind: 'EndpointSlice',
    groupVersion: '/apis/discovery.k8s.io/v1',
    namespaced: true,
    readOnly: true,
    columns: [
      { name: 'Address type', value: (o) => String(o.addressType ?? '') },
      { name: 'Ports', value: (o) => ((o.ports as { port?: number }[] | undefined) ?? []).map((p) => String(p.port ?? '')).join(',') || '<unset>' },
      { name: 'Endpoints', value: (o) => endpointsOf(o) },
      AGE,
    ],
  },
  {
    plural: 'events',
    title: 'Events',
    kind: 'Event',
    groupVersion: '/api/v1',
    namespaced: true,
    readOnly: true,
    sort: (a, b) => eventTime(b).localeCompare(eventTime(a)),
    columns: [
      { name: 'Last seen', value: (o, now) => age(eventTime(o), now) },
      { name: 'Type', value: (o) => String(o.type ?? '') },
      { name: 'Reason', value: (o) => String(o.reason ?? '') },
      { name: 'Object', value: (o) => `${(o.involvedObject as { kind?: string } | undefined)?.kind?.toLowerCase() ?? ''}/${(o.involvedObject as { name?: string } | undefined)?.name ?? ''}` },
      { name: 'Message', value: (o) => String(o.message ?? '') },
    ],
  },
];

/** When an Event was last seen (kubectl's LAST SEEN): lastTimestamp, eventTime, or its creation. */
function eventTime(o: KubeObject): string {
  return String(o.lastTimestamp ?? o.eventTime ?? o.metadata.creationTimestamp ?? '');
}

/** An EndpointSlice's addresses as kubectl shows them: the first three, then "+ N more...". */
function endpointsOf(o: KubeObject): string {
  const addresses = ((o.endpoints as { addresses?: string[] }[] | undefined) ?? []).flatMap((e) => e.addresses ?? []);
  if (addresses.length === 0) return '<unset>';
  return addresses.length > 3 ? `${addresses.slice(0, 3).join(',')} + ${addresses.length - 3} more...` : addresses.join(',');
}

export const kindByPlural = (plural: string): Kind | undefined => KINDS.find((k) => k.plural === plural);
export const withNamespace = (k: Kind, allNamespaces: boolean): readonly Column[] => (allNamespaces && k.namespaced ? [NAMESPACE, ...k.columns] : k.columns);

/** A collection path: `/apis/apps/v1/namespaces/ns/deployments`, or all namespaces when ns is ''. */
export function collectionPath(groupVersion: string, plural: string, namespace: string): string {
  return namespace ? `${groupVersion}/namespaces/${encodeURIComponent(namespace)}/${plural}` : `${groupVersion}/${plural}`;
}

export function objectPath(groupVersion: string, plural: string, namespace: string | undefined, name: string): string {
  return `${collectionPath(groupVersion, plural, namespace ?? '')}/${encodeURIComponent(name)}`;
}
