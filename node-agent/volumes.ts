/**
 * Pod volumes, as the kubelet's volume manager sets them up before a pod's containers start:
 *
 *   emptyDir            a directory under the pod's dir; medium Memory: a Docker volume backed
 *                       by tmpfs (sizeLimit → size=), shared by the pod's containers
 *   hostPath            the host path itself, after the type check (DirectoryOrCreate...)
 *   configMap, secret,  files written by an atomic writer (as the kubelet's AtomicWriter: a
 *   downwardAPI,        timestamped dir, `..data` → it, and `key` → `..data/key` symlinks), so a
 *   projected           container sees the old or the new set of files, never a mix; rewritten
 *                       when the source changes (on every sync: updates reach running pods)
 *   persistentVolume-   the claim must be Bound (else the pod waits, ContainerCreating, with a
 *   Claim               FailedMount event); its volume is a Docker named volume (csi driver
 *                       stratus.io/local-volume, volumeHandle `stratus-pv-<pv name>`, created
 *                       when missing and labelled with the PV), or a host path (hostPath, local).
 *                       The data outlives the pod; when the PV object is gone (reclaim policy
 *                       Delete) collectPersistentVolumes removes the Docker volume once unused.
 *
 * Layout: {rootDir}/pods/{uid}/volumes/{plugin}/{name}, plus {rootDir}/pods/{uid}/pod.json
 * naming the pod, so an agent that restarts finds (and cleans) the dirs of pods that are gone.
 * Containers get them as Docker bind mounts (volume mounts for tmpfs), readOnly and subPath
 * honoured (a subPath is bind-mounted by node-agent/subpath.ts onto
 * {rootDir}/pods/{uid}/volume-subpaths/..., safe against symlink swaps); configMap, secret, downwardAPI and projected volumes are always read-only, as in
 * Kubernetes.
 *
 * Secret files live on the node's disk (the kubelet puts them on tmpfs): TODO tmpfs for secrets.
 */
