/**
 * metadata.managedFields, recorded on every write as kube-apiserver's field manager records them
 * for Update operations (structured-merge-diff's Updater, managedfields' managedFieldsUpdater):
 *
 * - the manager is the `fieldManager` query parameter, else the User-Agent up to its first '/'
 *   (printable characters only, at most 128 bytes): `kubectl-edit`, `kubectl-client-side-apply`,
 *   `kubectl-create`... which kubectl sends as fieldManager, or `kubectl` from its User-Agent;
 * - the fields a write adds or changes become the writer's (its entry for that manager,
 *   operation and subresource, with a new time) and leave every other manager; fields it removes
 *   leave every manager; an entry left with no field is dropped;
 * - a create compares against the kind's empty object (Go's zero value: spec, spec.containers,
 *   spec.template... exist there, so they are never owned as themselves), a write to the main
 *   resource owns nothing under status when the kind has a status subresource, a /status write
 *   owns only status; apiVersion, kind and server-set metadata are never owned;
 * - fieldsV1 is Kubernetes' encoding of the set: `f:<field>`, `k:{"<key>":...}` for elements of
 *   keyed lists (their x-kubernetes-list-map-keys), `v:<json>` for sets of primitives, `.` for a
 *   node that is owned itself and has owned children; atomic lists and maps (tolerations,
 *   selectors) and empty objects are owned whole.
 *
 * Pure: the caller passes the time. Only the Update operation exists here (server-side apply
 * would add Apply entries with the same sets).
 */
import { StatusError, type StatusCause } from '../errors';
import type { KubeObject, ResourceType } from '../resources';
import { patchTableFor, patchTableOfObject, type PatchTable } from '../patch/strategy';

export interface ManagedFieldsEntry {
  manager: string;
  operation: 'Update' | 'Apply';
  apiVersion: string;
  time?: string;
  fieldsType: 'FieldsV1';
  fieldsV1: FieldsV1;
  subresource?: string;
}

/** Kubernetes' FieldsV1: nested objects keyed by encoded path elements. */
export type FieldsV1 = { [element: string]: FieldsV1 };

/** Kubernetes' FieldManagerMaxLength. */
const MAX_MANAGER_BYTES = 128;

/** The part of a User-Agent before its first '/', printable characters only, at most 128 bytes. */
export function managerFromUserAgent(userAgent: string | undefined): string {
  let out = '';
  for (const ch of (userAgent ?? '').split('/')[0]!) {
    if (!/^[\p{L}\p{M}\p{N}\p{P}\p{S} ]$/u.test(ch)) continue; // Go's unicode.IsPrint
    if (Buffer.byteLength(out + ch) > MAX_MANAGER_BYTES) break;
    out += ch;
  }
  return out;
}

/**
 * The manager of a write: `fieldManager` if given (422 when longer than 128 bytes or not
 * printable, as ValidateFieldManager), else derived from the User-Agent.
 * `optionsKind` is CreateOptions, UpdateOptions or PatchOptions, as the error names it.
 */
export function fieldManagerOf(query: URLSearchParams, userAgent: string | undefined, optionsKind: 'CreateOptions' | 'UpdateOptions' | 'PatchOptions'): string {
  const given = query.get('fieldManager');
  if (given === null || given === '') return managerFromUserAgent(userAgent);
  if (Buffer.byteLength(given) > MAX_MANAGER_BYTES)
    throw invalidOptions(optionsKind, { reason: 'FieldValueTooLong', message: `Too long: may not be more than ${MAX_MANAGER_BYTES} bytes`, field: 'fieldManager' });
  if (![...given].every((ch) => /^[\p{L}\p{M}\p{N}\p{P}\p{S} ]$/u.test(ch)))
    throw invalidOptions(optionsKind, { reason: 'FieldValueInvalid', message: `Invalid value: ${JSON.stringify(given)}: must only contain printable characters`, field: 'fieldManager' });
  return given;
}

/** 422 for bad request options, as NewInvalid words it for the meta.k8s.io options kinds. */
function invalidOptions(kind: string, cause: StatusCause): StatusError {
  return new StatusError(422, 'Invalid', `${kind}.meta.k8s.io "" is invalid: ${cause.field}: ${cause.message}`, { name: '', group: 'meta.k8s.io', kind, causes: [cause] });
}

// --- field sets ---------------------------------------------------------------------------------

/** A set of field paths as a tree: `member` when the path itself is in the set. */
interface FieldSet {
  member: boolean;
  readonly children: Map<string, FieldSet>;
}

const emptySet = (): FieldSet => ({ member: false, children: new Map() });

function insert(set: FieldSet, path: readonly string[]): void {
  let node = set;
  for (const el of path) {
    let next = node.children.get(el);
    if (!next) node.children.set(el, (next = emptySet()));
    node = next;
  }
  node.member = true;
}

