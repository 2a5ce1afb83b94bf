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

/**
 * Records a core/v1 Event about `obj`, as client-go's recorder does (name `<obj>.<hex>`).
 * Best effort: an event that cannot be written never fails the work it describes.
 */
export async function recordEvent(store: ObjectStore, tenant: string, obj: KubeObject, e: EventInput): Promise<void> {
  const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  const namespace = obj.metadata.namespace ?? 'default';
  try {
    await store.create(tenant, resourceByName('events'), {
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
    });
  } catch (err) {
    console.warn(JSON.stringify({ level: 'warn', message: 'event not recorded', reason: e.reason, error: String(err) }));
  }
}