import type Docker from 'dockerode';
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { chmod, mkdir, readdir, readFile, readlink, realpath, rename, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { dirname, isAbsolute, join, normalize, sep } from 'node:path';
import { z } from 'zod';
import { ContainerConfigError, expand, podFieldValue, resourceFieldValue, type ConfigData, type ConfigSource, type EnvContext } from './env';
import { tryParseQuantity } from './quantity';
import { mountSubPath, SubPathError, unmountAll } from './subpath';
import type { Container, Pod, PodKey } from './types';
import { isTokenSource } from './service-account-tokens';

const KeyToPathSchema = z.looseObject({ key: z.string(), path: z.string(), mode: z.number().int().optional() });
const ConfigMapVolumeSchema = z.looseObject({
  name: z.string().optional(),
  items: z.array(KeyToPathSchema).optional(),
  defaultMode: z.number().int().optional(),
  optional: z.boolean().optional(),
});
const SecretVolumeSchema = z.looseObject({
  secretName: z.string().optional(),
  items: z.array(KeyToPathSchema).optional(),
  defaultMode: z.number().int().optional(),
  optional: z.boolean().optional(),
});
const ProjectedSecretSchema = ConfigMapVolumeSchema.omit({ defaultMode: true });
const DownwardItemSchema = z.looseObject({
  path: z.string(),
  fieldRef: z.looseObject({ fieldPath: z.string() }).optional(),
  resourceFieldRef: z.looseObject({ containerName: z.string().optional(), resource: z.string(), divisor: z.union([z.string(), z.number()]).optional() }).optional(),
  mode: z.number().int().optional(),
});
const DownwardAPIVolumeSchema = z.looseObject({ items: z.array(DownwardItemSchema).optional(), defaultMode: z.number().int().optional() });

export const VolumeSchema = z.looseObject({
  name: z.string(),
  persistentVolumeClaim: z.looseObject({ claimName: z.string(), readOnly: z.boolean().optional() }).optional(),
  emptyDir: z.looseObject({ medium: z.string().optional(), sizeLimit: z.union([z.string(), z.number()]).optional() }).optional(),
  hostPath: z.looseObject({ path: z.string(), type: z.string().optional() }).optional(),
  configMap: ConfigMapVolumeSchema.optional(),
  secret: SecretVolumeSchema.optional(),
  downwardAPI: DownwardAPIVolumeSchema.optional(),
  projected: z
    .looseObject({
      defaultMode: z.number().int().optional(),
      sources: z
        .array(
          z.looseObject({
            configMap: ConfigMapVolumeSchema.omit({ defaultMode: true }).optional(),
            secret: ProjectedSecretSchema.optional(),
            downwardAPI: z.looseObject({ items: z.array(DownwardItemSchema).optional() }).optional(),
            serviceAccountToken: z.looseObject({ audience: z.string().optional(), expirationSeconds: z.number().int().optional(), path: z.string() }).optional(),
            clusterTrustBundle: z.unknown().optional(),
          }),
        )
        .optional(),
    })
    .optional(),
});
export type Volume = z.infer<typeof VolumeSchema>;

export const VolumeMountSchema = z.looseObject({
  name: z.string(),
  mountPath: z.string(),
  readOnly: z.boolean().optional(),
  subPath: z.string().optional(),
  subPathExpr: z.string().optional(),
});

/**
 * Where a volume is on the host, ready to mount. A Docker volume may name its mountpoint (the
 * host dir behind it), which is what a subPath of it is bind-mounted from.
 */
export type VolumeSource =
  | { readonly kind: 'bind'; readonly path: string; readonly readOnly: boolean }
  | { readonly kind: 'volume'; readonly name: string; readonly readOnly?: boolean; readonly mountpoint?: string };

/** The parts of a PersistentVolumeClaim the agent reads. */
export const ClaimViewSchema = z.looseObject({
  metadata: z.looseObject({ name: z.string(), namespace: z.string().optional(), uid: z.string().optional(), deletionTimestamp: z.string().optional() }),
  spec: z.looseObject({ volumeName: z.string().optional() }).optional(),
  status: z.looseObject({ phase: z.string().optional() }).optional(),
});
export type ClaimView = z.infer<typeof ClaimViewSchema>;

/** The parts of a PersistentVolume the agent reads: its source and reclaim policy. */
export const PersistentVolumeViewSchema = z.looseObject({
  metadata: z.looseObject({ name: z.string(), uid: z.string().optional() }),
  spec: z
    .looseObject({
      persistentVolumeReclaimPolicy: z.string().optional(),
      csi: z.looseObject({ driver: z.string(), volumeHandle: z.string(), readOnly: z.boolean().optional() }).optional(),
      hostPath: z.looseObject({ path: z.string(), type: z.string().optional() }).optional(),
      local: z.looseObject({ path: z.string() }).optional(),
    })
    .optional(),
});
export type PersistentVolumeView = z.infer<typeof PersistentVolumeViewSchema>;

/**
 * Where the agent reads claims and their volumes (the node may get both by name). Contract as
 * ConfigSource's: undefined when the object does not exist; rejects only when the API did not answer.
 */
export interface ClaimSource {
  persistentVolumeClaim(namespace: string, name: string): Promise<ClaimView | undefined>;
  persistentVolume(name: string): Promise<PersistentVolumeView | undefined>;
}

const isClaimSource = (c: unknown): c is ClaimSource =>
  typeof (c as Partial<ClaimSource>).persistentVolumeClaim === 'function' && typeof (c as Partial<ClaimSource>).persistentVolume === 'function';

/** The provisioner (CSI driver) whose volumes are Docker named volumes on the node. */
export const LOCAL_VOLUME_DRIVER = 'stratus.io/local-volume';
/** Labels on the Docker volumes of PersistentVolumes. */
export const PV_LABELS = { name: 'io.stratus.pv.name', reclaimPolicy: 'io.stratus.pv.reclaimPolicy' } as const;
/** How often unused volumes of deleted PVs are looked for (each costs one GET per volume). */
const PV_COLLECT_INTERVAL_MS = 20_000;

export type SetUpResult =
  | { readonly ok: true; readonly volumes: ReadonlyMap<string, VolumeSource> }
  | { readonly ok: false; readonly volume: string; readonly message: string };

/** A volume that cannot be set up; the message is the kubelet's (after "MountVolume.SetUp failed for volume ..."). */
class MountError extends Error {}

/** One file of a configMap, secret or downwardAPI volume. */
export interface VolumeFile {
  readonly data: Buffer;
  readonly mode: number;
}

const DEFAULT_MODE = 0o644;
/** Kubernetes' label for volume plugins' directories. */
const PLUGIN_DIR: Record<string, string> = {
  emptyDir: 'kubernetes.io~empty-dir',
  configMap: 'kubernetes.io~configmap',
  secret: 'kubernetes.io~secret',
  downwardAPI: 'kubernetes.io~downward-api',
  projected: 'kubernetes.io~projected',
};

/** A relative path that stays inside its volume (no absolute path, no ".." element). */
export function safeRelativePath(p: string): boolean {
  if (p === '' || isAbsolute(p)) return false;
  return !normalize(p).split(sep).some((part) => part === '..') && !p.split('/').includes('..');
}

/**
 * The files of a configMap or secret volume: every key, or the listed items (each key must
 * exist unless optional); modes from the item, else defaultMode, else 0644. Pure.
 */
export function keyFiles(
  kind: 'configmap' | 'secret',
  name: string,
  source: ConfigData | undefined,
  items: readonly z.infer<typeof KeyToPathSchema>[] | undefined,
  defaultMode: number | undefined,
  optional: boolean,
): Map<string, VolumeFile> {
  const files = new Map<string, VolumeFile>();
  if (!source) {
    if (optional) return files;
    throw new MountError(`${kind} "${name}" not found`);
  }
  const bytes = (k: string): Buffer | undefined => source.bytes?.[k] ?? (k in source.data ? Buffer.from(source.data[k]!, 'utf8') : undefined);
  const mode = defaultMode ?? DEFAULT_MODE;
  if (!items) {
    for (const k of Object.keys(source.bytes ?? source.data)) files.set(k, { data: bytes(k)!, mode });
    return files;
  }
  for (const item of items) {
    if (!safeRelativePath(item.path)) throw new MountError(`invalid path "${item.path}": must be relative and may not contain '..'`);
    const data = bytes(item.key);
    if (data === undefined) {
      if (optional) continue;
      throw new MountError(`${kind === 'configmap' ? 'configmap' : 'secret'} references non-existent ${kind === 'configmap' ? 'config' : 'secret'} key: ${item.key}`);
    }
    files.set(item.path, { data, mode: item.mode ?? mode });
  }
  return files;
}

/** The files of a downwardAPI volume (labels, annotations, name, namespace, uid, resources). Pure. */
export function downwardFiles(pod: Pod, items: readonly z.infer<typeof DownwardItemSchema>[], defaultMode: number | undefined, ctx: EnvContext): Map<string, VolumeFile> {
  const files = new Map<string, VolumeFile>();
  for (const item of items) {
    if (!safeRelativePath(item.path)) throw new MountError(`invalid path "${item.path}": must be relative and may not contain '..'`);
    let value: string;
    try {
      if (item.fieldRef) value = podFieldValue(pod, item.fieldRef.fieldPath, ctx);
      else if (item.resourceFieldRef) {
        const c = pod.spec.containers.find((x) => x.name === item.resourceFieldRef!.containerName) ?? pod.spec.containers[0]!;
        value = resourceFieldValue(pod, c, item.resourceFieldRef, ctx);
      } else throw new MountError(`downwardAPI item "${item.path}" has neither fieldRef nor resourceFieldRef`);
    } catch (e) {
      if (e instanceof ContainerConfigError) throw new MountError(e.message);
      throw e;
    }
    files.set(item.path, { data: Buffer.from(value, 'utf8'), mode: item.mode ?? defaultMode ?? DEFAULT_MODE });
  }
  return files;
}

/**
 * Writes `files` into `dir` the way the kubelet's AtomicWriter does; returns false (and writes
 * nothing) when the dir already holds exactly these files with these modes.
 */
export async function writeAtomically(dir: string, files: ReadonlyMap<string, VolumeFile>): Promise<boolean> {
  await mkdir(dir, { recursive: true, mode: 0o755 });
  const dataLink = join(dir, '..data');
  let current: string | undefined;
  try {
    current = await readlink(dataLink);
  } catch {
    current = undefined;
  }
  if (current && (await sameFiles(join(dir, current), files))) return false;

  const stamp = new Date().toISOString().replace(/[-:T]/g, '_').replace(/\..*$/, '');
  const tsName = `..${stamp}.${randomBytes(4).toString('hex')}`;
  const tsDir = join(dir, tsName);
  await mkdir(tsDir, { mode: 0o755 });
  for (const [rel, f] of files) {
    const target = join(tsDir, rel);
    await mkdir(dirname(target), { recursive: true, mode: 0o755 });
    await writeFile(target, f.data, { mode: f.mode });
    await chmod(target, f.mode); // writeFile's mode is masked by the umask
  }
  // Swap `..data` in one rename: readers see the old or the new set.
  const tmpLink = join(dir, '..data_tmp');
  await rm(tmpLink, { force: true });
  await symlink(tsName, tmpLink);
  await rename(tmpLink, dataLink);
  // User-visible names: symlinks through ..data (top-level entries only).
  const top = new Set([...files.keys()].map((p) => p.split('/')[0]!));
  for (const name of top) {
    const link = join(dir, name);
    const want = join('..data', name);
    let have: string | undefined;
    try {
      have = await readlink(link);
    } catch {
      have = undefined;
    }
    if (have !== want) {
      await rm(link, { force: true, recursive: true });
      await symlink(want, link);
    }
  }
  for (const entry of await readdir(dir)) {
    if (entry.startsWith('..') ? entry !== '..data' && entry !== tsName : !top.has(entry)) await rm(join(dir, entry), { force: true, recursive: true });
  }
  return true;
}

async function sameFiles(dir: string, files: ReadonlyMap<string, VolumeFile>): Promise<boolean> {
  const present = await listFiles(dir).catch(() => undefined);
  if (!present || present.length !== files.size) return false;
  for (const [rel, f] of files) {
    try {
      const p = join(dir, rel);
      const [st, data] = await Promise.all([stat(p), readFile(p)]);
      if ((st.mode & 0o7777) !== f.mode || !data.equals(f.data)) return false;
    } catch {
      return false;
    }
  }
  return true;
}

async function listFiles(dir: string, prefix = ''): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    if (e.isDirectory()) out.push(...(await listFiles(join(dir, e.name), `${prefix}${e.name}/`)));
    else out.push(`${prefix}${e.name}`);
  }
  return out;
}

