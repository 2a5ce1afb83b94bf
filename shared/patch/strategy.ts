/**
 * Strategic-merge-patch metadata of the built-in kinds, by field path, as Kubernetes declares it
 * on its Go types (`patchStrategy` / `patchMergeKey` struct tags, published in OpenAPI as
 * `x-kubernetes-patch-strategy` / `x-kubernetes-patch-merge-key`). A list not named here is
 * atomic: a patch replaces it whole (tolerations, node taints, args, command, envFrom...).
 *
 * The table is written per Kubernetes type (TYPES) and flattened per kind into paths
 * (`spec.template.spec.containers.env`: list elements add no segment), so the same PodSpec
 * entries serve Pod, Deployment, Job, CronJob... and the OpenAPI documents read the per-type
 * entries for their `x-kubernetes-patch-*` extensions.
 */

/** Kubernetes' patch strategies: lists merge (by key, or as a set of primitives) or are replaced;
 *  retainKeys: keys a client leaves out of `$retainKeys` are cleared (union types). */
export type PatchStrategy = 'merge' | 'retainKeys' | 'merge,retainKeys' | 'replace';

export interface PatchMeta {
  readonly strategy: PatchStrategy;
  /** For lists of objects: the field that identifies an element. Absent: a list of primitives. */
  readonly mergeKey?: string;
}

/** Path (dot-separated field names, list elements add none) → patch metadata. */
export type PatchTable = Readonly<Record<string, PatchMeta>>;

interface FieldInfo {
  readonly strategy?: PatchStrategy;
  readonly mergeKey?: string;
  /** The Kubernetes type of the field (or of its list elements), when it has fields of note. */
  readonly type?: string;
}

const merge = (mergeKey?: string, type?: string): FieldInfo => ({ strategy: 'merge', ...(mergeKey ? { mergeKey } : {}), ...(type ? { type } : {}) });
const mergeRetain = (mergeKey: string, type?: string): FieldInfo => ({ strategy: 'merge,retainKeys', mergeKey, ...(type ? { type } : {}) });
const typed = (type: string): FieldInfo => ({ type });
const conditions = { conditions: merge('type') };

/**
 * Kubernetes types (short names, as in io.k8s.api.core.v1.PodSpec) and their fields that carry a
 * patch strategy or lead to a type that does. Checked against k8s.io/api v1.32 types.go.
 */
export const TYPES: Readonly<Record<string, Readonly<Record<string, FieldInfo>>>> = {
  ObjectMeta: { finalizers: merge(), ownerReferences: merge('uid') },
  PodTemplateSpec: { metadata: typed('ObjectMeta'), spec: typed('PodSpec') },
  PodSpec: {
    volumes: mergeRetain('name'),
    initContainers: merge('name', 'Container'),
    containers: merge('name', 'Container'),
    ephemeralContainers: merge('name', 'Container'),
    imagePullSecrets: merge('name'),
    hostAliases: merge('ip'),
    topologySpreadConstraints: merge('topologyKey'),
    resourceClaims: mergeRetain('name'),
    schedulingGates: merge('name'),
  },
  Container: { ports: merge('containerPort'), env: merge('name'), volumeMounts: merge('mountPath'), volumeDevices: merge('devicePath') },
  PodStatus: { conditions: merge('type'), podIPs: merge('ip'), hostIPs: merge('ip'), resourceClaimStatuses: mergeRetain('name') },
  PodTemplate: { metadata: typed('ObjectMeta'), template: typed('PodTemplateSpec') },
  NodeSpec: { podCIDRs: merge() },
  NodeStatus: { conditions: merge('type'), addresses: merge('type') },
  NamespaceStatus: conditions,
  ServiceSpec: { ports: merge('port') },
  ServiceStatus: conditions,
  PersistentVolumeClaimStatus: conditions,
  ReplicationControllerSpec: { template: typed('PodTemplateSpec') },
  ReplicationControllerStatus: conditions,
  DeploymentSpec: { template: typed('PodTemplateSpec'), strategy: { strategy: 'retainKeys' } },
  DeploymentStatus: conditions,
  ReplicaSetSpec: { template: typed('PodTemplateSpec') },
  ReplicaSetStatus: conditions,
  DaemonSetSpec: { template: typed('PodTemplateSpec') },
  DaemonSetStatus: conditions,
  StatefulSetSpec: { template: typed('PodTemplateSpec') },
  StatefulSetStatus: conditions,
  JobTemplateSpec: { metadata: typed('ObjectMeta'), spec: typed('JobSpec') },
  JobSpec: { template: typed('PodTemplateSpec') },
  JobStatus: conditions,
  CronJobSpec: { jobTemplate: typed('JobTemplateSpec') },
  PodDisruptionBudgetStatus: conditions,
};

