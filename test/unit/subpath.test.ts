import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type Docker from 'dockerode';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { componentsBelow, mountPoints, mountsUnder, mountSubPath, openBeneath, subPathComponents, unmountAll } from '../../node-agent/subpath';
import { containerMounts, expandSubPathExpr, VolumeManager, type VolumeSource } from '../../node-agent/volumes';

/*
 * node-agent/subpath.ts: the kubelet's safe subPath mount (subpath_linux.go). The pure checks
 * are a table; the walk runs on a real temporary tree; the mounts themselves need root on Linux
 * (the agent's own condition) and are skipped elsewhere.
 */

describe('subPath components (pure)', () => {
  it.each([
    ['a', ['a']],
    ['a/b/c', ['a', 'b', 'c']],
    ['a//b/./c/', ['a', 'b', 'c']],
    ['a..b/..c', ['a..b', '..c']],
    ['.', []],
  ])('takes %j', (subPath, components) => {
    expect(subPathComponents(subPath)).toEqual({ ok: true, components });
  });

  it.each([
    ['', 'must not be empty'],
    ['/etc', 'must be a relative path'],
    ['..', "must not contain '..'"],
    ['a/../../etc', "must not contain '..'"],
    ['a/..', "must not contain '..'"],
    ['a\0b', 'must not contain NUL'],
  ])('refuses %j', (subPath, reason) => {
    expect(subPathComponents(subPath)).toEqual({ ok: false, reason });
  });

  it.each([
    ['/v', '/v', []],
    ['/v', '/v/a/b', ['a', 'b']],
    ['/v/', '/v/a', ['a']],
    ['/', '/etc', ['etc']],
    ['/v', '/vx/a', undefined],
    ['/v', '/', undefined],
    ['/v', '/etc', undefined],
  ])('below %j, %j is %j', (base, path, expected) => {
    expect(componentsBelow(base, path)).toEqual(expected);
  });

  it('reads mount points from mountinfo, octal escapes undone', () => {
    const text = [
      '22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw',
      '40 22 8:1 /v/a /var/lib/stratus/pods/u/volume-subpaths/v/c/0 rw shared:1 - ext4 /dev/sda1 rw',
      '41 22 0:5 / /mnt/with\\040space rw - tmpfs tmpfs rw',
      '',
    ].join('\n');
    expect(mountPoints(text)).toEqual(['/', '/var/lib/stratus/pods/u/volume-subpaths/v/c/0', '/mnt/with space']);
  });
});

describe('subPathExpr expansion (the kubelet\'s ExpandContainerVolumeMounts)', () => {
  const env = new Map([
    ['POD_NAME', 'web-0'],
    ['NS', 'team'],
    ['EMPTY', ''],
  ]);
  it.each([
    ['$(POD_NAME)', 'web-0'],
    ['logs/$(NS)/$(POD_NAME)', 'logs/team/web-0'],
    ['price-$$(POD_NAME)', 'price-$(POD_NAME)'],
    ['plain/dir', 'plain/dir'],
  ])('%s -> %s', (expr, want) => {
    expect(expandSubPathExpr(expr, env)).toBe(want);
  });

  it.each([
    ['$(NOPE)', 'missing value for NOPE'],
    ['$(EMPTY)/x', 'missing value for EMPTY'],
    ['$(Z)/$(A)/$(POD_NAME)', 'missing value for A, Z'],
  ])('%s is refused: %s', (expr, message) => {
    expect(() => expandSubPathExpr(expr, env)).toThrow(message);
  });

  it.each([
    ['/$(POD_NAME)', 'error SubPath `/web-0` must not be an absolute path'],
    ['$(UP)/etc', "unable to provision SubPath `../etc`: must not contain '..'"],
    ['a/$(UP)/$(UP)', "unable to provision SubPath `a/../..`: must not contain '..'"],
  ])('%s, expanded out of the volume, is refused before any mount: %s', async (subPathExpr, message) => {
    const volumes = new Map<string, VolumeSource>([['v', { kind: 'bind', path: '/nonexistent-volume', readOnly: false }]]);
    const container = { name: 'c', image: 'x', volumeMounts: [{ name: 'v', mountPath: '/v', subPathExpr }] };
    await expect(containerMounts(container, volumes, '/nonexistent-subpaths', new Map([...env, ['UP', '..']]))).rejects.toThrow(message);
  });
});

