/**
 * EventRecorder that writes core/v1 Events through the API, as the kubelet does. Best effort:
 * posts run in the background, failures are logged and dropped, and a sync never waits for them.
 */
import { z } from 'zod';
import type { KubeApiClient } from './api-client';
import { errorMessage, type Logger } from './log';
import type { EventRecorder, EventType } from './runtime';
import type { PodKey } from './types';

/** Events beyond this many in flight are dropped: an unreachable API must not pile up memory. */
const MAX_IN_FLIGHT = 100;

export class ApiEventRecorder implements EventRecorder {
  private inFlight = 0;

  constructor(
    private readonly api: KubeApiClient,
    private readonly nodeName: string,
    private readonly log: Logger,
    private readonly now: () => Date = () => new Date(),
  ) {}

  event(pod: PodKey, type: EventType, reason: string, message: string, fieldPath?: string): void {
    this.eventFor({ apiVersion: 'v1', kind: 'Pod', namespace: pod.namespace, name: pod.name, uid: pod.uid, ...(fieldPath ? { fieldPath } : {}) }, type, reason, message, 'kubelet');
  }

  /** An Event on any namespaced object, from one of the node's components (the service proxy's: `kube-proxy`). */
  eventFor(object: { apiVersion: string; kind: string; namespace: string; name: string; uid?: string; fieldPath?: string }, type: EventType, reason: string, message: string, component: string): void {
    if (this.inFlight >= MAX_IN_FLIGHT) return;
    const now = this.now();
    const time = now.toISOString().replace(/\.\d{3}Z$/, 'Z');
    const body = {
      apiVersion: 'v1',
      kind: 'Event',
      // The kubelet's naming: the object's name and a unique hex timestamp.
      metadata: { name: `${object.name}.${uniqueSuffix(now)}`, namespace: object.namespace },
      involvedObject: object,
      reason,
      message,
      type,
      source: { component, host: this.nodeName },
      firstTimestamp: time,
      lastTimestamp: time,
      count: 1,
      reportingComponent: component,
      reportingInstance: this.nodeName,
    };
    this.inFlight++;
    this.api
      .post(`/api/v1/namespaces/${encodeURIComponent(object.namespace)}/events`, body, z.unknown())
      .catch((e: unknown) => this.log.warn('event write failed', { reason, object: `${object.kind} ${object.namespace}/${object.name}`, error: errorMessage(e) }))
      .finally(() => this.inFlight--);
  }
}

let counter = 0;
function uniqueSuffix(now: Date): string {
  // Nanosecond-like resolution plus a counter, so two events in one millisecond get two names.
  counter = (counter + 1) % 1_000_000;
  return (BigInt(now.getTime()) * 1_000_000n + BigInt(counter)).toString(16);
}
