import { createHash } from 'node:crypto';
import { apiVersionOf, resourceTypes, type ResourceType, type Subresource } from '../../shared/resources';

/*
 * Discovery, generated from the ResourceType registry (shared/resources.ts), so every kind an
 * API area registers is discoverable with no change here:
 * - legacy documents: /api (APIVersions), /apis (APIGroupList), /apis/{g} (APIGroup),
 *   /api/v1 and /apis/{g}/{v} (APIResourceList);
 * - aggregated discovery (apidiscovery.k8s.io/v2 APIGroupDiscoveryList) on /api and /apis when
 *   the Accept header asks for it, as kubectl 1.32 does first: one request instead of one per
 *   group version.
 */

/** The verbs of a resource's main endpoint. Namespaces cannot be deleted as a collection. */
export function verbsOf(rt: ResourceType): string[] {
  if (rt.createOnly) return ['create'];
  if (rt.rest) return ['get', 'list'];
  const verbs = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];
  return rt.deleteCollection === false ? verbs.filter((v) => v !== 'deletecollection') : verbs;
}

/** What a subresource answers with, and how it is called (as Kubernetes serves it). */
interface SubresourceInfo {
  readonly group?: string;
  readonly version?: string;
  /** Kind of the request and response body; undefined: the parent's kind. */
  readonly kind?: string;
  readonly verbs: readonly string[];
}

export const SUBRESOURCES: Readonly<Record<Subresource, SubresourceInfo>> = {
  status: { verbs: ['get', 'patch', 'update'] },
  scale: { group: 'autoscaling', version: 'v1', kind: 'Scale', verbs: ['get', 'patch', 'update'] },
  log: { kind: 'Pod', verbs: ['get'] },
  binding: { kind: 'Binding', verbs: ['create'] },
  eviction: { group: 'policy', version: 'v1', kind: 'Eviction', verbs: ['create'] },
  exec: { kind: 'PodExecOptions', verbs: ['create', 'get'] },
  attach: { kind: 'PodAttachOptions', verbs: ['create', 'get'] },
  portforward: { kind: 'PodPortForwardOptions', verbs: ['create', 'get'] },
  proxy: { kind: 'PodProxyOptions', verbs: ['create', 'delete', 'get', 'patch', 'update'] },
  ephemeralcontainers: { verbs: ['get', 'patch', 'update'] },
  token: { group: 'authentication.k8s.io', version: 'v1', kind: 'TokenRequest', verbs: ['create'] },
};

/** Kubernetes' `all` category (`kubectl get all`): workloads and their pods, services. */
const ALL_CATEGORY = new Set([
  'pods',
  'replicationcontrollers',
  'services',
  'daemonsets.apps',
  'deployments.apps',
  'replicasets.apps',
  'statefulsets.apps',
  'horizontalpodautoscalers.autoscaling',
  'jobs.batch',
  'cronjobs.batch',
]);

/** Categories of a resource: `all` for the kinds Kubernetes puts there, plus any the type declares. */
export function categoriesOf(rt: ResourceType): string[] {
  const declared = (rt as ResourceType & { categories?: readonly string[] }).categories ?? [];
  const qualified = rt.group ? `${rt.resource}.${rt.group}` : rt.resource;
  const out = new Set<string>(declared);
  if (ALL_CATEGORY.has(qualified)) out.add('all');
  return [...out];
}

/** GET /api: the core group's versions. */
export function apiVersions() {
  return { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: '' }] };
}

/** Named groups and their versions, in registry order (the first is preferred). */
function groups(): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const rt of resourceTypes) {
    if (!rt.group) continue;
    const versions = out.get(rt.group) ?? [];
    if (!versions.includes(rt.version)) versions.push(rt.version);
    out.set(rt.group, versions);
  }
  return out;
}

function apiGroup(name: string, versions: string[]) {
  const list = versions.map((v) => ({ groupVersion: `${name}/${v}`, version: v }));
  return { kind: 'APIGroup', apiVersion: 'v1', name, versions: list, preferredVersion: list[0] };
}

/** GET /apis: every named group. */
export function apiGroupList() {
  return { kind: 'APIGroupList', apiVersion: 'v1', groups: [...groups()].map(([name, versions]) => apiGroup(name, versions)) };
}

/** GET /apis/{group}, or undefined for an unknown group. */
export function apiGroupOf(name: string) {
  const versions = groups().get(name);
  return versions ? apiGroup(name, versions) : undefined;
}

/**
 * The storage version hash Kubernetes publishes in discovery (clients use it to notice a change
 * of storage version): base64 of the first 8 bytes of sha256("group/version/kind") of the
 * version objects are stored in, which here is always the one served.
 */
