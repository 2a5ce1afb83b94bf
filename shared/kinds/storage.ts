import type { StatusCause } from '../errors';
import type { KubeObject, ResourceType } from '../resources';
import { canonicalJson } from '../canonical';
import { dns1123SubdomainProblem } from '../schemas/meta';
import { parseQuantity } from '../schemas/quantity';
import { persistentVolumeClaims, persistentVolumes, storageClasses } from '../printers/storage';
import {
  PERSISTENT_VOLUME_SOURCES,
  PersistentVolumeClaimSchema,
  PersistentVolumeSchema,
  StorageClassSchema,
  type PersistentVolume,
  type PersistentVolumeClaim,
  type StorageClass,
} from '../schemas/storage';

/*
 * core/v1 PersistentVolume and PersistentVolumeClaim, storage.k8s.io/v1 StorageClass (issue #5):
 * defaults and validation as Kubernetes' (pkg/apis/core/validation ValidatePersistentVolume*,
 * pkg/apis/storage/validation), with its field paths and words. Binding and provisioning are
 * the volume controller's (functions/controllers/volumes.ts).
 */

/** Well-known names, as Kubernetes spells them. */
export const STORAGE = {
  /** Annotation marking the default StorageClass. */
  defaultClassAnnotation: 'storageclass.kubernetes.io/is-default-class',
  /** The scheduler's choice of node for a WaitForFirstConsumer claim. */
  selectedNodeAnnotation: 'volume.kubernetes.io/selected-node',
  /** Which provisioner is asked to provision a claim. */
  storageProvisionerAnnotation: 'volume.kubernetes.io/storage-provisioner',
  betaStorageProvisionerAnnotation: 'volume.beta.kubernetes.io/storage-provisioner',
  /** On a PV: which provisioner made it. */
  provisionedByAnnotation: 'pv.kubernetes.io/provisioned-by',
  /** On a claim: the controller completed the binding. */
  bindCompletedAnnotation: 'pv.kubernetes.io/bind-completed',
  /** On a claim or volume: the controller (not the user) bound it. */
  boundByControllerAnnotation: 'pv.kubernetes.io/bound-by-controller',
  /** A claim in use by a pod is not removed until the pod is gone. */
  pvcProtectionFinalizer: 'kubernetes.io/pvc-protection',
  /** Stratus' own provisioner: Docker named volumes on the node the pod runs on. */
  localProvisioner: 'stratus.io/local-volume',
  /** The default class every tenant gets. */
  defaultClassName: 'standard',
} as const;

export const ACCESS_MODES = ['ReadWriteOnce', 'ReadOnlyMany', 'ReadWriteMany', 'ReadWriteOncePod'] as const;
/** Kubernetes' GetAccessModesAsString: RWO, ROX, RWX, RWOP in this order. */
export function accessModesString(modes: readonly string[] | undefined): string {
  const short: [string, string][] = [
    ['ReadWriteOnce', 'RWO'],
    ['ReadOnlyMany', 'ROX'],
    ['ReadWriteMany', 'RWX'],
    ['ReadWriteOncePod', 'RWOP'],
  ];
  return short.filter(([m]) => (modes ?? []).includes(m)).map(([, s]) => s).join(',');
}

/** The StorageClass Stratus makes for every tenant on first use (see volumes-admission.ts). */
export function defaultStorageClass(): KubeObject {
  return {
    apiVersion: 'storage.k8s.io/v1',
    kind: 'StorageClass',
    metadata: { name: STORAGE.defaultClassName, annotations: { [STORAGE.defaultClassAnnotation]: 'true' } },
    provisioner: STORAGE.localProvisioner,
    reclaimPolicy: 'Delete',
    volumeBindingMode: 'WaitForFirstConsumer',
    allowVolumeExpansion: true,
  };
}

export const isDefaultClass = (sc: KubeObject) => sc.metadata.annotations?.[STORAGE.defaultClassAnnotation] === 'true';