describe('openBeneath (a real tree)', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'subpath-'));
    mkdirSync(join(dir, 'vol/a/b'), { recursive: true });
    writeFileSync(join(dir, 'vol/a/f'), 'in the volume');
    symlinkSync('/', join(dir, 'vol/root'));
    symlinkSync('/etc', join(dir, 'vol/a/etc'));
    symlinkSync('f', join(dir, 'vol/a/link'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const open = (existing: string[], missing: string[] = [], create?: { mode: number }) => {
    const r = openBeneath(join(dir, 'vol'), existing, missing, create);
    closeSync(r.fd);
    return { dir: r.st.isDirectory(), file: r.st.isFile() };
  };

  it('opens dirs and files below the root', () => {
    expect(open([])).toEqual({ dir: true, file: false });
    expect(open(['a', 'b'])).toEqual({ dir: true, file: false });
    expect(open(['a', 'f'])).toEqual({ dir: false, file: true });
  });

  it.each([
    ['a symlink to / as the last component', ['root']],
    ['a symlink to / in the middle', ['root', 'etc']],
    ['a symlink to /etc below a dir', ['a', 'etc']],
    ['a symlink inside the volume (resolved paths only reach the walk)', ['a', 'link']],
    ['a file in the middle', ['a', 'f', 'x']],
    ['a missing component when nothing may be made', ['a', 'nope']],
  ])('refuses %s', (_what, existing) => {
    expect(() => open(existing)).toThrow();
  });

  it('refuses a dir swapped for a symlink after it was resolved: the swap makes the walk fail, it never leads out', () => {
    // Prepare: 'a' was resolved as a dir; then the container swaps it for a symlink to /.
    renameSync(join(dir, 'vol/a'), join(dir, 'vol/a.real'));
    symlinkSync('/', join(dir, 'vol/a'));
    // Act / Assess
    expect(() => open(['a', 'etc'])).toThrow(/symlink|not a directory/);
    expect(() => open(['a'])).toThrow(/symlink/);
  });

  it('makes missing dirs with the mode asked for (not the umask), and not through a symlink', () => {
    // Act
    expect(open(['a'], ['new', 'deeper'], { mode: 0o777 })).toEqual({ dir: true, file: false });
    // Assess
    expect(statSync(join(dir, 'vol/a/new/deeper')).mode & 0o7777).toBe(0o777);
    expect(statSync(join(dir, 'vol/a/new')).mode & 0o7777).toBe(0o777);
    // A symlink to a dir outside the volume (in the temp tree, so a broken walk harms nothing).
    mkdirSync(join(dir, 'outside'));
    symlinkSync(join(dir, 'outside'), join(dir, 'vol/out'));
    expect(() => open([], ['out', 'made-outside'], { mode: 0o755 })).toThrow(/symlink/);
    expect(existsSync(join(dir, 'outside/made-outside'))).toBe(false);
  });
});

