import { randomBytes } from 'node:crypto';
import { resourceByName, type KubeObject } from './resources';
import type { ObjectStore } from './store/store';

export interface EventInput {
  readonly type: 'Normal' | 'Warning';
  readonly reason: string;
  readonly message: string;
  readonly component: string;
  readonly host?: string;
}

/** The core/v1 Event about `obj` that client-go's recorder would write (name `<obj>.<hex>`). */
export function eventAbout(obj: KubeObject, e: EventInput, at = new Date()): KubeObject {
  const now = at.toISOString().replace(/\.\d+Z$/, 'Z');
  const namespace = obj.metadata.namespace ?? 'default';
  return {
    apiVersion: 'v1',
    kind: 'Event',
    metadata: { name: `${obj.metadata.name}.${randomBytes(8).toString('hex')}`, namespace },
    involvedObject: {
      apiVersion: obj.apiVersion,
      kind: obj.kind,
      name: obj.metadata.name,
      namespace: obj.metadata.namespace,
      uid: obj.metadata.uid,
      resourceVersion: obj.metadata.resourceVersion,
    },
    reason: e.reason,
    message: e.message,
    type: e.type,
    source: { component: e.component, ...(e.host ? { host: e.host } : {}) },
    firstTimestamp: now,
    lastTimestamp: now,
    count: 1,
    reportingComponent: e.component,
    reportingInstance: e.host ?? '',
  } as KubeObject;
}

/**
 * Records a core/v1 Event about `obj`, as client-go's recorder does.
 * Best effort: an event that cannot be written never fails the work it describes.
 */
export async function recordEvent(store: ObjectStore, tenant: string, obj: KubeObject, e: EventInput): Promise<void> {
  try {
    await store.create(tenant, resourceByName('events'), eventAbout(obj, e));
  } catch (err) {
    console.warn(JSON.stringify({ level: 'warn', message: 'event not recorded', reason: e.reason, error: String(err) }));
  }
}

/** One Event to record: about what, and what it says. */
export interface EventRecord {
  readonly about: KubeObject;
  readonly event: EventInput;
}

/**
 * Records several Events in as few requests as they fit (ObjectStore.createEvents: 25 a
 * BatchWriteItem; each Event is still one item, so the same write units). Best effort, as above.
 */
export async function recordEvents(store: ObjectStore, tenant: string, records: readonly EventRecord[]): Promise<void> {
  if (records.length === 0) return;
  const at = new Date();
  try {
    await store.createEvents(tenant, records.map((r) => eventAbout(r.about, r.event, at)));
  } catch (err) {
    console.warn(JSON.stringify({ level: 'warn', message: 'events not recorded', count: records.length, reasons: [...new Set(records.map((r) => r.event.reason))], error: String(err) }));
  }
}