const required = (field: string, detail = ''): StatusCause => ({ reason: 'FieldValueRequired', message: detail ? `Required value: ${detail}` : 'Required value', field });
const invalid = (field: string, value: unknown, why: string): StatusCause => ({ reason: 'FieldValueInvalid', message: `Invalid value: ${JSON.stringify(value)}: ${why}`, field });
const forbidden = (field: string, why: string): StatusCause => ({ reason: 'FieldValueForbidden', message: `Forbidden: ${why}`, field });
const notSupported = (field: string, value: string, supported: readonly string[]): StatusCause => ({
  reason: 'FieldValueNotSupported',
  message: `Unsupported value: ${JSON.stringify(value)}: supported values: ${[...supported].sort().map((s) => `"${s}"`).join(', ')}`,
  field,
});

function accessModeCauses(field: string, modes: readonly string[] | undefined, what: string): StatusCause[] {
  const causes: StatusCause[] = [];
  if (!modes || modes.length === 0) return [required(field, what)];
  for (const m of modes) if (!(ACCESS_MODES as readonly string[]).includes(m)) causes.push(notSupported(field, m, ACCESS_MODES));
  if (modes.includes('ReadWriteOncePod') && modes.length > 1) causes.push(forbidden(field, 'may not use ReadWriteOncePod with other access modes'));
  return causes;
}

function positiveQuantity(field: string, q: string | undefined): StatusCause[] {
  if (q === undefined) return [];
  const v = parseQuantity(q);
  return v === undefined || v <= 0 ? [invalid(field, q, 'must be greater than zero')] : [];
}

function classNameCauses(field: string, name: string | null | undefined): StatusCause[] {
  if (!name) return [];
  const problem = dns1123SubdomainProblem(name);
  return problem ? [invalid(field, name, problem)] : [];
}

const volumeModeCauses = (field: string, mode: string | undefined) => (mode !== undefined && mode !== 'Filesystem' && mode !== 'Block' ? [notSupported(field, mode, ['Block', 'Filesystem'])] : []);

function validateClaim(obj: KubeObject, old?: KubeObject): StatusCause[] {
  const pvc = obj as PersistentVolumeClaim & KubeObject;
  const spec = pvc.spec ?? {};
  const causes = [
    ...accessModeCauses('spec.accessModes', spec.accessModes, 'at least 1 access mode is required'),
    ...classNameCauses('spec.storageClassName', spec.storageClassName),
    ...volumeModeCauses('spec.volumeMode', spec.volumeMode),
  ];
  const storage = spec.resources?.requests?.storage;
  if (storage === undefined) causes.push(required('spec.resources[storage]'));
  else causes.push(...positiveQuantity('spec.resources[storage]', storage));
  if (old) {
    const oldSpec = (old as PersistentVolumeClaim & KubeObject).spec ?? {};
    // Immutable but for: volumeName and storageClassName once (binding, defaulting), and a larger
    // storage request of a bound claim (expansion).
    const comparable = (s: typeof spec, o: typeof spec) =>
      canonicalJson({
        ...s,
        volumeName: o.volumeName ? s.volumeName : undefined,
        storageClassName: o.storageClassName === undefined || o.storageClassName === null ? undefined : s.storageClassName,
        resources: { ...s.resources, requests: { ...s.resources?.requests, storage: undefined } },
        volumeAttributesClassName: undefined,
      });
    const bound = (old.status as { phase?: string } | undefined)?.phase === 'Bound';
    const oldStorage = oldSpec.resources?.requests?.storage;
    const storageChanged = oldStorage !== storage;
    if (comparable(spec, oldSpec) !== comparable(oldSpec, oldSpec) || (storageChanged && !bound))
      causes.push(forbidden('spec', 'spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims'));
    else if (storageChanged && storage !== undefined && oldStorage !== undefined && (parseQuantity(storage) ?? 0) < (parseQuantity(oldStorage) ?? 0))
      causes.push(forbidden('spec.resources.requests.storage', 'field can not be less than previous value'));
  }
  return causes;
}