function union(a: FieldSet, b: FieldSet): FieldSet {
  const out: FieldSet = { member: a.member || b.member, children: new Map(a.children) };
  for (const [k, v] of b.children) out.children.set(k, out.children.has(k) ? union(out.children.get(k)!, v) : v);
  return out;
}

/** Members of a that are not members of b (exact paths, as fieldpath.Set.Difference). */
function difference(a: FieldSet, b: FieldSet | undefined): FieldSet {
  if (!b) return a;
  const out: FieldSet = { member: a.member && !b.member, children: new Map() };
  for (const [k, v] of a.children) {
    const d = difference(v, b.children.get(k));
    if (!isEmpty(d)) out.children.set(k, d);
  }
  return out;
}

function isEmpty(set: FieldSet): boolean {
  if (set.member) return false;
  for (const c of set.children.values()) if (!isEmpty(c)) return false;
  return true;
}

/** Only the subtree under `field` (for /status writes), or everything but it. */
function subtree(set: FieldSet, field: string, keep: boolean): FieldSet {
  const el = `f:${field}`;
  const out: FieldSet = { member: keep ? false : set.member, children: new Map() };
  for (const [k, v] of set.children) if ((k === el) === keep) out.children.set(k, v);
  return out;
}

/** Kubernetes' order of path elements: fields, then keys, then values, then indexes; by text within. */
function elementOrder(a: string, b: string): number {
  const rank = (s: string) => 'fkvi'.indexOf(s[0]!);
  return rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0);
}

export function toFieldsV1(set: FieldSet): FieldsV1 {
  const out: FieldsV1 = {};
  const keys = [...set.children.keys()].filter((k) => !isEmpty(set.children.get(k)!)).sort(elementOrder);
  if (set.member && keys.length > 0) out['.'] = {};
  for (const k of keys) out[k] = toFieldsV1(set.children.get(k)!);
  return out;
}

export function fromFieldsV1(fields: unknown): FieldSet {
  const set = emptySet();
  if (typeof fields !== 'object' || fields === null || Array.isArray(fields)) return set;
  const entries = Object.entries(fields as Record<string, unknown>);
  if (entries.length === 0) set.member = true;
  for (const [k, v] of entries) {
    if (k === '.') set.member = true;
    else set.children.set(k, fromFieldsV1(v));
  }
  return set;
}

// --- comparison --------------------------------------------------------------------------------

interface Comparison {
  added: FieldSet;
  modified: FieldSet;
  removed: FieldSet;
}

type ListShape = { kind: 'atomic' } | { kind: 'set' } | { kind: 'map'; keys: readonly string[] };

/**
 * How structured-merge-diff sees a list or map at a path: keyed lists take their list-map-keys
 * (the patch merge key, plus protocol for ports and whenUnsatisfiable for spread constraints),
 * merge lists of primitives are sets, every other list is atomic; label selectors (and Service
 * selectors) are atomic maps.
 */
function listShape(table: PatchTable, path: string): ListShape {
  const meta = table[path];
  if (!meta || !meta.strategy.split(',').includes('merge')) return { kind: 'atomic' };
  if (!meta.mergeKey) return { kind: 'set' };
  const last = path.slice(path.lastIndexOf('.') + 1);
  if (last === 'ports') return { kind: 'map', keys: [meta.mergeKey, 'protocol'] };
  if (last === 'topologySpreadConstraints') return { kind: 'map', keys: ['topologyKey', 'whenUnsatisfiable'] };
  return { kind: 'map', keys: [meta.mergeKey] };
}

const ATOMIC_MAPS = new Set(['spec.selector', 'spec.template.spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution']);

type Json = unknown;
const isMap = (v: Json): v is Record<string, Json> => typeof v === 'object' && v !== null && !Array.isArray(v);
const shapeOf = (v: Json) => (Array.isArray(v) ? 'list' : isMap(v) ? 'map' : 'scalar');
const present = (v: Json) => v !== undefined && v !== null;
const equal = (a: Json, b: Json) => JSON.stringify(a) === JSON.stringify(b);

function keyElement(item: Json, keys: readonly string[]): string | undefined {
  if (!isMap(item)) return undefined;
  const k: Record<string, Json> = {};
  for (const name of [...keys].sort()) if (present(item[name])) k[name] = item[name];
  return Object.keys(k).length ? `k:${JSON.stringify(k)}` : undefined;
}

class Comparer {
  readonly result: Comparison = { added: emptySet(), modified: emptySet(), removed: emptySet() };
  constructor(private readonly table: PatchTable) {}

