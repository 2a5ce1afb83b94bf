/**
 * The node's resource usage summary (the kubelet's GET /stats/summary, stats/v1alpha1 Summary
 * trimmed to CPU and memory): what the API reads, on demand, to serve metrics.k8s.io NodeMetrics
 * and PodMetrics. Nothing is sampled in the background: a read samples every running container
 * of this node, and computes CPU rates against the newest earlier read's samples that are between
 * MIN_WINDOW and MAX_WINDOW old (a few reads are kept), else samples again after MIN_WINDOW: the
 * first read after a quiet period costs one window of latency, the price of sampling nothing
 * while nobody looks; reads in quick succession use an older base and never wait.
 */
import type Docker from 'dockerode';
import { LABELS, SANDBOX_CONTAINER_NAME } from './docker-runtime';
import { cgroupVersion, cpuRate, fromDockerStats, readContainerCgroup, type CgroupVersion, type DockerStats, type UsageSample } from './resource-usage';

/** A running container of a pod on this node. */
export interface RunningContainer {
  readonly id: string;
  readonly namespace: string;
  readonly pod: string;
  readonly uid: string;
  readonly name: string;
  /** ms since the epoch. */
  readonly startedAt: number;
}

/** Where containers and their counters come from. */
export interface UsageSource {
  runningContainers(): Promise<RunningContainer[]>;
  /** undefined: the container is gone. */
  sample(id: string): Promise<UsageSample | undefined>;
  /** This agent's own process. */
  self(): UsageSample;
}

export interface CpuStats {
  readonly time: string;
  readonly usageNanoCores: number;
  readonly usageCoreNanoSeconds: number;
  /** Seconds the rate was measured over (not in the kubelet's Summary; metrics-server derives it). */
  readonly windowSeconds: number;
}
export interface MemoryStats {
  readonly time: string;
  readonly workingSetBytes: number;
}
export interface ContainerStats {
  readonly name: string;
  readonly startTime: string;
  readonly cpu: CpuStats;
  readonly memory: MemoryStats;
}
export interface PodStats {
  readonly podRef: { readonly name: string; readonly namespace: string; readonly uid: string };
  readonly containers: ContainerStats[];
  readonly cpu: CpuStats;
  readonly memory: MemoryStats;
}
export interface Summary {
  readonly node: { readonly nodeName: string; readonly cpu: CpuStats; readonly memory: MemoryStats };
  readonly pods: PodStats[];
}

/** A rate needs samples at least this far apart. */
export const MIN_WINDOW_MS = 1_000;
/** Older samples are not reused (the rate would be an average over too long). */
export const MAX_WINDOW_MS = 60_000;

const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

function sum(parts: readonly { cpu: CpuStats; memory: MemoryStats }[], time: number, windowSeconds: number): { cpu: CpuStats; memory: MemoryStats } {
  return {
    cpu: {
      time: iso(time),
      usageNanoCores: parts.reduce((a, p) => a + p.cpu.usageNanoCores, 0),
      usageCoreNanoSeconds: parts.reduce((a, p) => a + p.cpu.usageCoreNanoSeconds, 0),
      windowSeconds,
    },
    memory: { time: iso(time), workingSetBytes: parts.reduce((a, p) => a + p.memory.workingSetBytes, 0) },
  };
}

/** The samples of one read: the agent's and each container's (by id). */
interface Snapshot {
  readonly self: UsageSample;
  readonly containers: ReadonlyMap<string, UsageSample>;
}

/** Earlier snapshots kept for rates (newest last): at most this many, none older than MAX_WINDOW. */
const HISTORY = 8;

export class StatsProvider {
  private history: Snapshot[] = [];
  /** One read at a time: concurrent reads share it (a fan-out may ask twice). */
  private inflight: Promise<Summary> | undefined;

  constructor(
    private readonly nodeName: string,
    private readonly source: UsageSource,
    private readonly sleep: (ms: number) => Promise<void> = (ms) => new Promise((r) => setTimeout(r, ms)),
  ) {}

  summary(): Promise<Summary> {
    this.inflight ??= this.read().finally(() => (this.inflight = undefined));
    return this.inflight;
  }

  private async snapshot(containers: readonly RunningContainer[]): Promise<Snapshot> {
    const out = new Map<string, UsageSample>();
    await Promise.all(
      containers.map(async (c) => {
        const s = await this.source.sample(c.id).catch(() => undefined);
        if (s) out.set(c.id, s);
      }),
    );
    return { self: this.source.self(), containers: out };
  }

  /** The newest earlier snapshot at least MIN_WINDOW and at most MAX_WINDOW before `cur` that has every container of `cur`. */
  private baseFor(cur: Snapshot): Snapshot | undefined {
    for (let i = this.history.length - 1; i >= 0; i--) {
      const h = this.history[i]!;
      const age = cur.self.time - h.self.time;
      if (age < MIN_WINDOW_MS) continue;
      if (age > MAX_WINDOW_MS) return undefined;
      if ([...cur.containers.keys()].every((id) => h.containers.has(id))) return h;
    }
    return undefined;
  }