function defaultClaim(obj: KubeObject): KubeObject {
  const spec = { ...((obj.spec ?? {}) as PersistentVolumeClaim['spec']) };
  spec.volumeMode ??= 'Filesystem';
  return { ...obj, spec };
}

/** The volume source fields a PV sets. */
export const volumeSourcesOf = (spec: PersistentVolume['spec']) => PERSISTENT_VOLUME_SOURCES.filter((s) => spec[s] !== undefined);

function validateVolume(obj: KubeObject, old?: KubeObject): StatusCause[] {
  const pv = obj as PersistentVolume & KubeObject;
  const spec = pv.spec ?? {};
  const causes = [...accessModeCauses('spec.accessModes', spec.accessModes, ''), ...classNameCauses('spec.storageClassName', spec.storageClassName), ...volumeModeCauses('spec.volumeMode', spec.volumeMode)];
  const capacity = spec.capacity ?? {};
  if (Object.keys(capacity).length === 0) causes.push(required('spec.capacity'));
  else {
    for (const k of Object.keys(capacity)) if (k !== 'storage') causes.push(notSupported('spec.capacity', k, ['storage']));
    if (capacity.storage === undefined) causes.push(required('spec.capacity[storage]'));
    causes.push(...positiveQuantity('spec.capacity[storage]', capacity.storage));
  }
  const policy = spec.persistentVolumeReclaimPolicy;
  if (policy !== undefined && !['Delete', 'Recycle', 'Retain'].includes(policy)) causes.push(notSupported('spec.persistentVolumeReclaimPolicy', policy, ['Delete', 'Recycle', 'Retain']));
  const sources = volumeSourcesOf(spec);
  if (sources.length === 0) causes.push(required('spec', 'must specify a volume type'));
  for (const s of sources.slice(1)) causes.push(forbidden(`spec.${s}`, 'may not specify more than 1 volume type'));
  if (spec.hostPath && !spec.hostPath.path) causes.push(required('spec.hostPath.path'));
  if (spec.local) {
    if (!spec.local.path) causes.push(required('spec.local.path'));
    if (!spec.nodeAffinity?.required) causes.push(required('spec.nodeAffinity', 'Local volume requires node affinity'));
  }
  if (spec.csi) {
    if (!spec.csi.driver) causes.push(required('spec.csi.driver'));
    if (!spec.csi.volumeHandle) causes.push(required('spec.csi.volumeHandle'));
  }
  for (const [i, t] of (spec.nodeAffinity?.required?.nodeSelectorTerms ?? []).entries())
    if ((t.matchExpressions ?? []).length === 0 && (t.matchFields ?? []).length === 0)
      causes.push(required(`spec.nodeAffinity.required.nodeSelectorTerms[${i}]`, 'must have at least one node selector requirement'));
  if (old) {
    const oldSpec = (old as PersistentVolume & KubeObject).spec ?? {};
    const sourceOf = (s: typeof spec) => canonicalJson(Object.fromEntries(PERSISTENT_VOLUME_SOURCES.map((k) => [k, s[k]])));
    if (sourceOf(spec) !== sourceOf(oldSpec)) causes.push(forbidden('spec.persistentvolumesource', 'spec.persistentvolumesource is immutable after creation'));
    if (oldSpec.nodeAffinity && canonicalJson(oldSpec.nodeAffinity) !== canonicalJson(spec.nodeAffinity ?? null))
      causes.push(invalid('spec.nodeAffinity', spec.nodeAffinity ?? null, 'field is immutable'));
    if ((oldSpec.volumeMode ?? 'Filesystem') !== (spec.volumeMode ?? 'Filesystem')) causes.push(invalid('spec.volumeMode', spec.volumeMode, 'field is immutable'));
  }
  return causes;
}

