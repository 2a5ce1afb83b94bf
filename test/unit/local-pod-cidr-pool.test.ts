import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { claimLocalPodCidrPool } from '../../infra/local/pod-cidr-pool';

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