export interface VolumeManagerOptions {
  /** This node's root dir ({rootDir}/pods/{uid}/...). */
  readonly rootDir: string;
  readonly docker: Docker;
  /** ConfigMaps and Secrets; when it is also a ClaimSource, PersistentVolumeClaims too. */
  readonly config: ConfigSource | (ConfigSource & ClaimSource);
  /** Labels that scope Docker volumes to this node and tenant. */
  readonly scopeLabels: Readonly<Record<string, string>>;
  /** The label key naming a volume's pod uid. */
  readonly podUidLabel: string;
  /** hostIP and node allocatable, for downwardAPI fields. */
  readonly context: EnvContext;
  /** Why a host path may not be mounted (node-agent/security.ts hostPathRefusal), checked on the real path. @default every path may */
  readonly hostPathRefusal?: (path: string) => string | undefined;
}

const PodFileSchema = z.object({ uid: z.string(), namespace: z.string(), name: z.string() });

/**
 * Sets up and tears down pod volumes. Contract: setUp is idempotent and cheap when nothing
 * changed (it rewrites only changed files), so it runs on every sync; tearDown is safe to repeat.
 */
export class VolumeManager {
  private lastCollect = 0;

  constructor(private readonly opts: VolumeManagerOptions) {}

  /**
   * A host path (a pod's hostPath, a PersistentVolume's hostPath or local) after the node's
   * allowlist, checked on the path as given and on its real path (a symlink inside an allowed
   * directory must not lead out of it), then the type check.
   */
  private async allowedHostPath(path: string, type: string): Promise<string> {
    const refuse = this.opts.hostPathRefusal;
    const before = refuse?.(path);
    if (before) throw new MountError(before);
    const checked = await checkHostPath(path, type);
    if (!refuse) return checked;
    const real = await realpath(checked).catch(() => checked);
    const after = refuse(real);
    if (after) throw new MountError(after);
    return real;
  }

