import { clusterIsBeingDeleted } from '../../shared/clusters';
import { ensureSystemNamespaces } from '../../shared/system-namespaces';
import type { ControllerContext } from './apply';

/*
 * The system namespaces controller (Kubernetes' pkg/controlplane/controller/systemnamespaces):
 * a system namespace that went away (kube-node-lease, the one that may be deleted) is made
 * again as soon as its removal comes down the stream.
 */

export const COMPONENT = 'system-namespaces-controller';

export async function syncSystemNamespaces(ctx: ControllerContext): Promise<void> {
  // A cluster being deleted loses its namespaces for good (shared/clusters.ts deleteCluster).
  if (await clusterIsBeingDeleted(ctx.store, ctx.tenant)) return;
  await ensureSystemNamespaces(ctx.store, ctx.tenant);
}
