/**
 * A pod's resolv.conf as the kubelet makes it (pkg/kubelet/network/dns GetPodDNS), a pure function
 * of the pod, the host's resolvers and the cluster DNS settings:
 *
 * - dnsPolicy ClusterFirst (the default): `nameserver <clusterDNS>`, search
 *   `<ns>.svc.<domain> svc.<domain> <domain>` then the host's search domains, `options ndots:5`;
 *   for a hostNetwork pod ClusterFirst means Default. ClusterFirstWithHostNet: ClusterFirst for
 *   every pod. Without a cluster DNS, ClusterFirst falls back to Default (the kubelet's
 *   MissingClusterDNS).
 * - Default: the host's nameservers, search domains and options.
 * - None: nothing but spec.dnsConfig.
 * - spec.dnsConfig is then merged: nameservers appended, searches put first, options by name
 *   (the pod's value wins), each list without duplicates; then the limits: 3 nameservers,
 *   32 search domains and 2,048 characters of search line (the rest dropped, with a warning in
 *   the kubelet's words).
 */
import { z } from 'zod';
import type { PodDns } from './pod-network';
import type { Pod } from '../types';

export const MAX_DNS_NAMESERVERS = 3;
export const MAX_DNS_SEARCH_PATHS = 32;
export const MAX_DNS_SEARCH_LIST_CHARS = 2048;
const CLUSTER_FIRST_OPTIONS = ['ndots:5'];

const PodDnsConfigSchema = z.looseObject({
  nameservers: z.array(z.string()).optional(),
  searches: z.array(z.string()).optional(),
  options: z.array(z.looseObject({ name: z.string(), value: z.string().optional() })).optional(),
});

export interface ClusterDnsSettings {
  /** The host's resolvers (the kubelet's --resolv-conf). */
  readonly host: PodDns;
  /** The kube-dns Service's ClusterIP; undefined when the node has no cluster DNS. */
  readonly clusterDNS?: string;
  /** @default cluster.local */
  readonly clusterDomain?: string;
}

const omitDuplicates = (xs: readonly string[]): string[] => [...new Set(xs)];

/** Options merged by name (a later value wins), in first-seen order, as "name" or "name:value". */
function mergeOptions(existing: readonly string[], more: readonly { name: string; value?: string }[]): string[] {
  const map = new Map<string, string>();
  for (const op of existing) {
    const i = op.indexOf(':');
    if (i >= 0) map.set(op.slice(0, i), op.slice(i + 1));
    else map.set(op, '');
  }
  for (const op of more) map.set(op.name, op.value ?? '');
  return [...map].map(([k, v]) => (v !== '' ? `${k}:${v}` : k));
}

/** The pod's DNS, and the kubelet's warnings when limits cut it (its DNSConfigForming event). */
export function kubeletPodDns(pod: Pod, settings: ClusterDnsSettings): { dns: PodDns; warnings: string[] } {
  const spec = pod.spec as { dnsPolicy?: unknown; dnsConfig?: unknown; hostNetwork?: boolean };
  const policy = typeof spec.dnsPolicy === 'string' ? spec.dnsPolicy : 'ClusterFirst';
  const domain = (settings.clusterDomain ?? 'cluster.local').replace(/\.$/, '');
  const ns = pod.metadata.namespace ?? 'default';
  const host: PodDns = { ...settings.host, searches: settings.host.searches.map((s) => s.replace(/\.$/, '')) };
  const warnings: string[] = [];
  const cluster = policy === 'ClusterFirstWithHostNet' || (policy === 'ClusterFirst' && !spec.hostNetwork);
  let nameservers: string[];
  let searches: string[];
  let options: string[];
  if (policy === 'None') {
    [nameservers, searches, options] = [[], [], []];
  } else if (cluster && settings.clusterDNS) {
    nameservers = [settings.clusterDNS];
    searches = omitDuplicates([`${ns}.svc.${domain}`, `svc.${domain}`, domain, ...host.searches]);
    options = [...CLUSTER_FIRST_OPTIONS];
  } else {
    if (cluster) warnings.push(`pod: "${pod.metadata.name}_${ns}(${pod.metadata.uid})". kubelet does not have ClusterDNS IP configured and cannot create Pod using "ClusterFirst" policy. Falling back to "Default" policy.`);
    [nameservers, searches, options] = [[...host.nameservers], [...host.searches], [...host.options]];
  }
  const parsed = spec.dnsConfig === undefined ? undefined : PodDnsConfigSchema.safeParse(spec.dnsConfig);
  if (parsed?.success) {
    const c = parsed.data;
    nameservers = omitDuplicates([...nameservers, ...(c.nameservers ?? [])]);
    searches = omitDuplicates([...(c.searches ?? []), ...searches]);
    options = mergeOptions(options, c.options ?? []);
  }
  if (nameservers.length > MAX_DNS_NAMESERVERS) {
    nameservers = nameservers.slice(0, MAX_DNS_NAMESERVERS);
    warnings.push(`Nameserver limits were exceeded, some nameservers have been omitted, the applied nameserver line is: ${nameservers.join(' ')}`);
  }
  let cut = false;
  if (searches.length > MAX_DNS_SEARCH_PATHS) {
    searches = searches.slice(0, MAX_DNS_SEARCH_PATHS);
    cut = true;
  }
  while (searches.length && searches.join(' ').length > MAX_DNS_SEARCH_LIST_CHARS) {
    searches = searches.slice(0, -1);
    cut = true;
  }
  if (cut) warnings.push(`Search Line limits were exceeded, some search paths have been omitted, the applied search line is: ${searches.join(' ')}`);
  return { dns: { nameservers, searches, options }, warnings };
}
