import { selectorMatches } from '../../shared/kinds/apps';
import { STORAGE } from '../../shared/kinds/storage';
import type { KubeObject } from '../../shared/resources';
import type { LabelSelector } from '../../shared/schemas/apps';
import { parseQuantity } from '../../shared/schemas/quantity';
import type { PersistentVolume, PersistentVolumeClaim, StorageClass } from '../../shared/schemas/storage';
import { nodeSelectorTermMatches } from '../../shared/scheduling/node-affinity';

/*
 * Which PersistentVolume a claim may bind to, as Kubernetes' persistent volume controller and
 * the scheduler's VolumeBinding plugin both decide it (pkg/controller/volume/persistentvolume
 * findMatchingVolume): same class and volume mode, every requested access mode offered, enough
 * capacity, the claim's selector, the volume's node affinity; the smallest that fits wins.
 * Pure functions over objects as the store holds them.
 */

export type Claim = PersistentVolumeClaim & KubeObject;
export type Volume = PersistentVolume & KubeObject;
export type Class = StorageClass & KubeObject;

/** The class a claim asks for; "" for none. */
export const claimClass = (c: KubeObject): string => (c as Claim).spec?.storageClassName ?? '';
export const volumeClass = (v: KubeObject): string => (v as Volume).spec?.storageClassName ?? '';
export const requestedBytes = (c: KubeObject): number => parseQuantity((c as Claim).spec?.resources?.requests?.storage ?? '0') ?? 0;
export const capacityBytes = (v: KubeObject): number => parseQuantity((v as Volume).spec?.capacity?.storage ?? '0') ?? 0;
export const selectedNodeOf = (c: KubeObject): string | undefined => c.metadata.annotations?.[STORAGE.selectedNodeAnnotation];
export const isWaitForFirstConsumer = (sc: KubeObject | undefined) => (sc as Class | undefined)?.volumeBindingMode === 'WaitForFirstConsumer';

/** The claims a pod mounts, in spec order (claimName of each persistentVolumeClaim volume). */
export function podClaimNames(pod: KubeObject | undefined): string[] {
  const volumes = ((pod?.spec as { volumes?: unknown[] } | undefined)?.volumes ?? []) as { persistentVolumeClaim?: { claimName?: unknown } }[];
  return volumes.flatMap((v) => (typeof v?.persistentVolumeClaim?.claimName === 'string' ? [v.persistentVolumeClaim.claimName] : []));
}

/** Whether a volume's required node affinity lets it be used on `node` (none: anywhere). */
export function volumeAllowsNode(v: KubeObject, node: KubeObject): boolean {
  const required = (v as Volume).spec?.nodeAffinity?.required;
  if (!required) return true;
  return required.nodeSelectorTerms.some((t) => nodeSelectorTermMatches(t, node));
}

/** The node names a volume is pinned to by a `kubernetes.io/hostname In [...]` term, if it says. */
export function volumeNodeNames(v: KubeObject): string[] | undefined {
  const terms = (v as Volume).spec?.nodeAffinity?.required?.nodeSelectorTerms;
  if (!terms) return undefined;
  const names = terms.flatMap((t) => (t.matchExpressions ?? []).filter((e) => e.key === 'kubernetes.io/hostname' && e.operator === 'In').flatMap((e) => e.values ?? []));
  return names.length ? names : undefined;
}

/** Whether a volume's claimRef names this claim (by uid when it has one: a pre-bound volume may omit it). */
export function claimRefNames(v: KubeObject, c: KubeObject): boolean {
  const ref = (v as Volume).spec?.claimRef;
  if (!ref) return false;
  if (ref.name !== c.metadata.name || (ref.namespace ?? '') !== (c.metadata.namespace ?? '')) return false;
  return !ref.uid || ref.uid === c.metadata.uid;
}

/** Static fit of a volume for a claim: class, volume mode, access modes, capacity, selector. */
export function volumeFitsClaim(v: KubeObject, c: KubeObject): boolean {
  const vol = v as Volume;
  const claim = c as Claim;
  if (v.metadata.deletionTimestamp) return false;
  if (volumeClass(v) !== claimClass(c)) return false;
  if ((vol.spec?.volumeMode ?? 'Filesystem') !== (claim.spec?.volumeMode ?? 'Filesystem')) return false;
  const offered = vol.spec?.accessModes ?? [];
  if (!(claim.spec?.accessModes ?? []).every((m) => offered.includes(m))) return false;
  if (capacityBytes(v) < requestedBytes(c)) return false;
  const selector = claim.spec?.selector;
  if (selector && !selectorMatches(selector as LabelSelector, v.metadata.labels)) return false;
  return true;
}

/**
 * The volume a claim should bind to, or undefined: a volume pre-bound to it (claimRef) when there
 * is one (and then no other), else the smallest Available volume that fits and (when `node` is given) may be used there.
 * Volumes bound to other claims, Released or Failed ones never match.
 */
export function findMatchingVolume(claim: KubeObject, volumes: readonly KubeObject[], node?: KubeObject): KubeObject | undefined {
  const usable = (v: KubeObject) => !node || volumeAllowsNode(v, node);
  // A volume reserved for the claim is its only candidate (if big enough and usable here).
  const preBound = volumes.find((v) => claimRefNames(v, claim) && !v.metadata.deletionTimestamp);
  if (preBound) {
    const sameMode = ((preBound as Volume).spec?.volumeMode ?? 'Filesystem') === ((claim as Claim).spec?.volumeMode ?? 'Filesystem');
    return sameMode && capacityBytes(preBound) >= requestedBytes(claim) && usable(preBound) ? preBound : undefined;
  }
  const candidates = volumes.filter((v) => {
    const phase = (v as Volume).status?.phase;
    return !(v as Volume).spec?.claimRef && phase !== 'Released' && phase !== 'Failed' && volumeFitsClaim(v, claim) && usable(v);
  });
  candidates.sort((a, b) => capacityBytes(a) - capacityBytes(b) || (a.metadata.name! < b.metadata.name! ? -1 : 1));
  return candidates[0];
}

/** Whether Stratus can provision a volume for a claim of this class itself. */
export const canProvision = (sc: KubeObject | undefined) => (sc as Class | undefined)?.provisioner === STORAGE.localProvisioner;
