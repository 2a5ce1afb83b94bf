/**
 * The Node object this agent registers and keeps fresh: capacity from the host, the kubelet's
 * four conditions, addresses and nodeInfo. `buildNodeStatus` is pure; `readHostFacts` does the I/O.
 */
import type Docker from 'dockerode';
import { readFileSync } from 'node:fs';
import { readFile, statfs } from 'node:fs/promises';
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

/** Space of one filesystem. */
export interface FsReading {
  readonly availableBytes: number;
  readonly capacityBytes: number;
}

/** What the host looks like now, read at every node status update; a missing reading is unknown. */
export interface HostReadings {
  /** MemAvailable of /proc/meminfo: what the kernel can give without swapping. */
  readonly memoryAvailableBytes?: number;
  /** The filesystem of the agent's root dir (pod volumes): the kubelet's nodefs. */
  readonly nodefs?: FsReading;
  /** The filesystem of Docker's root dir (images, writable layers, logs): the kubelet's imagefs. */
  readonly imagefs?: FsReading;
  /** Threads in use (each takes a PID) and the most the kernel allows. */
  readonly pids?: { readonly used: number; readonly max: number };
}

/** One entry of node.status.images. */
export interface NodeImage {
  readonly names: string[];
  readonly sizeBytes: number;
}

/**
 * The kubelet's default hard eviction thresholds on Linux (memory.available<100Mi,
 * nodefs.available<10%, imagefs.available<15%), which are also where its pressure conditions
 * turn True. Kubernetes sets no default for pid.available; we take 10% of the kernel's limit.
 */
export const PRESSURE_THRESHOLDS = {
  memoryAvailableBytes: 100 * 1024 * 1024,
  nodefsAvailableFraction: 0.1,
  imagefsAvailableFraction: 0.15,
  pidAvailableFraction: 0.1,
} as const;

/** The kubelet reports at most this many images (nodeStatusMaxImages), largest first. */
export const MAX_NODE_IMAGES = 50;

export interface Pressure {
  readonly memory: boolean;
  readonly disk: boolean;
  readonly pid: boolean;
}

/** Which pressure lines the readings cross; unknown readings never count as pressure. Pure. */
export function pressureOf(r: HostReadings): Pressure {
  const t = PRESSURE_THRESHOLDS;
  const low = (fs: FsReading | undefined, fraction: number) => fs !== undefined && fs.capacityBytes > 0 && fs.availableBytes < fs.capacityBytes * fraction;
  return {
    memory: r.memoryAvailableBytes !== undefined && r.memoryAvailableBytes < t.memoryAvailableBytes,
    disk: low(r.nodefs, t.nodefsAvailableFraction) || low(r.imagefs, t.imagefsAvailableFraction),
    pid: r.pids !== undefined && r.pids.max > 0 && r.pids.max - r.pids.used < r.pids.max * t.pidAvailableFraction,
  };
}

/** Images as node.status.images lists them: digests and tags, largest first, at most 50. Pure. */
export function nodeImages(images: readonly { RepoTags?: string[] | null; RepoDigests?: string[] | null; Size: number }[]): NodeImage[] {
  return images
    .map((i) => ({
      names: [...(i.RepoDigests ?? []), ...(i.RepoTags ?? [])].filter((n) => !n.startsWith('<none>')),
      sizeBytes: i.Size,
    }))
    .filter((i) => i.names.length > 0)
    .sort((a, b) => b.sizeBytes - a.sizeBytes)
    .slice(0, MAX_NODE_IMAGES);
}

async function fsReading(path: string): Promise<FsReading | undefined> {
  try {
    const s = await statfs(path);
    // bavail: what unprivileged users may still use, as the kubelet's cadvisor reports "available".
    return { availableBytes: s.bavail * s.bsize, capacityBytes: s.blocks * s.bsize };
  } catch {
    return undefined; // not on this host (a remote Docker daemon): unknown
  }
}

async function readNumber(path: string, pick: (text: string) => string | undefined): Promise<number | undefined> {
  try {
    const n = Number(pick(await readFile(path, 'utf8')));
    return Number.isFinite(n) ? n : undefined;
  } catch {
    return undefined;
  }
}