  podDir(uid: string): string {
    return join(this.opts.rootDir, 'pods', uid);
  }

  /** Every volume of the pod ready on the host, or the first that could not be. */
  async setUp(pod: Pod): Promise<SetUpResult> {
    const uid = pod.metadata.uid;
    const podDir = this.podDir(uid);
    await mkdir(podDir, { recursive: true, mode: 0o750 });
    const key: PodKey = { uid, namespace: pod.metadata.namespace ?? 'default', name: pod.metadata.name };
    await writeFile(join(podDir, 'pod.json'), JSON.stringify(key));
    const raw = Array.isArray(pod.spec.volumes) ? (pod.spec.volumes as unknown[]) : [];
    const volumes = new Map<string, VolumeSource>();
    for (const r of raw) {
      const parsed = VolumeSchema.safeParse(r);
      const name = parsed.success ? parsed.data.name : String((r as { name?: unknown })?.name ?? '');
      try {
        if (!parsed.success) throw new MountError(`invalid volume: ${parsed.error.issues[0]?.message ?? 'malformed'}`);
        volumes.set(name, await this.setUpOne(pod, parsed.data));
      } catch (e) {
        if (e instanceof MountError) return { ok: false, volume: name, message: e.message };
        throw e; // the API or Docker did not answer: the sync is retried
      }
    }
    return { ok: true, volumes };
  }

