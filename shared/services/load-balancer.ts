import { randomInt } from 'node:crypto';
import { isIPv4 } from 'node:net';
import type { KubeObject } from '../resources';
import type { Allocations } from '../store/allocations';
import type { ServiceSpec } from '../schemas/service';
import { inRange, numberToIp, parseCidr, type Ipv4Range } from './ip';
import { SOURCE_RANGES_ANNOTATION, specOf } from './validation';

/*
 * LoadBalancer Services on a local machine (issue #15; docs/networking.md "LoadBalancer Services").
 * ---------------------------------------------------------------------------------------------
 * Each LoadBalancer Service of our class (no spec.loadBalancerClass, or LOAD_BALANCER_CLASS) gets
 * its own host-local address from LOAD_BALANCER_RANGE (default 127.240.0.0/12: loopback, so only
 * the host reaches it) in status.loadBalancer.ingress[0] (ipMode VIP), written by the
 * `loadbalancers` controller (functions/controllers/loadbalancer.ts); every node agent of the
 * cluster DNATs address:port to the Service (node-agent/network/service-external.ts).
 *
 * Several clusters share one host and their Services' names, CIDRs and ports overlap, so the pool
 * is ONE for the whole deployment (every cluster of this store, hence of this host): allocation
 * items under the pseudo-tenant POOL_TENANT (shared/store/allocations.ts; `~` is in no cluster
 * name), value = the address, owner = `${cluster}/${namespace}/${name}`. A claim is a conditional
 * put, so two Services (of any clusters) never hold one address; a release is conditional on the
 * owner. Released when the Service is removed (the registry's release hook, kinds/service.ts) or
 * stops being a LoadBalancer of our class (the controller).
 *
 * Trust: agents DNAT only addresses of this range, and only a Service's own status says which.
 * A client writing status (services/status) cannot put an address of this range there that the
 * Service did not hold already (the LoadBalancerAddresses admission plugin), so a tenant cannot aim
 * another cluster's address at its own pods.
 */

/** The class our controller serves (a Service without a class is ours too). */
export const LOAD_BALANCER_CLASS = 'stratus.dev/local-loadbalancer';
export const DEFAULT_LOAD_BALANCER_RANGE = '127.240.0.0/12';
export const POOL_TENANT = '~lb';
export const LB_POOL = 'address';
const RANDOM_TRIES = 32;

export const loadBalancerRange = (config: { loadBalancerCidr?: string } = {}): Ipv4Range => parseCidr(config.loadBalancerCidr ?? DEFAULT_LOAD_BALANCER_RANGE);

/** Whether our controller provisions this Service's address: a LoadBalancer of our class. */
export const servedByUs = (spec: ServiceSpec): boolean => spec.type === 'LoadBalancer' && (spec.loadBalancerClass === undefined || spec.loadBalancerClass === LOAD_BALANCER_CLASS);

interface LbStatus {
  loadBalancer?: { ingress?: { ip?: string; hostname?: string; ipMode?: string }[] };
}

/** The addresses of `range` in a Service's status.loadBalancer.ingress. */
export function rangeAddresses(o: KubeObject | undefined, range: Ipv4Range): string[] {
  const ingress = (o?.status as LbStatus | undefined)?.loadBalancer?.ingress ?? [];
  return ingress.map((i) => i.ip ?? '').filter((ip) => isIPv4(ip) && inRange(range, ip));
}

export const lbOwner = (tenant: string, o: KubeObject): string => `${tenant}/${o.metadata.namespace ?? ''}/${o.metadata.name ?? ''}`;

/** status.loadBalancer for an address (ipMode VIP: nodes take the traffic to the address themselves). */
export const loadBalancerStatus = (ip: string | undefined) => (ip ? { ingress: [{ ip, ipMode: 'VIP' }] } : {});

/** A free address of the range claimed for `owner` (random probes, then the first free one), or undefined when full. */
export async function claimAddress(alloc: Allocations, range: Ipv4Range, owner: string): Promise<string | undefined> {
  const low = range.base + 1;
  const high = range.base + range.size - 2;
  if (high < low) return undefined;
  for (let i = 0; i < RANDOM_TRIES; i++) {
    const ip = numberToIp(low + randomInt(high - low + 1));
    if (await alloc.claim(POOL_TENANT, LB_POOL, ip, owner)) return ip;
  }
  const taken = await alloc.held(POOL_TENANT, LB_POOL);
  for (let n = low; n <= high; n++) {
    const ip = numberToIp(n);
    if (!taken.has(ip) && (await alloc.claim(POOL_TENANT, LB_POOL, ip, owner))) return ip;
  }
  return undefined;
}

/**
 * spec.loadBalancerIP (deprecated in Kubernetes, still honoured by many providers): claims the
 * address asked for `owner`, if it is an address of the range and free (or already `owner`'s).
 * Otherwise why not, in words for the Service's event.
 */
export async function claimRequested(alloc: Allocations, range: Ipv4Range, owner: string, ip: string): Promise<{ readonly ip: string } | { readonly problem: string }> {
  const asked = `requested load balancer IP ${JSON.stringify(ip)}`;
  if (!isIPv4(ip)) return { problem: `${asked} is not a valid IPv4 address` };
  if (!inRange(range, ip)) return { problem: `${asked} is not in the load balancer range ${range.cidr}` };
  if ((await alloc.claim(POOL_TENANT, LB_POOL, ip, owner)) || (await alloc.holder(POOL_TENANT, LB_POOL, ip)) === owner) return { ip };
  return { problem: `${asked} is already in use` };
}

/** Gives back the addresses of the range a Service's status names (each only if `owner` holds it). */
export async function releaseAddresses(alloc: Allocations, range: Ipv4Range, tenant: string, o: KubeObject): Promise<void> {
  for (const ip of rangeAddresses(o, range)) await alloc.release(POOL_TENANT, LB_POOL, ip, lbOwner(tenant, o));
}

/** The spec fields whose change concerns the controller. */
export const lbShape = (o: KubeObject | undefined): string => {
  const spec = specOf(o);
  return JSON.stringify([spec.type, spec.loadBalancerClass, spec.loadBalancerIP ?? '', (o?.status as LbStatus | undefined)?.loadBalancer ?? null]);
};

/**
 * The source ranges a LoadBalancer Service allows, as cloud providers read them (the cloud
 * provider's GetLoadBalancerSourceRanges): spec.loadBalancerSourceRanges, else the
 * `service.beta.kubernetes.io/load-balancer-source-ranges` annotation (comma-separated); each
 * trimmed. None: every source.
 */
export function sourceRangesOf(o: Pick<KubeObject, 'metadata' | 'spec'>): string[] {
  const field = ((o.spec ?? {}) as ServiceSpec).loadBalancerSourceRanges ?? [];
  if (field.length > 0) return field.map((r) => r.trim());
  const annotation = o.metadata.annotations?.[SOURCE_RANGES_ANNOTATION]?.trim();
  return annotation ? annotation.split(',').map((r) => r.trim()).filter((r) => r !== '') : [];
}
