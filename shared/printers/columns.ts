import type { KubeObject } from '../resources';

/*
 * What `kubectl get` prints: a kind's Table columns and cells (meta.k8s.io/v1 Table), as
 * Kubernetes' printers (pkg/printers/internalversion/printers.go) define them. A kind's strategy
 * names its convertor (ResourceType.table); kinds without one get NAME and AGE.
 */

/** One column of a Table (meta/v1 TableColumnDefinition). */
export interface TableColumnDefinition {
  readonly name: string;
  /** OpenAPI type of the cells: string, integer, number, boolean, date. */
  readonly type: string;
  /** OpenAPI format: `name` marks the column holding the object's name. */
  readonly format: string;
  readonly description: string;
  /** 0: always shown; 1 and more: shown by `kubectl get -o wide`. */
  readonly priority: number;
}


/**
 * How one resource renders as a Table: its columns and, for one object, the cells in the
 * same order. `now` is passed in so ages are a pure function of the object and the clock.
 */
export interface TableConvertor {
  readonly columns: readonly TableColumnDefinition[];
  readonly cells: (obj: KubeObject, now: number) => unknown[];
}

export const col = (name: string, description: string, priority = 0, type = 'string', format = ''): TableColumnDefinition => ({
  name,
  type,
  format,
  description,
  priority,
});

export const NAME = col('Name', 'Name must be unique within a namespace. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names', 0, 'string', 'name');
export const AGE = col(
  'Age',
  'CreationTimestamp is a timestamp representing the server time when this object was created. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata',
);

/** Kubernetes' duration.HumanDuration: "45s", "5m12s", "3h", "12d", "2y30d". */
export function humanDuration(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  if (seconds < -1) return '<invalid>';
  if (seconds < 0) return '0s';
  if (seconds < 60 * 2) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 10) {
    const s = seconds % 60;
    return s === 0 ? `${minutes}m` : `${minutes}m${s}s`;
  }
  if (minutes < 60 * 3) return `${minutes}m`;
  const hours = Math.floor(minutes / 60);
  if (hours < 8) {
    const m = minutes % 60;
    return m === 0 ? `${hours}h` : `${hours}h${m}m`;
  }
  if (hours < 48) return `${hours}h`;
  if (hours < 24 * 8) {
    const h = hours % 24;
    return h === 0 ? `${Math.floor(hours / 24)}d` : `${Math.floor(hours / 24)}d${h}h`;
  }
  if (hours < 24 * 365 * 2) return `${Math.floor(hours / 24)}d`;
  if (hours < 24 * 365 * 8) {
    const d = Math.floor(hours / 24) % 365;
    return d === 0 ? `${Math.floor(hours / 24 / 365)}y` : `${Math.floor(hours / 24 / 365)}y${d}d`;
  }
  return `${Math.floor(hours / 24 / 365)}y`;
}

/** kubectl's translateTimestampSince: "<unknown>" for a missing time. */
export function since(timestamp: unknown, now: number): string {
  if (typeof timestamp !== 'string' || !timestamp) return '<unknown>';
  const t = Date.parse(timestamp);
  return Number.isNaN(t) ? '<unknown>' : humanDuration(now - t);
}

export const age = (o: KubeObject, now: number) => since(o.metadata.creationTimestamp, now);

export type Rec = Record<string, unknown>;
export const rec = (v: unknown): Rec => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Rec) : {});
export const arr = (v: unknown): Rec[] => (Array.isArray(v) ? v.map(rec) : []);
export const str = (v: unknown): string => (typeof v === 'string' ? v : '');
export const num = (v: unknown): number => (typeof v === 'number' ? v : 0);
export const orNone = (s: string) => s || '<none>';

/** Kinds with no printer of their own: NAME and AGE. */
export const defaultConvertor: TableConvertor = { columns: [NAME, AGE], cells: (o, now) => [o.metadata.name, age(o, now)] };