/** Reads memory, disk and PID figures from /proc and statfs; what cannot be read stays unknown. */
export async function readHostReadings(rootDir: string, dockerRootDir: string | undefined): Promise<HostReadings> {
  const [memKb, nodefs, imagefs, used, pidMax, threadsMax] = await Promise.all([
    readNumber('/proc/meminfo', (t) => /^MemAvailable:\s+(\d+) kB/m.exec(t)?.[1]),
    fsReading(rootDir),
    dockerRootDir ? fsReading(dockerRootDir) : Promise.resolve(undefined),
    // The 4th field of loadavg is "running/total" scheduling entities: threads, each with a PID.
    readNumber('/proc/loadavg', (t) => t.split(/\s+/)[3]?.split('/')[1]),
    readNumber('/proc/sys/kernel/pid_max', (t) => t.trim()),
    readNumber('/proc/sys/kernel/threads-max', (t) => t.trim()),
  ]);
  const max = pidMax !== undefined && threadsMax !== undefined ? Math.min(pidMax, threadsMax) : pidMax;
  return {
    ...(memKb !== undefined ? { memoryAvailableBytes: memKb * 1024 } : {}),
    ...(nodefs ? { nodefs } : {}),
    ...(imagefs ? { imagefs } : {}),
    ...(used !== undefined && max !== undefined ? { pids: { used, max } } : {}),
  };
}

/** What changes between node status updates; each part is optional (unknown: reported as before). */
export interface NodeObservation {
  /** The kubelet endpoint's port (daemonEndpoints.kubeletEndpoint.Port); 0 when it does not serve. */
  readonly kubeletPort?: number;
  readonly readings?: HostReadings;
  readonly images?: readonly NodeImage[];
}

/** The status the agent reports; lastTransitionTime is kept from `previous` while a condition holds. */
export function buildNodeStatus(
  facts: HostFacts,
  maxPods: number,
  now: Date,
  previous: readonly PreviousCondition[] = [],
  observed: NodeObservation = {},
): Record<string, unknown> {
  const pressure = pressureOf(observed.readings ?? {});
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
      // The kubelet's reasons and messages (pkg/kubelet/nodestatus/setters.go).
      pressure.memory
        ? cond('MemoryPressure', 'True', 'KubeletHasInsufficientMemory', 'kubelet has insufficient memory available')
        : cond('MemoryPressure', 'False', 'KubeletHasSufficientMemory', 'kubelet has sufficient memory available'),
      pressure.disk
        ? cond('DiskPressure', 'True', 'KubeletHasDiskPressure', 'kubelet has disk pressure')
        : cond('DiskPressure', 'False', 'KubeletHasNoDiskPressure', 'kubelet has no disk pressure'),
      pressure.pid
        ? cond('PIDPressure', 'True', 'KubeletHasInsufficientPID', 'kubelet has insufficient PID available')
        : cond('PIDPressure', 'False', 'KubeletHasSufficientPID', 'kubelet has sufficient PID available'),
      cond('Ready', 'True', 'KubeletReady', 'kubelet is posting ready status'),
    ],
    addresses: [
      { type: 'InternalIP', address: facts.internalIP },
      { type: 'Hostname', address: facts.hostname },
    ],
    daemonEndpoints: { kubeletEndpoint: { Port: observed.kubeletPort ?? 0 } },
    ...(observed.images ? { images: observed.images } : {}),
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

/** JSON with object keys sorted, so equal values compare equal whatever their key order. */
function stableJson(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) : v,
  );
}

/**
 * Whether a node status the agent built says anything the stored one does not, heartbeat
 * times aside (the kubelet's rule: it posts node status when it changed, otherwise only every
 * nodeStatusReportFrequency; its Lease is the heartbeat). Only the fields the agent builds count.
 */
export function nodeStatusChanged(built: Record<string, unknown>, stored: Record<string, unknown> | undefined): boolean {
  if (!stored) return true;
  const withoutHeartbeat = (conditions: unknown) =>
    Array.isArray(conditions) ? conditions.map((c: Record<string, unknown>) => ({ ...c, lastHeartbeatTime: undefined })) : conditions;
  return Object.keys(built).some((key) =>
    key === 'conditions' ? stableJson(withoutHeartbeat(built[key])) !== stableJson(withoutHeartbeat(stored[key])) : stableJson(built[key]) !== stableJson(stored[key]),
  );
}
