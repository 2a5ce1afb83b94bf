/**
 * volumeMounts[].subPath, mounted the way the kubelet's pkg/volume/util/subpath/subpath_linux.go
 * does, so that a container swapping a symlink inside its volume cannot make the node mount a
 * host path:
 *
 *   1. the subPath is checked (relative, no `..`), its symlinks are resolved once (a subPath of a
 *      configMap key is the file behind `key` → `..data/key`), and the result must lie inside the
 *      volume;
 *   2. that resolved path is opened component by component from an fd of the volume root, each
 *      step `open("/proc/self/fd/<parent>/<name>", O_PATH|O_NOFOLLOW)`: the kernel follows the
 *      magic link to the directory already open (not to a path that could have changed) and
 *      O_NOFOLLOW opens a symlink as itself, which the walk then refuses. So a symlink swapped in
 *      after step 1 makes the mount fail; it never redirects it. Missing directories (writable
 *      volumes only) are made the same way, mkdir under `/proc/self/fd/<parent>/`;
 *   3. the final fd is bind-mounted (`mount --no-canonicalize --bind /proc/<agent pid>/fd/<fd>`,
 *      mount(8) would otherwise resolve the path again) onto a private target,
 *      {podDir}/volume-subpaths/{volume}/{container}/{index}, and Docker is given that target.
 *      What the target shows is fixed at mount time: later swaps inside the volume change nothing.
 *
 * Targets are unmounted when the container is made again (the new one gets a fresh walk) and
 * when the pod is torn down, which also runs for pods left behind by an agent that stopped.
 * Node.js has no openat(2); /proc/self/fd/N/name is its race-free equivalent on Linux.
 */
import { execFile } from 'node:child_process';
import { chmodSync, closeSync, constants, fstatSync, mkdirSync, openSync, type Stats } from 'node:fs';
import { mkdir, readFile, realpath, rmdir, stat, unlink, writeFile } from 'node:fs/promises';
import { dirname, join, sep } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Linux O_PATH (fs.constants does not carry it): an fd that names a file without opening it. */
const O_PATH = 0o10000000;
/** libuv adds O_CLOEXEC itself, so the fds never leak into the mount(8) child. */
const WALK_FLAGS = O_PATH | constants.O_NOFOLLOW;

/** Why a subPath could not be mounted; `detail` is for the agent's log, never for the pod's status (as the kubelet: it could describe the host's files). */
export class SubPathError extends Error {
  constructor(
    message: string,
    readonly detail: string,
  ) {
    super(message);
    this.name = 'SubPathError';
  }
}

/**
 * The components of a subPath, or why it is refused (Kubernetes' validation words). `.` and
 * empty components are dropped, as filepath.Join would. Pure.
 */
export function subPathComponents(subPath: string): { ok: true; components: string[] } | { ok: false; reason: string } {
  if (subPath === '') return { ok: false, reason: 'must not be empty' };
  if (subPath.startsWith('/')) return { ok: false, reason: 'must be a relative path' };
  const parts = subPath.split('/');
  if (parts.includes('..')) return { ok: false, reason: "must not contain '..'" };
  if (parts.some((p) => p.includes('\0'))) return { ok: false, reason: 'must not contain NUL' };
  return { ok: true, components: parts.filter((p) => p !== '' && p !== '.') };
}

/** `path`'s components below `base` (both absolute and free of symlinks), or undefined when it is not inside. Pure. */
export function componentsBelow(base: string, path: string): string[] | undefined {
  if (path === base) return [];
  const prefix = base.endsWith(sep) ? base : `${base}${sep}`;
  if (!path.startsWith(prefix)) return undefined;
  return path.slice(prefix.length).split(sep).filter((p) => p !== '');
}

