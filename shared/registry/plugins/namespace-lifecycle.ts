import { forbidden, isAlreadyExists, notFound } from '../../errors';
import { namespaceDeletionForbidden, SYSTEM_NAMESPACES } from '../../system-namespaces';
import { resourceByName, type KubeObject } from '../../resources';
import type { AdmissionPlugin } from '../admission';
import type { RegistryContext } from '../context';

/**
 * NamespaceLifecycle, as Kubernetes' plugin: nothing is created in a namespace that does not
 * exist (404) or is terminating (403); the immortal namespaces default, kube-system and
 * kube-public cannot be deleted (403). kube-node-lease may be deleted (it is made again).
 * The built-in namespaces are also made on first use, for tenants that predate their creation
 * at cluster creation.
 */

const namespaces = () => resourceByName('namespaces');

/** The namespace object (memoised in ctx.memo for the context's lifetime), made when built-in. */
export async function namespaceOf(ctx: RegistryContext, name: string): Promise<KubeObject | undefined> {
  const key = `ns/${name}`;
  if (ctx.memo?.has(key)) return ctx.memo.get(key) as KubeObject | undefined;
  let ns = await ctx.store.get(ctx.tenant, namespaces(), undefined, name);
  if (!ns && SYSTEM_NAMESPACES.includes(name)) {
    try {
      ns = await ctx.store.create(ctx.tenant, namespaces(), namespaces().applyDefaults({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } }));
    } catch (e) {
      if (!isAlreadyExists(e)) throw e;
      ns = await ctx.store.get(ctx.tenant, namespaces(), undefined, name);
    }
  }
  ctx.memo?.set(key, ns);
  return ns;
}

export const NamespaceLifecycle: AdmissionPlugin = {
  name: 'NamespaceLifecycle',
  async validate(a, ctx) {
    if (a.operation === 'DELETE' && a.rt.group === '' && a.rt.resource === 'namespaces') {
      const refused = namespaceDeletionForbidden(a.name ?? '');
      if (refused) throw refused;
    }
    if (a.operation !== 'CREATE' || !a.rt.namespaced || a.namespace === undefined) return;
    const ns = await namespaceOf(ctx, a.namespace);
    if (!ns) throw notFound('namespaces', a.namespace);
    if (ns.metadata.deletionTimestamp)
      throw forbidden(`${a.rt.resource} "${a.name ?? ''}" is forbidden: unable to create new content in namespace ${a.namespace} because it is being terminated`, {
        name: a.name,
        kind: a.rt.resource,
        causes: [{ reason: 'NamespaceTerminating', message: `namespace ${a.namespace} is being terminated`, field: 'metadata.namespace' }],
      });
  },
};
