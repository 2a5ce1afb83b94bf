import type { KubeObject } from '../../../shared/resources';
import { fits, unfit, type FilterPlugin } from '../framework';

interface HostPort {
  port: number;
  protocol: string;
  ip: string;
}

/** The host ports a pod asks for (containers and init containers), as NodePorts reads them. */
export function hostPortsOf(pod: KubeObject): HostPort[] {
  const spec = (pod.spec ?? {}) as { containers?: { ports?: { hostPort?: number; protocol?: string; hostIP?: string }[] }[]; initContainers?: { ports?: { hostPort?: number; protocol?: string; hostIP?: string }[] }[] };
  const out: HostPort[] = [];
  for (const c of [...(spec.containers ?? []), ...(spec.initContainers ?? [])]) {
    for (const p of c.ports ?? []) if (p.hostPort && p.hostPort > 0) out.push({ port: p.hostPort, protocol: p.protocol ?? 'TCP', ip: p.hostIP || '0.0.0.0' });
  }
  return out;
}

const conflicts = (a: HostPort, b: HostPort) => a.port === b.port && a.protocol === b.protocol && (a.ip === b.ip || a.ip === '0.0.0.0' || b.ip === '0.0.0.0');

/** NodePorts: a host port (protocol, IP) can be held by one pod per node. */
export const NodePorts: FilterPlugin = {
  name: 'NodePorts',
  skips: (pod) => hostPortsOf(pod).length === 0,
  filter(pod, node, cluster) {
    const wanted = hostPortsOf(pod);
    if (wanted.length === 0) return fits;
    for (const other of cluster.podsOn(node.node.metadata.name!)) {
      const used = hostPortsOf(other);
      if (used.some((u) => wanted.some((w) => conflicts(u, w)))) return unfit("node(s) didn't have free ports for the requested pod ports");
    }
    return fits;
  },
};
