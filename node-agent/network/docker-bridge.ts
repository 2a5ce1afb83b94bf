/**
 * The pod network of today: every sandbox on Docker's default bridge ("docker0"), its address
 * chosen by Docker's own IPAM, the pod IP read back from docker inspect. Nothing is allocated by
 * the agent, so set-up and tear-down hold no state and adoption after a restart needs nothing.
 * Pods reach each other by IP on one node; there is no per-node podCIDR and no Service routing.
 */
import type Docker from 'dockerode';
import { podDns, type PodNetwork, type SandboxNetwork } from './pod-network';
import type { Pod, PodKey } from '../types';

export class DockerBridgeNetwork implements PodNetwork {
  readonly name = 'docker-bridge';
  readonly podCIDRs: readonly string[] = [];

  async setUp(pod: Pod): Promise<SandboxNetwork> {
    const dns = podDns(pod);
    return { networkMode: 'bridge', ...(dns ? { dns } : {}) };
  }

  podIPs(sandbox: Docker.ContainerInspectInfo): string[] {
    const nets = sandbox.NetworkSettings?.Networks ?? {};
    const bridge = nets.bridge;
    const ordered = [bridge, ...Object.entries(nets).filter(([name]) => name !== 'bridge').map(([, n]) => n)];
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
