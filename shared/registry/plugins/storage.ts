import { isAlreadyExists } from '../../errors';
import { defaultStorageClass, isDefaultClass, STORAGE } from '../../kinds/storage';
import { resourceByName } from '../../resources';
import type { ObjectStore } from '../../store/store';
import type { AdmissionPlugin } from '../admission';

/*
 * Storage admission plugins, for new PersistentVolumeClaims, as Kubernetes':
 *  - DefaultStorageClass: a claim with no storageClassName (unset, not "") gets the default class;
 *  - StorageObjectInUseProtection: a claim carries the kubernetes.io/pvc-protection finalizer.
 * (A claim's and a volume's status starting Pending is their strategies' prepareForCreate.)
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

const isNewClaim = (a: { operation: string; rt: { group: string; resource: string } }) => a.operation === 'CREATE' && a.rt.group === '' && a.rt.resource === 'persistentvolumeclaims';

export const DefaultStorageClass: AdmissionPlugin = {
  name: 'DefaultStorageClass',
  async admit(a, ctx) {
    if (!isNewClaim(a) || !a.object) return undefined;
    const spec = { ...((a.object.spec ?? {}) as { storageClassName?: string | null }) };
    if (spec.storageClassName !== undefined && spec.storageClassName !== null) return undefined;
    const name = await defaultClassName(ctx.store, ctx.tenant);
    if (name) spec.storageClassName = name;
    else delete spec.storageClassName;
    return { ...a.object, spec };
  },
};

export const StorageObjectInUseProtection: AdmissionPlugin = {
  name: 'StorageObjectInUseProtection',
  admit(a) {
    if (!isNewClaim(a) || !a.object) return undefined;
    const finalizers = a.object.metadata.finalizers ?? [];
    if (finalizers.includes(STORAGE.pvcProtectionFinalizer)) return undefined;
    return { ...a.object, metadata: { ...a.object.metadata, finalizers: [...finalizers, STORAGE.pvcProtectionFinalizer] } };
  },
};
