import { readFileSync } from 'node:fs';
import { isAlreadyExists } from '../errors';
import { resourceByName, type KubeObject } from '../resources';
import type { ObjectStore } from '../store/store';

/*
 * What every namespace holds from its creation, as Kubernetes' serviceaccounts controller and
 * root-ca-cert-publisher make it: the `default` ServiceAccount and the `kube-root-ca.crt`
 * ConfigMap (the CA that signed the API's serving certificate, which in-cluster clients trust).
 * Made for the system namespaces when a cluster is made (ensureSystemNamespaces), for other
 * namespaces by the controllers (functions/controllers/serviceaccounts.ts) on the namespace's
 * creation, and again when removed.
 */

export const DEFAULT_SERVICE_ACCOUNT = 'default';
export const ROOT_CA_CONFIGMAP = 'kube-root-ca.crt';
/** The annotation Kubernetes' publisher sets (kubernetes.io/description). */
const ROOT_CA_DESCRIPTION =
  'Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters.';

let rootCa: { pem: string | undefined } | undefined;

/**
 * The API serving CA in PEM: STRATUS_CA_PEM, else the file STRATUS_CA_FILE names (the local
 * stack's ca.crt), else undefined (no ConfigMap is published). Read once per process.
 */
export function rootCaPem(env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (rootCa) return rootCa.pem;
  let pem = env.STRATUS_CA_PEM;
  if (!pem && env.STRATUS_CA_FILE) {
    try {
      pem = readFileSync(env.STRATUS_CA_FILE, 'utf8');
    } catch {
      pem = undefined;
    }
  }
  rootCa = { pem: pem || undefined };
  return rootCa.pem;
}

/** Forgets the cached CA (tests). */
export const resetRootCa = () => {
  rootCa = undefined;
};

export const defaultServiceAccount = (namespace: string): KubeObject => ({
  apiVersion: 'v1',
  kind: 'ServiceAccount',
  metadata: { name: DEFAULT_SERVICE_ACCOUNT, namespace },
});

export const rootCaConfigMap = (namespace: string, pem: string): KubeObject => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name: ROOT_CA_CONFIGMAP, namespace, annotations: { 'kubernetes.io/description': ROOT_CA_DESCRIPTION } },
  data: { 'ca.crt': pem },
});

async function createIfMissing(store: ObjectStore, tenant: string, resource: string, obj: KubeObject): Promise<void> {
  const rt = resourceByName(resource);
  if (await store.get(tenant, rt, obj.metadata.namespace, obj.metadata.name!)) return;
  try {
    await store.create(tenant, rt, rt.applyDefaults(obj));
  } catch (e) {
    if (!isAlreadyExists(e)) throw e;
  }
}

/** The default ServiceAccount of `namespace`, made when missing (idempotent, safe to race). */
export const ensureDefaultServiceAccount = (store: ObjectStore, tenant: string, namespace: string) =>
  createIfMissing(store, tenant, 'serviceaccounts', defaultServiceAccount(namespace));

/**
 * The kube-root-ca.crt ConfigMap of `namespace`: made when missing, its data put back when it
 * differs from the CA (as the publisher does on updates). Nothing when no CA is configured.
 */
export async function ensureRootCaConfigMap(store: ObjectStore, tenant: string, namespace: string): Promise<void> {
  const pem = rootCaPem();
  if (!pem) return;
  const rt = resourceByName('configmaps');
  const current = await store.get(tenant, rt, namespace, ROOT_CA_CONFIGMAP);
  if (!current) return createIfMissing(store, tenant, 'configmaps', rootCaConfigMap(namespace, pem));
  const data = current.data as Record<string, string> | undefined;
  if (data?.['ca.crt'] === pem && Object.keys(data).length === 1) return;
  await store.update(tenant, rt, { ...current, data: { 'ca.crt': pem } }, current.metadata.resourceVersion!);
}

/** Both, for one namespace. */
export async function ensureNamespaceDefaults(store: ObjectStore, tenant: string, namespace: string): Promise<void> {
  await Promise.all([ensureDefaultServiceAccount(store, tenant, namespace), ensureRootCaConfigMap(store, tenant, namespace)]);
}