function defaultVolume(obj: KubeObject): KubeObject {
  const spec = { ...((obj.spec ?? {}) as PersistentVolume['spec']) };
  spec.persistentVolumeReclaimPolicy ??= 'Retain';
  spec.volumeMode ??= 'Filesystem';
  if (spec.hostPath) spec.hostPath = { ...spec.hostPath, type: spec.hostPath.type ?? '' };
  return { ...obj, spec };
}

function validateStorageClass(obj: KubeObject, old?: KubeObject): StatusCause[] {
  const sc = obj as StorageClass & KubeObject;
  const causes: StatusCause[] = [];
  if (!sc.provisioner) causes.push(required('provisioner'));
  if (sc.reclaimPolicy !== undefined && !['Delete', 'Retain'].includes(sc.reclaimPolicy)) causes.push(notSupported('reclaimPolicy', sc.reclaimPolicy, ['Delete', 'Retain']));
  if (sc.volumeBindingMode !== undefined && !['Immediate', 'WaitForFirstConsumer'].includes(sc.volumeBindingMode))
    causes.push(notSupported('volumeBindingMode', sc.volumeBindingMode, ['Immediate', 'WaitForFirstConsumer']));
  if (old) {
    const o = old as StorageClass & KubeObject;
    if (canonicalJson(o.parameters ?? {}) !== canonicalJson(sc.parameters ?? {})) causes.push(forbidden('parameters', 'updates to parameters are forbidden.'));
    if (o.provisioner !== sc.provisioner) causes.push(forbidden('provisioner', 'updates to provisioner are forbidden.'));
    if (o.reclaimPolicy !== sc.reclaimPolicy) causes.push(forbidden('reclaimPolicy', 'updates to reclaimPolicy are forbidden.'));
    if (o.volumeBindingMode !== sc.volumeBindingMode) causes.push(invalid('volumeBindingMode', sc.volumeBindingMode, 'field is immutable'));
  }
  return causes;
}

/** core/v1 PersistentVolume(Claim) and storage.k8s.io/v1 StorageClass (issue #5). */
export const storageTypes: readonly ResourceType[] = [
  {
    group: '',
    version: 'v1',
    resource: 'persistentvolumeclaims',
    table: persistentVolumeClaims,
    kind: 'PersistentVolumeClaim',
    singular: 'persistentvolumeclaim',
    namespaced: true,
    shortNames: ['pvc'],
    subresources: ['status'],
    schema: PersistentVolumeClaimSchema,
    validate: validateClaim,
    applyDefaults: defaultClaim,
    nameIsLabel: false,
    prepareForCreate: (o) => ({ ...o, status: { phase: 'Pending' } }),
  },
  {
    group: '',
    version: 'v1',
    resource: 'persistentvolumes',
    table: persistentVolumes,
    kind: 'PersistentVolume',
    singular: 'persistentvolume',
    namespaced: false,
    shortNames: ['pv'],
    subresources: ['status'],
    schema: PersistentVolumeSchema,
    validate: validateVolume,
    applyDefaults: defaultVolume,
    nameIsLabel: false,
    prepareForCreate: (o) => ({ ...o, status: { phase: 'Pending' } }),
  },
  {
    group: 'storage.k8s.io',
    version: 'v1',
    resource: 'storageclasses',
    table: storageClasses,
    kind: 'StorageClass',
    singular: 'storageclass',
    namespaced: false,
    shortNames: ['sc'],
    subresources: [],
    schema: StorageClassSchema,
    validate: validateStorageClass,
    applyDefaults: (o) => ({ ...o, reclaimPolicy: (o as StorageClass).reclaimPolicy ?? 'Delete', volumeBindingMode: (o as StorageClass).volumeBindingMode ?? 'Immediate' }),
    nameIsLabel: false,
  },
];
