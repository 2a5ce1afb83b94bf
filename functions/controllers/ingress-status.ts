import { canonicalJson } from '../../shared/canonical';
import { isConflict, isNotFound } from '../../shared/errors';
import { INGRESS_PORT_ANNOTATION, INGRESS_TLS_PORT_ANNOTATION, STRATUS_INGRESS_CONTROLLER } from '../../shared/ingress/default-class';
import { resourceByName, type KubeObject } from '../../shared/resources';
import type { ObjectChange } from '../../shared/store/changes';
import type { ObjectStore } from '../../shared/store/store';
import type { ControllerContext } from './apply';
import type { ControllerKey } from './dispatch';

/*
 * Ingress status (issue #15), what an ingress controller's status updater does (ingress-nginx's
 * publishes its Service's or nodes' addresses): each Ingress of a class whose controller is
 * `stratus.dev/ingress` gets status.loadBalancer.ingress = one entry per Ready node whose agent
 * runs the Ingress proxy: the node's InternalIP and the proxy's port (the Node's
 * stratus.dev/ingress-port annotation, node-agent/main.ts) and its TLS listener's port (the
 * stratus.dev/ingress-tls-port annotation) as IngressPortStatus entries (port, protocol TCP): the
 * HTTP ports first, then the TLS ones, so `kubectl get ingress` shows an ADDRESS. Ingresses of other classes are left alone (their controller writes their status).
 * Keys: the Ingress itself on its writes (dispatch.ts, `owns`); every Ingress of the cluster when
 * an IngressClass changes or a node's address, proxy port or readiness does.
 */

const LEGACY_CLASS_ANNOTATION = 'kubernetes.io/ingress.class';
const MAX_ATTEMPTS = 5;

interface NodeView {
  metadata: { name?: string; annotations?: Record<string, string> };
  status?: { addresses?: { type: string; address: string }[]; conditions?: { type: string; status: string }[] };
}

const validPort = (p: number) => Number.isInteger(p) && p >= 1 && p <= 65535;

/** A node's Ingress proxy entry (with its TLS port when it has one), if it serves one and is Ready. */
export function nodeIngressPoint(node: KubeObject | undefined): { ip: string; port: number; tlsPort?: number } | undefined {
  const n = node as NodeView | undefined;
  const port = Number(n?.metadata.annotations?.[INGRESS_PORT_ANNOTATION]);
  const tlsPort = Number(n?.metadata.annotations?.[INGRESS_TLS_PORT_ANNOTATION]);
  if (!n || !validPort(port)) return undefined;
  if (n.status?.conditions?.find((c) => c.type === 'Ready')?.status !== 'True') return undefined;
  const addresses = n.status?.addresses ?? [];
  const ip = addresses.find((a) => a.type === 'InternalIP')?.address ?? addresses.find((a) => a.type === 'ExternalIP')?.address;
  return ip ? { ip, port, ...(validPort(tlsPort) ? { tlsPort } : {}) } : undefined;
}

/** status.loadBalancer of the Ingresses the node agents serve, from the cluster's nodes (pure). */
export function ingressLoadBalancer(nodes: readonly KubeObject[]): { ingress?: { ip: string; ports: { port: number; protocol: string }[] }[] } {
  const byIp = new Map<string, { http: Set<number>; tls: Set<number> }>();
  for (const n of nodes) {
    const p = nodeIngressPoint(n);
    if (!p) continue;
    const e = byIp.get(p.ip) ?? { http: new Set<number>(), tls: new Set<number>() };
    e.http.add(p.port);
    if (p.tlsPort) e.tls.add(p.tlsPort);
    byIp.set(p.ip, e);
  }
  const ascending = (s: Set<number>) => [...s].sort((a, b) => a - b);
  const ingress = [...byIp.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([ip, { http, tls }]) => ({ ip, ports: [...new Set([...ascending(http), ...ascending(tls)])].map((port) => ({ port, protocol: 'TCP' })) }));
  return ingress.length ? { ingress } : {};
}

const classOf = (o: KubeObject): string | undefined => (o.spec as { ingressClassName?: string } | undefined)?.ingressClassName ?? o.metadata.annotations?.[LEGACY_CLASS_ANNOTATION];
const pointShape = (n: KubeObject | undefined) => canonicalJson(nodeIngressPoint(n) ?? null);

async function everyIngress(store: ObjectStore, tenant: string): Promise<ControllerKey[]> {
  const { items } = await store.list(tenant, resourceByName('ingresses'), { versioned: false });
  return items.map((i) => ({ controller: 'ingresses', namespace: i.metadata.namespace ?? '', name: i.metadata.name! }));
}

/** The keys a change concerns beyond the Ingress's own writes. */
export async function ingressKeysFor(c: ObjectChange, store: ObjectStore): Promise<ControllerKey[]> {
  if (c.group === 'networking.k8s.io' && c.resource === 'ingressclasses') return everyIngress(store, c.tenant);
  if (c.group === '' && c.resource === 'nodes' && pointShape(c.oldObject) !== pointShape(c.newObject)) return everyIngress(store, c.tenant);
  return [];
}

export async function syncIngressStatus(ctx: ControllerContext, namespace: string, name: string): Promise<void> {
  const rt = resourceByName('ingresses');
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const ing = await ctx.store.get(ctx.tenant, rt, namespace, name);
    if (!ing || ing.metadata.deletionTimestamp) return;
    const cls = classOf(ing);
    const klass = cls ? await ctx.store.get(ctx.tenant, resourceByName('ingressclasses'), undefined, cls) : undefined;
    if ((klass?.spec as { controller?: string } | undefined)?.controller !== STRATUS_INGRESS_CONTROLLER) return;
    const { items: nodes } = await ctx.store.list(ctx.tenant, resourceByName('nodes'), { versioned: false });
    const loadBalancer = ingressLoadBalancer(nodes);
    const status = (ing.status ?? {}) as { loadBalancer?: unknown };
    if (canonicalJson(status.loadBalancer ?? {}) === canonicalJson(loadBalancer)) return;
    try {
      await ctx.store.update(ctx.tenant, rt, { ...ing, status: { ...status, loadBalancer } }, ing.metadata.resourceVersion!);
      return;
    } catch (e) {
      if (isNotFound(e)) return;
      if (!isConflict(e)) throw e;
    }
  }
  throw new Error(`ingress ${namespace}/${name}: status write kept conflicting`);
}
