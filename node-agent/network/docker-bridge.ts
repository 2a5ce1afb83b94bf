/**
 * The agent's default pod network (--pod-network docker-bridge): every sandbox on a Docker bridge
 * network of this cluster's own on this host (never Docker's shared default `bridge`), its
 * address chosen by Docker's IPAM within the network's /24, the pod IP read back from docker
 * inspect. There is no per-node podCIDR and no Service routing (node-bridge.ts has those); pods of
 * one cluster on this host reach each other by IP, and nothing else of the host.
 *
 * - One network per cluster and host, shared by every agent of that cluster on it: the Docker
 *   network and its bridge interface are `stratus-d` + 6 hex digits of SHA-256 over the cluster
 *   name (15 characters, Linux's limit; never a node-bridge name, which has 6 hex digits after
 *   `stratus-`, yet matched by node-bridge tables' `stratus-*` drops). The network is labelled with
 *   its cluster; a network of that name labelled with another cluster (a hash collision) is never
 *   used: the agent refuses to set pods up rather than share it.
 * - Its subnet is a /24 the agent picks out of a pool of its own (--docker-bridge-pool, default
 *   10.224.0.0/16: 256 clusters per host), never Docker's default address pools (about 30 networks
 *   per host, shared with everything else using Docker there). The first candidate comes from the
 *   cluster name's hash (the agents of one cluster agree), then the next /24s, wrapping; /24s that
 *   overlap another Docker network or a route of the host are skipped, and one Docker refuses as
 *   overlapping (another network made meanwhile) moves on to the next. Gateway: its .1. A network
 *   the cluster has already (an older agent's, with a subnet Docker chose) is used as it is.
 * - Docker keeps its own rules for the network (masquerade to outside, isolation from its other
 *   bridges). On top, the agent's nft table `inet stratus-dXXXXXX` (priority filter - 10, before
 *   Docker's; a drop in any table is final):
 *   - forward: drops what the bridge sends to 169.254.169.254 (and fd00:ec2::254), what it sends
 *     to or gets from any other local bridge (`stratus-*`, `docker*`, `br-*`: other clusters'
 *     pods, on either pod network); traffic within the bridge passes.
 *   - input: drops what pods send to the host itself, on any of its addresses, except replies and
 *     the set `host_ports` (address . protocol . port): the API's pod-facing address and port
 *     (the agent's own configuration) and port 53 of the resolvers pods are given, so the agent's
 *     kubelet and ingress ports, and any other service of the host, are out of reach.
 *   Interfaces, never source addresses, decide (pods can spoof addresses, not interfaces).
 * - Idempotent: the table carries a hash of its content in its comment and is rewritten (one
 *   transaction, never absent) only when that changes, so agent restarts, and the several agents
 *   of one cluster on a host, agree on one table. The agent stopping leaves network and table for
 *   the running pods; destroyDockerBridge removes both once no container is on the network.
 * - resolv.conf: a user-defined network makes Docker write 127.0.0.11 (its embedded DNS) into the
 *   sandbox; after the sandbox starts the agent writes the file every container of the pod mounts:
 *   the host's resolvers without loopback ones (what Docker's default bridge gave), or exactly
 *   dnsConfig for dnsPolicy None.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import type Docker from 'dockerode';
import { podDns, type PodDns, type PodNetwork, type SandboxNetwork } from './pod-network';
import { nft, podResolvers, resolvConf, tableComment } from './node-bridge';
import { isolationRules, replaceTableScript, tableHash, type HostPort } from './isolation-rules';
import type { Pod, PodKey } from '../types';
import { silentLogger, type Logger } from '../log';
import { intToIp, ipToInt, nodeCidrAt, parsePool, poolSize } from '../../shared/store/pod-cidrs';
import { parseAnyCidr } from '../../shared/services/ip';

export type { HostPort } from './isolation-rules';

/** Labels on the Docker network this pod network makes. */
export const DOCKER_BRIDGE_LABELS = { tenant: 'io.stratus.tenant', podNetwork: 'io.stratus.pod-network' } as const;

/** The cluster's network, bridge interface and nft table name on a host: `stratus-d` + 6 hex digits. */
export function dockerBridgeName(tenant: string): string {
  return `stratus-d${createHash('sha256').update(tenant).digest('hex').slice(0, 6)}`;
}

