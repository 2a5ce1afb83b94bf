/**
 * core/v1 PersistentVolume and PersistentVolumeClaim, storage.k8s.io/v1 StorageClass (issue #5).
 * Enumerations (access modes, reclaim policy, binding mode) are plain strings here: a value
 * Kubernetes does not support is a 422 with its "Unsupported value" words (shared/kinds/storage.ts),
 * not a decoding error.
 */
import { z } from 'zod';
import { LabelSelectorSchema } from './apps';
import { ConditionTimeFields, ResourceListSchema, typeMeta } from './meta';
import { ObjectReferenceSchema } from './misc';

/** Volume sources Stratus stores and returns but whose insides it does not interpret. */
const opaque = z.record(z.string(), z.unknown());

const NodeSelectorRequirementSchema = z.strictObject({
  key: z.string(),
  operator: z.enum(['In', 'NotIn', 'Exists', 'DoesNotExist', 'Gt', 'Lt']),
  values: z.array(z.string()).optional(),
});

/** core/v1 NodeSelector: the terms are ORed, each term's requirements ANDed. */
export const NodeSelectorSchema = z.strictObject({
  nodeSelectorTerms: z.array(
    z.strictObject({
      matchExpressions: z.array(NodeSelectorRequirementSchema).optional(),
      matchFields: z.array(NodeSelectorRequirementSchema).optional(),
    }),
  ),
});
export type NodeSelector = z.infer<typeof NodeSelectorSchema>;

/**
 * csi: how Stratus' own provisioner (stratus.io/local-volume) names a volume: volumeHandle is the
 * node's Docker named volume. Other drivers are stored but no node mounts them.
 */
export const CSIPersistentVolumeSourceSchema = z.strictObject({
  driver: z.string(),
  volumeHandle: z.string(),
  readOnly: z.boolean().optional(),
  fsType: z.string().optional(),
  volumeAttributes: z.record(z.string(), z.string()).optional(),
  controllerPublishSecretRef: opaque.optional(),
  nodeStageSecretRef: opaque.optional(),
  nodePublishSecretRef: opaque.optional(),
  controllerExpandSecretRef: opaque.optional(),
  nodeExpandSecretRef: opaque.optional(),
});

/** The volume sources of a PersistentVolume (exactly one is set; validated in the kind). */
export const PERSISTENT_VOLUME_SOURCES = [
  'hostPath',
  'local',
  'csi',
  'nfs',
  'iscsi',
  'fc',
  'awsElasticBlockStore',
  'gcePersistentDisk',
  'azureDisk',
  'azureFile',
  'cephfs',
  'rbd',
  'cinder',
  'flexVolume',
  'glusterfs',
] as const;

export const PersistentVolumeSpecSchema = z.strictObject({
  capacity: ResourceListSchema.optional(),
  accessModes: z.array(z.string()).optional(),
  persistentVolumeReclaimPolicy: z.string().optional(),
  storageClassName: z.string().optional(),
  claimRef: ObjectReferenceSchema.nullable().optional(),
  nodeAffinity: z.strictObject({ required: NodeSelectorSchema.optional() }).optional(),
  volumeMode: z.string().optional(),
  mountOptions: z.array(z.string()).optional(),
  volumeAttributesClassName: z.string().optional(),
  hostPath: z.strictObject({ path: z.string(), type: z.string().optional() }).optional(),
  local: z.strictObject({ path: z.string(), fsType: z.string().optional() }).optional(),
  csi: CSIPersistentVolumeSourceSchema.optional(),
  nfs: opaque.optional(),
  iscsi: opaque.optional(),
  fc: opaque.optional(),
  awsElasticBlockStore: opaque.optional(),
  gcePersistentDisk: opaque.optional(),
  azureDisk: opaque.optional(),
  azureFile: opaque.optional(),
  cephfs: opaque.optional(),
  rbd: opaque.optional(),
  cinder: opaque.optional(),
  flexVolume: opaque.optional(),
  glusterfs: opaque.optional(),
});
export type PersistentVolumeSpec = z.infer<typeof PersistentVolumeSpecSchema>;

export const PersistentVolumeStatusSchema = z.looseObject({
  phase: z.enum(['Pending', 'Available', 'Bound', 'Released', 'Failed']).optional(),
  message: z.string().optional(),
  reason: z.string().optional(),
  lastPhaseTransitionTime: z.string().optional(),
});

/** core/v1 PersistentVolume: cluster-scoped storage, bound one-to-one to a claim. */
export const PersistentVolumeSchema = z.strictObject({
  ...typeMeta('v1', 'PersistentVolume'),
  spec: PersistentVolumeSpecSchema.default({}),
  status: PersistentVolumeStatusSchema.optional(),
});
export type PersistentVolume = z.infer<typeof PersistentVolumeSchema>;

export const PersistentVolumeClaimSpecSchema = z.strictObject({
  accessModes: z.array(z.string()).optional(),
  selector: LabelSelectorSchema.nullable().optional(),
  resources: z.strictObject({ requests: ResourceListSchema.optional(), limits: ResourceListSchema.optional() }).optional(),
  volumeName: z.string().optional(),
  /** Unset: the default StorageClass (admission); "": no class (binds only class-less volumes). */
  storageClassName: z.string().nullable().optional(),
  volumeMode: z.string().optional(),
  dataSource: opaque.nullable().optional(),
  dataSourceRef: opaque.nullable().optional(),
  volumeAttributesClassName: z.string().nullable().optional(),
});
export type PersistentVolumeClaimSpec = z.infer<typeof PersistentVolumeClaimSpecSchema>;

export const PersistentVolumeClaimStatusSchema = z.looseObject({
  phase: z.enum(['Pending', 'Bound', 'Lost']).optional(),
  accessModes: z.array(z.string()).optional(),
  capacity: ResourceListSchema.optional(),
  conditions: z.array(z.looseObject({ type: z.string(), status: z.string(), ...ConditionTimeFields })).optional(),
  allocatedResources: ResourceListSchema.optional(),
  allocatedResourceStatuses: z.record(z.string(), z.string()).optional(),
  currentVolumeAttributesClassName: z.string().optional(),
});

/** core/v1 PersistentVolumeClaim: a user's request for storage, bound to one PersistentVolume. */
export const PersistentVolumeClaimSchema = z.strictObject({
  ...typeMeta('v1', 'PersistentVolumeClaim'),
  spec: PersistentVolumeClaimSpecSchema.default({}),
  status: PersistentVolumeClaimStatusSchema.optional(),
});
export type PersistentVolumeClaim = z.infer<typeof PersistentVolumeClaimSchema>;

/** storage.k8s.io/v1 StorageClass: how volumes of a class are provisioned and reclaimed. */
export const StorageClassSchema = z.strictObject({
  ...typeMeta('storage.k8s.io/v1', 'StorageClass'),
  provisioner: z.string().optional(),
  parameters: z.record(z.string(), z.string()).optional(),
  reclaimPolicy: z.string().optional(),
  mountOptions: z.array(z.string()).optional(),
  allowVolumeExpansion: z.boolean().optional(),
  volumeBindingMode: z.string().optional(),
  allowedTopologies: z.array(opaque).optional(),
});
export type StorageClass = z.infer<typeof StorageClassSchema>;
