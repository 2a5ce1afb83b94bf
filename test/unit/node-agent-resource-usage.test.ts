import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cgroupVersion, cpuRate, fromCgroupV1, fromCgroupV2, fromDockerStats, readContainerCgroup, workingSet, type UsageSample } from '../../node-agent/resource-usage';
import { StatsProvider, type RunningContainer, type UsageSource } from '../../node-agent/stats';

const FIXTURES = join(__dirname, '..', 'fixtures', 'cgroup');

describe('cgroup files', () => {
  it('detects the version by cgroup.controllers at the root', async () => {
    expect(await cgroupVersion(join(FIXTURES, 'v1'))).toBe(1);
    expect(await cgroupVersion(join(FIXTURES, 'v2'))).toBe(2);
  });

  it('v1: working set = usage_in_bytes − total_inactive_file, cpu from cpuacct.usage (ns)', async () => {
    const s = await readContainerCgroup('abc', 1, join(FIXTURES, 'v1'), 1000);
    expect(s).toEqual({ cpuNanos: 123456789000n, workingSetBytes: 52428800 - 10485760, time: 1000 });
  });

  it('v2: working set = memory.current − inactive_file, cpu from cpu.stat usage_usec (µs → ns)', async () => {
    const s = await readContainerCgroup('abc', 2, join(FIXTURES, 'v2'), 1000);
    expect(s).toEqual({ cpuNanos: 2_500_000_000n, workingSetBytes: 41943040 - 8388608, time: 1000 });
  });

  it('a container whose cgroup is not there reads as undefined (caller falls back to Docker)', async () => {
    expect(await readContainerCgroup('nope', 1, join(FIXTURES, 'v1'))).toBeUndefined();
    expect(await readContainerCgroup('nope', 2, join(FIXTURES, 'v2'))).toBeUndefined();
  });

  it.each([
    ['garbage counter', () => fromCgroupV1({ memoryUsage: 'x', memoryStat: '', cpuacctUsage: '1' }, 0)],
    ['v2 cpu.stat without usage_usec', () => fromCgroupV2({ memoryCurrent: '1', memoryStat: '', cpuStat: 'user_usec 1' }, 0)],
  ])('rejects %s', (_, f) => expect(f).toThrow());

  it.each([
    [100n, 30n, 70],
    [100n, undefined, 100],
    [100n, 200n, 0], // inactive above usage (racy reads) never goes negative
  ])('workingSet(%s, %s) = %s', (usage, inactive, want) => expect(workingSet(usage, inactive)).toBe(want));
});

describe('Docker stats (one-shot)', () => {
  it.each([
    ['cgroup v1', { total_inactive_file: 1000, inactive_file: 5 }, 9000],
    ['cgroup v2', { inactive_file: 4000 }, 6000],
    ['no stats', undefined, 10000],
  ])('%s', (_, stats, ws) => {
    const s = fromDockerStats({ read: '2026-12-05T18:00:00.5Z', cpu_stats: { cpu_usage: { total_usage: 5e9 } }, memory_stats: { usage: 10000, ...(stats ? { stats } : {}) } }, 7);
    expect(s).toEqual({ cpuNanos: 5_000_000_000n, workingSetBytes: ws, time: Date.parse('2026-12-05T18:00:00.5Z') });
  });

  it('a stopped container (zero read time) takes the fallback time; no cpu usage throws', () => {
    expect(fromDockerStats({ read: '0001-01-01T00:00:00Z', cpu_stats: { cpu_usage: { total_usage: 1 } } }, 42).time).toBe(42);
    expect(() => fromDockerStats({}, 0)).toThrow();
  });
});

describe('cpuRate', () => {
  const at = (cpuNanos: bigint, time: number): UsageSample => ({ cpuNanos, workingSetBytes: 0, time });
  it.each([
    ['half a core over 2 s', at(0n, 0), at(1_000_000_000n, 2000), 500_000_000],
    ['two cores over 1 s', at(1n, 1000), at(2_000_000_001n, 2000), 2_000_000_000],
    ['no time passed', at(0n, 1000), at(5n, 1000), undefined],
    ['counter went back (restart)', at(10n, 0), at(5n, 1000), undefined],
  ])('%s', (_, a, b, want) => expect(cpuRate(a, b)).toBe(want));
});