/** The mount points listed in a /proc/<pid>/mountinfo text (field 5, octal escapes undone). Pure. */
export function mountPoints(mountinfo: string): string[] {
  const out: string[] = [];
  for (const line of mountinfo.split('\n')) {
    const field = line.split(' ')[4];
    if (field) out.push(field.replace(/\\([0-7]{3})/g, (_m, oct: string) => String.fromCharCode(parseInt(oct, 8))));
  }
  return out;
}

/**
 * Resolves the symlinks of `root`/`components` once (the longest prefix that exists; the rest is
 * to be made) and returns its components below the volume's real root. A path that resolves
 * outside the volume is refused here; one whose symlinks change afterwards is refused by the walk.
 */
async function resolveInside(rootReal: string, components: readonly string[]): Promise<{ existing: string[]; missing: string[] }> {
  for (let n = components.length; n >= 0; n--) {
    let resolved: string;
    try {
      resolved = await realpath(join(rootReal, ...components.slice(0, n)));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT' && n > 0) continue;
      throw e;
    }
    const below = componentsBelow(rootReal, resolved);
    if (!below) throw new Error(`subpath ${JSON.stringify(join(...components))} resolves to ${JSON.stringify(resolved)}, not within volume path ${JSON.stringify(rootReal)}`);
    return { existing: below, missing: components.slice(n) };
  }
  return { existing: [], missing: [...components] };
}

const fdPath = (fd: number, name?: string): string => (name === undefined ? `/proc/self/fd/${fd}` : `/proc/self/fd/${fd}/${name}`);

function openNoFollow(parent: number, name: string): { fd: number; st: Stats } {
  const fd = openSync(fdPath(parent, name), WALK_FLAGS);
  try {
    const st = fstatSync(fd);
    if (st.isSymbolicLink()) throw new Error(`${name} is a symlink (it changed while the subPath was opened)`);
    return { fd, st };
  } catch (e) {
    closeSync(fd);
    throw e;
  }
}

/**
 * Opens `rootReal`/`existing`/`missing` without following any symlink, making the `missing`
 * directories (mode `mode`) when `create`; returns an O_PATH fd of it and what it is. The
 * caller closes the fd. Every step is relative to the fd of the step before, so no path is
 * resolved twice.
 */
export function openBeneath(rootReal: string, existing: readonly string[], missing: readonly string[], create: { mode: number } | undefined): { fd: number; st: Stats } {
  let fd = openSync(rootReal, WALK_FLAGS | constants.O_DIRECTORY);
  let st = fstatSync(fd);
  const steps = [...existing.map((name) => ({ name, make: false })), ...missing.map((name) => ({ name, make: true }))];
  try {
    for (const [i, step] of steps.entries()) {
      if (!st.isDirectory()) throw new Error(`${steps[i - 1]?.name ?? '.'} is not a directory`);
      if (step.make) {
        if (!create) throw new Error(`${step.name} does not exist`);
        try {
          mkdirSync(fdPath(fd, step.name), create.mode);
          // mkdir's mode is masked by the umask; chmod through the new dir's own fd below.
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e; // made meanwhile: the walk checks what it is
        }
      }
      const next = openNoFollow(fd, step.name);
      closeSync(fd);
      fd = next.fd;
      st = next.st;
      if (step.make && create && st.isDirectory()) chmodSync(fdPath(fd), create.mode);
    }
    return { fd, st };
  } catch (e) {
    closeSync(fd);
    throw e;
  }
}

