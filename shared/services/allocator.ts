import { randomInt } from 'node:crypto';
import { internalError, invalid, StatusError } from '../errors';
import type { Allocation, KubeObject } from '../resources';
import type { RegistryContext } from '../registry/context';
import type { ServiceSpec } from '../schemas/service';
import { loadBalancerRange, releaseAddresses } from './load-balancer';
import { firstAddress, inRange, numberToIp, parseCidr, type Ipv4Range } from './ip';
import { goValue, isHeadless, mayHoldNodePorts, needsClusterIP, needsHealthCheck, needsNodePorts, specOf } from './validation';

/*
 * ClusterIP and NodePort allocation for Services (Kubernetes' pkg/registry/core/service/ipallocator
 * and portallocator, the service storage's alloc.go), over one allocation item per value per
 * tenant (shared/store/allocations.ts): a conditional put claims, a conditional delete releases.
 * A chosen value is random in its range; a lost race or a taken value tries another. The first
 * address of the range is left out of random choice: the `kubernetes` Service asks for it.
 * A write that fails gives its new claims back; a successful update gives back what the old
 * state held and the new one does not; a removed Service gives back everything (release).
 */

export const IP_POOL = 'clusterip';
export const PORT_POOL = 'nodeport';
const RANDOM_TRIES = 32;

export interface ServiceRanges {
  readonly ips: Ipv4Range;
  readonly ports: { readonly first: number; readonly last: number };
}

export function serviceRanges(config: { serviceCidr?: string; nodePortRange?: string }): ServiceRanges {
  const ips = parseCidr(config.serviceCidr ?? '10.96.0.0/12');
  const [first, last] = (config.nodePortRange ?? '30000-32767').split('-').map(Number);
  if (!Number.isInteger(first) || !Number.isInteger(last) || first! < 1 || last! > 65535 || first! > last!) throw new Error(`invalid NodePort range ${JSON.stringify(config.nodePortRange)}`);
  return { ips, ports: { first: first!, last: last! } };
}

/** errors.NewInternalError as kube-apiserver words it. */
const internalErrorOccurred = (message: string) => new StatusError(500, 'InternalError', `Internal error occurred: ${message}`, { causes: [{ message }] });

const ownerOf = (o: KubeObject) => `${o.metadata.namespace ?? ''}/${o.metadata.name ?? ''}`;
const ipRangeString = (r: Ipv4Range) => r.cidr;
const portRangeString = (r: ServiceRanges['ports']) => `${r.first}-${r.last}`;

/** The ClusterIP a Service holds (none for headless and ExternalName). */
export const heldIp = (spec: ServiceSpec): string | undefined => (needsClusterIP(spec) && spec.clusterIP && !isHeadless(spec) ? spec.clusterIP : undefined);
/** The NodePorts a Service holds (its healthCheckNodePort included, from the same range). */
export const heldPorts = (spec: ServiceSpec): number[] => [
  ...(spec.ports ?? []).map((p) => p.nodePort ?? 0).filter((n) => n > 0),
  ...(needsHealthCheck(spec) && spec.healthCheckNodePort ? [spec.healthCheckNodePort] : []),
];

/**
 * Claims what `obj` needs and `old` did not hold: its ClusterIP (the one asked for, or a free
 * one) and its NodePorts. 422 Invalid in Kubernetes' words for a value out of range or taken.
 */