describe('StatsProvider', () => {
  /** A fake clock and counters: each container burns `cores` cores; the agent 0.1 core and 50 MiB. */
  function fake(containers: (RunningContainer & { cores: number; ws: number })[]) {
    let now = 1_000_000;
    const source: UsageSource = {
      runningContainers: () => Promise.resolve(containers),
      sample: (id) => {
        const c = containers.find((x) => x.id === id);
        return Promise.resolve(c ? { cpuNanos: BigInt(Math.round(c.cores * now * 1e6)), workingSetBytes: c.ws, time: now } : undefined);
      },
      self: () => ({ cpuNanos: BigInt(Math.round(0.1 * now * 1e6)), workingSetBytes: 50 << 20, time: now }),
    };
    const sleeps: number[] = [];
    const provider = new StatsProvider('n1', source, (ms) => {
      sleeps.push(ms);
      now += ms;
      return Promise.resolve();
    });
    return { provider, sleeps, advance: (ms: number) => (now += ms) };
  }
  const c = (id: string, pod: string, name: string, cores: number, ws: number) => ({ id, namespace: 'default', pod, uid: `uid-${pod}`, name, startedAt: 0, cores, ws });

  it('node = sum of its pods and its agent; pods = sum of their containers; first read waits one window', async () => {
    const { provider, sleeps } = fake([c('a', 'p1', 'app', 0.5, 10 << 20), c('b', 'p1', 'side', 0.25, 5 << 20), c('c', 'p2', 'app', 1, 1 << 20)]);
    const s = await provider.summary();
    expect(sleeps).toEqual([1000]);
    const p1 = s.pods.find((p) => p.podRef.name === 'p1')!;
    expect(p1.containers.map((x) => [x.name, x.cpu.usageNanoCores, x.memory.workingSetBytes])).toEqual([
      ['app', 500_000_000, 10 << 20],
      ['side', 250_000_000, 5 << 20],
    ]);
    expect(p1.cpu.usageNanoCores).toBe(750_000_000);
    expect(p1.memory.workingSetBytes).toBe(15 << 20);
    expect(s.node.cpu.usageNanoCores).toBe(750_000_000 + 1_000_000_000 + 100_000_000);
    expect(s.node.memory.workingSetBytes).toBe((15 << 20) + (1 << 20) + (50 << 20));
    expect(s.node.cpu.windowSeconds).toBe(1);
  });

  it('a read within the window of the last one reuses its samples (no wait); a stale one waits again', async () => {
    const { provider, sleeps, advance } = fake([c('a', 'p1', 'app', 0.5, 1)]);
    await provider.summary();
    advance(15_000);
    const s = await provider.summary();
    expect(sleeps).toEqual([1000]);
    expect(s.pods[0]!.cpu.windowSeconds).toBe(15);
    expect(s.pods[0]!.cpu.usageNanoCores).toBe(500_000_000);
    advance(120_000);
    await provider.summary();
    expect(sleeps).toEqual([1000, 1000]);
  });
});

describe('StatsProvider, reads in quick succession', () => {
  it('a read 300 ms after the last uses an older base (no wait), the window from that base', async () => {
    let now = 1_000_000;
    const c = { id: 'a', namespace: 'default', pod: 'p', uid: 'u', name: 'app', startedAt: 0 };
    const source: UsageSource = {
      runningContainers: () => Promise.resolve([c]),
      sample: () => Promise.resolve({ cpuNanos: BigInt(now) * 500_000n, workingSetBytes: 1, time: now }),
      self: () => ({ cpuNanos: 0n, workingSetBytes: 0, time: now }),
    };
    const sleeps: number[] = [];
    const provider = new StatsProvider('n', source, (ms) => {
      sleeps.push(ms);
      now += ms;
      return Promise.resolve();
    });
    await provider.summary(); // cold: waits once
    now += 300;
    const s = await provider.summary();
    expect(sleeps).toEqual([1000]);
    expect(s.pods[0]!.cpu.windowSeconds).toBe(1.3);
    expect(s.pods[0]!.cpu.usageNanoCores).toBe(500_000_000);
  });
});
