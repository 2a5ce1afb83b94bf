/**
 * The tenant isolation rules both pod networks put in their bridge's nft table (docker-bridge.ts,
 * node-bridge.ts): one place for the text, so the two cannot drift apart.
 *
 * - forward: drops what the bridge sends to 169.254.169.254 (and, where asked, fd00:ec2::254);
 *   accepts what goes to (and, where asked, comes from) the peers the caller names; drops what
 *   goes to or comes from any other local bridge (`stratus-*`, `docker*`, `br-*`).
 * - input: drops what pods send to the host, except replies and the set `host_ports`.
 * Interfaces, never source addresses, decide (pods can spoof addresses, not interfaces).
 *
 * The text is what each table's comment hashes (tableHash): an agent rewrites its table at restart
 * only when the hash changes, so any change here rewrites every table of every host.
 */
import { createHash } from 'node:crypto';

/** A host address . protocol . port pods may reach. */
export interface HostPort {
  readonly address: string;
  readonly protocol: 'tcp' | 'udp';
  readonly port: number;
}

export interface IsolationRules {
  /** The bridge interface. */
  readonly bridge: string;
  /** The elements of set `host_ports`, in this order (repeats are the caller's to remove). */
  readonly hostPorts: readonly HostPort[];
  /** Where the bridge's traffic may go before the drops: an nft ifname expression (`"name"`, `@set`). */
  readonly acceptTo: string;
  /** Where the bridge's traffic may come from before the drops, likewise. @default only what acceptTo covers */
  readonly acceptFrom?: string;
  /** Drops the IPv6 metadata address (fd00:ec2::254) too. @default false */
  readonly ipv6Metadata?: boolean;
}

/** Interfaces of other local bridges: other clusters' pods (either pod network) and Docker's own. */
const OTHER_BRIDGES = ['stratus-*', 'docker*', 'br-*'];

/** The lines of set `host_ports` and the chains `forward` and `input` (two-space indent, as in a table block). */
export function isolationRules(r: IsolationRules): string[] {
  const name = r.bridge;
  const elements = r.hostPorts.map((h) => `${h.address} . ${h.protocol} . ${h.port}`);
  return [
    `  set host_ports { type ipv4_addr . inet_proto . inet_service;${elements.length ? ` elements = { ${elements.join(', ')} };` : ''} }`,
    `  chain forward {`,
    `    type filter hook forward priority filter - 10; policy accept;`,
    `    iifname "${name}" ip daddr 169.254.169.254 drop`,
    ...(r.ipv6Metadata ? [`    iifname "${name}" ip6 daddr fd00:ec2::254 drop`] : []),
    `    iifname "${name}" oifname ${r.acceptTo} accept`,
    ...OTHER_BRIDGES.map((other) => `    iifname "${name}" oifname "${other}" drop`),
    ...(r.acceptFrom ? [`    oifname "${name}" iifname ${r.acceptFrom} accept`] : []),
    ...OTHER_BRIDGES.map((other) => `    oifname "${name}" iifname "${other}" drop`),
    `  }`,
    `  chain input {`,
    `    type filter hook input priority filter - 10; policy accept;`,
    `    iifname "${name}" ct state established,related accept`,
    `    iifname "${name}" ip daddr . meta l4proto . th dport @host_ports accept`,
    `    iifname "${name}" drop`,
    `  }`,
  ];
}

/** What a table's comment carries: 16 hex digits of SHA-256 over its body. */
export function tableHash(body: string): string {
  return createHash('sha256').update(body).digest('hex').slice(0, 16);
}

/** The nft script that replaces table inet NAME by one of this body and hash, in one transaction (never absent). */
export function replaceTableScript(name: string, hash: string, body: string): string {
  return `add table inet ${name}\ndelete table inet ${name}\ntable inet ${name} {\n  comment "${hash}"\n${body}\n}\n`;
}
