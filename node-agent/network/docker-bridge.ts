/**
 * The agent's default pod network (--pod-network docker-bridge): every sandbox on a Docker bridge
 * network of this cluster's own on this host (never Docker's shared default `bridge`), its
 * address chosen by Docker's IPAM, the pod IP read back from docker inspect. There is no per-node
 * podCIDR and no Service routing (node-bridge.ts has those); pods of one cluster on this host reach
 * each other by IP, and nothing else of the host.
 *
 * - One network per cluster and host, shared by every agent of that cluster on it: the Docker
 *   network and its bridge interface are `stratus-d` + 6 hex digits of SHA-256 over the cluster
 *   name (15 characters, Linux's limit; never a node-bridge name, which has 6 hex digits after
 *   `stratus-`, yet matched by node-bridge tables' `stratus-*` drops). The network is labelled with
 *   its cluster; a network of that name labelled with another cluster (a hash collision) is never
 *   used: the agent refuses to set pods up rather than share it.
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
    let conflict: unknown;
    for (let attempt = 0; attempt < CREATE_ATTEMPTS; attempt++) {
      if (attempt) await new Promise((r) => setTimeout(r, delayMs));
      try {
        owned((await docker.getNetwork(name).inspect()) as Docker.NetworkInspectInfo);
        return;
      } catch (e) {
        if ((e as { statusCode?: number }).statusCode !== 404) throw e;
      }
      try {
        await docker.createNetwork({
          Name: name,
          Driver: 'bridge',
          CheckDuplicate: true,
          Options: { 'com.docker.network.bridge.name': name, 'com.docker.network.bridge.enable_icc': 'true' },
          Labels: { [DOCKER_BRIDGE_LABELS.tenant]: tenant, [DOCKER_BRIDGE_LABELS.podNetwork]: this.name },
        });
        this.log.info('docker bridge network created', { network: name });
        return;
      } catch (e) {
        // Another agent of this host is making it (Docker answers 409, or 403 "same bridge name":
        // the bridge name is the host-wide lock). Its network may not be readable yet (a CI run
        // saw the 403 and then a 404 for it): read again shortly, and it must be this cluster's;
        // if the other creation failed, create it again. Anything else (no address pool left) fails.
        if (![403, 409].includes((e as { statusCode?: number }).statusCode ?? 0)) throw e;
        conflict = e;
      }
    }
    throw conflict;
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