/** Group and kind of each kind with patch metadata; its root fields are metadata, spec, status. */
const KINDS: readonly { group: string; kind: string; root?: Record<string, FieldInfo> }[] = [
  { group: '', kind: 'Pod' },
  { group: '', kind: 'Node' },
  { group: '', kind: 'Namespace' },
  { group: '', kind: 'Service' },
  { group: '', kind: 'PersistentVolumeClaim' },
  { group: '', kind: 'ReplicationController' },
  { group: '', kind: 'PodTemplate', root: { metadata: typed('ObjectMeta'), template: typed('PodTemplateSpec') } },
  { group: 'apps', kind: 'Deployment' },
  { group: 'apps', kind: 'ReplicaSet' },
  { group: 'apps', kind: 'DaemonSet' },
  { group: 'apps', kind: 'StatefulSet' },
  { group: 'batch', kind: 'Job' },
  { group: 'batch', kind: 'CronJob' },
  { group: 'policy', kind: 'PodDisruptionBudget' },
];

function flatten(fields: Readonly<Record<string, FieldInfo>>, prefix: string, out: Record<string, PatchMeta>, depth = 0): void {
  if (depth > 12) return; // the type graph has no cycle; a guard all the same
  for (const [name, info] of Object.entries(fields)) {
    const path = prefix ? `${prefix}.${name}` : name;
    if (info.strategy) out[path] = { strategy: info.strategy, ...(info.mergeKey ? { mergeKey: info.mergeKey } : {}) };
    const nested = info.type ? TYPES[info.type] : undefined;
    if (nested) flatten(nested, path, out, depth + 1);
  }
}

function tableOf(kind: string, root?: Record<string, FieldInfo>): PatchTable {
  const fields: Record<string, FieldInfo> = root ?? {
    metadata: typed('ObjectMeta'),
    ...(TYPES[`${kind}Spec`] ? { spec: typed(`${kind}Spec`) } : {}),
    ...(TYPES[`${kind}Status`] ? { status: typed(`${kind}Status`) } : {}),
  };
  const out: Record<string, PatchMeta> = {};
  flatten(fields, '', out);
  return Object.freeze(out);
}

const METADATA_ONLY = tableOf('');

/** Per kind ("Pod", "Deployment.apps": Kubernetes' GroupKind spelling), path → patch metadata. */
export const PATCH_TABLES: Readonly<Record<string, PatchTable>> = Object.fromEntries(
  KINDS.map(({ group, kind, root }) => [group ? `${kind}.${group}` : kind, tableOf(kind, root)]),
);

/** The patch table of a kind; kinds without list fields of note still merge metadata's lists. */
export function patchTableFor(group: string, kind: string): PatchTable {
  return PATCH_TABLES[group ? `${kind}.${group}` : kind] ?? METADATA_ONLY;
}

/** The patch table of an object, from its apiVersion and kind. */
export function patchTableOfObject(obj: unknown): PatchTable {
  if (typeof obj !== 'object' || obj === null) return METADATA_ONLY;
  const { apiVersion, kind } = obj as { apiVersion?: unknown; kind?: unknown };
  if (typeof kind !== 'string') return METADATA_ONLY;
  const group = typeof apiVersion === 'string' && apiVersion.includes('/') ? apiVersion.slice(0, apiVersion.indexOf('/')) : '';
  return patchTableFor(group, kind);
}

/** Patch metadata of a field of a Kubernetes type (for OpenAPI), or undefined: atomic. */
export function fieldPatchMeta(typeName: string, field: string): PatchMeta | undefined {
  const info = TYPES[typeName]?.[field];
  return info?.strategy ? { strategy: info.strategy, ...(info.mergeKey ? { mergeKey: info.mergeKey } : {}) } : undefined;
}