  private async setUpOne(pod: Pod, v: Volume): Promise<VolumeSource> {
    const ns = pod.metadata.namespace ?? 'default';
    const dirOf = (plugin: string) => join(this.podDir(pod.metadata.uid), 'volumes', PLUGIN_DIR[plugin]!, v.name);
    if (v.persistentVolumeClaim) return this.claimVolume(ns, v.persistentVolumeClaim.claimName, v.persistentVolumeClaim.readOnly ?? false);
    if (v.emptyDir) {
      if (v.emptyDir.medium === 'Memory') return { kind: 'volume', name: await this.tmpfsVolume(pod, v.name, v.emptyDir.sizeLimit) };
      const dir = dirOf('emptyDir');
      await mkdir(dir, { recursive: true });
      await chmod(dir, 0o777); // as the kubelet: any container user may write
      return { kind: 'bind', path: dir, readOnly: false };
    }
    if (v.hostPath) return { kind: 'bind', path: await this.allowedHostPath(v.hostPath.path, v.hostPath.type ?? ''), readOnly: false };
    if (v.configMap) {
      const name = v.configMap.name ?? '';
      const files = keyFiles('configmap', name, await this.opts.config.configMap(ns, name), v.configMap.items, v.configMap.defaultMode, v.configMap.optional ?? false);
      await writeAtomically(dirOf('configMap'), files);
      return { kind: 'bind', path: dirOf('configMap'), readOnly: true };
    }
    if (v.secret) {
      const name = v.secret.secretName ?? '';
      const files = keyFiles('secret', name, await this.opts.config.secret(ns, name), v.secret.items, v.secret.defaultMode, v.secret.optional ?? false);
      await writeAtomically(dirOf('secret'), files);
      return { kind: 'bind', path: dirOf('secret'), readOnly: true };
    }
    if (v.downwardAPI) {
      await writeAtomically(dirOf('downwardAPI'), downwardFiles(pod, v.downwardAPI.items ?? [], v.downwardAPI.defaultMode, this.opts.context));
      return { kind: 'bind', path: dirOf('downwardAPI'), readOnly: true };
    }
    if (v.projected) {
      const files = new Map<string, VolumeFile>();
      const mode = v.projected.defaultMode;
      for (const s of v.projected.sources ?? []) {
        let part: Map<string, VolumeFile>;
        if (s.configMap) part = keyFiles('configmap', s.configMap.name ?? '', await this.opts.config.configMap(ns, s.configMap.name ?? ''), s.configMap.items, mode, s.configMap.optional ?? false);
        else if (s.secret) part = keyFiles('secret', s.secret.name ?? '', await this.opts.config.secret(ns, s.secret.name ?? ''), s.secret.items, mode, s.secret.optional ?? false);
        else if (s.downwardAPI) part = downwardFiles(pod, s.downwardAPI.items ?? [], mode, this.opts.context);
        else if (s.serviceAccountToken) part = await this.tokenFile(pod, s.serviceAccountToken, mode);
        else throw new MountError('projected source not supported by this node (clusterTrustBundle)');
        for (const [p, f] of part) files.set(p, f);
      }
      await writeAtomically(dirOf('projected'), files);
      return { kind: 'bind', path: dirOf('projected'), readOnly: true };
    }
    throw new MountError('volume type not supported by this node');
  }

  /** A projected serviceAccountToken source: the pod's bound token (service-account-tokens.ts), refreshed as it ages. */
  private async tokenFile(pod: Pod, src: { audience?: string; expirationSeconds?: number; path: string }, mode: number | undefined): Promise<Map<string, VolumeFile>> {
    const source = this.opts.config;
    if (!isTokenSource(source)) throw new MountError('serviceAccountToken volumes are not supported by this node (no API access)');
    if (!safeRelativePath(src.path)) throw new MountError(`invalid path "${src.path}": must be relative and may not contain '..'`);
    const serviceAccountName = (pod.spec as { serviceAccountName?: string }).serviceAccountName || 'default';
    let token: string;
    try {
      token = await source.serviceAccountToken(
        { namespace: pod.metadata.namespace ?? 'default', name: pod.metadata.name, uid: pod.metadata.uid, serviceAccountName },
        src.audience || undefined,
        src.expirationSeconds ?? 3600,
      );
    } catch (e) {
      throw new MountError(`failed to fetch token: ${e instanceof Error ? e.message : String(e)}`);
    }
    return new Map([[src.path, { data: Buffer.from(token, 'utf8'), mode: mode ?? DEFAULT_MODE }]]);
  }

