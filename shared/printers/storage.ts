import { accessModesString, isDefaultClass } from '../kinds/storage';
import type { KubeObject } from '../resources';
import { AGE, age, col, NAME, rec, str, type TableConvertor } from './columns';

/*
 * `kubectl get` columns of PersistentVolumes, PersistentVolumeClaims and StorageClasses, as
 * Kubernetes' printers (pkg/printers/internalversion/printers.go) define them.
 */

const VOLUME_MODE = col('VolumeMode', 'The volume mode (Filesystem or Block).', 1);
const VOLUME_ATTRIBUTES_CLASS = col('VolumeAttributesClass', 'The name of the VolumeAttributesClass.');

const modes = (v: unknown) => accessModesString(Array.isArray(v) ? (v as string[]) : []);
/** Terminating while being deleted, else the phase. */
const phaseOf = (o: KubeObject) => (o.metadata.deletionTimestamp ? 'Terminating' : str(rec(o.status).phase));

export const persistentVolumes: TableConvertor = {
  columns: [
    NAME,
    col('Capacity', 'The capacity of the volume.'),
    col('Access Modes', 'The ways the volume can be mounted.'),
    col('Reclaim Policy', 'What happens to the volume when released from its claim.'),
    col('Status', 'The phase of the volume.'),
    col('Claim', 'The claim (namespace/name) the volume is bound to.'),
    col('StorageClass', 'The StorageClass of the volume.'),
    VOLUME_ATTRIBUTES_CLASS,
    col('Reason', 'Why the volume is in its phase.'),
    AGE,
    VOLUME_MODE,
  ],
  cells: (o, now) => {
    const spec = rec(o.spec);
    const ref = spec.claimRef ? rec(spec.claimRef) : undefined;
    return [
      o.metadata.name,
      str(rec(spec.capacity).storage),
      modes(spec.accessModes),
      str(spec.persistentVolumeReclaimPolicy),
      phaseOf(o),
      ref ? `${str(ref.namespace)}/${str(ref.name)}` : '',
      str(spec.storageClassName),
      str(spec.volumeAttributesClassName) || '<unset>',
      str(rec(o.status).reason),
      age(o, now),
      str(spec.volumeMode) || '<unset>',
    ];
  },
};

export const persistentVolumeClaims: TableConvertor = {
  columns: [
    NAME,
    col('Status', 'The phase of the claim.'),
    col('Volume', 'The volume the claim is bound to.'),
    col('Capacity', 'The capacity of the bound volume.'),
    col('Access Modes', 'The access modes of the bound volume.'),
    col('StorageClass', 'The StorageClass the claim asks for.'),
    VOLUME_ATTRIBUTES_CLASS,
    AGE,
    VOLUME_MODE,
  ],
  cells: (o, now) => {
    const spec = rec(o.spec);
    const status = rec(o.status);
    // As kubectl: capacity and access modes are the bound volume's, shown once bound.
    const bound = !!str(spec.volumeName);
    return [
      o.metadata.name,
      phaseOf(o),
      str(spec.volumeName),
      bound ? str(rec(status.capacity).storage) : '',
      bound ? modes(status.accessModes) : '',
      str(spec.storageClassName),
      str(spec.volumeAttributesClassName) || '<unset>',
      age(o, now),
      str(spec.volumeMode) || '<unset>',
    ];
  },
};

export const storageClasses: TableConvertor = {
  columns: [
    NAME,
    col('Provisioner', 'The provisioner of the class.'),
    col('ReclaimPolicy', 'What happens to volumes of the class when released.'),
    col('VolumeBindingMode', 'When volumes of the class are bound and provisioned.'),
    col('AllowVolumeExpansion', 'Whether claims of the class may grow.', 0, 'boolean'),
    AGE,
  ],
  cells: (o, now) => [
    isDefaultClass(o) ? `${o.metadata.name} (default)` : o.metadata.name,
    str(o.provisioner),
    str(o.reclaimPolicy) || 'Delete',
    str(o.volumeBindingMode) || 'Immediate',
    o.allowVolumeExpansion === true,
    age(o, now),
  ],
};

