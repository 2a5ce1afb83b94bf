/**
 * The cluster view's objects by key, updated in place (issue #15: one change costs what changed,
 * not the cluster). api-cluster-view.ts feeds it from whole lists (start, resync, a fallback
 * signal) and from GETs of the objects a signal names; snapshot() makes the next immutable
 * ClusterSnapshot from what changed since the last one:
 *
 * - Per kind: key (namespace/name) → { resourceVersion, value read once, 64-bit digest }. An
 *   object given again with the same resourceVersion is not read again (the very same frozen
 *   value stays, so consumers may compare by identity); one with an OLDER resourceVersion than
 *   the kept one is ignored (a slow GET never puts an older version back).
 * - Per kind, a sorted key array and its values (the snapshot's array): a kind with no change
 *   keeps its array (identity); a kind with a few changes gets a copy with those spliced in
 *   (binary search; a pointer copy, no parsing, digest or sort), many changes a re-sort.
 * - The version: per kind the XOR of its entries' digests, updated per change (remove the old
 *   digest, add the new), hashed over the kinds only (no join or hash over all items): equal
 *   content gives an equal version, whatever the order or the path it came by.
 * - The snapshot's `changes`: every key changed since the previous snapshot with its new value
 *   (cluster-view.ts). NetworkPolicies and namespaces count only while there are policies.
 */
import { createHash } from 'node:crypto';
import type { ClusterSnapshot, SnapshotChanges, ViewKind, ViewKinds } from './cluster-view';

export const VIEW_KINDS: readonly ViewKind[] = ['Service', 'EndpointSlice', 'Pod', 'NetworkPolicy', 'Namespace', 'Ingress', 'IngressClass'];

interface Entry {
  readonly rv: string | undefined;
  readonly value: unknown;
  readonly digest: bigint;
}

class KindTable {
  readonly entries = new Map<string, Entry>();
  /** Sorted keys and their values, as the last snapshot has them (never mutated: copied). */
  keys: readonly string[] = [];
  values: readonly unknown[] = [];
  acc = 0n;
  /** key → new value (undefined: gone) since the last snapshot. */
  readonly changed = new Map<string, unknown>();
}

/** Reads a raw API object into what the snapshot holds; undefined: skipped (not readable). */
export type ViewParser = (kind: ViewKind, raw: unknown) => unknown;

const DIGEST_MASK = (1n << 64n) - 1n;
const digestOf = (kind: string, key: string, v: unknown): bigint =>
  BigInt(`0x${createHash('sha256').update(kind).update('\0').update(key).update('\0').update(JSON.stringify(v)).digest('hex').slice(0, 16)}`) & DIGEST_MASK;

/** Whether resourceVersion `a` is older than `b` (both the API's decimal sequence numbers; else unknown: no). */
export function olderVersion(a: string | undefined, b: string | undefined): boolean {
  if (!a || !b || !/^\d+$/.test(a) || !/^\d+$/.test(b)) return false;
  return a.length !== b.length ? a.length < b.length : a < b;
}

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object' && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const v of Object.values(o as Record<string, unknown>)) deepFreeze(v);
  }
  return o;
}

