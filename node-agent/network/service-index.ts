/**
 * Which EndpointSlices belong to which Service (by the slice's `kubernetes.io/service-name` label
 * in its own namespace), kept in step with the cluster view's changes: what the DNS indexer
 * (dns-records.ts) and the service proxy (service-proxy.ts) both follow. Each names a Service by a
 * key of its own form (`keyOf`); slices are keyed as the snapshot keys them (viewKey).
 *
 * `rebuild` reads a whole snapshot; `applyChanges` takes a snapshot's changes and says which
 * Services (by key) they touch: those named, and the owners (old and new) of the slices named.
 */
import { viewKey, type SnapshotChanges } from './cluster-view';
import { SERVICE_NAME_LABEL } from './service-rules';
import type { EndpointSlice, Service } from '../../shared/schemas/service';

/** A Service's key from its namespace ("" when absent) and name. */
export type ServiceKeyOf = (namespace: string, name: string) => string;

/** Called for each Service change with whether the Service was there before and is now. */
export type ServiceChangeListener = (namespace: string, had: boolean, has: boolean) => void;

const byKey = ([a]: [string, unknown], [b]: [string, unknown]) => (a < b ? -1 : a > b ? 1 : 0);

export class ServiceIndex {
  private services = new Map<string, Service>();
  /** Service key → its slices by slice key. */
  private slices = new Map<string, Map<string, EndpointSlice>>();
  /** Slice key → its Service's key. */
  private sliceOwner = new Map<string, string>();

  constructor(private readonly keyOf: ServiceKeyOf) {}

  /** The key of the Service that owns `slice`, undefined when it names none. */
  ownerOf(slice: EndpointSlice): string | undefined {
    const name = slice.metadata.labels?.[SERVICE_NAME_LABEL];
    return name ? this.keyOf(slice.metadata.namespace ?? '', name) : undefined;
  }

  /** Forgets everything and indexes these (a whole snapshot). Services without a name are left out. */
  rebuild(services: Iterable<Service>, slices: Iterable<EndpointSlice>): void {
    this.services = new Map();
    this.slices = new Map();
    this.sliceOwner = new Map();
    for (const svc of services) if (svc.metadata.name) this.services.set(this.keyOf(svc.metadata.namespace ?? '', svc.metadata.name), svc);
    for (const slice of slices) this.addSlice(viewKey(slice), slice);
  }

  private addSlice(key: string, slice: EndpointSlice): string | undefined {
    const owner = this.ownerOf(slice);
    if (owner === undefined) return undefined;
    this.sliceOwner.set(key, owner);
    (this.slices.get(owner) ?? this.slices.set(owner, new Map()).get(owner)!).set(key, slice);
    return owner;
  }

  /**
   * Updates the index by a snapshot's changes (Service and EndpointSlice keys namespace/name) and
   * returns the keys of the Services they touch.
   */
  applyChanges(changes: SnapshotChanges, onService?: ServiceChangeListener): Set<string> {
    const affected = new Set<string>();
    for (const [key, svc] of changes.Service ?? []) {
      const at = key.indexOf('/');
      const ns = key.slice(0, at);
      const k = this.keyOf(ns, key.slice(at + 1));
      const had = this.services.has(k);
      if (svc) this.services.set(k, svc);
      else this.services.delete(k);
      onService?.(ns, had, !!svc);
      affected.add(k);
    }
    for (const [key, slice] of changes.EndpointSlice ?? []) {
      const was = this.sliceOwner.get(key);
      if (was !== undefined) {
        const own = this.slices.get(was);
        own?.delete(key);
        if (!own?.size) this.slices.delete(was);
        this.sliceOwner.delete(key);
        affected.add(was);
      }
      const owner = slice && this.addSlice(key, slice);
      if (owner !== undefined) affected.add(owner);
    }
    return affected;
  }

  /** The Service of `key`, undefined when there is none. */
  service(key: string): Service | undefined {
    return this.services.get(key);
  }

  /** The slices of the Service of `key`, in the snapshot's order (by slice namespace/name). */
  slicesOf(key: string): EndpointSlice[] {
    return [...(this.slices.get(key) ?? [])].sort(byKey).map(([, s]) => s);
  }
}
