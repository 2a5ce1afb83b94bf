import { apiVersionOf, resourceTypes, type ResourceType } from '../../shared/resources';

const VERBS_MAIN = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update'];

/** GET /api: the core group's versions. */
export function apiVersions() {
  return { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: '' }] };
}

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

/** GET /api/v1 or /apis/{group}/{version}: resources with verbs and subresources. */
export function apiResourceList(group: string, version: string) {
  const rts = resourceTypes.filter((r) => r.group === group && r.version === version);
  if (rts.length === 0) return undefined;
  const resources = rts.flatMap((rt: ResourceType) => [
    {
      name: rt.resource,
      singularName: rt.singular,
      namespaced: rt.namespaced,
      kind: rt.kind,
      verbs: rt.resource === 'namespaces' ? VERBS_MAIN.filter((v) => v !== 'deletecollection') : VERBS_MAIN,
      ...(rt.shortNames.length ? { shortNames: [...rt.shortNames] } : {}),
      ...(rt.resource === 'pods' ? { categories: ['all'] } : {}),
    },
    ...rt.subresources.map((sub) => ({ name: `${rt.resource}/${sub}`, singularName: '', namespaced: rt.namespaced, kind: rt.kind, verbs: ['get', 'patch', 'update'] })),
  ]);
  return { kind: 'APIResourceList', apiVersion: 'v1', groupVersion: apiVersionOf(rts[0]!), resources };
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