  /**
   * A claim's volume, as the kubelet's volume manager resolves it (its words in the errors): the
   * claim must exist and be Bound to a volume that exists; a Docker volume is created on first use.
   */
  private async claimVolume(namespace: string, claimName: string, readOnly: boolean): Promise<VolumeSource> {
    const source = this.opts.config;
    if (!isClaimSource(source)) throw new MountError('persistentVolumeClaim volumes are not supported by this node (no API access)');
    const what = `error processing PVC ${namespace}/${claimName}`;
    const claim = await source.persistentVolumeClaim(namespace, claimName);
    if (!claim) throw new MountError(`${what}: failed to fetch PVC from API server: persistentvolumeclaims "${claimName}" not found`);
    if (claim.metadata.deletionTimestamp) throw new MountError(`${what}: can't start pod because PVC ${namespace}/${claimName} is being deleted`);
    const volumeName = claim.spec?.volumeName;
    if (claim.status?.phase !== 'Bound' || !volumeName) throw new MountError(`${what}: PVC is not bound`);
    const pv = await source.persistentVolume(volumeName);
    if (!pv) throw new MountError(`${what}: failed to fetch PV ${volumeName} from API server: persistentvolumes "${volumeName}" not found`);
    const spec = pv.spec ?? {};
    if (spec.csi) {
      if (spec.csi.driver !== LOCAL_VOLUME_DRIVER) throw new MountError(`kubernetes.io/csi: driver name ${spec.csi.driver} not found in the list of registered CSI drivers`);
      const info = await this.ensureDockerVolume(spec.csi.volumeHandle, pv);
      return { kind: 'volume', name: spec.csi.volumeHandle, readOnly: readOnly || (spec.csi.readOnly ?? false), mountpoint: info.Mountpoint };
    }
    if (spec.hostPath) return { kind: 'bind', path: await this.allowedHostPath(spec.hostPath.path, spec.hostPath.type ?? ''), readOnly };
    if (spec.local) return { kind: 'bind', path: await this.allowedHostPath(spec.local.path, 'Directory'), readOnly };
    throw new MountError(`persistent volume ${volumeName}: volume type not supported by this node`);
  }

  /** The Docker volume of a PV, created (labelled with the PV) when missing; never another tenant's. */
  private async ensureDockerVolume(name: string, pv: PersistentVolumeView): Promise<{ Mountpoint: string }> {
    // The scope label naming the tenant (io.stratus.tenant): a volume of another tenant is never used.
    const tenantKey = Object.keys(this.opts.scopeLabels).find((k) => k.endsWith('.tenant'));
    try {
      const info = await this.opts.docker.getVolume(name).inspect();
      const labels = info.Labels ?? {};
      if (tenantKey && labels[tenantKey] !== undefined && labels[tenantKey] !== this.opts.scopeLabels[tenantKey])
        throw new MountError(`Docker volume ${name} belongs to another cluster`);
      return info;
    } catch (e) {
      if (!(typeof e === 'object' && e !== null && 'statusCode' in e && e.statusCode === 404)) throw e;
    }
    const created = await this.opts.docker.createVolume({
      Name: name,
      Driver: 'local',
      Labels: { ...this.opts.scopeLabels, [PV_LABELS.name]: pv.metadata.name, [PV_LABELS.reclaimPolicy]: pv.spec?.persistentVolumeReclaimPolicy ?? 'Retain' },
    });
    return { Mountpoint: (created as unknown as { Mountpoint?: string }).Mountpoint ?? (await this.opts.docker.getVolume(name).inspect()).Mountpoint };
  }

