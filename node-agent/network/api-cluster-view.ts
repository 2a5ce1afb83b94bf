/**
 * The cluster view (cluster-view.ts) as read from the API with the node's own credential: the
 * cluster's Services, EndpointSlices, pod addresses, Ingresses and NetworkPolicies (with the
 * namespaces' labels while there are policies), kept by key (view-store.ts).
 *
 * How changes reach it (docs/networking.md "How Services reach the nodes"): no watch is held.
 * The endpoints controller sends one small `{"kind":"services","changes":["Kind/ns/name",...]}`
 * message on each node's SQS queue per stream batch that changed any of them (or, while the cluster
 * has NetworkPolicies, a pod's address, labels or named ports); the agent's queue loop calls
 * signal(changes), and the view GETs only the named objects (pods: one pods list, a node may not
 * GET another node's pod) and publishes a snapshot carrying what changed. A message naming nothing
 * (over 200 objects, an older sender), the start and a slow periodic resync list everything.
 * Rounds never overlap: signals arriving during one coalesce into one more after it. Content that
 * did not change makes no new snapshot.
 */
import { z } from 'zod';
import { isNotFound, type KubeApiClient } from '../api-client';
import { errorMessage, type Logger } from '../log';
import { sleep } from '../../shared/sleep';
import { EndpointSliceSchema, ServiceSchema } from '../../shared/schemas/service';
import { NetworkPolicySchema } from '../../shared/schemas/network-policy';
import { IngressClassSchema, IngressSchema } from '../../shared/schemas/ingress';
import type { RouteIngress, RouteIngressClass } from './ingress-routes';
import { EMPTY_SNAPSHOT, type ClusterSnapshot, type ClusterView, type ViewKind, type ViewNamedPort, type ViewNamespace, type ViewPod } from './cluster-view';
import { VIEW_KINDS, ViewStore, type ViewParser } from './view-store';

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

/** How each kind is read into the snapshot (problems: where what does not read is reported). */
function parserOf(problems: () => SnapshotProblems): ViewParser {
  const schemaRead =
    <T>(kind: string, schema: z.ZodType<T>) =>
    (item: unknown): T | undefined => {
      const r = schema.safeParse(item);
      if (r.success) return r.data;
      problems().skipped.push({ kind, name: nameOf(item), error: r.error.message.slice(0, 300) });
      return undefined;
    };
  const service = schemaRead('Service', ServiceSchema);
  const slice = schemaRead('EndpointSlice', EndpointSliceSchema);
  const policy = schemaRead('NetworkPolicy', NetworkPolicySchema);
  const ingress = schemaRead('Ingress', IngressSchema);
  const ingressClass = schemaRead('IngressClass', IngressClassSchema);
  return (kind: ViewKind, item: unknown): unknown => {
    switch (kind) {
      case 'Service':
        return service(item);
      case 'EndpointSlice':
        return slice(item);
      case 'Pod':
        return viewPodOf(item);
      case 'NetworkPolicy':
        return policy(item);
      case 'Namespace':
        return viewNamespaceOf(item);
      case 'Ingress': {
        // As routing reads them (their status, which the controller writes, is no change here).
        const i = ingress(item);
        return i && ({ metadata: { namespace: i.metadata.namespace, name: i.metadata.name, creationTimestamp: i.metadata.creationTimestamp ?? undefined, annotations: i.metadata.annotations }, spec: i.spec } satisfies RouteIngress);
      }
      case 'IngressClass': {
        const c = ingressClass(item);
        return c && ({ metadata: { name: c.metadata.name }, spec: { controller: c.spec.controller } } satisfies RouteIngressClass);
      }
    }
  };
}

/**
 * What buildSnapshot keeps between calls (the view's store): an object listed again with the same
 * resourceVersion is not read again but reused as it was (the very same frozen object, so
 * consumers may compare by identity and rebuild only what changed).
 */
export class SnapshotCache {
  problems: SnapshotProblems = { skipped: [] };
  readonly store = new ViewStore(parserOf(() => this.problems));
}

/**
 * The snapshot of whole lists: items read with the shared schemas (one that does not read is
 * skipped and reported, never the whole list), sorted by namespace/name, frozen, and versioned by
 * their content (view-store.ts), so equal content gives an equal version whatever the lists'
 * versions. With a cache, only objects whose resourceVersion changed are read.
 */
