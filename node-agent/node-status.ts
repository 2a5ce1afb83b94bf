/**
 * The Node object this agent registers and keeps fresh: capacity from the host, the kubelet's
 * four conditions, addresses and nodeInfo. `buildNodeStatus` is pure; `readHostFacts` does the I/O.
 */
import type Docker from 'dockerode';
import { readFileSync } from 'node:fs';
import os from 'node:os';

export const KUBELET_VERSION = 'stratus-0.1.0';

/** What the host is, read once at start. */
export interface HostFacts {
  readonly hostname: string;
  readonly internalIP: string;
  readonly cpus: number;
  readonly memoryBytes: number;
  readonly kernelVersion: string;
  readonly osImage: string;
  readonly architecture: string;
  readonly containerRuntimeVersion: string;
  readonly machineID: string;
  readonly bootID: string;
}

/** The first non-internal IPv4 address, else loopback: the address pods and peers reach us on. */
export function internalIPv4(): string {
  for (const addrs of Object.values(os.networkInterfaces())) {
    for (const a of addrs ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return '127.0.0.1';
}

const readOr = (path: string, fallback: string): string => {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return fallback;
  }
};

/** Kubernetes' GOARCH names. */
const ARCH: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x' };

export async function readHostFacts(docker: Docker): Promise<HostFacts> {
  const version = await docker.version();
  const osRelease = readOr('/etc/os-release', '');
  const pretty = /^PRETTY_NAME="?([^"\n]*)"?$/m.exec(osRelease)?.[1];
  return {
    hostname: os.hostname(),
    internalIP: internalIPv4(),
    cpus: os.availableParallelism(),
    memoryBytes: os.totalmem(),
    kernelVersion: os.release(),
    osImage: pretty ?? `${os.type()} ${os.release()}`,
    architecture: ARCH[process.arch] ?? process.arch,
    containerRuntimeVersion: `docker://${version.Version}`,
    machineID: readOr('/etc/machine-id', ''),
    bootID: readOr('/proc/sys/kernel/random/boot_id', ''),
  };
}

export interface NodeCondition {
  readonly type: string;
  readonly status: 'True' | 'False' | 'Unknown';
  readonly reason: string;
  readonly message: string;
  readonly lastHeartbeatTime: string;
  readonly lastTransitionTime: string;
}

export interface PreviousCondition {
  readonly type: string;
  readonly status: string;
  readonly lastTransitionTime?: string;
}

const kubeTime = (d: Date): string => d.toISOString().replace(/\.\d{3}Z$/, 'Z');

/** Node metadata.labels the kubelet sets on itself. */
export function nodeLabels(nodeName: string, facts: HostFacts): Record<string, string> {
  return {
    'kubernetes.io/hostname': nodeName,
    'kubernetes.io/os': 'linux',
    'kubernetes.io/arch': facts.architecture,
    'beta.kubernetes.io/os': 'linux',
    'beta.kubernetes.io/arch': facts.architecture,
  };
}

/** The status the agent reports; lastTransitionTime is kept from `previous` while a condition holds. */
export function buildNodeStatus(
  facts: HostFacts,
  maxPods: number,
  now: Date,
  previous: readonly PreviousCondition[] = [],
): Record<string, unknown> {
  const t = kubeTime(now);
  const cond = (type: string, status: 'True' | 'False', reason: string, message: string): NodeCondition => {
    const old = previous.find((c) => c.type === type);
    return {
      type,
      status,
      reason,
      message,
      lastHeartbeatTime: t,
      lastTransitionTime: old?.status === status && old.lastTransitionTime ? old.lastTransitionTime : t,
    };
  };
  const capacity = {
    cpu: String(facts.cpus),
    memory: `${Math.floor(facts.memoryBytes / 1024)}Ki`,
    pods: String(maxPods),
  };
  return {
    capacity,
    // Nothing is reserved for the system yet, so allocatable is the capacity.
    allocatable: capacity,
    conditions: [
      cond('MemoryPressure', 'False', 'KubeletHasSufficientMemory', 'kubelet has sufficient memory available'),
      cond('DiskPressure', 'False', 'KubeletHasNoDiskPressure', 'kubelet has no disk pressure'),
      cond('PIDPressure', 'False', 'KubeletHasSufficientPID', 'kubelet has sufficient PID available'),
      cond('Ready', 'True', 'KubeletReady', 'kubelet is posting ready status'),
    ],
    addresses: [
      { type: 'InternalIP', address: facts.internalIP },
      { type: 'Hostname', address: facts.hostname },
    ],
    daemonEndpoints: { kubeletEndpoint: { Port: 0 } },
    nodeInfo: {
      machineID: facts.machineID,
      systemUUID: facts.machineID,
      bootID: facts.bootID,
      kernelVersion: facts.kernelVersion,
      osImage: facts.osImage,
      containerRuntimeVersion: facts.containerRuntimeVersion,
      kubeletVersion: KUBELET_VERSION,
      kubeProxyVersion: '',
      operatingSystem: 'linux',
      architecture: facts.architecture,
    },
  };
}