export async function allocateService(ctx: RegistryContext, obj: KubeObject, old: KubeObject | undefined, dryRun: boolean): Promise<Allocation> {
  const ranges = serviceRanges(ctx.store.config);
  const alloc = ctx.store.allocations;
  const owner = ownerOf(obj);
  const name = obj.metadata.name ?? '';
  const spec: ServiceSpec = { ...specOf(obj) };
  const before = old ? specOf(old) : {};
  const claimed: [string, string][] = [];
  const abort = async () => {
    if (dryRun) return;
    for (const [pool, value] of claimed) await alloc.release(ctx.tenant, pool, value, owner);
  };
  const claim = async (pool: string, value: string): Promise<boolean> => {
    if (dryRun) {
      return (await alloc.holder(ctx.tenant, pool, value)) === undefined;
    }
    const ok = await alloc.claim(ctx.tenant, pool, value, owner);
    if (ok) claimed.push([pool, value]);
    return ok;
  };
  try {
    // ClusterIP
    if (needsClusterIP(spec) && !isHeadless(spec)) {
      const asked = spec.clusterIP;
      if (asked && asked !== heldIp(before)) {
        if (!inRange(ranges.ips, asked))
          throw invalid('Service', name, [{ reason: 'FieldValueInvalid', field: 'spec.clusterIPs', message: `Invalid value: ${goValue(spec.clusterIPs ?? [asked])}: failed to allocate IP ${asked}: the provided IP (${asked}) is not in the valid range. The range of valid IPs is ${ipRangeString(ranges.ips)}` }]);
        if (!(await claim(IP_POOL, asked)))
          throw invalid('Service', name, [{ reason: 'FieldValueInvalid', field: 'spec.clusterIPs', message: `Invalid value: ${goValue(spec.clusterIPs ?? [asked])}: failed to allocate IP ${asked}: provided IP is already allocated` }]);
      } else if (!asked) {
        const ip = await pickIp(ranges.ips, (v) => claim(IP_POOL, v), () => alloc.held(ctx.tenant, IP_POOL));
        if (!ip) throw internalError('failed to allocate a serviceIP: range is full');
        spec.clusterIP = ip;
        spec.clusterIPs = [ip];
      }
    }
    // NodePorts: those asked for; the others only when allocated (allocateLoadBalancerNodePorts).
    if (mayHoldNodePorts(spec) && spec.ports) {
      const had = new Set(heldPorts(before));
      const ports = [];
      for (const [i, p] of spec.ports.entries()) {
        if (p.nodePort && !had.has(p.nodePort)) {
          if (p.nodePort < ranges.ports.first || p.nodePort > ranges.ports.last)
            throw invalid('Service', name, [{ reason: 'FieldValueInvalid', field: `spec.ports[${i}].nodePort`, message: `Invalid value: ${p.nodePort}: provided port is not in the valid range. The range of valid ports is ${portRangeString(ranges.ports)}` }]);
          // Two ports of one Service may share a NodePort only across protocols (as Kubernetes allows).
          const shared = spec.ports.slice(0, i).some((q) => q.nodePort === p.nodePort);
          if (!shared && !(await claim(PORT_POOL, String(p.nodePort))))
            throw invalid('Service', name, [{ reason: 'FieldValueInvalid', field: `spec.ports[${i}].nodePort`, message: `Invalid value: ${p.nodePort}: provided port is already allocated` }]);
          ports.push(p);
        } else if (!p.nodePort && needsNodePorts(spec)) {
          const port = await pickPort(ranges.ports, (v) => claim(PORT_POOL, String(v)), () => alloc.held(ctx.tenant, PORT_POOL));
          if (!port) throw internalError('failed to allocate a nodePort: range is full');
          ports.push({ ...p, nodePort: port });
        } else ports.push(p);
      }
      spec.ports = ports;
    }
    // healthCheckNodePort (allocHealthCheckNodePort): from the NodePort range, a failure is a 500 as in Kubernetes.
    if (needsHealthCheck(spec) && !(needsHealthCheck(before) && before.healthCheckNodePort && before.healthCheckNodePort === spec.healthCheckNodePort)) {
      const asked = spec.healthCheckNodePort;
      if (asked) {
        if (asked < ranges.ports.first || asked > ranges.ports.last)
          throw internalErrorOccurred(`failed to allocate requested HealthCheck NodePort ${asked}: provided port is not in the valid range. The range of valid ports is ${portRangeString(ranges.ports)}`);
        if (!(await claim(PORT_POOL, String(asked)))) throw internalErrorOccurred(`failed to allocate requested HealthCheck NodePort ${asked}: provided port is already allocated`);
      } else {
        const port = await pickPort(ranges.ports, (v) => claim(PORT_POOL, String(v)), () => alloc.held(ctx.tenant, PORT_POOL));
        if (!port) throw internalErrorOccurred('failed to allocate a HealthCheck NodePort 0: range is full');
        spec.healthCheckNodePort = port;
      }
    }
  } catch (e) {
    await abort();
    throw e;
  }
  const object = { ...obj, spec };
  const commit = async () => {
    if (dryRun || !old) return;
    // What the old state held and the new one no longer does goes back.
    const ip = heldIp(before);
    if (ip && ip !== heldIp(spec)) await alloc.release(ctx.tenant, IP_POOL, ip, owner);
    const keep = new Set(heldPorts(spec));
    for (const port of heldPorts(before)) if (!keep.has(port)) await alloc.release(ctx.tenant, PORT_POOL, String(port), owner);
  };
  return { object, abort, commit };
}

/** Gives back everything a removed Service held. */
export async function releaseService(ctx: RegistryContext, obj: KubeObject): Promise<void> {
  const spec = specOf(obj);
  const owner = ownerOf(obj);
  const ip = heldIp(spec);
  if (ip) await ctx.store.allocations.release(ctx.tenant, IP_POOL, ip, owner);
  for (const port of new Set(heldPorts(spec))) await ctx.store.allocations.release(ctx.tenant, PORT_POOL, String(port), owner);
  // Its load balancer address (shared/services/load-balancer.ts), from the deployment-wide pool.
  await releaseAddresses(ctx.store.allocations, loadBalancerRange(ctx.store.config), ctx.tenant, obj);
}

/** A free address: random probes, then (a crowded range) the first one not held. */
async function pickIp(r: Ipv4Range, tryClaim: (ip: string) => Promise<boolean>, held: () => Promise<Set<string>>): Promise<string | undefined> {
  const reserved = firstAddress(r);
  // Usable: base+2 .. base+size-2 (network, the reserved first address and broadcast excluded).
  const low = r.base + 2;
  const high = r.base + r.size - 2;
  if (high < low) return undefined;
  for (let i = 0; i < RANDOM_TRIES; i++) {
    const ip = numberToIp(low + randomInt(high - low + 1));
    if (await tryClaim(ip)) return ip;
  }
  const taken = await held();
  for (let n = low; n <= high; n++) {
    const ip = numberToIp(n);
    if (ip !== reserved && !taken.has(ip) && (await tryClaim(ip))) return ip;
  }
  return undefined;
}

async function pickPort(r: ServiceRanges['ports'], tryClaim: (port: number) => Promise<boolean>, held: () => Promise<Set<string>>): Promise<number | undefined> {
  for (let i = 0; i < RANDOM_TRIES; i++) {
    const port = r.first + randomInt(r.last - r.first + 1);
    if (await tryClaim(port)) return port;
  }
  const taken = await held();
  for (let port = r.first; port <= r.last; port++) if (!taken.has(String(port)) && (await tryClaim(port))) return port;
  return undefined;
}