/** Everything mounted at or below `dir`, deepest first (so stacked and nested mounts come off in order). */
export async function mountsUnder(dir: string): Promise<string[]> {
  let text: string;
  try {
    text = await readFile('/proc/self/mountinfo', 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return []; // not Linux: this agent made no mounts
    throw e;
  }
  return mountPoints(text)
    .filter((p) => componentsBelow(dir, p) !== undefined)
    .reverse();
}

/** Unmounts every mount at or below `path`; throws when one stays (the caller must then not remove it). */
export async function unmountAll(path: string): Promise<void> {
  // mountinfo lists real paths; the agent's root dir may sit below a symlink.
  let dir: string;
  try {
    dir = await realpath(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw e;
  }
  for (let round = 0; round < 8; round++) {
    const points = await mountsUnder(dir);
    if (points.length === 0) return;
    for (const p of points) {
      try {
        await run('umount', ['--no-canonicalize', p]);
      } catch {
        // busy: detach it (nothing of ours uses it; a container has its own copy)
        await run('umount', ['--no-canonicalize', '--lazy', p]).catch(() => undefined);
      }
    }
  }
  const left = await mountsUnder(dir);
  if (left.length > 0) throw new Error(`could not unmount ${left.join(', ')}`);
}

/** Frees a target: unmounted, then removed (never recursively: a dir that still holds files stays, and the mount fails). */
async function releaseTarget(target: string): Promise<void> {
  await unmountAll(target);
  const st = await stat(target).catch(() => undefined);
  if (!st) return;
  if (st.isDirectory()) await rmdir(target);
  else await unlink(target);
}

export interface SubPathMount {
  /** The volume's root on the host (an agent-owned dir, a hostPath or a Docker volume's mountpoint). */
  readonly root: string;
  readonly readOnly: boolean;
  readonly subPath: string;
  /** The private mount point: {podDir}/volume-subpaths/{volume}/{container}/{index}. */
  readonly target: string;
  /** For messages: the volumeMount's name and the container's. */
  readonly volumeMount: string;
  readonly container: string;
}

/**
 * Mounts `root`/`subPath` on `target` safely (see the top of this file) and returns `target`,
 * the path to give Docker. Throws SubPathError with the kubelet's message.
 */
export async function mountSubPath(m: SubPathMount): Promise<string> {
  const prepareFailed = (detail: string) => new SubPathError(`failed to prepare subPath for volumeMount "${m.volumeMount}" of container "${m.container}"`, detail);
  const parsed = subPathComponents(m.subPath);
  if (!parsed.ok) throw new SubPathError(`invalid subPath "${m.subPath}": ${parsed.reason}`, parsed.reason);
  let rootReal: string;
  let plan: { existing: string[]; missing: string[] };
  let mode = 0o755;
  try {
    rootReal = await realpath(m.root);
    plan = await resolveInside(rootReal, parsed.components);
    mode = (await stat(rootReal)).mode & 0o7777; // the kubelet gives made dirs the volume root's mode
  } catch (e) {
    throw prepareFailed(e instanceof Error ? e.message : String(e));
  }
  if (plan.missing.length > 0 && m.readOnly) throw prepareFailed(`${m.subPath} does not exist in a read-only volume`);

  await mkdir(dirname(m.target), { recursive: true, mode: 0o750 });
  try {
    await releaseTarget(m.target);
  } catch (e) {
    throw prepareFailed(`old target ${m.target}: ${e instanceof Error ? e.message : String(e)}`);
  }

  let opened: { fd: number; st: Stats };
  try {
    opened = openBeneath(rootReal, plan.existing, plan.missing, m.readOnly ? undefined : { mode });
  } catch (e) {
    const detail = e instanceof Error ? e.message : String(e);
    if (plan.missing.length > 0) throw new SubPathError(`failed to create subPath directory for volumeMount "${m.volumeMount}" of container "${m.container}"`, detail);
    throw prepareFailed(detail);
  }
  try {
    // The target has the source's kind: a dir for a dir, an empty file for anything else.
    if (opened.st.isDirectory()) await mkdir(m.target, { mode: 0o750 });
    else await writeFile(m.target, '', { mode: 0o640, flag: 'wx' });
    await run('mount', ['--no-canonicalize', '--bind', `/proc/${process.pid}/fd/${opened.fd}`, m.target]);
  } catch (e) {
    await releaseTarget(m.target).catch(() => undefined);
    throw prepareFailed(`bind mount: ${e instanceof Error ? e.message : String(e)}`);
  } finally {
    closeSync(opened.fd);
  }
  return m.target;
}
