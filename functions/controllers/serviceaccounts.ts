import { resourceByName } from '../../shared/resources';
import type { ObjectChange } from '../../shared/store/changes';
import { DEFAULT_SERVICE_ACCOUNT, ensureDefaultServiceAccount, ensureRootCaConfigMap, ROOT_CA_CONFIGMAP } from '../../shared/serviceaccounts/defaults';
import type { ControllerContext } from './apply';
import type { ControllerKey } from './dispatch';

/*
 * Kubernetes' serviceaccounts controller and root-ca-cert-publisher (shared/controllers.ts
 * declares both): every active namespace has a `default` ServiceAccount and a kube-root-ca.crt
 * ConfigMap, made when the namespace is created and again when removed. Keys name the
 * namespace (`name` is the object's fixed name).
 */

export function namespaceDefaultsKeysFor(c: ObjectChange): ControllerKey[] {
  const obj = c.newObject ?? c.oldObject;
  if (!obj) return [];
  if (c.resource === 'namespaces' && c.eventName === 'INSERT') {
    const ns = obj.metadata.name!;
    return [
      { controller: 'serviceaccounts', namespace: ns, name: DEFAULT_SERVICE_ACCOUNT },
      { controller: 'root-ca-cert-publisher', namespace: ns, name: ROOT_CA_CONFIGMAP },
    ];
  }
  if (c.eventName !== 'REMOVE') return [];
  if (c.resource === 'serviceaccounts' && obj.metadata.name === DEFAULT_SERVICE_ACCOUNT)
    return [{ controller: 'serviceaccounts', namespace: obj.metadata.namespace!, name: DEFAULT_SERVICE_ACCOUNT }];
  if (c.resource === 'configmaps' && obj.metadata.name === ROOT_CA_CONFIGMAP)
    return [{ controller: 'root-ca-cert-publisher', namespace: obj.metadata.namespace!, name: ROOT_CA_CONFIGMAP }];
  return [];
}

/** Whether the namespace exists and is not going away (nothing is made in a Terminating one). */
async function active(ctx: ControllerContext, namespace: string): Promise<boolean> {
  const ns = await ctx.store.get(ctx.tenant, resourceByName('namespaces'), undefined, namespace);
  return ns !== undefined && !ns.metadata.deletionTimestamp && (ns.status as { phase?: string } | undefined)?.phase !== 'Terminating';
}

export async function syncDefaultServiceAccount(ctx: ControllerContext, namespace: string): Promise<void> {
  if (await active(ctx, namespace)) await ensureDefaultServiceAccount(ctx.store, ctx.tenant, namespace);
}

export async function syncRootCaConfigMap(ctx: ControllerContext, namespace: string): Promise<void> {
  if (await active(ctx, namespace)) await ensureRootCaConfigMap(ctx.store, ctx.tenant, namespace);
}
