/**
 * What the node agent knows of its cluster's Services, as kube-proxy's and CoreDNS's informers
 * know it: the agent plays both (nftables service proxy, cluster DNS), and both read this one view
 * so the cluster's Services and EndpointSlices are fetched once per node, not once per consumer.
 *
 * Contract:
 * - current() is the latest complete snapshot (never a half-applied change); before the first
 *   sync it is an empty snapshot with version "".
 * - subscribe(fn) calls fn with each new snapshot after it replaced the previous one (not for the
 *   snapshot current() already returns); the returned function unsubscribes. A listener that
 *   throws does not stop the others.
 * - Snapshots are immutable: consumers may keep and diff them.
 * - Pods are those a DNS answer needs (hostname/subdomain records of headless Services, pod A
 *   records): name, namespace, IPs, hostname, subdomain; never their specs' secrets. NetworkPolicy
 *   enforcement adds what selects and resolves them: labels, named container ports, hostNetwork,
 *   whether the pod has finished.
 * - NetworkPolicies and namespaces (names and labels) are listed only while the cluster has
 *   NetworkPolicies (an empty list of namespaces otherwise).
 * - `changes`, when present, names every object that differs from the snapshot whose version is
 *   `changes.since` (its new value, undefined when it went), and an array of a kind not named there
 *   is the very array of that snapshot: a consumer that applied `since` may rebuild only those
 *   (ServiceProxy, the DNS index). Absent, or another `since`: compare the whole snapshot.
 */
import type { NetworkPolicy } from '../../shared/schemas/network-policy';
import type { EndpointSlice, Service } from '../../shared/schemas/service';
import type { RouteIngress, RouteIngressClass } from './ingress-routes';

export interface ViewPod {
  readonly namespace: string;
  readonly name: string;
  readonly ips: readonly string[];
  readonly hostname?: string;
  readonly subdomain?: string;
  /** The node the pod is bound to (the service proxy's hostPorts are its own node's pods'). */
  readonly nodeName?: string;
  /** Its containers' hostPorts while it runs (not once Succeeded/Failed or deleting). */
  readonly hostPorts?: readonly ViewHostPort[];
  /** Its labels (absent: none). */
  readonly labels?: Readonly<Record<string, string>>;
  /** Its containers' named ports (NetworkPolicy named ports resolve against them). */
  readonly namedPorts?: readonly ViewNamedPort[];
  /** The pod runs in the node's network namespace (its IP is the node's: never a policy peer or target). */
  readonly hostNetwork?: true;
  /** Succeeded or Failed: its IP may already be another pod's. */
  readonly finished?: true;
}

export interface ViewNamedPort {
  readonly name: string;
  /** TCP, UDP or SCTP. */
  readonly protocol: string;
  readonly containerPort: number;
}

/** A namespace as NetworkPolicy namespaceSelectors see it. */
export interface ViewNamespace {
  readonly name: string;
  /** Its labels, with kubernetes.io/metadata.name always set to its name (as Kubernetes sets it). */
  readonly labels: Readonly<Record<string, string>>;
}

export interface ViewHostPort {
  /** TCP, UDP or SCTP. */
  readonly protocol: string;
  readonly hostPort: number;
  readonly containerPort: number;
}

export interface ClusterSnapshot {
  /** Changes whenever anything in the snapshot changed; "" before the first sync. */
  readonly version: string;
  readonly services: readonly Service[];
  readonly endpointSlices: readonly EndpointSlice[];
  readonly pods: readonly ViewPod[];
  /** The cluster's NetworkPolicies (absent: none). */
  readonly networkPolicies?: readonly NetworkPolicy[];
  /** The cluster's namespaces, read while it has NetworkPolicies (absent: none read). */
  readonly namespaces?: readonly ViewNamespace[];
  /** The cluster's Ingresses and IngressClasses, for the node's Ingress proxy (ingress-proxy.ts). @default none */
  readonly ingresses?: readonly RouteIngress[];
  readonly ingressClasses?: readonly RouteIngressClass[];
  /** What changed since snapshot `changes.since` (absent: not known; compare whole). */
  readonly changes?: SnapshotChanges;
}

/** The kinds of a snapshot, by the name their changes go under. */
export interface ViewKinds {
  readonly Service: Service;
  readonly EndpointSlice: EndpointSlice;
  readonly Pod: ViewPod;
  readonly NetworkPolicy: NetworkPolicy;
  readonly Namespace: ViewNamespace;
  readonly Ingress: RouteIngress;
  readonly IngressClass: RouteIngressClass;
}
export type ViewKind = keyof ViewKinds;

/** Per kind, namespace/name (cluster-scoped: "/name") → the new value, undefined when the object went. */
export type SnapshotChanges = { readonly since: string } & { readonly [K in ViewKind]?: ReadonlyMap<string, ViewKinds[K] | undefined> };

/** The key of an object in a snapshot and in its changes: namespace/name ("" namespace when cluster-scoped). */
export const viewKey = (o: { readonly metadata?: { readonly namespace?: string | null; readonly name?: string | null } } | undefined): string => `${o?.metadata?.namespace ?? ''}/${o?.metadata?.name ?? ''}`;

/**
 * The changes from `older.changes.since` to `newer` when `newer` follows `older` directly (a consumer
 * that skipped `older` keeps one delta); undefined when they cannot be chained (compare whole).
 */
export function chainChanges(older: ClusterSnapshot, newer: ClusterSnapshot): SnapshotChanges | undefined {
  const a = older.changes;
  const b = newer.changes;
  if (!a || !b || b.since !== older.version) return undefined;
  const out: Record<string, unknown> = { since: a.since };
  for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) {
    if (k === 'since') continue;
    const x = (a as unknown as Record<string, ReadonlyMap<string, unknown> | undefined>)[k];
    const y = (b as unknown as Record<string, ReadonlyMap<string, unknown> | undefined>)[k];
    out[k] = x && y ? new Map([...x, ...y]) : (x ?? y);
  }
  return out as SnapshotChanges;
}

export interface ClusterView {
  current(): ClusterSnapshot;
  subscribe(listener: (snapshot: ClusterSnapshot) => void): () => void;
}

export const EMPTY_SNAPSHOT: ClusterSnapshot = Object.freeze({ version: '', services: [], endpointSlices: [], pods: [] });

/** A view that never changes (tests, and agents with no service proxy). */
export function staticClusterView(snapshot: ClusterSnapshot = EMPTY_SNAPSHOT): ClusterView {
  return { current: () => snapshot, subscribe: () => () => undefined };
}
