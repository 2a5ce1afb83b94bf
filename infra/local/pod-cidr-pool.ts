import { createHash, randomUUID } from 'node:crypto';
import { link, mkdir, readFile, unlink, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { tmpdir } from 'node:os';
import Docker from 'dockerode';
import { parseAnyCidr } from '../../shared/services/ip';

/*
 * The pod CIDR pool of one local stack. Node IPAM keeps the Nodes of one deployment apart
 * (shared/store/pod-cidrs.ts), but several local stacks (developers, test runs of several
 * worktrees) may share one Docker daemon, each with its own DynamoDB Local: each must draw its
 * /24s from a range no other running stack on this host uses, or Docker refuses the second bridge.
 * So a stack claims one /16 of 10.128.0.0/10 (64 of them, 256 nodes each) by creating a lock file
 * in a host-wide directory, holding its pid: written whole under a name of its own, then linked to
 * the lock's name (link fails if it exists), so a lock is never seen empty (a file created `wx`
 * and then written was, for a moment, and a concurrent claimer took that for a dead holder's and
 * took it over: two stacks with one pool). A lock whose pid is dead is taken over, by one claimer
 * only: two claimers may both read the same dead pid, and a plain unlink by the second would remove
 * the lock the first had just made (two stacks with one pool). So a claimer first links the lock to
 * a name of that dead pid (`.takeover-<pool>-<pid>`; link fails if it exists, so one claimer per
 * dead lock gets it), reads the lock through that name (it is the inode the name was linked to)
 * and unlinks the lock only when it still holds the dead pid; then it removes the takeover name
 * and claims as any claimer does. A claimer that read the dead pid late links the live lock of
 * whoever took the pool over, sees its pid, and leaves it. A claimer killed between the link and
 * the removal leaves that pool's takeover name behind: claimers then skip that pool (a pool left
 * unused, never one shared). The claim is given back when the stack stops, but the stack's pods
 * (and their bridges) stay for its next start: so a stack tries the /16 it had first (its state
 * directory remembers it), and another stack skips a /16 whose bridges still have containers.
 * STRATUS_POD_CIDR_POOL, when set, wins and nothing is claimed.
 */

const LOCK_DIR = join(tmpdir(), 'stratus-pod-cidr-pools');
/** The range whose 64 /16s local stacks claim. */
const LOCAL_POOLS = '10.128.0.0/10';

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
};

/** Test seams: awaited at points of a claim, so tests can interleave claimers. */
export interface ClaimHooks {
  /** A claimer read a dead holder's pid from a pool's lock and is about to take it over. */
  beforeTakeover?: (pool: string, dead: string) => Promise<void>;
}

/**
 * Takes over the lock `file` that holds `dead` (a dead pid, see above): removes it unless another
 * claimer is taking it over or already took it. The caller then claims as usual (and finds the
 * new holder, if any).
 */
async function takeOver(file: string, dead: string): Promise<void> {
  // Named by what the dead lock holds (a pid; a digest of anything else, say an empty file).
  const tag = /^\d{1,10}$/.test(dead) ? dead : createHash('sha256').update(dead).digest('hex').slice(0, 16);
  const takeover = join(dirname(file), `.takeover-${basename(file)}-${tag}`);
  try {
    await link(file, takeover);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'EEXIST') return; // the lock is gone, or another claimer has it
    throw e;
  }
  try {
    // The inode linked: the lock as it was at the link. Only the holder of `takeover` removes a lock holding `dead`.
    if ((await readFile(takeover, 'utf8')) === dead) await unlink(file).catch(() => undefined);
  } finally {
    await unlink(takeover).catch(() => undefined);
  }
}

/** What a claim prefers and avoids. */
export interface ClaimOptions {
  /** The /16 this stack had before (its state directory remembers it): tried first, and taken even when in use (its own pods). */
  readonly prefer?: string;
  /**
   * Whether a /16 is in use without a lock: a stopped stack's bridges with its pods still on them
   * (a stack keeps its pods over a restart). Such a /16 is left to that stack. @default never
   */
  readonly inUse?: (pool: string) => Promise<boolean>;
}

/** Claims a free /16 for this process; answers it and how to give it back. */
export async function claimLocalPodCidrPool(pid = process.pid, lockDir = LOCK_DIR, hooks: ClaimHooks = {}, options: ClaimOptions = {}): Promise<{ pool: string; release: () => Promise<void> }> {
  await mkdir(lockDir, { recursive: true });
  // The stack's own pool first, then the lowest free one not in use by a stopped stack's pods.
  const all = Array.from({ length: 64 }, (_, i) => i);
  const preferred = all.find((i) => `10.${128 + i}.0.0/16` === options.prefer);
  const order = preferred === undefined ? all : [preferred, ...all.filter((i) => i !== preferred)];
  for (const i of order) {
    const pool = `10.${128 + i}.0.0/16`;
    const file = join(lockDir, `10.${128 + i}.0.0-16`);
    if (i !== preferred && (await options.inUse?.(pool))) continue;
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
        const text = await readFile(file, 'utf8').catch(() => undefined);
        if (text === undefined) continue; // released meanwhile: claim again
        const holder = Number(text);
        if (Number.isInteger(holder) && holder > 0 && alive(holder)) break;
        // A dead stack's (or not a pid at all): take it over, one claimer only.
        await hooks.beforeTakeover?.(pool, text);
        await takeOver(file, text);
      }
    }
  }
  throw new Error(`no free pod CIDR pool in 10.128.0.0/10 (locks in ${lockDir}); set STRATUS_POD_CIDR_POOL`);
}

/** Whether an IPv4 subnet lies within the IPv4 range `pool` (both CIDRs). */
export function subnetInPool(subnet: string, pool: string): boolean {
  const s = parseAnyCidr(subnet);
  const p = parseAnyCidr(pool);
  if (!s || s === 'IPv6' || !p || p === 'IPv6' || s.prefix < p.prefix) return false;
  return s.base - (s.base % 2 ** (32 - p.prefix)) === p.base;
}

/**
 * Whether Docker has a network in a /16 with containers on it (a stopped stack's node bridge and
 * the pods it keeps for its next start), for claimLocalPodCidrPool's `inUse`. Docker is asked once,
 * at the first question: the networks of 10.128.0.0/10 with containers. None when Docker cannot
 * be asked.
 */
export function dockerPoolsInUse(docker: Docker = new Docker()): (pool: string) => Promise<boolean> {
  let subnets: Promise<string[]> | undefined;
  return async (pool) => (await (subnets ??= subnetsWithContainers(docker))).some((s) => subnetInPool(s, pool));
}

async function subnetsWithContainers(docker: Docker): Promise<string[]> {
  const out: string[] = [];
  try {
    for (const n of await docker.listNetworks()) {
      const mine = (n.IPAM?.Config ?? []).map((c) => c.Subnet ?? '').filter((s) => subnetInPool(s, LOCAL_POOLS));
      if (mine.length === 0) continue;
      const info = (await docker.getNetwork(n.Id).inspect()) as Docker.NetworkInspectInfo;
      if (Object.keys(info.Containers ?? {}).length) out.push(...mine);
    }
  } catch {
    // no Docker: nothing of the kind to avoid
  }
  return out;
}