const lowerBound = (keys: readonly string[], key: string): number => {
  let lo = 0;
  let hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (keys[mid]! < key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
};

/** Beyond this many changes in one kind, its array is rebuilt by sorting instead of splicing. */
const SPLICE_LIMIT = 64;

export class ViewStore {
  private readonly tables = new Map<ViewKind, KindTable>(VIEW_KINDS.map((k) => [k, new KindTable()]));
  private last: ClusterSnapshot | undefined;
  private hadPolicies = false;

  constructor(private readonly parse: ViewParser) {}

  private table(kind: ViewKind): KindTable {
    return this.tables.get(kind)!;
  }

  /** The resourceVersion kept for a key (undefined: none, or the object is not in the view). */
  resourceVersion(kind: ViewKind, key: string): string | undefined {
    return this.table(kind).entries.get(key)?.rv;
  }

  has(kind: ViewKind, key: string): boolean {
    return this.table(kind).entries.has(key);
  }

  size(kind: ViewKind): number {
    return this.table(kind).entries.size;
  }

  /**
   * The object as read from the API (a GET or a list item). Same resourceVersion as kept: nothing
   * to do; older: ignored (false); else read (a value that does not read removes the key, as a
   * list skips it). Returns whether the view may have changed.
   */
  put(kind: ViewKind, key: string, raw: unknown): boolean {
    const t = this.table(kind);
    const rv = (raw as { metadata?: { resourceVersion?: string } } | undefined)?.metadata?.resourceVersion;
    const had = t.entries.get(key);
    if (had && rv && had.rv === rv) return false;
    if (had && olderVersion(rv, had.rv)) return false;
    const value = this.parse(kind, raw);
    if (value === undefined) return this.remove(kind, key);
    deepFreeze(value);
    const digest = digestOf(kind, key, value);
    if (had) t.acc ^= had.digest;
    t.acc ^= digest;
    t.entries.set(key, { rv, value, digest });
    // Same content under a new resourceVersion (a status write): the kept value stays the same.
    if (had && had.digest === digest) {
      t.entries.set(key, { rv, value: had.value, digest });
      return false;
    }
    t.changed.set(key, value);
    return true;
  }

  /** The object is gone (a GET's 404, absent from a whole list). */
  remove(kind: ViewKind, key: string): boolean {
    const t = this.table(kind);
    const had = t.entries.get(key);
    if (!had) return false;
    t.acc ^= had.digest;
    t.entries.delete(key);
    t.changed.set(key, undefined);
    return true;
  }

  /** A whole list of `kind`: every item put, every key it lacks removed. */
  replaceAll(kind: ViewKind, items: readonly unknown[]): void {
    const seen = new Set<string>();
    for (const item of items) {
      const m = (item as { metadata?: { namespace?: string; name?: string } } | undefined)?.metadata;
      const key = `${m?.namespace ?? ''}/${m?.name ?? ''}`;
      seen.add(key);
      this.put(kind, key, item);
    }
    const t = this.table(kind);
    if (t.entries.size > seen.size || [...t.entries.keys()].some((k) => !seen.has(k))) for (const k of [...t.entries.keys()]) if (!seen.has(k)) this.remove(kind, k);
  }

  /** Forgets a kind whole (namespaces once there are no policies: no longer listed). */
  clear(kind: ViewKind): void {
    for (const k of [...this.table(kind).entries.keys()]) this.remove(kind, k);
  }

  /** The version of what the snapshot would hold now. */
  private version(policies: boolean): string {
    const h = createHash('sha256');
    for (const kind of VIEW_KINDS) {
      if (!policies && (kind === 'NetworkPolicy' || kind === 'Namespace')) continue;
      h.update(`${kind}:${this.table(kind).acc.toString(16)}:${this.table(kind).entries.size};`);
    }
    return h.digest('hex').slice(0, 16);
  }

  /** The kind's array after its changes (a copy; the previous snapshot's array is untouched). */
  private arrayOf(t: KindTable): readonly unknown[] {
    if (!t.changed.size) return t.values;
    let keys: string[];
    let values: unknown[];
    if (t.changed.size > SPLICE_LIMIT) {
      keys = [...t.entries.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
      values = keys.map((k) => t.entries.get(k)!.value);
    } else {
      keys = t.keys.slice();
      values = t.values.slice();
      for (const [key, value] of t.changed) {
        const at = lowerBound(keys, key);
        const present = keys[at] === key;
        if (value === undefined) {
          if (present) {
            keys.splice(at, 1);
            values.splice(at, 1);
          }
        } else if (present) values[at] = value;
        else {
          keys.splice(at, 0, key);
          values.splice(at, 0, value);
        }
      }
    }
    t.keys = keys;
    t.values = Object.freeze(values);
    return t.values;
  }

  /**
   * The snapshot of what is kept now: the previous one itself when nothing it shows changed, else a
   * new one with `changes` since the previous (none after a change of whether there are policies).
   */
  snapshot(): ClusterSnapshot {
    const policies = this.table('NetworkPolicy').entries.size > 0;
    const version = this.version(policies);
    const prev = this.last;
    if (prev && prev.version === version && policies === this.hadPolicies) {
      for (const t of this.tables.values()) if (t.changed.size) this.arrayOf(t);
      for (const t of this.tables.values()) t.changed.clear();
      return prev;
    }
    const changes: Record<string, unknown> = { since: prev?.version ?? '' };
    for (const kind of VIEW_KINDS) {
      const t = this.table(kind);
      if (t.changed.size) changes[kind] = new Map(t.changed);
    }
    const arr = <K extends ViewKind>(kind: K) => this.arrayOf(this.table(kind)) as readonly ViewKinds[K][];
    const services = arr('Service');
    const endpointSlices = arr('EndpointSlice');
    const pods = arr('Pod');
    const ingresses = arr('Ingress');
    const ingressClasses = arr('IngressClass');
    const networkPolicies = arr('NetworkPolicy');
    const namespaces = arr('Namespace');
    for (const t of this.tables.values()) t.changed.clear();
    const toggled = prev !== undefined && policies !== this.hadPolicies;
    if (!policies) {
      delete changes.NetworkPolicy;
      delete changes.Namespace;
    }
    const next: ClusterSnapshot = Object.freeze({
      version,
      services,
      endpointSlices,
      pods,
      ingresses,
      ingressClasses,
      ...(policies ? { networkPolicies, namespaces } : {}),
      ...(prev && !toggled ? { changes: Object.freeze(changes) as SnapshotChanges } : {}),
    });
    this.last = next;
    this.hadPolicies = policies;
    return next;
  }
}
