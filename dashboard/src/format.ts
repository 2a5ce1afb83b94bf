/** kubectl's ways of showing values: ages, pod status, ready counts, quantities. */
import type { ContainerStatus, KubeObject } from './types';

/** kubectl's short age: 45s, 12m, 3h, 5d (from creationTimestamp). */
export function age(ts: string | undefined, now = Date.now()): string {
  if (!ts) return '<unknown>';
  const s = Math.max(0, Math.floor((now - Date.parse(ts)) / 1000));
  if (s < 120) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 120) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h`;
  return `${Math.floor(h / 24)}d`;
}

const statuses = (pod: KubeObject): ContainerStatus[] => pod.status?.containerStatuses ?? [];

/** READY as kubectl prints it: ready containers / containers. */
export function podReady(pod: KubeObject): string {
  const total = (pod.spec?.containers ?? []).length;
  return `${statuses(pod).filter((c) => c.ready).length}/${total}`;
}

export function podRestarts(pod: KubeObject): number {
  return statuses(pod).reduce((n, c) => n + (c.restartCount ?? 0), 0);
}

/** STATUS as kubectl prints it (the pod's reason, a container's waiting/terminated reason, or the phase). */
export function podStatus(pod: KubeObject): string {
  let reason: string = pod.status?.reason ?? pod.status?.phase ?? 'Unknown';
  for (const c of statuses(pod)) {
    if (c.state?.waiting?.reason) reason = c.state.waiting.reason;
    else if (c.state?.terminated?.reason && pod.status?.phase !== 'Succeeded') reason = c.state.terminated.reason;
  }
  if (pod.metadata.deletionTimestamp) reason = 'Terminating';
  return reason;
}

/** A CPU quantity in cores ("250m" → 0.25, "1" → 1, "1500000n" → 0.0015). */
export function cpuCores(q: string | undefined): number {
  if (!q) return 0;
  const m = /^([0-9.]+)([nume]?)$/.exec(q);
  if (!m) return 0;
  const v = Number(m[1]);
  return m[2] === 'n' ? v / 1e9 : m[2] === 'u' ? v / 1e6 : m[2] === 'm' ? v / 1e3 : v;
}

const BIN: Record<string, number> = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, k: 1e3, K: 1e3, M: 1e6, G: 1e9, T: 1e12, '': 1 };
/** A memory quantity in bytes ("128Mi", "1G", "1048576"). */
export function bytes(q: string | undefined): number {
  if (!q) return 0;
  const m = /^([0-9.]+)(Ki|Mi|Gi|Ti|k|K|M|G|T)?$/.exec(q);
  return m ? Number(m[1]) * (BIN[m[2] ?? ''] ?? 1) : 0;
}

export const formatCpu = (cores: number): string => `${Math.round(cores * 1000)}m`;
export const formatMem = (b: number): string => `${Math.round(b / 2 ** 20)}Mi`;
export const percent = (used: number, of: number): string => (of > 0 ? `${Math.round((used / of) * 100)}%` : '');

/** Ready condition of a node. */
export function nodeReady(node: KubeObject): string {
  const c = (node.status?.conditions ?? []).find((x) => x.type === 'Ready');
  return c?.status === 'True' ? 'Ready' : 'NotReady';
}