  /**
   * Removes this node's Docker volumes whose PersistentVolume is gone and whose reclaim policy
   * was Delete, when no container uses them (Docker refuses then; the next round tries again).
   * Throttled: cheap to call on every resync.
   */
  async collectPersistentVolumes(now = Date.now()): Promise<void> {
    const source = this.opts.config;
    if (!isClaimSource(source) || now - this.lastCollect < PV_COLLECT_INTERVAL_MS) return;
    this.lastCollect = now;
    const { Volumes } = await this.opts.docker.listVolumes({
      filters: { label: [...Object.entries(this.opts.scopeLabels).map(([k, v]) => `${k}=${v}`), PV_LABELS.name] },
    });
    for (const v of Volumes ?? []) {
      const pvName = v.Labels?.[PV_LABELS.name];
      if (!pvName || v.Labels?.[PV_LABELS.reclaimPolicy] !== 'Delete') continue;
      if (await source.persistentVolume(pvName)) continue;
      try {
        await this.opts.docker.getVolume(v.Name).remove();
      } catch {
        // in use (a container still has it) or gone: the next round tries again
      }
    }
  }

  private async tmpfsVolume(pod: Pod, volume: string, sizeLimit: string | number | undefined): Promise<string> {
    const uid = pod.metadata.uid;
    const name = `stratus_${uid}_${volume}`.replace(/[^a-zA-Z0-9_.-]/g, '-');
    const size = tryParseQuantity(sizeLimit);
    try {
      await this.opts.docker.getVolume(name).inspect();
      return name;
    } catch (e) {
      if (!(typeof e === 'object' && e !== null && 'statusCode' in e && e.statusCode === 404)) throw e;
    }
    await this.opts.docker.createVolume({
      Name: name,
      Driver: 'local',
      DriverOpts: { type: 'tmpfs', device: 'tmpfs', ...(size !== undefined ? { o: `size=${Math.ceil(size)}` } : {}) },
      Labels: { ...this.opts.scopeLabels, [this.opts.podUidLabel]: uid },
    });
    return name;
  }

  /** Removes the pod's dir and Docker volumes; call after its containers are removed. */
  async tearDown(uid: string): Promise<void> {
    const dir = this.podDir(uid);
    // subPath mounts first: a recursive rm would go through one into the volume behind it (a
    // hostPath, a PV). unmountAll throws when one stays, and then nothing is removed.
    await unmountAll(dir);
    // A hostPath is never under the pod dir, so removing the dir never reaches into one.
    await rm(dir, { recursive: true, force: true });
    const { Volumes } = await this.opts.docker.listVolumes({
      filters: { label: [...Object.entries(this.opts.scopeLabels).map(([k, v]) => `${k}=${v}`), `${this.opts.podUidLabel}=${uid}`] },
    });
    for (const v of Volumes ?? []) {
      try {
        await this.opts.docker.getVolume(v.Name).remove();
      } catch {
        // in use or gone: the next tearDown tries again
      }
    }
  }

  /** Where the pod's subPath mounts go ({podDir}/volume-subpaths, as the kubelet's); containerMounts' third argument. */
  subPathDir(uid: string): string {
    return join(this.podDir(uid), 'volume-subpaths');
  }

  /** Pods that still have a dir here (the agent may have stopped before cleaning up). */
  async listPodDirs(): Promise<PodKey[]> {
    let entries: string[];
    try {
      entries = await readdir(join(this.opts.rootDir, 'pods'));
    } catch {
      return [];
    }
    const out: PodKey[] = [];
    for (const uid of entries) {
      try {
        const parsed = PodFileSchema.safeParse(JSON.parse(await readFile(join(this.podDir(uid), 'pod.json'), 'utf8')));
        if (parsed.success) out.push(parsed.data);
      } catch {
        out.push({ uid, namespace: 'default', name: '' }); // half-made: still ours to clean
      }
    }
    return out;
  }
}

/** hostPath's type check (pkg/volume/hostpath), creating what the *OrCreate types ask for. */
async function checkHostPath(path: string, type: string): Promise<string> {
  const st = await stat(path).catch(() => undefined);
  switch (type) {
    case '':
      return path;
    case 'DirectoryOrCreate':
      if (!st) await mkdir(path, { recursive: true, mode: 0o755 });
      else if (!st.isDirectory()) throw new MountError(`hostPath type check failed: ${path} is not a directory`);
      return path;
    case 'Directory':
      if (!st) throw new MountError(`hostPath type check failed: ${path} is not a directory`);
      if (!st.isDirectory()) throw new MountError(`hostPath type check failed: ${path} is not a directory`);
      return path;
    case 'FileOrCreate':
      if (!st) await writeFile(path, '', { mode: 0o644, flag: constants.O_CREAT | constants.O_WRONLY });
      else if (!st.isFile()) throw new MountError(`hostPath type check failed: ${path} is not a file`);
      return path;
    case 'File':
      if (!st?.isFile()) throw new MountError(`hostPath type check failed: ${path} is not a file`);
      return path;
    case 'Socket':
      if (!st?.isSocket()) throw new MountError(`hostPath type check failed: ${path} is not a socket file`);
      return path;
    case 'CharDevice':
      if (!st?.isCharacterDevice()) throw new MountError(`hostPath type check failed: ${path} is not a character device`);
      return path;
    case 'BlockDevice':
      if (!st?.isBlockDevice()) throw new MountError(`hostPath type check failed: ${path} is not a block device`);
      return path;
    default:
      throw new MountError(`hostPath type check failed: unknown type ${type}`);
  }
}

