/**
 * The cluster view (cluster-view.ts) as read from the API with the node's own credential: the
 * cluster's Services, EndpointSlices, pod addresses and NetworkPolicies (with the namespaces'
 * labels while there are policies), listed whole and swapped in at once.
 *
 * How changes reach it (docs/networking.md "How Services reach the nodes"): no watch is held.
 * The endpoints controller sends one small `{"kind":"services"}` message on each node's SQS queue
 * when a Service, EndpointSlice, NetworkPolicy or namespace's labels changed, or, while the cluster
 * has NetworkPolicies, a pod's address, labels or named ports (coalesced per stream batch); the agent's
 * queue loop calls signal(), and the view lists again. Signals arriving while a list is running
 * coalesce into one more list after it. A slow periodic resync covers a lost signal. A list whose
 * resourceVersions are all unchanged makes no new snapshot.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import type { KubeApiClient } from '../api-client';
import { errorMessage, type Logger } from '../log';
import { sleep } from '../../shared/sleep';
import { EndpointSliceSchema, ServiceSchema, type EndpointSlice, type Service } from '../../shared/schemas/service';
import { NetworkPolicySchema, type NetworkPolicy } from '../../shared/schemas/network-policy';
import { IngressClassSchema, IngressSchema } from '../../shared/schemas/ingress';
import type { RouteIngress, RouteIngressClass } from './ingress-routes';
import { EMPTY_SNAPSHOT, type ClusterSnapshot, type ClusterView, type ViewNamedPort, type ViewNamespace, type ViewPod } from './cluster-view';

const ListSchema = z.looseObject({
  metadata: z.looseObject({ resourceVersion: z.string().optional() }).optional(),
  items: z.array(z.unknown()).default([]),
});

const PortSchema = z.looseObject({ containerPort: z.number().int(), hostPort: z.number().int().optional(), protocol: z.string().optional(), name: z.string().optional() });
const PodAddressSchema = z.looseObject({
  metadata: z.looseObject({
    name: z.string(),
    namespace: z.string().optional(),
    deletionTimestamp: z.string().optional(),
    labels: z.record(z.string(), z.string()).optional().catch(undefined),
  }),
  spec: z
    .looseObject({
      hostname: z.string().optional(),
      subdomain: z.string().optional(),
      nodeName: z.string().optional(),
      hostNetwork: z.boolean().optional().catch(undefined),
      containers: z.array(z.looseObject({ ports: z.array(PortSchema).optional().catch(undefined) })).optional().catch(undefined),
    })
    .optional(),
  status: z
    .looseObject({
      phase: z.string().optional(),
      podIP: z.string().optional(),
      podIPs: z.array(z.looseObject({ ip: z.string() })).optional(),
    })
    .optional(),
});

/** The lists one snapshot is made of, as the API returned them (items not yet read). */
export interface ClusterLists {
  readonly services: { readonly resourceVersion?: string; readonly items: readonly unknown[] };
  readonly endpointSlices: { readonly resourceVersion?: string; readonly items: readonly unknown[] };
  readonly pods: { readonly resourceVersion?: string; readonly items: readonly unknown[] };
  readonly networkPolicies?: { readonly resourceVersion?: string; readonly items: readonly unknown[] };
  readonly namespaces?: { readonly resourceVersion?: string; readonly items: readonly unknown[] };
  /** The Ingress proxy's (issue #15); absent, the snapshot has none. */
  readonly ingresses?: { readonly resourceVersion?: string; readonly items: readonly unknown[] };
  readonly ingressClasses?: { readonly resourceVersion?: string; readonly items: readonly unknown[] };
}

/** What became of listed items that could not be read (a newer server's fields, a bad object). */
export interface SnapshotProblems {
  readonly skipped: { readonly kind: string; readonly name: string; readonly error: string }[];
}

const nameOf = (o: unknown): string => {
  const m = (o as { metadata?: { namespace?: string; name?: string } } | undefined)?.metadata;
  return `${m?.namespace ?? ''}/${m?.name ?? '?'}`;
};