  private remember(cur: Snapshot): void {
    const newest = this.history[this.history.length - 1];
    if (!newest || cur.self.time - newest.self.time >= MIN_WINDOW_MS) this.history.push(cur);
    this.history = this.history.filter((h) => cur.self.time - h.self.time <= MAX_WINDOW_MS).slice(-HISTORY);
  }

  private async read(): Promise<Summary> {
    const containers = await this.source.runningContainers();
    let cur = await this.snapshot(containers);
    let base = this.baseFor(cur);
    if (!base) {
      // No usable earlier sample: take this one as the base and measure over MIN_WINDOW.
      this.remember(cur);
      await this.sleep(MIN_WINDOW_MS);
      base = cur;
      cur = await this.snapshot(containers);
    }
    this.remember(cur);
    const stats = (prev: UsageSample | undefined, s: UsageSample) => {
      const rate = prev ? cpuRate(prev, s) : undefined;
      return {
        cpu: { time: iso(s.time), usageNanoCores: rate ?? 0, usageCoreNanoSeconds: Number(s.cpuNanos), windowSeconds: prev ? (s.time - prev.time) / 1000 : 0 },
        memory: { time: iso(s.time), workingSetBytes: s.workingSetBytes },
      };
    };
    const byPod = new Map<string, { ref: PodStats['podRef']; containers: ContainerStats[] }>();
    for (const c of containers) {
      const s = cur.containers.get(c.id);
      if (!s) continue;
      const entry = byPod.get(c.uid) ?? { ref: { name: c.pod, namespace: c.namespace, uid: c.uid }, containers: [] };
      entry.containers.push({ name: c.name, startTime: iso(c.startedAt), ...stats(base.containers.get(c.id), s) });
      byPod.set(c.uid, entry);
    }
    const now = cur.self.time;
    const windowSeconds = (cur.self.time - base.self.time) / 1000;
    const pods: PodStats[] = [...byPod.values()].map((p) => ({ podRef: p.ref, containers: p.containers, ...sum(p.containers, now, windowSeconds) }));
    const agent = stats(base.self, cur.self);
    const node = { nodeName: this.nodeName, ...sum([...pods, agent], now, windowSeconds) };
    return { node, pods };
  }
}

/** The agent process's own counters (its CPU time and resident memory). */
export function processUsage(): UsageSample {
  const u = process.cpuUsage();
  return { cpuNanos: BigInt(u.user + u.system) * 1000n, workingSetBytes: process.memoryUsage.rss(), time: Date.now() };
}

/** This node's Docker containers: cgroup files when visible, else Docker's one-shot stats. */
export class DockerUsageSource implements UsageSource {
  private version: Promise<CgroupVersion> | undefined;
  /** Cleared when the cgroup files of a running container are not where we look: Docker's stats from then on. */
  private cgroupFiles = true;
  private cgroupSeen = false;

  constructor(
    private readonly docker: Docker,
    private readonly scope: { readonly nodeName: string; readonly tenant: string },
    private readonly cgroupRoot = '/sys/fs/cgroup',
  ) {}

  async runningContainers(): Promise<RunningContainer[]> {
    const list = await this.docker.listContainers({
      filters: { status: ['running'], label: [`${LABELS.node}=${this.scope.nodeName}`, `${LABELS.tenant}=${this.scope.tenant}`] },
    });
    const out: RunningContainer[] = [];
    for (const c of list) {
      const l = c.Labels ?? {};
      const name = l[LABELS.containerName];
      if (!name || name === SANDBOX_CONTAINER_NAME || !l[LABELS.podUid]) continue;
      out.push({ id: c.Id, namespace: l[LABELS.podNamespace] ?? 'default', pod: l[LABELS.podName] ?? '', uid: l[LABELS.podUid], name, startedAt: c.Created * 1000 });
    }
    return out;
  }

  async sample(id: string): Promise<UsageSample | undefined> {
    if (this.cgroupFiles) {
      this.version ??= cgroupVersion(this.cgroupRoot);
      const s = await readContainerCgroup(id, await this.version, this.cgroupRoot);
      if (s) {
        this.cgroupSeen = true;
        return s;
      }
      // Not a container that just went: the layout is not one we know (or not visible here).
      if (!this.cgroupSeen) this.cgroupFiles = false;
    }
    try {
      const stats = (await this.docker.getContainer(id).stats({ stream: false, 'one-shot': true } as { stream: false })) as DockerStats;
      return fromDockerStats(stats, Date.now());
    } catch {
      return undefined;
    }
  }

  self(): UsageSample {
    return processUsage();
  }
}