/** The nft script of a cluster's table (body and the hash its comment carries). */
export function dockerBridgeTable(name: string, hostPorts: readonly HostPort[]): { body: string; hash: string } {
  // Each element once; within the bridge passes (its own name, before the wildcard drops).
  const unique = [...new Map(hostPorts.map((h) => [`${h.address} . ${h.protocol} . ${h.port}`, h])).values()];
  const body = isolationRules({ bridge: name, hostPorts: unique, acceptTo: `"${name}"`, ipv6Metadata: true }).join('\n');
  return { body, hash: tableHash(body) };
}

/** What the host ports of a table come to: the given ones and port 53 (UDP, TCP) of the pods' resolvers. */
export function dockerBridgeHostPorts(hostPorts: readonly HostPort[], resolvers: PodDns): HostPort[] {
  const dns = resolvers.nameservers.filter((n) => /^\d{1,3}(\.\d{1,3}){3}$/.test(n)).flatMap((address) => [
    { address, protocol: 'udp' as const, port: 53 },
    { address, protocol: 'tcp' as const, port: 53 },
  ]);
  return [...hostPorts, ...dns];
}

/**
 * The pool the clusters' networks take their /24 from (--docker-bridge-pool): 10.224.0.0/16, 256
 * clusters per host, clear of every range Stratus uses (Service CIDR 10.96.0.0/12, node pod CIDRs
 * 10.128.0.0/12 and local stacks' 10.128.0.0/10, LoadBalancer 127.240.0.0/12, Docker's default
 * pools 172.17-31.0.0/16 and 192.168.0.0/16) and of the usual Kubernetes pod ranges (10.244/16,
 * 10.42/16); docs/networking.md.
 */
export const DEFAULT_DOCKER_BRIDGE_POOL = '10.224.0.0/16';

/** A CIDR's addresses: its first and last as numbers. */
interface Span {
  readonly first: number;
  readonly last: number;
}

/** An IPv4 CIDR's span, or undefined for anything else (an IPv6 subnet, a bad value). */
function ipv4Span(cidr: string): Span | undefined {
  const r = parseAnyCidr(cidr);
  return r && r !== 'IPv6' ? { first: r.base, last: r.base + 2 ** (32 - r.prefix) - 1 } : undefined;
}

const overlap = (a: Span, b: Span): boolean => a.first <= b.last && b.first <= a.last;

/** The docker-bridge pool of a flag or option value (the rules of a pod CIDR pool); throws a message naming what is wrong. */
export function parseDockerBridgePool(pool: string): { base: number; bits: number } {
  const parsed = parsePool(pool, { pool: 'docker-bridge pool', each: "each cluster's network takes a /24" });
  if (typeof parsed === 'string') throw new Error(parsed);
  return parsed;
}

/**
 * The /24s of the pool in the order a cluster tries them: from the one its name's hash picks
 * (the same for every agent of the cluster), then the next ones, wrapping.
 */
export function dockerBridgeSubnets(tenant: string, pool: string): string[] {
  const parsed = parseDockerBridgePool(pool);
  const size = poolSize(parsed);
  const first = createHash('sha256').update(tenant).digest().readUInt32BE(0) % size;
  return Array.from({ length: size }, (_, i) => nodeCidrAt(parsed, (first + i) % size));
}

/** The routes of the host's main table but the default one (/proc/net/route: little-endian hex), as CIDRs. */
export function parseHostRoutes(procNetRoute: string): string[] {
  const le = (hex: string) => Buffer.from(hex.padStart(8, '0'), 'hex').readUInt32LE(0);
  const out: string[] = [];
  for (const line of procNetRoute.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 8 || !/^[0-9A-Fa-f]{8}$/.test(f[1]!) || !/^[0-9A-Fa-f]{8}$/.test(f[7]!)) continue;
    const mask = le(f[7]!);
    if (mask === 0) continue;
    const bits = mask.toString(2).replace(/0/g, '').length;
    out.push(`${intToIp(le(f[1]!))}/${bits}`);
  }
  return out;
}

function readHostRoutes(): string[] {
  try {
    return parseHostRoutes(readFileSync('/proc/net/route', 'utf8'));
  } catch {
    return []; // not Linux: Docker's refusals alone decide
  }
}

/** Docker refusing an explicit subnet another network has (IPAM: 403 "Pool overlaps with other one on this address space"; the bridge driver: "networks have overlapping IPv4"). */
const subnetTaken = (e: unknown): boolean => (e as { statusCode?: number }).statusCode === 403 && /overlap/i.test((e as { message?: string }).message ?? '');

/** The nft operations the network needs (injectable for unit tests). */
export interface NftTables {
  /** The comment of table inet NAME: null without one, undefined when there is no such table. */
  comment(name: string): Promise<string | null | undefined>;
  apply(script: string): Promise<void>;
}

