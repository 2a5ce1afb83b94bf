/**
 * The Ingress proxy's routing (pure): which Ingresses the node's proxy serves, which backend a
 * request goes to, and which addresses that backend may be reached at. ingress-proxy.ts does the
 * HTTP; everything a test table can pin down is here.
 *
 * Semantics (networking.k8s.io/v1, as https://kubernetes.io/docs/concepts/services-networking/ingress/
 * defines them):
 * - Served: Ingresses whose spec.ingressClassName (or the old kubernetes.io/ingress.class
 *   annotation) names an IngressClass whose spec.controller is ours. The DefaultIngressClass
 *   admission plugin gives a new Ingress without one the cluster's default class.
 * - Hosts: a precise host matches the request's Host (port dropped, case-insensitive) exactly; a
 *   wildcard `*.foo.com` matches one more DNS label (`bar.foo.com`, not `foo.com` nor
 *   `baz.bar.foo.com`); a rule without host matches every request. The most specific host with
 *   rules wins (precise, then wildcard, then none), over every served Ingress together, as one
 *   virtual host per name (ingress-nginx merges them so too).
 * - Paths: Exact is the whole path, case-sensitive; Prefix compares path elements split by `/`
 *   (`/foo/bar` matches `/foo/bar` and `/foo/bar/baz`, never `/foo/barbaz`; a trailing slash is
 *   ignored on either side). ImplementationSpecific is ours to define: here it is Prefix. Among
 *   matches the longest path wins, Exact before Prefix at equal length, then the oldest Ingress.
 * - Nothing matches: the oldest served Ingress's spec.defaultBackend, else 404.
 * - Backend: the Service's port by number or name, its ready endpoints (EndpointSlices labelled
 *   kubernetes.io/service-name), each reached at the slice port of the Service port's name. No
 *   Service, no such port, an ExternalName Service, a `resource` backend or no ready endpoint: 503.
 * - Only addresses inside this cluster's node pod CIDRs (and the deployment's pod CIDR pool),
 *   never a range's network, gateway (the bridge: the host) or broadcast address, are connected
 *   to: a user-written Endpoints/EndpointSlice may name any address, and the proxy runs on the
 *   host, outside every pod's network rules.
 */
import { isIPv4 } from 'node:net';
import type { IngressBackend, IngressRule } from '../../shared/schemas/ingress';
import type { EndpointSlice, Service } from '../../shared/schemas/service';
import { ipToNumber } from '../../shared/services/ip';

export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';
export const LEGACY_CLASS_ANNOTATION = 'kubernetes.io/ingress.class';

/** What routing reads of an Ingress. */
export interface RouteIngress {
  readonly metadata: { readonly namespace?: string; readonly name?: string; readonly creationTimestamp?: string; readonly annotations?: Readonly<Record<string, string>> };
  readonly spec: { readonly ingressClassName?: string; readonly defaultBackend?: IngressBackend; readonly rules?: readonly IngressRule[]; readonly tls?: readonly IngressTLS[] };
}

/** An Ingress's spec.tls entry (ingress-tls.ts reads it). */
export interface IngressTLS {
  readonly hosts?: readonly string[];
  readonly secretName?: string;
}

export interface RouteIngressClass {
  readonly metadata: { readonly name?: string };
  readonly spec: { readonly controller?: string };
}

/** The Ingresses of a class whose controller is `controller`, oldest first (ties by namespace/name). */
export function servedIngresses<T extends RouteIngress>(ingresses: readonly T[], classes: readonly RouteIngressClass[], controller: string): T[] {
  const ours = new Set(classes.filter((c) => c.spec.controller === controller).map((c) => c.metadata.name));
  return ingresses.filter((i) => ours.has(i.spec.ingressClassName ?? i.metadata.annotations?.[LEGACY_CLASS_ANNOTATION])).sort(olderFirst);
}

