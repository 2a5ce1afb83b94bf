import { forbidden, isAlreadyExists, type StatusError } from './errors';
import { resourceByName } from './resources';
import type { ObjectStore } from './store/store';
import { ensureNamespaceDefaults } from './serviceaccounts/defaults';
import { ensureSigningKeys } from './serviceaccounts/keys';
import { ensureKubernetesService } from './kubernetes-service';
import { ensureKubeDnsService } from './kube-dns-service';

/*
 * The four namespaces every cluster has from its first second, as Kubernetes' system namespaces
 * controller (pkg/controlplane/controller/systemnamespaces) and the default namespace's
 * bootstrap make them. Made when a tenant is created (infra/local/stack.ts createTenantTokens),
 * healed on the first namespace list or get of a tenant that predates that, and made again by
 * the controllers when one is removed (only kube-node-lease can be: the NamespaceLifecycle
 * admission plugin's immortal namespaces may not be deleted).
 */

export const SYSTEM_NAMESPACES: readonly string[] = ['default', 'kube-system', 'kube-public', 'kube-node-lease'];
/** NamespaceLifecycle's immortal namespaces: DELETE is 403. */
export const IMMORTAL_NAMESPACES: ReadonlySet<string> = new Set(['default', 'kube-system', 'kube-public']);

/** The 403 Kubernetes answers a DELETE of an immortal namespace with; undefined for any other. */
export function namespaceDeletionForbidden(name: string): StatusError | undefined {
  return IMMORTAL_NAMESPACES.has(name) ? forbidden(`namespaces "${name}" is forbidden: this namespace may not be deleted`, { name, kind: 'namespaces' }) : undefined;
}

/**
 * Creates whichever system namespaces `tenant` lacks, and the `kubernetes` Service of the
 * default namespace (shared/kubernetes-service.ts). Idempotent and safe to run concurrently.
 */
export async function ensureSystemNamespaces(store: ObjectStore, tenant: string): Promise<void> {
  const rt = resourceByName('namespaces');
  await Promise.all(
    SYSTEM_NAMESPACES.map(async (name) => {
      if (await store.get(tenant, rt, undefined, name)) return;
      try {
        await store.create(tenant, rt, rt.applyDefaults({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } }));
      } catch (e) {
        if (!isAlreadyExists(e)) throw e;
      }
    }),
  );
  // Issue #16: each with its default ServiceAccount and kube-root-ca.crt, and the cluster's
  // service account signing key, from its first second.
  await Promise.all([...SYSTEM_NAMESPACES.map((ns) => ensureNamespaceDefaults(store, tenant, ns)), ensureSigningKeys(store.doc, store.config, tenant)]);
  await ensureKubernetesService(store, tenant);
  // Issue #15: the cluster DNS's Service (shared/kube-dns-service.ts).
  await ensureKubeDnsService(store, tenant);
}

const healed = new Set<string>();

/**
 * The self-heal for tenants made before their namespaces were: once per tenant and process (a
 * Lambda container), before the first namespace list or get. Later removals (kube-node-lease)
 * are the controllers' to undo.
 */
export async function healSystemNamespaces(store: ObjectStore, tenant: string): Promise<void> {
  if (healed.has(tenant)) return;
  await ensureSystemNamespaces(store, tenant);
  healed.add(tenant);
}