const realNft: NftTables = { comment: tableComment, apply: nft };

export interface DockerBridgeOptions {
  readonly docker: Docker;
  /** The cluster the agent serves: one network per cluster on the host. */
  readonly tenant: string;
  /** Host address . protocol . port pods may reach (the API's pod-facing address). @default none */
  readonly hostPorts?: readonly HostPort[];
  /** The host's resolv.conf (pods' resolvers). @default /etc/resolv.conf */
  readonly hostResolvConf?: string;
  readonly log?: Logger;
  /** @default the nft command */
  readonly nft?: NftTables;
  /** The pause before reading again after another agent's creation conflicted. @default 250 */
  readonly conflictRetryMs?: number;
  /** Where the network's /24 comes from (--docker-bridge-pool). @default DEFAULT_DOCKER_BRIDGE_POOL */
  readonly pool?: string;
  /** The host's routes (CIDRs) a subnet must not overlap. @default /proc/net/route's, but the default route */
  readonly hostRoutes?: () => readonly string[];
}

/** Reads and creations of the network before a conflict with another agent's creation is final (~5 s). */
const CREATE_ATTEMPTS = 20;

/**
 * Removes a cluster's network on this host and then its table, once no container is on it (another
 * agent of the cluster may still run pods there: then both stay, and the answer is false).
 */
export async function destroyDockerBridge(docker: Docker, tenant: string, tables: NftTables = realNft): Promise<boolean> {
  const name = dockerBridgeName(tenant);
  const net = docker.getNetwork(name);
  try {
    const info = (await net.inspect()) as Docker.NetworkInspectInfo;
    if ((info.Labels ?? {})[DOCKER_BRIDGE_LABELS.tenant] !== tenant) return false;
    if (Object.keys(info.Containers ?? {}).length) return false;
    await net.remove();
  } catch (e) {
    // gone already: its table goes too; any other failure leaves both
    if ((e as { statusCode?: number }).statusCode !== 404) return false;
  }
  await tables.apply(`add table inet ${name}\ndelete table inet ${name}\n`).catch(() => undefined);
  return true;
}

export class DockerBridgeNetwork implements PodNetwork {
  readonly name = 'docker-bridge';
  readonly podCIDRs: readonly string[] = [];
  /** The cluster's Docker network, bridge interface and nft table. */
  readonly network: string;
  private ready: Promise<void> | undefined;
  private readonly log: Logger;
  private readonly tables: NftTables;

  constructor(private readonly opts: DockerBridgeOptions) {
    this.network = dockerBridgeName(opts.tenant);
    this.log = opts.log ?? silentLogger;
    this.tables = opts.nft ?? realNft;
    parseDockerBridgePool(this.pool); // a wrong pool fails at start, not at the first pod
  }

  private get pool(): string {
    return this.opts.pool ?? DEFAULT_DOCKER_BRIDGE_POOL;
  }

  /**
   * The pool's /24s in the cluster's order, without those that overlap a Docker network of the
   * host or one of its routes (Docker checks its own networks only: a bridge over a LAN's range
   * would cut the host off from it).
   */
  private async freeSubnets(): Promise<string[]> {
    const networks = (await this.opts.docker.listNetworks()) as Docker.NetworkInspectInfo[];
    const used = [...networks.flatMap((n) => (n.IPAM?.Config ?? []).map((c) => c.Subnet ?? '')), ...(this.opts.hostRoutes ?? readHostRoutes)()]
      .map(ipv4Span)
      .filter((r): r is Span => r !== undefined);
    return dockerBridgeSubnets(this.opts.tenant, this.pool).filter((s) => !used.some((u) => overlap(u, ipv4Span(s)!)));
  }

  /** Makes (or finds) the network and the table; called once the Node is registered, and before any pod. */
  configure(): Promise<void> {
    return this.ensure();
  }

  private ensure(): Promise<void> {
    this.ready ??= this.make().catch((e: unknown) => {
      this.ready = undefined; // the next pod tries again
      throw e;
    });
    return this.ready;
  }

  private resolvers(): PodDns {
    let text = '';
    try {
      text = readFileSync(this.opts.hostResolvConf ?? '/etc/resolv.conf', 'utf8');
    } catch {
      // none: Docker's fallback resolvers
    }
    return podResolvers(text);
  }

  private async make(): Promise<void> {
    const name = this.network;
    // The table first: no pod is on the network before its rules are.
    const t = dockerBridgeTable(name, dockerBridgeHostPorts(this.opts.hostPorts ?? [], this.resolvers()));
    if ((await this.tables.comment(name)) !== t.hash) {
      await this.tables.apply(replaceTableScript(name, t.hash, t.body));
      this.log.info('docker bridge table written', { table: name });
    }
    await this.ensureDockerNetwork(name);
  }

