import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { claimLocalPodCidrPool, subnetInPool } from '../../infra/local/pod-cidr-pool';

/* Local stacks sharing a Docker host each claim their own /16 of pod CIDRs (infra/local/pod-cidr-pool.ts). */
describe('local pod CIDR pool claims', () => {
  it('gives concurrent stacks distinct /16s of 10.128.0.0/10, and takes them back on release', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'stratus-pools-'));
    const claims = await Promise.all(Array.from({ length: 10 }, () => claimLocalPodCidrPool(process.pid, dir)));
    const pools = claims.map((c) => c.pool);
    expect(new Set(pools).size).toBe(10);
    for (const p of pools) expect(p).toMatch(/^10\.(1[2-8]\d|19[01])\.0\.0\/16$/);
    await Promise.all(claims.map((c) => c.release()));
    expect(readdirSync(dir)).toEqual([]);
  });

  it('never hands out a pool a live process holds; takes over a dead one\'s', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'stratus-pools-'));
    // every pool but two held by this live process, one of those two by a dead pid; the claimers are live processes (this one, its parent)
    for (let i = 0; i < 62; i++) writeFileSync(join(dir, `10.${128 + i}.0.0-16`), String(process.pid));
    writeFileSync(join(dir, '10.190.0.0-16'), '999999999');
    const a = await claimLocalPodCidrPool(process.pid, dir);
    const b = await claimLocalPodCidrPool(process.ppid, dir);
    expect([a.pool, b.pool].sort()).toEqual(['10.190.0.0/16', '10.191.0.0/16']);
    await expect(claimLocalPodCidrPool(process.pid, dir)).rejects.toThrow(/no free pod CIDR pool/);
  });
});

describe('a stopped stack\'s pods keep its pool', () => {
  // A stopped stack gives its lock back but keeps its pods (and their bridges) for its next start.
  const inUse = (pools: string[]) => async (pool: string) => pools.includes(pool);

  it.each([
    { what: 'no preference: the lowest free /16 no stopped stack\'s pods are on', prefer: undefined, used: ['10.128.0.0/16'], locked: [], want: '10.129.0.0/16' },
    { what: 'its own /16 first, even with its pods on it', prefer: '10.128.0.0/16', used: ['10.128.0.0/16'], locked: [], want: '10.128.0.0/16' },
    { what: 'its own /16 from before, not the lowest', prefer: '10.131.0.0/16', used: [], locked: [], want: '10.131.0.0/16' },
    { what: 'its own /16 held by a running stack: the next free one not in use', prefer: '10.128.0.0/16', used: ['10.129.0.0/16'], locked: ['10.128.0.0-16'], want: '10.130.0.0/16' },
    { what: 'a preference outside 10.128.0.0/10 is ignored', prefer: '192.168.0.0/16', used: [], locked: [], want: '10.128.0.0/16' },
  ])('$what', async ({ prefer, used, locked, want }) => {
    const dir = mkdtempSync(join(tmpdir(), 'stratus-pools-'));
    for (const f of locked) writeFileSync(join(dir, f), String(process.ppid)); // a live process
    const claim = await claimLocalPodCidrPool(process.pid, dir, {}, { ...(prefer ? { prefer } : {}), inUse: inUse(used) });
    expect(claim.pool).toBe(want);
    await claim.release();
  });

  it.each([
    ['10.128.0.0/24', '10.128.0.0/16', true],
    ['10.128.255.0/24', '10.128.0.0/16', true],
    ['10.129.0.0/24', '10.128.0.0/16', false],
    ['10.128.0.0/8', '10.128.0.0/16', false],
    ['172.17.0.0/16', '10.128.0.0/16', false],
    ['fd00::/64', '10.128.0.0/16', false],
  ])('subnetInPool(%s, %s) = %s', (subnet, pool, want) => expect(subnetInPool(subnet, pool)).toBe(want));
});

describe('taking over a dead stack\'s pool', () => {
  /** A promise and its resolve. */
  const gate = () => {
    let open!: () => void;
    const opened = new Promise<void>((r) => (open = r));
    return { open, opened };
  };

  it('two claimers that both read the same dead pid: one takes the pool over, the other leaves its fresh lock alone', async () => {
    // Prepare: 10.128 held by a dead pid, 10.129-10.190 by this live process, 10.191 free
    const dir = mkdtempSync(join(tmpdir(), 'stratus-pools-'));
    writeFileSync(join(dir, '10.128.0.0-16'), '999999999');
    for (let i = 1; i < 63; i++) writeFileSync(join(dir, `10.${128 + i}.0.0-16`), String(process.pid));
    const [aRead, bRead, aGo, bGo] = [gate(), gate(), gate(), gate()];
    // Each claimer stops after reading the dead pid, before taking over, until let go.
    const hook = (read: ReturnType<typeof gate>, go: ReturnType<typeof gate>) => ({
      beforeTakeover: async () => {
        read.open();
        await go.opened;
      },
    });
    const a = claimLocalPodCidrPool(process.pid, dir, hook(aRead, aGo));
    const b = claimLocalPodCidrPool(process.ppid, dir, hook(bRead, bGo));
    await Promise.all([aRead.opened, bRead.opened]);
    // Act: the first takes over and claims; only then the second goes on from what it read before
    aGo.open();
    const first = await a;
    bGo.open();
    const second = await b;
    // Assess: never one pool for two live stacks; the first's lock stands
    expect(first.pool).toBe('10.128.0.0/16');
    expect(second.pool).toBe('10.191.0.0/16');
    expect(readFileSync(join(dir, '10.128.0.0-16'), 'utf8')).toBe(String(process.pid));
    expect(readdirSync(dir).filter((f) => f.startsWith('.'))).toEqual([]);
  });

  it('a lock that holds no pid (an empty file) is taken over too', async () => {
    // Prepare
    const dir = mkdtempSync(join(tmpdir(), 'stratus-pools-'));
    writeFileSync(join(dir, '10.128.0.0-16'), '');
    // Act
    const claim = await claimLocalPodCidrPool(process.pid, dir);
    // Assess
    expect(claim.pool).toBe('10.128.0.0/16');
    expect(readdirSync(dir)).toEqual(['10.128.0.0-16']);
  });
});
