import type { ResourceType } from '../resources';

/*
 * Keys of the objects and changes tables
 * --------------------------------------
 * Object items and change logs live in partition `${tenant}#${groupResource}`, where
 * groupResource is Kubernetes' GroupResource string: `pods` in the core group, `deployments.apps`,
 * `storageclasses.storage.k8s.io`, a future `widgets.example.com`. So a resource of another group
 * can never share a partition (or a stream filter's `res`) with a core one of the same plural.
 *
 * Unambiguous because of the character sets, which partitionKey enforces:
 * - a tenant is a DNS label ([a-z0-9-], no '#', no '.'), so the first '#' ends it, and no tenant
 *   name can spell another tenant's prefix: `acme#...` is only ever acme's. IAM can scope a
 *   tenant with dynamodb:LeadingKeys `${tenant}#*`;
 * - a resource (plural) is a DNS-1035 label ([a-z][a-z0-9-], no '.'), so the first '.' after the
 *   '#' ends it;
 * - a group is a DNS subdomain (the rest; [a-z0-9.-]), empty for core.
 * Other partitions never parse as objects: `token#${sha256}` (64 hex characters: longer than a
 * DNS label, so never a resource), `${tenant}#~controllers` and `~node-tenants` ('~' is in no
 * resource name).
 * Until 2026-12-05 the key was `${tenant}#${resource}` with no group; nothing was deployed with
 * it, so there is no migration.
 */

const TENANT = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const RESOURCE = /^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$/;
const GROUP = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** Whether `name` may name a tenant (a DNS label, as a virtual cluster's name). */
export const isTenantName = (name: string) => TENANT.test(name);

const groupResources = new WeakMap<ResourceType, string>();

/** Kubernetes' GroupResource string: `pods`, `deployments.apps`. Throws on a name outside the character sets above. */
export function groupResource(rt: Pick<ResourceType, 'group' | 'resource'>): string {
  const known = groupResources.get(rt as ResourceType);
  if (known !== undefined) return known;
  if (!RESOURCE.test(rt.resource)) throw new Error(`invalid resource name ${JSON.stringify(rt.resource)} for a store key`);
  if (rt.group !== '' && (rt.group.length > 253 || !GROUP.test(rt.group))) throw new Error(`invalid API group ${JSON.stringify(rt.group)} for a store key`);
  const s = rt.group ? `${rt.resource}.${rt.group}` : rt.resource;
  groupResources.set(rt as ResourceType, s);
  return s;
}

/** Partition of a tenant's objects of one resource type, and of that type's change log. */
export function partitionKey(tenant: string, rt: Pick<ResourceType, 'group' | 'resource'>): string {
  if (!TENANT.test(tenant)) throw new Error(`invalid tenant name ${JSON.stringify(tenant)} for a store key`);
  return `${tenant}#${groupResource(rt)}`;
}

/** What partitionKey encoded; undefined for any other partition (tokens, markers, coordination). */
export function parsePartitionKey(pk: string): { tenant: string; group: string; resource: string } | undefined {
  const hash = pk.indexOf('#');
  if (hash < 0) return undefined;
  const tenant = pk.slice(0, hash);
  const rest = pk.slice(hash + 1);
  const dot = rest.indexOf('.');
  const resource = dot < 0 ? rest : rest.slice(0, dot);
  const group = dot < 0 ? '' : rest.slice(dot + 1);
  if (!TENANT.test(tenant) || !RESOURCE.test(resource) || (group !== '' && !GROUP.test(group))) return undefined;
  return { tenant, group, resource };
}

/** Sort key of an object: `${namespace}/${name}` (cluster-scoped: `/${name}`). */
export const sortKey = (namespace: string | undefined, name: string) => `${namespace ?? ''}/${name}`;

/** Sort key of a sequence's item in the changes table (beside its log entries). */
export const SEQUENCE_SK = '~seq';

/** The byNode index key of a bound pod: pods are one resource type, so the tenant and node suffice. */
export function nodeKey(tenant: string, nodeName: string): string {
  if (!TENANT.test(tenant)) throw new Error(`invalid tenant name ${JSON.stringify(tenant)} for a store key`);
  return `${tenant}#${nodeName}`;
}

/** Partition of the per-tenant "has nodes" markers (no '#': stream consumers skip it). */
export const NODE_TENANTS_PK = '~node-tenants';

/** Log entries' sort keys: versions zero-padded to 20 digits, so key order is version order. */
export const VERSION_DIGITS = 20;
export const pad = (n: number) => String(n).padStart(VERSION_DIGITS, '0');