/** A pod's address record; undefined for a pod without an IP (nothing to resolve or route to). */
export function viewPodOf(raw: unknown): ViewPod | undefined {
  const p = PodAddressSchema.safeParse(raw);
  if (!p.success) return undefined;
  const { metadata, spec, status } = p.data;
  const ips = status?.podIPs?.length ? status.podIPs.map((i) => i.ip) : status?.podIP ? [status.podIP] : [];
  if (!ips.length) return undefined;
  const finished = status?.phase === 'Succeeded' || status?.phase === 'Failed';
  const running = !metadata.deletionTimestamp && !finished;
  const hostPorts = running
    ? (spec?.containers ?? []).flatMap((c) => (c.ports ?? []).filter((p) => (p.hostPort ?? 0) > 0).map((p) => ({ protocol: p.protocol ?? 'TCP', hostPort: p.hostPort!, containerPort: p.containerPort })))
    : [];
  const namedPorts: ViewNamedPort[] = (spec?.containers ?? []).flatMap((c) => (c.ports ?? []).filter((p) => !!p.name).map((p) => ({ name: p.name!, protocol: p.protocol ?? 'TCP', containerPort: p.containerPort })));
  const labels = metadata.labels ?? {};
  return Object.freeze({
    namespace: metadata.namespace ?? 'default',
    name: metadata.name,
    ips: Object.freeze(ips),
    ...(spec?.hostname ? { hostname: spec.hostname } : {}),
    ...(spec?.subdomain ? { subdomain: spec.subdomain } : {}),
    ...(spec?.nodeName ? { nodeName: spec.nodeName } : {}),
    ...(hostPorts.length ? { hostPorts } : {}),
    ...(Object.keys(labels).length ? { labels } : {}),
    ...(namedPorts.length ? { namedPorts } : {}),
    ...(spec?.hostNetwork ? { hostNetwork: true as const } : {}),
    ...(finished ? { finished: true as const } : {}),
  });
}

const NamespaceSchema = z.looseObject({ metadata: z.looseObject({ name: z.string(), labels: z.record(z.string(), z.string()).optional().catch(undefined) }) });

/** A namespace's name and labels, kubernetes.io/metadata.name included (Kubernetes sets it on every namespace). */
export function viewNamespaceOf(raw: unknown): ViewNamespace | undefined {
  const n = NamespaceSchema.safeParse(raw);
  if (!n.success) return undefined;
  const { name, labels } = n.data.metadata;
  return { name, labels: { ...labels, 'kubernetes.io/metadata.name': name } };
}

/**
 * What buildSnapshot read last, per object (kind, namespace/name): an object listed again with the
 * same resourceVersion is not read again but reused as it was (the very same frozen object, so
 * consumers may compare by identity and rebuild only what changed), with the digest of its content.
 */
export class SnapshotCache {
  /** kind → namespace/name → what was read, with the build that last saw it. */
  readonly kinds = new Map<string, Map<string, { readonly rv: string; readonly value: unknown; readonly sortKey: string; seen: number }>>();
  build = 0;
}

const digestOf = (v: unknown): string => createHash('sha256').update(JSON.stringify(v)).digest('hex').slice(0, 16);

/**
 * The snapshot of three lists (pure but for `cache`): items read with the shared schemas (one that
 * does not read is skipped and reported, never the whole list), sorted by namespace/name, frozen,
 * and versioned by a hash of the content, so equal content gives an equal version whatever the
 * lists' versions. With a cache, only objects whose resourceVersion changed are read (an object
 * without one always is): a change costs its objects, not the whole lists' parsing.
 */
