import { isAlreadyExists } from './errors';
import { resourceByName, type KubeObject } from './resources';
import { firstAddress, parseCidr } from './services/ip';
import { IP_POOL } from './services/allocator';
import { defaultService } from './services/validation';
import type { ObjectStore } from './store/store';

/*
 * The `kubernetes` Service of the default namespace, as kube-apiserver's bootstrap controller
 * (pkg/controlplane/controller/kubernetesservice) and endpoint reconciler make it: ClusterIP
 * the range's first address (10.96.0.1), port 443 named https to the API's pod-facing port, no
 * selector, and Endpoints plus an EndpointSlice naming the address where pods reach the API
 * (Config.apiPodAddress / apiPodPort). Made with the system namespaces; safe to repeat and to
 * run concurrently (the address is claimed with the allocation item the allocator uses).
 */

export const KUBERNETES_SERVICE = 'kubernetes';
const NS = 'default';

export function kubernetesServiceObjects(config: { serviceCidr?: string; apiPodAddress?: string; apiPodPort?: number }): { service: KubeObject; endpoints: KubeObject; slice: KubeObject } {
  const ip = firstAddress(parseCidr(config.serviceCidr ?? '10.96.0.0/12'));
  const address = config.apiPodAddress ?? '172.17.0.1';
  const port = config.apiPodPort ?? 6443;
  const service = defaultService({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: KUBERNETES_SERVICE, namespace: NS, labels: { component: 'apiserver', provider: 'kubernetes' } },
    spec: { type: 'ClusterIP', clusterIP: ip, ports: [{ name: 'https', port: 443, protocol: 'TCP', targetPort: port }], sessionAffinity: 'None' },
    status: { loadBalancer: {} },
  });
  const endpoints: KubeObject = {
    apiVersion: 'v1',
    kind: 'Endpoints',
    metadata: { name: KUBERNETES_SERVICE, namespace: NS, labels: { 'endpointslice.kubernetes.io/skip-mirror': 'true' } },
    subsets: [{ addresses: [{ ip: address }], ports: [{ name: 'https', port, protocol: 'TCP' }] }],
  };
  const slice: KubeObject = {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name: KUBERNETES_SERVICE, namespace: NS, labels: { 'kubernetes.io/service-name': KUBERNETES_SERVICE } },
    addressType: 'IPv4',
    endpoints: [{ addresses: [address], conditions: { ready: true } }],
    ports: [{ name: 'https', port, protocol: 'TCP' }],
  };
  return { service, endpoints, slice };
}

async function createIfMissing(store: ObjectStore, tenant: string, resource: string, obj: KubeObject): Promise<void> {
  const rt = resourceByName(resource);
  if (await store.get(tenant, rt, NS, obj.metadata.name!)) return;
  try {
    await store.create(tenant, rt, obj);
  } catch (e) {
    if (!isAlreadyExists(e)) throw e;
  }
}

/**
 * Creates `obj` when missing; else, when `field` of what is stored differs from obj's, writes
 * obj's back (kube-apiserver's endpoint reconciler: the API's address is the server's to say, and
 * it moves when a local stack's pod-facing port does). A concurrent writer's conflict is left to
 * the next start.
 */
async function reconcile(store: ObjectStore, tenant: string, resource: string, obj: KubeObject, fields: readonly string[]): Promise<void> {
  const rt = resourceByName(resource);
  const current = await store.get(tenant, rt, NS, obj.metadata.name!);
  if (!current) return createIfMissing(store, tenant, resource, obj);
  const wanted = obj as Record<string, unknown>;
  const stored = current as Record<string, unknown>;
  if (fields.every((f) => JSON.stringify(stored[f]) === JSON.stringify(wanted[f]))) return;
  const next: KubeObject = { ...current, ...Object.fromEntries(fields.map((f) => [f, wanted[f]])) };
  await store.update(tenant, rt, next, current.metadata.resourceVersion!);
}

/** The Service's ports (targetPort: the pod-facing port) put back when they differ; its ClusterIP stays. */
async function reconcileServicePorts(store: ObjectStore, tenant: string, service: KubeObject): Promise<void> {
  const rt = resourceByName('services');
  const current = await store.get(tenant, rt, NS, KUBERNETES_SERVICE);
  const spec = current?.spec as Record<string, unknown> | undefined;
  const ports = (service.spec as { ports: unknown }).ports;
  if (!current || !spec || JSON.stringify(spec.ports) === JSON.stringify(ports)) return;
  await store.update(tenant, rt, { ...current, spec: { ...spec, ports } }, current.metadata.resourceVersion!);
}

/**
 * Creates whichever of the Service, its Endpoints and EndpointSlice `tenant` lacks, and points the
 * Endpoints and EndpointSlice at the configured address and port when they name another.
 */
export async function ensureKubernetesService(store: ObjectStore, tenant: string): Promise<void> {
  const { service, endpoints, slice } = kubernetesServiceObjects(store.config);
  const rt = resourceByName('services');
  if (!(await store.get(tenant, rt, NS, KUBERNETES_SERVICE))) {
    const owner = `${NS}/${KUBERNETES_SERVICE}`;
    const ip = (service.spec as { clusterIP: string }).clusterIP;
    // The address is the Service's own: claimed for it (a concurrent ensure finds it claimed by the same owner).
    const claimed = await store.allocations.claim(tenant, IP_POOL, ip, owner);
    if (claimed || (await store.allocations.holder(tenant, IP_POOL, ip)) === owner) await createIfMissing(store, tenant, 'services', service);
  } else await reconcileServicePorts(store, tenant, service);
  await reconcile(store, tenant, 'endpoints', endpoints, ['subsets']);
  await reconcile(store, tenant, 'endpointslices', slice, ['endpoints', 'ports']);
}
