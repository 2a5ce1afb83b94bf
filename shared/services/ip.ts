import { isIPv4, isIPv6 } from 'node:net';

/*
 * IPv4 arithmetic for the service range and Kubernetes' endpoint address rules
 * (ValidateEndpointIP / ValidateNonSpecialIP). Addresses are unsigned 32-bit numbers.
 */

export const ipToNumber = (ip: string): number => ip.split('.').reduce((n, octet) => n * 256 + Number(octet), 0);
export const numberToIp = (n: number): string => [24, 16, 8, 0].map((s) => Math.floor(n / 2 ** s) % 256).join('.');

/** An IPv4 CIDR as a range: `base` is the network address, `size` the number of addresses. */
export interface Ipv4Range {
  readonly cidr: string;
  readonly base: number;
  readonly size: number;
}

/** Parses `a.b.c.d/n` (the network address is taken from the prefix); throws on anything else. */
export function parseCidr(cidr: string): Ipv4Range {
  const [ip, bits, extra] = cidr.split('/');
  const prefix = Number(bits);
  if (extra !== undefined || !ip || !isIPv4(ip) || !Number.isInteger(prefix) || prefix < 8 || prefix > 30) throw new Error(`invalid IPv4 service CIDR ${JSON.stringify(cidr)} (a.b.c.d/n, n from 8 to 30)`);
  const size = 2 ** (32 - prefix);
  const base = ipToNumber(ip) - (ipToNumber(ip) % size);
  return { cidr: `${numberToIp(base)}/${prefix}`, base, size };
}

/** Whether `ip` is a usable address of the range: not its network or broadcast address. */
export function inRange(r: Ipv4Range, ip: string): boolean {
  if (!isIPv4(ip)) return false;
  const n = ipToNumber(ip);
  return n > r.base && n < r.base + r.size - 1;
}

/** The first usable address (10.96.0.1 in 10.96.0.0/12): the `kubernetes` Service's. */
export const firstAddress = (r: Ipv4Range): string => numberToIp(r.base + 1);

/**
 * Kubernetes' ValidateEndpointIP: an endpoint must be a valid IP and not unspecified,
 * loopback, link-local or link-local multicast. Returns the problems in Kubernetes' words.
 */
export function endpointIpProblems(ip: string): string[] {
  if (!isIPv4(ip)) return ['must be a valid IP address'];
  const n = ipToNumber(ip);
  const problems: string[] = [];
  if (n === 0) problems.push(`may not be unspecified (${ip})`);
  if (ip.startsWith('127.')) problems.push('may not be in the loopback range (127.0.0.0/8, ::1/128)');
  if (ip.startsWith('169.254.')) problems.push('may not be in the link-local range (169.254.0.0/16, fe80::/10)');
  if (ip.startsWith('224.0.0.')) problems.push('may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)');
  return problems;
}

/**
 * A CIDR as Go's netutils.ParseCIDRSloppy reads it (what Kubernetes' IsValidCIDR accepts): IPv4
 * `a.b.c.d/n` (octets may have leading zeros, read as decimal) with n from 0 to 32, or IPv6
 * `addr/n` with n from 0 to 128. IPv4 ones come back as their network range, IPv6 ones as 'IPv6'.
 */
export function parseAnyCidr(value: string): { readonly base: number; readonly prefix: number } | 'IPv6' | undefined {
  const slash = value.indexOf('/');
  if (slash < 0) return undefined;
  const ip = value.slice(0, slash);
  const bits = value.slice(slash + 1);
  if (!/^\d{1,3}$/.test(bits)) return undefined;
  const prefix = Number(bits);
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(ip)) {
    const octets = ip.split('.').map(Number);
    if (octets.some((o) => o > 255) || prefix > 32) return undefined;
    const n = octets.reduce((a, o) => a * 256 + o, 0);
    const size = 2 ** (32 - prefix);
    return { base: n - (n % size), prefix };
  }
  return isIPv6(ip) && !ip.includes('%') && prefix <= 128 ? 'IPv6' : undefined;
}

/**
 * IPv4 CIDRs as nft can take them in one anonymous interval set: each as its network
 * (`a.b.c.d/n`), duplicates and ranges inside another one left out (nft refuses overlapping
 * intervals), sorted.
 */
export function disjointCidrs(ranges: readonly { readonly base: number; readonly prefix: number }[]): string[] {
  const spans = ranges.map((r) => ({ ...r, end: r.base + 2 ** (32 - r.prefix) - 1 })).sort((a, b) => a.base - b.base || a.prefix - b.prefix);
  const out: typeof spans = [];
  for (const s of spans) {
    const last = out[out.length - 1];
    if (last && s.base >= last.base && s.end <= last.end) continue; // inside (CIDRs nest or are disjoint)
    out.push(s);
  }
  return out.map((s) => `${numberToIp(s.base)}/${s.prefix}`);
}
