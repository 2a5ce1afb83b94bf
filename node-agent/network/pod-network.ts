/**
 * Pod networking behind one interface, as the kubelet has CNI behind its runtime: the Docker
 * runtime (docker-runtime.ts) asks the pod network how to wire a pod's sandbox ("pause")
 * container, which IPs the pod has once the sandbox runs, and to release what it holds when the
 * pod is gone. Implementations: a Docker bridge network per cluster (docker-bridge.ts) and each node's own
 * bridge with addresses from the Node's podCIDR and an nftables table (node-bridge.ts).
 *
 * Contract:
 * - setUp(pod) runs before the sandbox container is created (and again each time it is
 *   re-created, e.g. after it died). It answers the sandbox's network settings: the Docker
 *   HostConfig network fields, the endpoint config (a fixed IP on a user network), the DNS the
 *   pod gets (its resolv.conf: every container of the pod shares the sandbox's). It may reserve
 *   an address; calling it again for the same pod uid must answer the same address, not a second.
 * - podIPs(sandbox) runs after the sandbox started, on its docker inspect: the pod's IPs, the
 *   first being status.podIP, all of them status.podIPs (one per family). Pure on what it gets.
 * - tearDown(pod) runs once the pod's sandbox is removed: releases the address and any rules.
 *   It is safe to repeat, and safe for a pod this process never set up.
 * - Restart and adoption: a restarted agent adopts running sandboxes without calling setUp, so an
 *   implementation keeps nothing that lives only in memory, or rebuilds it from what it finds (the
 *   sandboxes' inspect data, its own files); podIPs of an adopted sandbox must be right at once.
 * - hostNetwork pods never reach the pod network: they run in the node's namespace, with the
 *   node's IP as pod IP (the kubelet does not call CNI for them either).
 */
import type Docker from 'dockerode';
import { z } from 'zod';
import type { Pod, PodKey } from '../types';

/** The pod's resolv.conf, as Kubernetes' PodDNSConfig says it: nameservers, search domains, options. */
export interface PodDns {
  readonly nameservers: readonly string[];
  readonly searches: readonly string[];
  /** "name" or "name:value", as Docker's --dns-option and resolv.conf's options line take them. */
  readonly options: readonly string[];
}

/** How the sandbox container is wired (what setUp answers). */
export interface SandboxNetwork {
  /** Docker's network mode for the sandbox: "bridge", or a user network's name. */
  readonly networkMode: string;
  /** The endpoint on that network, e.g. a fixed IPv4 address from the node's podCIDR. */
  readonly endpoint?: Docker.EndpointSettings;
  /** The pod's DNS; undefined leaves Docker's default (the node's resolvers). */
  readonly dns?: PodDns;
}

export interface PodNetwork {
  /** The name the agent is configured with (--pod-network). */
  readonly name: string;
  /** The node's pod CIDRs this network allocates from (the Node's spec.podCIDRs); empty when it allocates none. */
  readonly podCIDRs: readonly string[];
  /**
   * Called once the Node is registered, with its spec.podCIDRs (node IPAM), before any pod is
   * set up: an implementation that needs the range makes its bridge and rules here. Optional.
   */
  configure?(podCIDRs: readonly string[]): Promise<void>;
  setUp(pod: Pod): Promise<SandboxNetwork>;
  /** Runs right after the sandbox started (e.g. to write its resolv.conf); a failure fails the sandbox. Optional. */
  afterSandboxStart?(pod: Pod, sandbox: Docker.ContainerInspectInfo): Promise<void>;
  /** Stops what configure started (timers); leaves the network and its rules in place for the pods. Optional. */
  close?(): void;
  podIPs(sandbox: Docker.ContainerInspectInfo): string[];
  tearDown(pod: PodKey): Promise<void>;
}

const PodDnsConfigSchema = z.looseObject({
  nameservers: z.array(z.string()).optional(),
  searches: z.array(z.string()).optional(),
  options: z.array(z.looseObject({ name: z.string(), value: z.string().optional() })).optional(),
});

/**
 * The pod's DNS from spec.dnsPolicy and spec.dnsConfig, for implementations without a cluster DNS
 * of their own: dnsPolicy None is exactly dnsConfig (the API requires one nameserver there); any
 * other policy keeps the node's resolvers (undefined: Docker copies the host's resolv.conf), as
 * Default does. A dnsConfig that does not parse counts as absent.
 */
export function podDns(pod: Pod): PodDns | undefined {
  const spec = pod.spec as { dnsPolicy?: unknown; dnsConfig?: unknown };
  if (spec.dnsPolicy !== 'None') return undefined;
  const parsed = PodDnsConfigSchema.safeParse(spec.dnsConfig ?? {});
  const c = parsed.success ? parsed.data : {};
  return {
    nameservers: c.nameservers ?? [],
    searches: c.searches ?? [],
    options: (c.options ?? []).map((o) => (o.value !== undefined ? `${o.name}:${o.value}` : o.name)),
  };
}

/** The Docker HostConfig fields of a SandboxNetwork (the runtime adds the rest). */
export function sandboxHostConfig(net: SandboxNetwork): Pick<Docker.HostConfig, 'NetworkMode' | 'Dns' | 'DnsSearch' | 'DnsOptions'> {
  return {
    NetworkMode: net.networkMode,
    ...(net.dns ? { Dns: [...net.dns.nameservers], DnsSearch: [...net.dns.searches], DnsOptions: [...net.dns.options] } : {}),
  };
}

/** The pod networks an agent can be configured with, by name. */
export const POD_NETWORKS = ['docker-bridge', 'node-bridge'] as const;
export type PodNetworkName = (typeof POD_NETWORKS)[number];
