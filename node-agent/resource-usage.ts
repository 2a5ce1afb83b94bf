/**
 * Container and node resource usage, as the kubelet's Summary API reports it (what metrics-server
 * turns into metrics.k8s.io): per container a cumulative CPU counter (core-nanoseconds) and the
 * memory working set (usage − inactive_file, cAdvisor's definition), sampled on demand; CPU as a
 * rate (nanocores) over the window between two samples.
 *
 * Two sources, both read on demand (nothing runs while nobody asks):
 * - the container's cgroup files, cgroup v1 (memory.usage_in_bytes, memory.stat total_inactive_file,
 *   cpuacct.usage) or v2 (memory.current, memory.stat inactive_file, cpu.stat usage_usec): the
 *   parsers below are pure and tested on fixture files (test/unit/node-agent-resource-usage.test.ts);
 * - Docker's stats with one-shot=true, whose memory_stats.stats carry the same cgroup keys, v1's
 *   total_inactive_file or v2's inactive_file (used when the cgroup directory is not visible, e.g.
 *   an agent in a container or on a host whose cgroup layout we do not know).
 *
 * The node's usage is the sum of its pods and of the agent process itself, never the host's:
 * several nodes may share one host.
 */
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';

/** One reading of a container's counters. */
export interface UsageSample {
  /** Cumulative CPU time, core-nanoseconds. */
  readonly cpuNanos: bigint;
  /** Memory working set, bytes. */
  readonly workingSetBytes: number;
  /** When it was read (ms since the epoch). */
  readonly time: number;
}

/** Parses a `key value` per line file (memory.stat, cpu.stat). */
export function parseKeyValues(text: string): Map<string, bigint> {
  const out = new Map<string, bigint>();
  for (const line of text.split('\n')) {
    const m = /^(\S+)\s+(\d+)\s*$/.exec(line);
    if (m) out.set(m[1]!, BigInt(m[2]!));
  }
  return out;
}

const parseCounter = (text: string): bigint => {
  const t = text.trim();
  if (!/^\d+$/.test(t)) throw new Error(`not a counter: ${JSON.stringify(t.slice(0, 40))}`);
  return BigInt(t);
};

/** usage − inactive_file, never below zero (cAdvisor's working set). */
export function workingSet(usage: bigint, inactiveFile: bigint | undefined): number {
  const ws = usage - (inactiveFile ?? 0n);
  return Number(ws > 0n ? ws : 0n);
}

/** cgroup v1: memory.usage_in_bytes, memory.stat (total_inactive_file) and cpuacct.usage (ns). */
export function fromCgroupV1(files: { memoryUsage: string; memoryStat: string; cpuacctUsage: string }, time: number): UsageSample {
  const stats = parseKeyValues(files.memoryStat);
  return {
    cpuNanos: parseCounter(files.cpuacctUsage),
    workingSetBytes: workingSet(parseCounter(files.memoryUsage), stats.get('total_inactive_file') ?? stats.get('inactive_file')),
    time,
  };
}

/** cgroup v2: memory.current, memory.stat (inactive_file) and cpu.stat (usage_usec, µs). */
export function fromCgroupV2(files: { memoryCurrent: string; memoryStat: string; cpuStat: string }, time: number): UsageSample {
  const usec = parseKeyValues(files.cpuStat).get('usage_usec');
  if (usec === undefined) throw new Error('cpu.stat has no usage_usec');
  return {
    cpuNanos: usec * 1000n,
    workingSetBytes: workingSet(parseCounter(files.memoryCurrent), parseKeyValues(files.memoryStat).get('inactive_file')),
    time,
  };
}

/** The parts of Docker's container stats (GET /containers/{id}/stats?stream=false&one-shot=true) read here. */
export interface DockerStats {
  readonly read?: string;
  readonly cpu_stats?: { readonly cpu_usage?: { readonly total_usage?: number } };
  readonly memory_stats?: { readonly usage?: number; readonly stats?: Readonly<Record<string, number>> };
}

/** Docker's stats, cgroup v1 (stats.total_inactive_file) or v2 (stats.inactive_file). */
export function fromDockerStats(s: DockerStats, fallbackTime: number): UsageSample {
  const total = s.cpu_stats?.cpu_usage?.total_usage;
  if (total === undefined) throw new Error('Docker stats carry no cpu usage');
  const stats = s.memory_stats?.stats ?? {};
  const inactive = stats.total_inactive_file ?? stats.inactive_file;
  const read = s.read ? Date.parse(s.read) : NaN;
  return {
    cpuNanos: BigInt(Math.round(total)),
    workingSetBytes: workingSet(BigInt(Math.round(s.memory_stats?.usage ?? 0)), inactive === undefined ? undefined : BigInt(Math.round(inactive))),
    // Docker reports 0001-01-01 for a stopped container.
    time: Number.isFinite(read) && read > 0 ? read : fallbackTime,
  };
}

/** Nanocores between two samples of the same counter; undefined when no time passed or it went back (restart). */
export function cpuRate(prev: UsageSample, cur: UsageSample): number | undefined {
  const dt = cur.time - prev.time;
  if (dt <= 0 || cur.cpuNanos < prev.cpuNanos) return undefined;
  return Math.round((Number(cur.cpuNanos - prev.cpuNanos) / dt) * 1e3);
}

export type CgroupVersion = 1 | 2;

/** Which cgroup version mounts at root (v2 has cgroup.controllers at its root). */
export async function cgroupVersion(root = '/sys/fs/cgroup'): Promise<CgroupVersion> {
  try {
    await stat(join(root, 'cgroup.controllers'));
    return 2;
  } catch {
    return 1;
  }
}

/**
 * Reads a Docker container's cgroup files directly, for the cgroupfs and systemd drivers'
 * layouts; undefined when none of them is visible from here (the caller falls back to Docker's stats).
 */
export async function readContainerCgroup(id: string, version: CgroupVersion, root = '/sys/fs/cgroup', now = Date.now()): Promise<UsageSample | undefined> {
  const read = (p: string) => readFile(p, 'utf8');
  if (version === 2) {
    for (const dir of [join(root, 'system.slice', `docker-${id}.scope`), join(root, 'docker', id)]) {
      try {
        const [memoryCurrent, memoryStat, cpuStat] = await Promise.all([read(join(dir, 'memory.current')), read(join(dir, 'memory.stat')), read(join(dir, 'cpu.stat'))]);
        return fromCgroupV2({ memoryCurrent, memoryStat, cpuStat }, now);
      } catch {
        // try the next layout
      }
    }
    return undefined;
  }
  for (const sub of [join('docker', id), join('system.slice', `docker-${id}.scope`)]) {
    try {
      const [memoryUsage, memoryStat, cpuacctUsage] = await Promise.all([
        read(join(root, 'memory', sub, 'memory.usage_in_bytes')),
        read(join(root, 'memory', sub, 'memory.stat')),
        read(join(root, 'cpuacct', sub, 'cpuacct.usage')),
      ]);
      return fromCgroupV1({ memoryUsage, memoryStat, cpuacctUsage }, now);
    } catch {
      // try the next layout
    }
  }
  return undefined;
}