/**
 * A volumeMount's subPathExpr with the container's environment ($(VAR), $$ for $), as the
 * kubelet's ExpandContainerVolumeMounts: a variable that is not defined, or is empty, is an error
 * naming every such variable (sorted), and the container waits in CreateContainerConfigError.
 */
export function expandSubPathExpr(expr: string, env: ReadonlyMap<string, string>): string {
  const missing = new Set<string>();
  const out = expand(expr, (name) => {
    const value = env.get(name);
    if (!value) missing.add(name);
    return value ?? '';
  });
  if (missing.size > 0) throw new ContainerConfigError(`missing value for ${[...missing].sort().join(', ')}`);
  return out;
}

/**
 * The Docker mounts of one container: its volumeMounts against the pod's volumes. subPath
 * mounts a path inside the volume (created as a directory when missing in a writable volume,
 * as the kubelet does) through node-agent/subpath.ts: its symlinks are resolved once, so a
 * subPath of a configMap key is the file itself and, as in Kubernetes, does not see later
 * updates; then it is opened without following any symlink and bind-mounted onto a private
 * target under `subPathDir` ({podDir}/volume-subpaths), which is what Docker gets.
 */
export async function containerMounts(
  container: Container,
  volumes: ReadonlyMap<string, VolumeSource>,
  subPathDir: string,
  env: ReadonlyMap<string, string> = new Map(),
): Promise<Docker.MountSettings[]> {
  const mounts: Docker.MountSettings[] = [];
  const raw = Array.isArray(container.volumeMounts) ? (container.volumeMounts as unknown[]) : [];
  for (const [index, r] of raw.entries()) {
    const parsed = VolumeMountSchema.safeParse(r);
    if (!parsed.success) throw new ContainerConfigError(`invalid volumeMount: ${parsed.error.issues[0]?.message ?? 'malformed'}`);
    const m = parsed.data;
    const source = volumes.get(m.name);
    if (!source) throw new ContainerConfigError(`cannot find volume "${m.name}" to mount into container "${container.name}"`);
    const subPath = m.subPathExpr ? expandSubPathExpr(m.subPathExpr, env) : m.subPath;
    if (source.kind === 'volume' && !(subPath && source.mountpoint)) {
      if (subPath) throw new ContainerConfigError(`subPath is not supported on a Memory emptyDir by this node`);
      mounts.push({ Type: 'volume', Source: source.name, Target: m.mountPath, ReadOnly: (source.readOnly ?? false) || (m.readOnly ?? false) });
      continue;
    }
    // A subPath of a Docker volume is a bind mount of that path under its mountpoint.
    const root = source.kind === 'bind' ? source : { path: source.mountpoint!, readOnly: source.readOnly ?? false };
    let hostPath = root.path;
    if (subPath) {
      // The kubelet's makeMounts checks (the API server's validation has refused these for a
      // subPath already; a subPathExpr is known only now).
      if (isAbsolute(subPath)) throw new ContainerConfigError(`error SubPath \`${subPath}\` must not be an absolute path`);
      if (!safeRelativePath(subPath)) throw new ContainerConfigError(`unable to provision SubPath \`${subPath}\`: must not contain '..'`);
      try {
        hostPath = await mountSubPath({
          root: root.path,
          readOnly: root.readOnly,
          subPath,
          target: join(subPathDir, m.name, container.name, String(index)),
          volumeMount: m.name,
          container: container.name,
        });
      } catch (e) {
        if (e instanceof SubPathError) throw new ContainerConfigError(e.message, { cause: e.detail });
        throw e;
      }
    }
    mounts.push({ Type: 'bind', Source: hostPath, Target: m.mountPath, ReadOnly: root.readOnly || (m.readOnly ?? false) });
  }
  return mounts;
}