export function storageVersionHash(group: string, version: string, kind: string): string {
  return createHash('sha256').update(`${group}/${version}/${kind}`).digest().subarray(0, 8).toString('base64');
}

/** GET /api/v1 or /apis/{group}/{version}: resources with verbs and subresources. */
export function apiResourceList(group: string, version: string) {
  const rts = resourceTypes.filter((r) => r.group === group && r.version === version);
  if (rts.length === 0) return undefined;
  const resources = rts.flatMap((rt: ResourceType) => {
    const categories = categoriesOf(rt);
    return [
      {
        name: rt.resource,
        singularName: rt.singular,
        namespaced: rt.namespaced,
        kind: rt.kind,
        verbs: verbsOf(rt),
        ...(rt.shortNames.length ? { shortNames: [...rt.shortNames] } : {}),
        ...(categories.length ? { categories } : {}),
        storageVersionHash: storageVersionHash(rt.group, rt.version, rt.kind),
      },
      ...rt.subresources.map((sub) => {
        const info = SUBRESOURCES[sub];
        return {
          name: `${rt.resource}/${sub}`,
          singularName: '',
          namespaced: rt.namespaced,
          ...(info.group !== undefined ? { group: info.group, version: info.version } : {}),
          kind: info.kind ?? rt.kind,
          verbs: [...info.verbs],
        };
      }),
    ];
  });
  return { kind: 'APIResourceList', apiVersion: 'v1', groupVersion: apiVersionOf(rts[0]!), resources };
}

/** The aggregated discovery version an Accept header asks for (v2 preferred), if any. */
export function aggregatedDiscoveryVersion(accept: string | undefined): 'v2' | 'v2beta1' | undefined {
  let best: 'v2' | 'v2beta1' | undefined;
  for (const part of (accept ?? '').split(',')) {
    const [type, ...params] = part.split(';').map((s) => s.trim());
    if (type !== 'application/json') continue;
    const p = Object.fromEntries(params.map((kv) => kv.split('=').map((s) => s.trim()) as [string, string]));
    if (p.g !== 'apidiscovery.k8s.io' || p.as !== 'APIGroupDiscoveryList') continue;
    if (p.v === 'v2') return 'v2';
    if (p.v === 'v2beta1') best = 'v2beta1';
  }
  return best;
}

export const aggregatedContentType = (v: 'v2' | 'v2beta1') => `application/json;g=apidiscovery.k8s.io;v=${v};as=APIGroupDiscoveryList`;

function discoveryResource(rt: ResourceType) {
  const categories = categoriesOf(rt);
  return {
    resource: rt.resource,
    responseKind: { group: rt.group, version: rt.version, kind: rt.kind },
    scope: rt.namespaced ? 'Namespaced' : 'Cluster',
    singularResource: rt.singular,
    verbs: verbsOf(rt),
    ...(rt.shortNames.length ? { shortNames: [...rt.shortNames] } : {}),
    ...(categories.length ? { categories } : {}),
    ...(rt.subresources.length
      ? {
          subresources: rt.subresources.map((sub) => {
            const info = SUBRESOURCES[sub];
            return {
              subresource: sub,
              responseKind: { group: info.group ?? rt.group, version: info.version ?? rt.version, kind: info.kind ?? rt.kind },
              verbs: [...info.verbs],
            };
          }),
        }
      : {}),
  };
}

/**
 * Aggregated discovery: GET /api (core group only) or /apis (named groups) with
 * `Accept: application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList`.
 */
export function aggregatedDiscovery(root: 'api' | 'apis', version: 'v2' | 'v2beta1' = 'v2') {
  const byGroup = new Map<string, Map<string, ResourceType[]>>();
  for (const rt of resourceTypes) {
    if ((root === 'api') !== (rt.group === '')) continue;
    const versions = byGroup.get(rt.group) ?? new Map<string, ResourceType[]>();
    versions.set(rt.version, [...(versions.get(rt.version) ?? []), rt]);
    byGroup.set(rt.group, versions);
  }
  const items = [...byGroup].map(([group, versions]) => ({
    metadata: { name: group, creationTimestamp: null },
    versions: [...versions].map(([v, rts]) => ({ version: v, resources: rts.map(discoveryResource), freshness: 'Current' })),
  }));
  return { kind: 'APIGroupDiscoveryList', apiVersion: `apidiscovery.k8s.io/${version}`, metadata: {}, items };
}

export const VERSION_INFO = {
  major: '1',
  minor: '32',
  gitVersion: 'v1.32.0-stratus.0.1.0',
  gitCommit: 'stratus',
  gitTreeState: 'clean',
  buildDate: '2026-11-23T00:00:00Z',
  goVersion: 'node',
  compiler: 'tsc',
  platform: 'linux/amd64',
};
