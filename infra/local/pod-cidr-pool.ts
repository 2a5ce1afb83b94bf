import { randomUUID } from 'node:crypto';
import { link, mkdir, readFile, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { tmpdir } from 'node:os';

/*
 * The pod CIDR pool of one local stack. Node IPAM keeps the Nodes of one deployment apart
 * (shared/store/pod-cidrs.ts), but several local stacks (developers, test runs of several
 * worktrees) may share one Docker daemon, each with its own DynamoDB Local: each must draw its
 * /24s from a range no other running stack on this host uses, or Docker refuses the second bridge.
 * So a stack claims one /16 of 10.128.0.0/10 (64 of them, 256 nodes each) by creating a lock file
 * in a host-wide directory, holding its pid: written whole under a name of its own, then linked to
 * the lock's name (link fails if it exists), so a lock is never seen empty (a file created `wx`
 * and then written was, for a moment, and a concurrent claimer took that for a dead holder's and
 * took it over: two stacks with one pool). A lock whose pid is dead is taken over. The claim is given back when the stack stops. STRATUS_POD_CIDR_POOL, when set,
 * wins and nothing is claimed.
 */

const LOCK_DIR = join(tmpdir(), 'stratus-pod-cidr-pools');

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
};

/** Claims a free /16 for this process; answers it and how to give it back. */
export async function claimLocalPodCidrPool(pid = process.pid, lockDir = LOCK_DIR): Promise<{ pool: string; release: () => Promise<void> }> {
  await mkdir(lockDir, { recursive: true });
  // Lowest free first: a restarted stack gets the pool (so the bridges) it had, when no other took it.
  const order = Array.from({ length: 64 }, (_, i) => i);
  for (const i of order) {
    const pool = `10.${128 + i}.0.0/16`;
    const file = join(lockDir, `10.${128 + i}.0.0-16`);
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        const draft = join(lockDir, `.claim-${randomUUID()}`);
        await writeFile(draft, String(pid));
        try {
          await link(draft, file);
        } finally {
          await unlink(draft).catch(() => undefined);
        }
        return {
          pool,
          release: async () => {
            if ((await readFile(file, 'utf8').catch(() => '')) === String(pid)) await unlink(file).catch(() => undefined);
          },
        };
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
        const holder = Number(await readFile(file, 'utf8').catch(() => 'NaN'));
        if (Number.isInteger(holder) && holder > 0 && alive(holder)) break;
        // A dead stack's: take it over. (Two claimers that both read the same dead pid can both
        // get here; the second's unlink may remove the first's fresh lock, and both then hold the
        // pool. Rarer than the empty-file race the draft-and-link closed; not closed.)
        await unlink(file).catch(() => undefined);
      }
    }
  }
  throw new Error(`no free pod CIDR pool in 10.128.0.0/10 (locks in ${lockDir}); set STRATUS_POD_CIDR_POOL`);
}