export function buildSnapshot(lists: ClusterLists, problems: SnapshotProblems = { skipped: [] }, cache?: SnapshotCache): ClusterSnapshot {
  const build = cache ? ++cache.build : 0;
  const digests: string[] = [];
  const read = <T>(kind: string, items: readonly unknown[], parse: (item: unknown) => T | undefined): T[] => {
    const entries = cache && (cache.kinds.get(kind) ?? cache.kinds.set(kind, new Map()).get(kind)!);
    const values: T[] = [];
    const keys: string[] = [];
    let sorted = true;
    for (const item of items) {
      const m = (item as { metadata?: { namespace?: string; name?: string; resourceVersion?: string } } | undefined)?.metadata;
      const key = `${m?.namespace ?? ''}/${m?.name ?? ''}`;
      const rv = m?.resourceVersion;
      const hit = rv ? entries?.get(key) : undefined;
      let value: T | undefined;
      let sortKey: string;
      if (hit && hit.rv === rv) {
        hit.seen = build;
        value = hit.value as T;
        sortKey = hit.sortKey;
      } else {
        value = parse(item);
        if (value === undefined) continue;
        deepFreeze(value);
        // namespace/name, then the content's digest: the version hashes these.
        sortKey = `${key}\0${digestOf(value)}`;
        if (rv && entries) entries.set(key, { rv, value, sortKey, seen: build });
      }
      if (sorted && keys.length && keys[keys.length - 1]! > sortKey) sorted = false;
      values.push(value);
      keys.push(sortKey);
    }
    // Sorted by namespace/name (a list already in order, the API's, is not sorted again).
    if (!sorted) {
      const order = keys.map((_, i) => i).sort((x, y) => (keys[x]! < keys[y]! ? -1 : keys[x]! > keys[y]! ? 1 : 0));
      const v = order.map((i) => values[i]!);
      const k = order.map((i) => keys[i]!);
      for (let i = 0; i < order.length; i++) {
        values[i] = v[i]!;
        keys[i] = k[i]!;
      }
    }
    for (const k of keys) digests.push(k);
    digests.push(`--${kind}`);
    if (entries && entries.size > values.length) for (const [k, e] of entries) if (e.seen !== build) entries.delete(k);
    return values;
  };
  const schemaRead =
    <T>(kind: string, schema: z.ZodType<T>) =>
    (item: unknown): T | undefined => {
      const r = schema.safeParse(item);
      if (r.success) return r.data;
      problems.skipped.push({ kind, name: nameOf(item), error: r.error.message.slice(0, 300) });
      return undefined;
    };
  const services = read<Service>('Service', lists.services.items, schemaRead('Service', ServiceSchema));
  const endpointSlices = read<EndpointSlice>('EndpointSlice', lists.endpointSlices.items, schemaRead('EndpointSlice', EndpointSliceSchema));
  const pods = read<ViewPod>('Pod', lists.pods.items, viewPodOf);
  // Ingresses as routing reads them (their status, which the controller writes, is no change here).
  const ingresses: RouteIngress[] = read('Ingress', lists.ingresses?.items ?? [], (item) => {
    const i = schemaRead('Ingress', IngressSchema)(item);
    return i && { metadata: { namespace: i.metadata.namespace, name: i.metadata.name, creationTimestamp: i.metadata.creationTimestamp ?? undefined, annotations: i.metadata.annotations }, spec: i.spec };
  });
  const ingressClasses: RouteIngressClass[] = read('IngressClass', lists.ingressClasses?.items ?? [], (item) => {
    const c = schemaRead('IngressClass', IngressClassSchema)(item);
    return c && { metadata: { name: c.metadata.name }, spec: { controller: c.spec.controller } };
  });
  const versioned = digests.length;
  const networkPolicies = read<NetworkPolicy>('NetworkPolicy', lists.networkPolicies?.items ?? [], schemaRead('NetworkPolicy', NetworkPolicySchema));
  const namespaces = read<ViewNamespace>('Namespace', lists.namespaces?.items ?? [], viewNamespaceOf);
  // The version hashes what consumers see (not resourceVersions or status churn of pods); policies
  // and namespaces only while there are policies.
  const version = createHash('sha256')
    .update((networkPolicies.length ? digests : digests.slice(0, versioned)).join('\n'))
    .digest('hex')
    .slice(0, 16);
  return deepFreeze({ version, services, endpointSlices, pods, ingresses, ingressClasses, ...(networkPolicies.length ? { networkPolicies, namespaces } : {}) });
}

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object' && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const v of Object.values(o as Record<string, unknown>)) deepFreeze(v);
  }
  return o;
}

export interface ApiClusterViewOptions {
  readonly api: KubeApiClient;
  readonly log: Logger;
  /** The safety-net period: a full list even without a signal. @default 300 (signals carry changes; this only covers a lost one) */
  readonly resyncSeconds?: number;
}

export class ApiClusterView implements ClusterView {
  private snapshot: ClusterSnapshot = EMPTY_SNAPSHOT;
  private readonly listeners = new Set<(s: ClusterSnapshot) => void>();
  /** The lists' resourceVersions at the last list: all equal → nothing changed. */
  private listed = '';
  private running: Promise<void> | undefined;
  private again = false;
  private readonly cache = new SnapshotCache();