// The agent's condition: root on Linux with CAP_SYS_ADMIN (bit 21 of CapEff), for mount(8).
const canMount = (() => {
  if (process.platform !== 'linux' || process.getuid?.() !== 0) return false;
  const capEff = /^CapEff:\s*([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1];
  return capEff !== undefined && (BigInt(`0x${capEff}`) & (1n << 21n)) !== 0n;
})();

describe.skipIf(!canMount)('subPath mounts (root on Linux)', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'subpath-mount-'));
    mkdirSync(join(dir, 'vol/data'), { recursive: true });
    writeFileSync(join(dir, 'vol/data/file'), 'in the volume');
    // An atomic-writer layout: key → ..data/key, ..data → the timestamped dir.
    mkdirSync(join(dir, 'cm/..2026_12_07'), { recursive: true });
    writeFileSync(join(dir, 'cm/..2026_12_07/color'), 'blue');
    symlinkSync('..2026_12_07', join(dir, 'cm/..data'));
    symlinkSync('..data/color', join(dir, 'cm/color'));
    mkdirSync(join(dir, 'host'));
    writeFileSync(join(dir, 'host/precious'), 'host data');
    symlinkSync(join(dir, 'host'), join(dir, 'vol/out'));
    mkdirSync(join(dir, 'pod'));
  });
  afterEach(async () => {
    await unmountAll(dir);
    rmSync(dir, { recursive: true, force: true });
  });

  const mount = (root: string, subPath: string, target: string, readOnly = false) =>
    mountSubPath({ root: join(dir, root), readOnly, subPath, target: join(dir, 'pod', target), volumeMount: 'v', container: 'c' });

  it('mounts a dir of the volume on the private target, and a later swap inside the volume changes nothing', async () => {
    // Act
    const target = await mount('vol', 'data', 'v/c/0');
    renameSync(join(dir, 'vol/data'), join(dir, 'vol/data.old'));
    symlinkSync(join(dir, 'host'), join(dir, 'vol/data'));
    // Assess
    expect(target).toBe(join(dir, 'pod/v/c/0'));
    expect(readdirSync(target)).toEqual(['file']);
    expect(await mountsUnder(join(dir, 'pod'))).toEqual([target]);
  });

  it("mounts the file behind a configMap key's symlinks (resolved once, inside the volume)", async () => {
    const target = await mount('cm', 'color', 'cm/c/1', true);
    expect(readFileSync(target, 'utf8')).toBe('blue');
  });

  it('makes a missing subPath dir in a writable volume, refuses one in a read-only volume', async () => {
    const target = await mount('vol', 'new/dir', 'v/c/2');
    expect(statSync(join(dir, 'vol/new/dir')).isDirectory()).toBe(true);
    expect(readdirSync(target)).toEqual([]);
    await expect(mount('cm', 'missing', 'cm/c/3', true)).rejects.toThrow('failed to prepare subPath for volumeMount "v" of container "c"');
  });

  it.each([
    ['a symlink to /', 'root-link'],
    ['a symlink to a host dir', 'out'],
    ['a path through a symlink to a host dir', 'out/precious'],
  ])('refuses %s with the kubelet\'s message and mounts nothing', async (_what, subPath) => {
    // Prepare
    if (subPath === 'root-link') symlinkSync('/', join(dir, 'vol/root-link'));
    // Act
    const err = await mount('vol', subPath, 'v/c/4').then(() => undefined, (e: unknown) => e as Error & { detail: string });
    // Assess
    expect(err?.message).toBe('failed to prepare subPath for volumeMount "v" of container "c"');
    expect(err?.detail).toMatch(/not within volume path/);
    expect(await mountsUnder(join(dir, 'pod'))).toEqual([]);
  });

  it('mounting again replaces the old mount (a fresh walk), never stacks', async () => {
    await mount('vol', 'data', 'v/c/0');
    mkdirSync(join(dir, 'vol/other'));
    await mountSubPath({ root: join(dir, 'vol'), readOnly: false, subPath: 'other', target: join(dir, 'pod/v/c/0'), volumeMount: 'v', container: 'c' });
    expect(readdirSync(join(dir, 'pod/v/c/0'))).toEqual([]);
    expect(await mountsUnder(join(dir, 'pod'))).toHaveLength(1);
  });

  it("a pod's tearDown unmounts its subPath mounts before removing its dir, so a mounted host dir keeps its files", async () => {
    // Prepare: a pod whose container mounts a subPath of a hostPath-like volume.
    const docker = { listVolumes: async () => ({ Volumes: [] }) } as unknown as Docker;
    const manager = new VolumeManager({
      rootDir: join(dir, 'agent'),
      docker,
      config: { configMap: async () => undefined, secret: async () => undefined },
      scopeLabels: {},
      podUidLabel: 'uid',
      context: { hostIP: '127.0.0.1', nodeCpuCores: 1, nodeMemoryBytes: 1 },
    });
    const volumes = new Map<string, VolumeSource>([['h', { kind: 'bind', path: dir, readOnly: false }]]);
    const [m] = await containerMounts({ name: 'c', image: 'x', volumeMounts: [{ name: 'h', mountPath: '/h', subPath: 'host' }] }, volumes, manager.subPathDir('u1'));
    expect(m?.Source).toBe(join(dir, 'agent/pods/u1/volume-subpaths/h/c/0'));
    expect(readdirSync(m!.Source!)).toEqual(['precious']);
    // Act
    await manager.tearDown('u1');
    // Assess
    expect(readFileSync(join(dir, 'host/precious'), 'utf8')).toBe('host data');
    expect(existsSync(join(dir, 'agent/pods/u1'))).toBe(false);
    expect(await mountsUnder(dir)).toEqual([]);
  });
});
