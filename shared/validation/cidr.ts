import { isIPv6 } from 'node:net';

/*
 * CIDRs as Kubernetes' netutils.ParseCIDRSloppy reads them (IPv4 octets may carry leading zeros,
 * read as decimal), for NetworkPolicy ipBlocks: the API validates them, the node agent turns IPv4
 * ones into nftables prefixes.
 */

export interface Cidr {
  readonly family: 4 | 6;
  /** The network address (host bits cleared), as a number of 32 or 128 bits. */
  readonly base: bigint;
  readonly prefix: number;
}

const IPV4_SLOPPY = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

function ipv4(s: string): bigint | undefined {
  const m = IPV4_SLOPPY.exec(s);
  if (!m) return undefined;
  const octets = m.slice(1, 5).map(Number);
  if (octets.some((o) => o > 255)) return undefined;
  return octets.reduce((n, o) => n * 256n + BigInt(o), 0n);
}

function ipv6(s: string): bigint | undefined {
  if (!isIPv6(s)) return undefined;
  let text = s;
  // An embedded IPv4 tail (::ffff:1.2.3.4) as two groups.
  const tail = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (tail) {
    const v4 = ipv4(tail[1]!);
    if (v4 === undefined) return undefined;
    text = `${text.slice(0, -tail[1]!.length)}${(v4 >> 16n).toString(16)}:${(v4 & 0xffffn).toString(16)}`;
  }
  const [head, rest] = text.split('::') as [string, string | undefined];
  const left = head ? head.split(':') : [];
  const right = rest === undefined ? [] : rest ? rest.split(':') : [];
  const groups = rest === undefined ? left : [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right];
  if (groups.length !== 8) return undefined;
  return groups.reduce((n, g) => n * 65536n + BigInt(parseInt(g, 16)), 0n);
}

/** Parses `address/prefix`; undefined when it is not a CIDR. */
export function parseCidr(s: string): Cidr | undefined {
  const slash = s.indexOf('/');
  if (slash < 0) return undefined;
  const addr = s.slice(0, slash);
  const bits = s.slice(slash + 1);
  if (!/^\d{1,3}$/.test(bits)) return undefined;
  const prefix = Number(bits);
  const v4 = ipv4(addr);
  const family = v4 !== undefined ? 4 : 6;
  const value = v4 ?? ipv6(addr);
  const width = family === 4 ? 32 : 128;
  if (value === undefined || prefix > width) return undefined;
  const hostBits = BigInt(width - prefix);
  return { family, base: (value >> hostBits) << hostBits, prefix };
}

/** Whether `inner` lies inside `outer` and is smaller (Kubernetes' check of an ipBlock's except). */
export function isStrictSubset(inner: Cidr, outer: Cidr): boolean {
  if (inner.family !== outer.family || inner.prefix <= outer.prefix) return false;
  const width = outer.family === 4 ? 32 : 128;
  const hostBits = BigInt(width - outer.prefix);
  return inner.base >> hostBits === outer.base >> hostBits;
}

/** An IPv4 CIDR in canonical form (`10.1.0.0/16`), as nftables takes it. */
export function ipv4CidrString(c: Cidr): string {
  const n = c.base;
  const octets = [24n, 16n, 8n, 0n].map((s) => ((n >> s) & 255n).toString());
  return `${octets.join('.')}/${c.prefix}`;
}
