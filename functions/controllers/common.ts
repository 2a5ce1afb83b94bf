import { canonicalJson } from '../../shared/canonical';
import type { KubeObject } from '../../shared/resources';
import type { WorkloadCondition } from '../../shared/schemas/apps';
import type { PodCondition } from '../../shared/schemas/pod';

/*
 * Small pure helpers every workload controller shares: owner references, pod readiness and
 * availability, conditions, names and hashes, all as Kubernetes' controller utilities define them.
 */

export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
  blockOwnerDeletion?: boolean;
}

/** Kubernetes' RFC 3339 timestamps with second precision. */
export const timestamp = (d: Date) => d.toISOString().replace(/\.\d+Z$/, 'Z');

export const controllerRefOf = (o: KubeObject | undefined): OwnerReference | undefined =>
  (o?.metadata.ownerReferences as OwnerReference[] | undefined)?.find((r) => r.controller === true);

/** The reference a controller sets on what it creates (and what the garbage collector follows). */
export function newControllerRef(owner: KubeObject, apiVersion: string, kind: string): OwnerReference {
  return { apiVersion, kind, name: owner.metadata.name!, uid: owner.metadata.uid!, controller: true, blockOwnerDeletion: true };
}

const podStatus = (p: KubeObject) => (p.status ?? {}) as { phase?: string; conditions?: PodCondition[]; containerStatuses?: { restartCount?: number }[] };
export const podPhase = (p: KubeObject) => podStatus(p).phase ?? 'Pending';
export const isTerminal = (p: KubeObject) => podPhase(p) === 'Succeeded' || podPhase(p) === 'Failed';
/** Counts towards a controller's replicas: not finished and not on its way out. */
export const isActive = (p: KubeObject) => !isTerminal(p) && !p.metadata.deletionTimestamp;

function readyCondition(p: KubeObject): PodCondition | undefined {
  return podStatus(p).conditions?.find((c) => c.type === 'Ready');
}
export const isPodReady = (p: KubeObject) => readyCondition(p)?.status === 'True';

/** Ready for at least minReadySeconds (Kubernetes' IsPodAvailable). */
export function isPodAvailable(p: KubeObject, minReadySeconds: number, now: Date): boolean {
  const c = readyCondition(p);
  if (c?.status !== 'True') return false;
  if (minReadySeconds <= 0) return true;
  const since = c.lastTransitionTime ? Date.parse(c.lastTransitionTime) : NaN;
  return Number.isFinite(since) && since + minReadySeconds * 1000 <= now.getTime();
}

/** When a ready pod becomes available, for pods not available yet (to re-check then). */
export function availableAt(p: KubeObject, minReadySeconds: number): Date | undefined {
  const c = readyCondition(p);
  if (c?.status !== 'True' || !c.lastTransitionTime || minReadySeconds <= 0) return undefined;
  return new Date(Date.parse(c.lastTransitionTime) + minReadySeconds * 1000);
}

export const restartCount = (p: KubeObject) => (podStatus(p).containerStatuses ?? []).reduce((n, c) => n + (c.restartCount ?? 0), 0);
export const nodeNameOf = (p: KubeObject) => (p.spec as { nodeName?: string } | undefined)?.nodeName;
const created = (o: KubeObject) => Date.parse(o.metadata.creationTimestamp ?? '') || 0;

/**
 * Kubernetes' ActivePods ordering: the pods to delete first come first — unscheduled before
 * scheduled, Pending before Unknown before Running, not ready before ready, ready for less time
 * before longer, more restarts before fewer, newer before older.
 */