const keyOf = (i: RouteIngress) => `${i.metadata.namespace ?? ''}/${i.metadata.name ?? ''}`;
function olderFirst(a: RouteIngress, b: RouteIngress): number {
  const ta = a.metadata.creationTimestamp ?? '';
  const tb = b.metadata.creationTimestamp ?? '';
  if (ta !== tb) return ta < tb ? -1 : 1;
  return keyOf(a) < keyOf(b) ? -1 : keyOf(a) > keyOf(b) ? 1 : 0;
}

/** The request's host as rules compare it: lower case, without a port (IPv6 brackets kept). */
export function requestHost(hostHeader: string | undefined): string {
  const h = (hostHeader ?? '').trim().toLowerCase();
  if (h.startsWith('[')) return h.slice(0, h.indexOf(']') + 1);
  const colon = h.indexOf(':');
  return colon >= 0 ? h.slice(0, colon) : h;
}

/** How specifically a rule's host matches: 3 precise, 2 wildcard, 1 no host, 0 no match. */
export function hostMatch(ruleHost: string | undefined, host: string): number {
  if (!ruleHost) return 1;
  const rule = ruleHost.toLowerCase();
  if (rule.startsWith('*.')) {
    const suffix = rule.slice(1); // ".foo.com"
    if (!host.endsWith(suffix)) return 0;
    const label = host.slice(0, host.length - suffix.length);
    return label.length > 0 && !label.includes('.') ? 2 : 0;
  }
  return rule === host ? 3 : 0;
}

const elements = (p: string) => p.split('/').filter((e) => e !== '');

/** Whether `path` (the request's, without query) matches a rule path of a path type. */
export function pathMatches(pathType: string | undefined, rulePath: string | undefined, path: string): boolean {
  const rp = rulePath ?? '';
  if (pathType === 'Exact') return rp === path;
  // Prefix, and ImplementationSpecific as Prefix.
  const want = elements(rp);
  const have = elements(path);
  if (want.length > have.length) return false;
  return want.every((e, i) => e === have[i]);
}

const TYPE_ORDER: Readonly<Record<string, number>> = { Exact: 0, Prefix: 1, ImplementationSpecific: 2 };

/** Where a request goes: a backend of an Ingress, or nothing (404). */
export interface Route {
  readonly namespace: string;
  readonly ingress: string;
  readonly backend: IngressBackend;
  /** The matching rule's host and path ('' and undefined for a defaultBackend). */
  readonly host?: string;
  readonly path?: string;
  readonly pathType?: string;
}

/** The route of a request (served Ingresses, oldest first, as servedIngresses answers them). */
export function matchRoute(ingresses: readonly RouteIngress[], hostHeader: string | undefined, rawPath: string): Route | undefined {
  const host = requestHost(hostHeader);
  const q = rawPath.indexOf('?');
  const path = (q >= 0 ? rawPath.slice(0, q) : rawPath) || '/';
  // The most specific host that has rules.
  let best = 0;
  for (const ing of ingresses) for (const r of ing.spec.rules ?? []) best = Math.max(best, hostMatch(r.host, host));
  if (best > 0) {
    let found: { route: Route; length: number; order: number } | undefined;
    for (const ing of ingresses) {
      for (const r of ing.spec.rules ?? []) {
        if (hostMatch(r.host, host) !== best) continue;
        for (const p of r.http?.paths ?? []) {
          if (!pathMatches(p.pathType, p.path, path)) continue;
          const length = (p.path ?? '').length;
          const order = TYPE_ORDER[p.pathType ?? ''] ?? 3;
          // Longer first; Exact before Prefix; the first seen (the oldest Ingress) on a tie.
          if (found && (found.length > length || (found.length === length && found.order <= order))) continue;
          found = {
            route: { namespace: ing.metadata.namespace ?? 'default', ingress: ing.metadata.name ?? '', backend: p.backend, host: r.host ?? '', ...(p.path !== undefined ? { path: p.path } : {}), ...(p.pathType ? { pathType: p.pathType } : {}) },
            length,
            order,
          };
        }
      }
    }
    if (found) return found.route;
  }
  const fallback = ingresses.find((i) => i.spec.defaultBackend);
  return fallback ? { namespace: fallback.metadata.namespace ?? 'default', ingress: fallback.metadata.name ?? '', backend: fallback.spec.defaultBackend! } : undefined;
}