  constructor(private readonly opts: ApiClusterViewOptions) {}

  current(): ClusterSnapshot {
    return this.snapshot;
  }

  subscribe(listener: (snapshot: ClusterSnapshot) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Something in the cluster's Services changed (a queue signal): list again. Signals during a
   * list coalesce into one more list after it. Resolves when a list that started after this call
   * has finished (or failed: logged, and the periodic resync retries).
   */
  signal(): Promise<void> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      do {
        this.again = false;
        try {
          await this.refresh();
        } catch (e) {
          this.opts.log.warn('listing the cluster\'s services failed', { error: errorMessage(e) });
        }
      } while (this.again);
    })().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  /** Lists now and replaces the snapshot if anything changed; rejects when the API fails. */
  async refresh(): Promise<ClusterSnapshot> {
    const { api } = this.opts;
    // Lists of all namespaces, as kube-proxy's, CoreDNS's, an ingress controller's and a CNI's
    // policy informers (the node's credential may).
    const [services, endpointSlices, pods, networkPolicies, ingresses, ingressClasses] = await Promise.all([
      api.get('/api/v1/services', ListSchema),
      api.get('/apis/discovery.k8s.io/v1/endpointslices', ListSchema),
      api.get('/api/v1/pods', ListSchema),
      api.get('/apis/networking.k8s.io/v1/networkpolicies', ListSchema),
      // The Ingress proxy's routes (ingress-proxy.ts).
      api.get('/apis/networking.k8s.io/v1/ingresses', ListSchema),
      api.get('/apis/networking.k8s.io/v1/ingressclasses', ListSchema),
    ]);
    // Namespace labels matter only to policies' namespaceSelectors: no list without a policy.
    const namespaces = networkPolicies.items.length ? await api.get('/api/v1/namespaces', ListSchema) : undefined;
    const rv = (l: z.infer<typeof ListSchema> | undefined) => l?.metadata?.resourceVersion ?? '';
    const listed = [rv(services), rv(endpointSlices), rv(pods), rv(networkPolicies), rv(namespaces), rv(ingresses), rv(ingressClasses)].join('/');
    if (listed === this.listed && !listed.startsWith('//') && this.snapshot.version !== '') return this.snapshot;
    const problems: SnapshotProblems = { skipped: [] };
    const next = buildSnapshot(
      {
        services: { resourceVersion: rv(services), items: services.items },
        endpointSlices: { resourceVersion: rv(endpointSlices), items: endpointSlices.items },
        pods: { resourceVersion: rv(pods), items: pods.items },
        networkPolicies: { resourceVersion: rv(networkPolicies), items: networkPolicies.items },
        ...(namespaces ? { namespaces: { resourceVersion: rv(namespaces), items: namespaces.items } } : {}),
        ingresses: { resourceVersion: rv(ingresses), items: ingresses.items },
        ingressClasses: { resourceVersion: rv(ingressClasses), items: ingressClasses.items },
      },
      problems,
      this.cache,
    );
    for (const s of problems.skipped.slice(0, 5)) this.opts.log.warn('object skipped by the cluster view', s);
    this.listed = listed;
    if (next.version === this.snapshot.version) return this.snapshot;
    this.snapshot = next;
    this.opts.log.info('cluster view updated', {
      version: next.version,
      services: next.services.length,
      endpointSlices: next.endpointSlices.length,
      pods: next.pods.length,
      networkPolicies: next.networkPolicies?.length ?? 0,
      ingresses: next.ingresses?.length ?? 0,
    });
    for (const l of [...this.listeners]) {
      try {
        l(next);
      } catch (e) {
        this.opts.log.warn('a cluster view listener failed', { error: errorMessage(e) });
      }
    }
    return next;
  }

  /** Lists at once, then every resyncSeconds (or sooner on a signal; every 2 s until a first list succeeded) until `signal` aborts. */
  async run(signal: AbortSignal): Promise<void> {
    const periodMs = (this.opts.resyncSeconds ?? 300) * 1000;
    while (!signal.aborted) {
      await this.signal();
      if (signal.aborted) break;
      // No first snapshot yet (the list failed): pods wait on it (service links), so retry soon.
      await sleep(this.snapshot.version === '' ? Math.min(periodMs, 2000) : periodMs, signal);
    }
  }
}