export function buildSnapshot(lists: ClusterLists, problems: SnapshotProblems = { skipped: [] }, cache: SnapshotCache = new SnapshotCache()): ClusterSnapshot {
  cache.problems = problems;
  const { store } = cache;
  store.replaceAll('Service', lists.services.items);
  store.replaceAll('EndpointSlice', lists.endpointSlices.items);
  store.replaceAll('Pod', lists.pods.items);
  store.replaceAll('Ingress', lists.ingresses?.items ?? []);
  store.replaceAll('IngressClass', lists.ingressClasses?.items ?? []);
  store.replaceAll('NetworkPolicy', lists.networkPolicies?.items ?? []);
  store.replaceAll('Namespace', lists.namespaces?.items ?? []);
  return store.snapshot();
}

/** A change key of a services signal: `Kind/namespace/name` (shared/queue.ts). */
export interface ChangedObject {
  readonly kind: ViewKind;
  readonly namespace: string;
  readonly name: string;
}

/** Where one object of a kind is read (GET); Pod: none (a node may not GET other nodes' pods: listed). */
export function objectPath(o: ChangedObject): string | undefined {
  const ns = encodeURIComponent(o.namespace);
  const name = encodeURIComponent(o.name);
  switch (o.kind) {
    case 'Service':
      return `/api/v1/namespaces/${ns}/services/${name}`;
    case 'EndpointSlice':
      return `/apis/discovery.k8s.io/v1/namespaces/${ns}/endpointslices/${name}`;
    case 'NetworkPolicy':
      return `/apis/networking.k8s.io/v1/namespaces/${ns}/networkpolicies/${name}`;
    case 'Ingress':
      return `/apis/networking.k8s.io/v1/namespaces/${ns}/ingresses/${name}`;
    case 'IngressClass':
      return `/apis/networking.k8s.io/v1/ingressclasses/${name}`;
    case 'Namespace':
      return `/api/v1/namespaces/${name}`;
    case 'Pod':
      return undefined;
  }
}

/** A signal's change keys read (`Kind/namespace/name`); an unknown kind or a malformed key: undefined (list whole). */
export function parseChangeKeys(keys: readonly string[]): ChangedObject[] | undefined {
  const out: ChangedObject[] = [];
  for (const k of keys) {
    const [kind, namespace, name, ...rest] = k.split('/');
    if (rest.length || !name || namespace === undefined || !VIEW_KINDS.includes(kind as ViewKind)) return undefined;
    out.push({ kind: kind as ViewKind, namespace, name });
  }
  return out;
}

export interface ApiClusterViewOptions {
  readonly api: KubeApiClient;
  readonly log: Logger;
  /** The safety-net period: a full list even without a signal. @default 300 (signals carry changes; this only covers a lost one) */
  readonly resyncSeconds?: number;
  /** GETs of one signal's objects at once. @default 16 */
  readonly getConcurrency?: number;
}

const ObjectSchema = z.unknown();

export class ApiClusterView implements ClusterView {
  private snapshot: ClusterSnapshot = EMPTY_SNAPSHOT;
  private readonly listeners = new Set<(s: ClusterSnapshot) => void>();
  /** The lists' resourceVersions at the last list: all equal → nothing changed. */
  private listed = '';
  private running: Promise<void> | undefined;
  /** What the next round does: a whole list, and/or the objects signals named (by Kind/ns/name). */
  private wantFull = false;
  private readonly wantKeys = new Map<string, ChangedObject>();
  private readonly cache = new SnapshotCache();
  /** Figures of the last round (bench/, logs). */
  lastRound: { readonly full: boolean; readonly objects: number; readonly gets: number; readonly ms: number } | undefined;

  constructor(private readonly opts: ApiClusterViewOptions) {}

  current(): ClusterSnapshot {
    return this.snapshot;
  }