/** An address and port the proxy may connect to. */
export interface Target {
  readonly ip: string;
  readonly port: number;
}

export type Resolution = { readonly targets: readonly Target[] } | { readonly unavailable: string };

/**
 * The addresses a backend may be reached at: ready endpoints of its Service's port, only those
 * `allowed` says are this cluster's pods'. `unavailable` (a 503) says why there is none.
 */
export function resolveBackend(
  view: { readonly services: readonly Service[]; readonly endpointSlices: readonly EndpointSlice[] },
  namespace: string,
  backend: IngressBackend,
  allowed: (ip: string) => boolean,
): Resolution {
  const ref = backend.service;
  if (!ref) return { unavailable: 'resource backends are not served' };
  const svc = view.services.find((s) => s.metadata.namespace === namespace && s.metadata.name === ref.name);
  if (!svc) return { unavailable: `service "${namespace}/${ref.name}" not found` };
  if (svc.spec.type === 'ExternalName') return { unavailable: `service "${namespace}/${ref.name}" is ExternalName` };
  const sp = (svc.spec.ports ?? []).find((p) => (ref.port?.number !== undefined ? p.port === ref.port.number : p.name !== undefined && p.name === ref.port?.name));
  if (!sp || (sp.protocol ?? 'TCP') !== 'TCP') return { unavailable: `service "${namespace}/${ref.name}" has no TCP port ${ref.port?.number ?? ref.port?.name ?? ''}` };
  const targets: Target[] = [];
  const seen = new Set<string>();
  for (const slice of view.endpointSlices) {
    if (slice.metadata.namespace !== namespace || slice.metadata.labels?.[SERVICE_NAME_LABEL] !== ref.name || slice.addressType !== 'IPv4') continue;
    const port = (slice.ports ?? []).find((p) => (p.name ?? '') === (sp.name ?? '') && (p.protocol ?? 'TCP') === 'TCP')?.port;
    if (port === undefined || port < 1 || port > 65535) continue;
    for (const e of slice.endpoints) {
      if (e.conditions?.ready === false) continue;
      for (const ip of e.addresses) {
        const k = `${ip}:${port}`;
        if (seen.has(k) || !allowed(ip)) continue;
        seen.add(k);
        targets.push({ ip, port });
      }
    }
  }
  if (!targets.length) return { unavailable: `no ready endpoints for service "${namespace}/${ref.name}"` };
  return { targets };
}

/**
 * The check for every address the proxy connects to: inside one of the cluster's node pod CIDRs
 * and inside the deployment's pool, and not a range's network, first (the bridge gateway: the
 * host itself) or broadcast address.
 */
export function podAddressFilter(clusterPodCIDRs: readonly string[], pool: string): (ip: string) => boolean {
  const range = (cidr: string): { base: number; size: number } | undefined => {
    const [ip, bits] = cidr.split('/');
    const prefix = Number(bits);
    if (!ip || !isIPv4(ip) || !Number.isInteger(prefix) || prefix < 8 || prefix > 30) return undefined;
    const size = 2 ** (32 - prefix);
    return { base: ipToNumber(ip) - (ipToNumber(ip) % size), size };
  };
  const poolRange = range(pool);
  const ranges = clusterPodCIDRs.map(range).filter((r): r is { base: number; size: number } => r !== undefined);
  return (ip: string) => {
    if (!poolRange || !isIPv4(ip)) return false;
    const n = ipToNumber(ip);
    if (n < poolRange.base || n >= poolRange.base + poolRange.size) return false;
    return ranges.some((r) => n > r.base + 1 && n < r.base + r.size - 1);
  };
}