  private leaf(l: Json, r: Json, path: string[]): void {
    if (!present(l) && present(r)) insert(this.result.added, path);
    else if (present(l) && !present(r)) insert(this.result.removed, path);
    else if (present(l) && present(r) && !equal(l, r)) insert(this.result.modified, path);
  }

  private item(l: Json, r: Json, path: string[]): void {
    if (!present(l) && present(r)) insert(this.result.added, path);
    else if (present(l) && !present(r)) insert(this.result.removed, path);
  }

  walk(l: Json, r: Json, dotted: string, path: string[]): void {
    if (present(l) && present(r) && shapeOf(l) !== shapeOf(r)) return this.leaf(l, r, path);
    const shape = shapeOf(present(r) ? r : l);
    if (shape === 'map') {
      const lm = isMap(l) ? l : {};
      const rm = isMap(r) ? r : {};
      if (ATOMIC_MAPS.has(dotted) || (Object.keys(lm).length === 0 && Object.keys(rm).length === 0)) return this.leaf(l, r, path);
      for (const k of new Set([...Object.keys(rm), ...Object.keys(lm)])) {
        const child = [...path, `f:${k}`];
        this.walk(lm[k], rm[k], dotted ? `${dotted}.${k}` : k, child);
        this.item(lm[k], rm[k], child);
      }
      return;
    }
    if (shape === 'list') {
      const ll = Array.isArray(l) ? l : [];
      const rl = Array.isArray(r) ? r : [];
      const list = listShape(this.table, dotted);
      if (list.kind === 'atomic' || (ll.length === 0 && rl.length === 0)) return this.leaf(l, r, path);
      const id = (x: Json) => (list.kind === 'set' ? `v:${JSON.stringify(x)}` : keyElement(x, list.keys));
      const lById = new Map<string, Json>();
      for (const x of ll) {
        const k = id(x);
        if (k && !lById.has(k)) lById.set(k, x);
      }
      const rById = new Map<string, Json>();
      for (const x of rl) {
        const k = id(x);
        if (k && !rById.has(k)) rById.set(k, x);
      }
      if (lById.size !== ll.length || rById.size !== rl.length) return this.leaf(l, r, path); // duplicates or keyless: atomic
      for (const k of new Set([...rById.keys(), ...lById.keys()])) {
        const child = [...path, k];
        if (list.kind === 'set') this.leaf(lById.get(k), rById.get(k), child);
        else this.walk(lById.get(k), rById.get(k), dotted, child);
        this.item(lById.get(k), rById.get(k), child);
      }
      return;
    }
    this.leaf(l, r, path);
  }
}

// --- the field manager ---------------------------------------------------------------------------

/** Paths never owned (fieldmanager's stripMeta), as exact members. */
const STRIPPED: FieldSet = (() => {
  const s = emptySet();
  for (const p of [['apiVersion'], ['kind'], ['metadata']]) insert(s, p.map((f) => `f:${f}`));
  for (const f of ['name', 'namespace', 'creationTimestamp', 'selfLink', 'uid', 'clusterName', 'generation', 'managedFields', 'resourceVersion', 'deletionTimestamp', 'deletionGracePeriodSeconds'])
    insert(s, ['f:metadata', `f:${f}`]);
  return s;
})();

/**
 * Fields that exist in a kind's Go zero value (non-omitempty structs and lists), as a skeleton
 * object: a create compares against it, so these are never owned as nodes of their own.
 */
function zeroValue(obj: KubeObject): Record<string, Json> {
  const podSpec = { containers: [] };
  const template = { metadata: {}, spec: podSpec };
  const specs: Record<string, Record<string, Json>> = {
    Pod: podSpec,
    ReplicationController: {},
    PodTemplate: {},
    Deployment: { template, strategy: {} },
    ReplicaSet: { template },
    DaemonSet: { template, updateStrategy: {} },
    StatefulSet: { template, updateStrategy: {} },
    Job: { template },
    CronJob: { jobTemplate: { metadata: {}, spec: { template } } },
  };
  const zero: Record<string, Json> = { metadata: {}, spec: specs[obj.kind ?? ''] ?? {}, status: {} };
  if (obj.kind === 'PodTemplate') zero.template = template;
  return zero;
}

const withoutManagedFields = (o: KubeObject): Record<string, Json> => {
  const { managedFields: _m, ...meta } = o.metadata as Record<string, Json>;
  return { ...o, metadata: meta };
};

function decodeEntries(list: unknown): ManagedFieldsEntry[] {
  if (!Array.isArray(list)) return [];
  return list.filter(
    (e): e is ManagedFieldsEntry => isMap(e) && typeof e.manager === 'string' && (e.operation === 'Update' || e.operation === 'Apply') && isMap(e.fieldsV1),
  );
}

