import { isAlreadyExists } from '../../shared/errors';
import { defaultStorageClass, isDefaultClass, STORAGE } from '../../shared/kinds/storage';
import { resourceByName, type KubeObject } from '../../shared/resources';
import type { ObjectStore } from '../../shared/store/store';

/*
 * Admission of new PersistentVolumeClaims and PersistentVolumes, run by the api function (and
 * for what controllers create) through admitNew, as Kubernetes' admission plugins do:
 *  - DefaultStorageClass: a claim with no storageClassName (unset, not "") gets the default class;
 *  - StorageObjectInUseProtection: a claim carries the kubernetes.io/pvc-protection finalizer;
 *  - the registry's PrepareForCreate: status starts Pending, whatever the client sent.
 * Every tenant has the default class `standard` (provisioner stratus.io/local-volume,
 * WaitForFirstConsumer, Delete): it is made on first use, as the built-in namespaces are, when the
 * tenant has no StorageClass at all (a tenant that defines its own classes keeps only those).
 */

const storageClasses = () => resourceByName('storageclasses');

/**
 * The tenant's default StorageClass name, making `standard` when the tenant has no class yet.
 * When several are marked default, the newest wins (as in Kubernetes since 1.28).
 */
export async function defaultClassName(store: ObjectStore, tenant: string): Promise<string | undefined> {
  const { items } = await store.list(tenant, storageClasses(), { versioned: false });
  if (items.length === 0) {
    try {
      await store.create(tenant, storageClasses(), storageClasses().applyDefaults(defaultStorageClass()));
    } catch (e) {
      if (!isAlreadyExists(e)) throw e; // made meanwhile by a concurrent request: fine
    }
    return STORAGE.defaultClassName;
  }
  const defaults = items.filter(isDefaultClass).sort((a, b) => (a.metadata.creationTimestamp ?? '') < (b.metadata.creationTimestamp ?? '') ? 1 : -1);
  return defaults[0]?.metadata.name;
}

/** Mutating admission of a new claim or volume; other kinds pass through unchanged. */
export async function admitVolumeObject(store: ObjectStore, tenant: string, resource: string, obj: KubeObject): Promise<KubeObject> {
  if (resource === 'persistentvolumes') return { ...obj, status: { phase: 'Pending' } };
  if (resource !== 'persistentvolumeclaims') return obj;
  const spec = { ...((obj.spec ?? {}) as { storageClassName?: string | null }) };
  if (spec.storageClassName === undefined || spec.storageClassName === null) {
    const name = await defaultClassName(store, tenant);
    if (name) spec.storageClassName = name;
    else delete spec.storageClassName;
  }
  const finalizers = obj.metadata.finalizers ?? [];
  return {
    ...obj,
    metadata: { ...obj.metadata, finalizers: finalizers.includes(STORAGE.pvcProtectionFinalizer) ? finalizers : [...finalizers, STORAGE.pvcProtectionFinalizer] },
    spec,
    status: { phase: 'Pending' },
  };
}