export function deletionOrder(a: KubeObject, b: KubeObject): number {
  const assigned = (p: KubeObject) => (nodeNameOf(p) ? 1 : 0);
  if (assigned(a) !== assigned(b)) return assigned(a) - assigned(b);
  const phaseRank = (p: KubeObject) => ({ Pending: 0, Unknown: 1, Running: 2 })[podPhase(p)] ?? 0;
  if (phaseRank(a) !== phaseRank(b)) return phaseRank(a) - phaseRank(b);
  const ready = (p: KubeObject) => (isPodReady(p) ? 1 : 0);
  if (ready(a) !== ready(b)) return ready(a) - ready(b);
  if (isPodReady(a) && isPodReady(b)) {
    const since = (p: KubeObject) => Date.parse(readyCondition(p)?.lastTransitionTime ?? '') || 0;
    if (since(a) !== since(b)) return since(b) - since(a);
  }
  if (restartCount(a) !== restartCount(b)) return restartCount(b) - restartCount(a);
  return created(b) - created(a);
}

export const byCreation = (a: KubeObject, b: KubeObject) => created(a) - created(b) || (a.metadata.name! < b.metadata.name! ? -1 : 1);

/**
 * Sets a condition as Kubernetes' SetCondition helpers do: the same status and reason change
 * nothing; the same status keeps lastTransitionTime.
 */
export function setCondition(conditions: readonly WorkloadCondition[] | undefined, next: WorkloadCondition): WorkloadCondition[] {
  const list = [...(conditions ?? [])];
  const i = list.findIndex((c) => c.type === next.type);
  const cur = i >= 0 ? list[i] : undefined;
  if (cur && cur.status === next.status && cur.reason === next.reason) return list;
  const merged = cur && cur.status === next.status ? { ...next, lastTransitionTime: cur.lastTransitionTime } : next;
  if (i >= 0) list[i] = merged;
  else list.push(merged);
  return list;
}

export const findCondition = (conditions: readonly WorkloadCondition[] | undefined, type: string) => conditions?.find((c) => c.type === type);

/** FNV-1a, 32 bits: the hash Kubernetes' ComputeHash uses. */
export function fnv32a(text: string): number {
  let h = 0x811c9dc5;
  for (const b of Buffer.from(text, 'utf8')) {
    h ^= b;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

const SAFE = 'bcdfghjklmnpqrstvwxz2456789';
/** Kubernetes' rand.SafeEncodeString: no vowels, so a hash never spells a word. */
export const safeEncode = (s: string) => [...s].map((ch) => SAFE[ch.charCodeAt(0) % SAFE.length]).join('');

/** The pod-template-hash (also controller-revision-hash) of a template and collision count. */
export function templateHash(template: unknown, collisionCount = 0): string {
  return safeEncode(String(fnv32a(canonicalJson(template) + (collisionCount ? `#${collisionCount}` : ''))));
}

/** A copy without the given label (for comparing templates "ignoring the hash"). */
export function withoutLabel<T extends { metadata?: { labels?: Record<string, string> } }>(t: T | undefined, key: string): T {
  const copy = structuredClone(t ?? ({} as T));
  if (copy.metadata?.labels) {
    delete copy.metadata.labels[key];
    if (Object.keys(copy.metadata.labels).length === 0) delete copy.metadata.labels;
  }
  if (copy.metadata && Object.keys(copy.metadata).length === 0) delete copy.metadata;
  return copy;
}

/**
 * A copy without nulls, empty objects and empty lists, at any depth: Kubernetes compares
 * templates semantically (apimachinery's Semantic.DeepEqual on typed structs), where a template a
 * client re-encoded (`metadata.creationTimestamp: null`, `resources: {}` from Go's encoding, as
 * `kubectl rollout undo` sends it) is the same template.
 */
export function semanticCopy(v: unknown): unknown {
  if (Array.isArray(v)) {
    const items = v.map(semanticCopy).filter((x) => x !== undefined);
    return items.length ? items : undefined;
  }
  if (v && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) {
      const c = semanticCopy(x);
      if (c !== undefined) out[k] = c;
    }
    return Object.keys(out).length ? out : undefined;
  }
  return v === null ? undefined : v;
}

export const sameJson = (a: unknown, b: unknown) => canonicalJson(a ?? null) === canonicalJson(b ?? null);