  subscribe(listener: (snapshot: ClusterSnapshot) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Something in the cluster's Services changed (a queue signal). With `changes` (the signal's
   * `Kind/namespace/name` keys), only those objects are read again (GETs; a 404 removes one;
   * pods, which a node may not GET unless bound to it, by one list of pods); without, everything is
   * listed again. Signals during a round coalesce into one more round after it (a whole list
   * wanted by any covers every key). Resolves when a round that started after this call has
   * finished (or failed: logged, and the periodic resync retries).
   */
  signal(changes?: readonly string[]): Promise<void> {
    const parsed = changes && this.snapshot.version !== '' ? parseChangeKeys(changes) : undefined;
    if (!parsed) this.wantFull = true;
    else for (const c of parsed) this.wantKeys.set(`${c.kind}/${c.namespace}/${c.name}`, c);
    this.running ??= (async () => {
      while (this.wantFull || this.wantKeys.size) {
        const full = this.wantFull;
        const keys = [...this.wantKeys.values()];
        this.wantFull = false;
        this.wantKeys.clear();
        try {
          if (full) await this.refresh();
          else await this.fetch(keys);
        } catch (e) {
          this.opts.log.warn('reading the cluster\'s services failed', { error: errorMessage(e) });
          // What was named is read again by a whole list, at once (and, if that fails too, by the
          // periodic resync, which then compares content whatever the lists' versions say).
          if (!full) {
            this.dirty = true;
            this.wantFull = true;
          }
        }
      }
    })().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  /** A keyed round failed: the next periodic round lists whole even if the lists' versions look unchanged. */
  private dirty = false;

  /** Reads the named objects, then publishes what changed; rejects when the API fails. */
  async fetch(objects: readonly ChangedObject[]): Promise<ClusterSnapshot> {
    const started = performance.now();
    const { api } = this.opts;
    const { store } = this.cache;
    this.cache.problems = { skipped: [] };
    const hadPolicies = store.size('NetworkPolicy') > 0;
    let pods = false;
    const gets = objects.filter((o) => {
      if (o.kind === 'Pod') pods = true;
      // Namespaces' labels matter only while there are policies (listed whole when the first comes).
      return o.kind !== 'Pod' && (o.kind !== 'Namespace' || hadPolicies);
    });
    // The GETs, a few at a time; each key once per round (rounds never overlap: one key's reads are serial).
    let next = 0;
    const read = new Array<{ o: ChangedObject; raw: unknown } | undefined>(gets.length);
    const worker = async () => {
      while (next < gets.length) {
        const i = next++;
        const o = gets[i]!;
        try {
          read[i] = { o, raw: await api.get(objectPath(o)!, ObjectSchema) };
        } catch (e) {
          if (!isNotFound(e)) throw e;
          read[i] = { o, raw: undefined };
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(gets.length, this.opts.getConcurrency ?? 16) }, worker));
    for (const r of read) {
      if (!r) continue;
      const key = `${r.o.namespace}/${r.o.name}`;
      if (r.raw === undefined) store.remove(r.o.kind, key);
      else store.put(r.o.kind, key, r.raw);
    }
    const hasPolicies = store.size('NetworkPolicy') > 0;
    if (hasPolicies && !hadPolicies) {
      // The first policy: its namespaceSelectors need the namespaces, and pods changed meanwhile
      // were not signalled (pod changes are, only while there are policies).
      const [namespaces, podList] = await Promise.all([api.get('/api/v1/namespaces', ListSchema), api.get('/api/v1/pods', ListSchema)]);
      store.replaceAll('Namespace', namespaces.items);
      store.replaceAll('Pod', podList.items);
      pods = false;
    } else if (!hasPolicies && hadPolicies) store.clear('Namespace');
    if (pods) store.replaceAll('Pod', (await api.get('/api/v1/pods', ListSchema)).items);
    // A keyed round makes the lists' versions stale: the next list compares content.
    this.listed = '';
    const out = this.publish();
    this.lastRound = { full: false, objects: objects.length, gets: gets.length, ms: performance.now() - started };
    return out;
  }

  /** Lists now and replaces the snapshot if anything changed; rejects when the API fails. */
  async refresh(): Promise<ClusterSnapshot> {
    const started = performance.now();
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
    if (listed === this.listed && !listed.startsWith('//') && this.snapshot.version !== '' && !this.dirty) return this.snapshot;
    this.dirty = false;
    const problems: SnapshotProblems = { skipped: [] };
    buildSnapshot(
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
    this.listed = listed;
    const out = this.publish();
    this.lastRound = { full: true, objects: -1, gets: 0, ms: performance.now() - started };
    return out;
  }

  /** The store's snapshot made current, and the subscribers told, when it differs from the current one. */
  private publish(): ClusterSnapshot {
    for (const s of this.cache.problems.skipped.slice(0, 5)) this.opts.log.warn('object skipped by the cluster view', s);
    const next = this.cache.store.snapshot();
    if (next.version === this.snapshot.version) return this.snapshot;
    this.snapshot = next;
    const changed = next.changes ? Object.fromEntries(VIEW_KINDS.filter((k) => next.changes![k]).map((k) => [k, next.changes![k]!.size])) : undefined;
    this.opts.log.info('cluster view updated', {
      version: next.version,
      services: next.services.length,
      endpointSlices: next.endpointSlices.length,
      pods: next.pods.length,
      networkPolicies: next.networkPolicies?.length ?? 0,
      ingresses: next.ingresses?.length ?? 0,
      ...(changed ? { changed } : {}),
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