  private async ensureDockerNetwork(name: string): Promise<void> {
    const { docker, tenant } = this.opts;
    const owned = (info: Docker.NetworkInspectInfo) => {
      const owner = (info.Labels ?? {})[DOCKER_BRIDGE_LABELS.tenant];
      if (owner !== tenant) throw new Error(`Docker network ${name} belongs to cluster ${JSON.stringify(owner ?? null)}, not ${JSON.stringify(tenant)}: pods are not put on it`);
    };
    const delayMs = this.opts.conflictRetryMs ?? 250;
    let subnets: string[] | undefined;
    let next = 0; // the subnet to try
    let conflicts = 0;
    for (;;) {
      try {
        owned((await docker.getNetwork(name).inspect()) as Docker.NetworkInspectInfo);
        return;
      } catch (e) {
        if ((e as { statusCode?: number }).statusCode !== 404) throw e;
      }
      subnets ??= await this.freeSubnets();
      const subnet = subnets[next];
      if (subnet === undefined) {
        const size = poolSize(parseDockerBridgePool(this.pool));
        throw new Error(
          `no free /24 left in the docker-bridge pool ${this.pool} for the network ${name}: each of its ${size} overlaps another Docker network or a route of the host; remove networks no longer used (docker network ls) or give the agent another --docker-bridge-pool`,
        );
      }
      try {
        await docker.createNetwork({
          Name: name,
          Driver: 'bridge',
          CheckDuplicate: true,
          IPAM: { Driver: 'default', Config: [{ Subnet: subnet, Gateway: intToIp(ipToInt(subnet.split('/')[0]!) + 1) }] },
          Options: { 'com.docker.network.bridge.name': name, 'com.docker.network.bridge.enable_icc': 'true' },
          Labels: { [DOCKER_BRIDGE_LABELS.tenant]: tenant, [DOCKER_BRIDGE_LABELS.podNetwork]: this.name },
        });
        this.log.info('docker bridge network created', { network: name, subnet });
        return;
      } catch (e) {
        // The subnet is another network's (one made since the list, or the same cluster's network
        // being made by another agent): read again, then the next /24.
        if (subnetTaken(e)) {
          next++;
          continue;
        }
        // Another agent of this host is making it (Docker answers 409, or 403 "same bridge name":
        // the bridge name is the host-wide lock). Its network may not be readable yet (a CI run
        // saw the 403 and then a 404 for it): read again shortly, and it must be this cluster's;
        // if the other creation failed, create it again. Anything else fails.
        if (![403, 409].includes((e as { statusCode?: number }).statusCode ?? 0) || ++conflicts >= CREATE_ATTEMPTS) throw e;
        await new Promise((r) => setTimeout(r, delayMs));
      }
    }
  }

  async setUp(pod: Pod): Promise<SandboxNetwork> {
    await this.ensure();
    const dns = podDns(pod);
    return { networkMode: this.network, ...(dns ? { dns } : {}) };
  }

  async afterSandboxStart(pod: Pod, sandbox: Docker.ContainerInspectInfo): Promise<void> {
    if (sandbox.ResolvConfPath) await writeFile(sandbox.ResolvConfPath, resolvConf(podDns(pod) ?? this.resolvers()));
  }

  podIPs(sandbox: Docker.ContainerInspectInfo): string[] {
    const nets = sandbox.NetworkSettings?.Networks ?? {};
    // This cluster's network first, then Docker's default bridge (a sandbox of an older agent).
    const first = [this.network, 'bridge'];
    const ordered = [...first.map((n) => nets[n]), ...Object.entries(nets).filter(([name]) => !first.includes(name)).map(([, n]) => n)];
    const ips: string[] = [];
    for (const n of ordered) {
      if (n?.IPAddress && !ips.includes(n.IPAddress)) ips.push(n.IPAddress);
      if (n?.GlobalIPv6Address && !ips.includes(n.GlobalIPv6Address)) ips.push(n.GlobalIPv6Address);
    }
    // Kubernetes reports at most one IP per family.
    const v4 = ips.find((ip) => !ip.includes(':'));
    const v6 = ips.find((ip) => ip.includes(':'));
    return [v4, v6].filter((ip): ip is string => ip !== undefined);
  }

  async tearDown(_pod: PodKey): Promise<void> {
    // Docker released the address with the sandbox container.
  }
}
