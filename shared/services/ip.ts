import { isIPv4 } from 'node:net';

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