const entryKey = (e: { manager: string; operation: string; subresource?: string }) => JSON.stringify([e.manager, e.operation, e.subresource ?? '']);

export interface WriteInfo {
  /** The manager (fieldManagerOf). */
  readonly manager: string;
  /** The request's group/version, as the entry records it: "v1", "apps/v1". */
  readonly apiVersion: string;
  /** The subresource written ("status"), if any. */
  readonly subresource?: string;
  /** Whether the kind has a status subresource (then writes to the main resource own no status). */
  readonly hasStatus: boolean;
  /** RFC 3339 time, in seconds, of the write. */
  readonly time: string;
  /** Strategic-merge-patch table of the kind (default: from the object's apiVersion and kind). */
  readonly table?: PatchTable;
}

/**
 * The managedFields of `next` after a write by `info.manager` that turns `live` (undefined on
 * create) into `next`. The entries `next` carries are the starting point when it has any (a
 * client may replace them), else those of `live`.
 */
export function updateManagedFields(live: KubeObject | undefined, next: KubeObject, info: WriteInfo): ManagedFieldsEntry[] {
  const carried = decodeEntries(next.metadata.managedFields);
  const entries = carried.length ? carried : decodeEntries(live?.metadata.managedFields);
  const comparer = new Comparer(info.table ?? patchTableOfObject(next));
  comparer.walk(live ? withoutManagedFields(live) : zeroValue(next), withoutManagedFields(next), '', []);
  const { added, modified, removed } = comparer.result;
  let changed = difference(union(added, modified), STRIPPED);
  if (info.subresource === 'status') changed = subtree(changed, 'status', true);
  else if (info.hasStatus) changed = subtree(changed, 'status', false);
  const self = { manager: info.manager, operation: 'Update' as const, ...(info.subresource ? { subresource: info.subresource } : {}) };
  const out: ManagedFieldsEntry[] = [];
  let mine: ManagedFieldsEntry | undefined;
  for (const e of entries) {
    const set = difference(difference(fromFieldsV1(e.fieldsV1), changed), removed);
    if (entryKey(e) === entryKey(self)) {
      mine = { ...e, fieldsV1: toFieldsV1(set) };
      continue;
    }
    if (!isEmpty(set)) out.push({ ...e, fieldsV1: toFieldsV1(set) });
  }
  if (!isEmpty(changed)) {
    const set = union(mine ? fromFieldsV1(mine.fieldsV1) : emptySet(), changed);
    out.push({ manager: info.manager, operation: 'Update', apiVersion: info.apiVersion, time: info.time, fieldsType: 'FieldsV1', fieldsV1: toFieldsV1(set), ...(info.subresource ? { subresource: info.subresource } : {}) });
  } else if (mine && Object.keys(mine.fieldsV1).length > 0) out.push(mine);
  return out.sort(
    (a, b) =>
      (a.operation < b.operation ? -1 : a.operation > b.operation ? 1 : 0) ||
      Date.parse(a.time ?? '1970-01-01T00:00:00Z') - Date.parse(b.time ?? '1970-01-01T00:00:00Z') ||
      (a.manager < b.manager ? -1 : a.manager > b.manager ? 1 : 0) ||
      ((a.subresource ?? '') < (b.subresource ?? '') ? -1 : (a.subresource ?? '') > (b.subresource ?? '') ? 1 : 0),
  );
}

/** `next` with its managedFields brought up to date for this write (a new object; inputs untouched). */
export function withManagedFields(live: KubeObject | undefined, next: KubeObject, info: WriteInfo): KubeObject {
  const managedFields = updateManagedFields(live, next, info);
  const metadata = { ...next.metadata };
  if (managedFields.length) metadata.managedFields = managedFields as unknown as typeof metadata.managedFields;
  else delete metadata.managedFields;
  return { ...next, metadata };
}

/**
 * `next` with managedFields for a write by `manager` through the registry (create: live
 * undefined; update and patch of the object or a subresource). The API passes the manager of
 * each request (fieldManagerOf); the system's own writes pass none and record none.
 */
export function recordWrite(
  target: { readonly rt: Pick<ResourceType, 'group' | 'version' | 'kind' | 'subresources' | 'patchTable'>; readonly subresource?: string },
  live: KubeObject | undefined,
  next: KubeObject,
  manager: string,
  now: Date = new Date(),
): KubeObject {
  const { rt } = target;
  return withManagedFields(live, next, {
    manager,
    apiVersion: rt.group ? `${rt.group}/${rt.version}` : rt.version,
    ...(target.subresource ? { subresource: target.subresource } : {}),
    hasStatus: rt.subresources.includes('status'),
    table: rt.patchTable ?? patchTableFor(rt.group, rt.kind),
    time: now.toISOString().replace(/\.\d+Z$/, 'Z'),
  });
}
