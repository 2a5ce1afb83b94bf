import { isAlreadyExists } from '../errors';
import { resourceByName, type KubeObject } from '../resources';
import type { ObjectStore } from '../store/store';
import { DEFAULT_CLASS_ANNOTATION } from '../registry/plugins/default-ingress-class';

/*
 * The IngressClass every cluster is made with (issue #15): `stratus`, served by the Ingress proxy
 * each node agent runs (node-agent/network/ingress-proxy.ts), and the cluster's default, so an
 * Ingress naming no class gets it (the DefaultIngressClass admission plugin). Made once, when the
 * cluster is (shared/clusters.ts CLUSTER_BOOTSTRAP, infra/local/stack.ts): a user may delete or
 * un-default it, as any IngressClass, and it is not made again.
 */

export const STRATUS_INGRESS_CLASS = 'stratus';
/** spec.controller of the classes the node agents' Ingress proxy serves. */
export const STRATUS_INGRESS_CONTROLLER = 'stratus.dev/ingress';
/** The Node annotation where an agent publishes the port its Ingress proxy listens on. */
export const INGRESS_PORT_ANNOTATION = 'stratus.dev/ingress-port';
/** The Node annotation where an agent publishes the port of its Ingress proxy's TLS listener (HTTPS, HTTP/2). */
export const INGRESS_TLS_PORT_ANNOTATION = 'stratus.dev/ingress-tls-port';

export function defaultIngressClassObject(): KubeObject {
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'IngressClass',
    metadata: { name: STRATUS_INGRESS_CLASS, annotations: { [DEFAULT_CLASS_ANNOTATION]: 'true' } },
    spec: { controller: STRATUS_INGRESS_CONTROLLER },
  };
}

/** Creates the `stratus` IngressClass when `tenant` lacks it. Idempotent, safe concurrently. */
export async function ensureDefaultIngressClass(store: ObjectStore, tenant: string): Promise<void> {
  const rt = resourceByName('ingressclasses');
  if (await store.get(tenant, rt, undefined, STRATUS_INGRESS_CLASS)) return;
  try {
    await store.create(tenant, rt, rt.applyDefaults(defaultIngressClassObject()));
  } catch (e) {
    if (!isAlreadyExists(e)) throw e;
  }
}
