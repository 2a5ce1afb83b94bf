import middy from '@middy/core';
import { inScope, meteredInvocation, noteObject } from '../../shared/cost/meter';
import { configureCostMeterFor } from '../../shared/cost/configure';
import pLimit from 'p-limit';
import type { DynamoDBBatchResponse, DynamoDBStreamEvent, ScheduledEvent, SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { clusterIsBeingDeleted } from '../../shared/clusters';
import { controllerTicksQueueName, loadConfig } from '../../shared/config';
import { isConflict } from '../../shared/errors';
import { functionMetrics, MetricUnit, withMetrics } from '../../shared/function-metrics';
import { functionLogger, withRequestContext } from '../../shared/log';
import { createSqsClient, tickSender } from '../../shared/queue';
import { createDocumentClient } from '../../shared/store/dynamo';
import { ObjectStore } from '../../shared/store/store';
import { parseRecordWithKeys, type ObjectChange } from '../../shared/store/changes';
import type { ControllerContext } from './apply';
import { Coordination, parseTimerSk, type TimerEntry } from './coordination';
import { dedupe, keysFor, keyString, parseKey, type ControllerKey } from './dispatch';
import { reconcilers } from './reconcilers';
import { NodeQueues } from '../../shared/queue';
import { ChangedKeys, changesHostPorts, changesServices, signalServiceChange } from './service-signals';
import { changesPolicies, changesPolicyPeers, hasNetworkPolicies } from './policy-signals';

/*
 * The controllers function: Kubernetes' controller manager as two Lambda handlers.
 * - `handler`, on the objects table's stream (one consumer for every controller: a shard allows
 *   about two concurrent readers and the scheduler is the other): each change → the keys it
 *   concerns (dispatch.ts) → for each distinct key, under its lease, re-read and reconcile.
 * - `scheduleHandler`, on a rate schedule: runs due timers (CronJob schedules, progress
 *   deadlines, minReadySeconds, activeDeadlineSeconds, TTLs, HPA periods) the same way.
 * - `tickHandler`, on the tick queue: runs one timer at its time (the delayed message its
 *   requeue sent; coordination.ts), so a timer is not up to a schedule period late.
 * Delivery is at least once and in any batch split; correctness never depends on it: a key's
 * reconcile reads current state (consistent reads) under a lease, so replays are no-ops and
 * concurrent invocations serialize per key.
 */

export interface ControllerDeps {
  readonly store: ObjectStore;
  readonly coordination: Coordination;
  /** Where the services signal goes (service-signals.ts); without it, nodes rely on their resync. */
  readonly queues?: NodeQueues;
}

const logger = functionLogger('stratus-controllers');
const metrics = functionMetrics('stratus-controllers');

let deps: ControllerDeps | undefined;
function getDeps(): ControllerDeps {
  if (!deps) {
    const config = loadConfig();
    const doc = createDocumentClient(config);
    // Timers wake their key through the tick queue unless STRATUS_TICKS_QUEUE is "" (none wired).
    const ticks = process.env.STRATUS_TICKS_QUEUE ?? controllerTicksQueueName(config.queuePrefix);
    const wake = ticks ? tickSender(createSqsClient(config), ticks) : undefined;
    deps = { store: new ObjectStore(doc, config), coordination: new Coordination(doc, config, wake), queues: new NodeQueues(config) };
    configureCostMeterFor(deps.store);
  }
  return deps;
}

/** Keys reconciled at once per invocation (each is a few reads and writes). */
const KEY_CONCURRENCY = 8;
/** Conflicts (someone else wrote first) are re-read and reconciled again, this many times. */
const CONFLICT_RETRIES = 8;

/** Reconciles one key once (its controller's entry in reconcilers.ts), retrying on Conflict with fresh reads. */
export async function reconcileKey(d: ControllerDeps, tenant: string, key: ControllerKey): Promise<void> {
  const k = keyString(key);
  for (let attempt = 0; ; attempt++) {
    const ctx: ControllerContext = { store: d.store, coordination: d.coordination, tenant, now: new Date() };
    try {
      return await reconcilers[key.controller](ctx, k, key);
    } catch (e) {
      if (isConflict(e) && attempt < CONFLICT_RETRIES) continue;
      throw e;
    }
  }
}

/** Runs each key under its lease; resolves to the keys that failed. */
async function runKeys(d: ControllerDeps, tenant: string, keys: readonly ControllerKey[]): Promise<Set<string>> {
  const failed = new Set<string>();
  metrics.addMetric('Reconciles', MetricUnit.Count, keys.length);
  const limit = pLimit(KEY_CONCURRENCY);
  await Promise.all(
    keys.map((key) =>
      limit(async () => {
        try {
          // Counted for the key's object, and so for the workload that owns it (shared/cost/meter.ts).
          await inScope(tenant, { namespace: key.namespace, name: key.name }, () => d.coordination.exclusive(tenant, keyString(key), () => reconcileKey(d, tenant, key)));
        } catch (e) {
          logger.error('reconcile failed', { tenant, key: keyString(key), error: e });
          metrics.addMetric('ReconcileFailures', MetricUnit.Count, 1);
          failed.add(keyString(key));
        }
      }),
    ),
  );
  return failed;
}

/** The stream consumer's logic, with its dependencies passed in (tests call it directly). */
export async function handleStream(d: ControllerDeps, event: DynamoDBStreamEvent): Promise<DynamoDBBatchResponse> {
  const byTenant = new Map<string, { key: ControllerKey; seq: string }[]>();
  const failures: string[] = [];
  /** Clusters whose Services, EndpointSlices or NetworkPolicies this batch changed: their nodes get one signal each. */
  const servicesChanged = new Set<string>();
  /** Per cluster, the objects the signal names (service-signals.ts). */
  const changed = new Map<string, ChangedKeys>();
  const named = (tenant: string) => changed.get(tenant) ?? changed.set(tenant, new ChangedKeys()).get(tenant)!;
  /** Clusters with a pod change a NetworkPolicy could see: signalled only if they have a policy. */
  const peersChanged = new Map<string, ObjectChange[]>();
  for (const record of event.Records) {
    const c: ObjectChange | undefined = await parseRecordWithKeys(record);
    if (!c) continue;
    if (changesServices(c) || changesPolicies(c) || changesHostPorts(c)) {
      servicesChanged.add(c.tenant);
      named(c.tenant).add(c);
    } else if (changesPolicyPeers(c)) (peersChanged.get(c.tenant) ?? peersChanged.set(c.tenant, []).get(c.tenant)!).push(c);
    try {
      const list = byTenant.get(c.tenant) ?? [];
      const keys = await inScope(c.tenant, { resource: c.resource }, () => {
        noteObject(c.resource, c.newObject ?? c.oldObject);
        return keysFor(c, d.store);
      });
      for (const key of keys) list.push({ key, seq: c.sequenceNumber });
      byTenant.set(c.tenant, list);
    } catch (e) {
      logger.error('dispatch failed', { tenant: c.tenant, error: e });
      failures.push(c.sequenceNumber);
    }
  }
  await Promise.all(
    [...byTenant].map(async ([tenant, items]) => {
      // A cluster being deleted gets no more work (shared/clusters.ts deleteCluster): its records are dropped.
      if (await clusterIsBeingDeleted(d.store, tenant)) return;
      const unique = dedupe(items);
      const failed = await runKeys(d, tenant, unique.map((i) => i.key));
      // A failed key's first record is where the stream must retry from (replays are harmless).
      for (const i of unique) if (failed.has(keyString(i.key))) failures.push(i.seq);
    }),
  );
  // After the reconciles (the slices they wrote come back as changes of a later batch, named then).
  await Promise.all(
    [...peersChanged.keys()]
      .filter(() => d.queues !== undefined)
      .map(async (tenant) => {
        try {
          if (await hasNetworkPolicies(d.store, tenant)) {
            servicesChanged.add(tenant);
            for (const c of peersChanged.get(tenant)!) named(tenant).add(c);
          }
        } catch (e) {
          logger.warn('could not tell whether the cluster has NetworkPolicies (its nodes resync)', { tenant, error: e as Error });
        }
      }),
  );
  await Promise.all(
    [...servicesChanged].map(async (tenant) => {
      if (!d.queues) return;
      try {
        if (await clusterIsBeingDeleted(d.store, tenant)) return;
        await signalServiceChange(d.store, d.queues, tenant, changed.get(tenant)?.named);
      } catch (e) {
        logger.warn('services signal to the nodes failed (they resync)', { tenant, error: e as Error });
      }
    }),
  );
  failures.sort((a, b) => (BigInt(a) < BigInt(b) ? -1 : BigInt(a) > BigInt(b) ? 1 : 0));
  return { batchItemFailures: failures.slice(0, 1).map((itemIdentifier) => ({ itemIdentifier })) };
}

/** The schedule's logic: run every due timer's key, then drop the timer (kept on failure: retried next tick). */
export async function handleSchedule(d: ControllerDeps, now = new Date()): Promise<{ ran: number; failed: number }> {
  const due = await d.coordination.due(now);
  const byTenant = new Map<string, { entry: (typeof due)[number]; key: ControllerKey }[]>();
  for (const entry of due) {
    const key = parseKey(entry.key);
    if (!key) {
      await d.coordination.done(entry);
      continue;
    }
    byTenant.set(entry.tenant, [...(byTenant.get(entry.tenant) ?? []), { entry, key }]);
  }
  const failed = await runTimers(d, byTenant);
  return { ran: due.length, failed: failed.length };
}

/**
 * Runs timers grouped by cluster (a cluster being deleted has its timers dropped unrun), drops
 * each timer whose key reconciled, and resolves to the items whose key failed (kept for a retry).
 */
async function runTimers<T extends { entry: TimerEntry; key: ControllerKey }>(d: ControllerDeps, byTenant: Map<string, T[]>): Promise<T[]> {
  const failedItems: T[] = [];
  await Promise.all(
    [...byTenant].map(async ([tenant, items]) => {
      if (await clusterIsBeingDeleted(d.store, tenant)) {
        for (const i of items) await d.coordination.done(i.entry);
        return;
      }
      const failed = await runKeys(d, tenant, dedupe(items).map((i) => i.key));
      for (const i of items) {
        if (failed.has(keyString(i.key))) failedItems.push(i);
        else await d.coordination.done(i.entry);
      }
    }),
  );
  return failedItems;
}

/** The tick queue's logic: run each message's timer if it is still set, then drop it; failures are retried by SQS. */
export async function handleTicks(d: ControllerDeps, event: SQSEvent): Promise<SQSBatchResponse> {
  const byTenant = new Map<string, { entry: TimerEntry; key: ControllerKey; messageId: string }[]>();
  const failures: string[] = [];
  for (const record of event.Records) {
    let entry: TimerEntry | undefined;
    try {
      const body = JSON.parse(record.body) as { sk?: unknown };
      entry = typeof body.sk === 'string' ? parseTimerSk(body.sk) : undefined;
    } catch {
      entry = undefined;
    }
    const key = entry && parseKey(entry.key);
    if (!entry || !key) {
      logger.warn('malformed tick dropped', { messageId: record.messageId });
      continue;
    }
    try {
      // Already run (by the schedule, or a duplicate delivery): nothing to do.
      if (!(await d.coordination.isSet(entry))) continue;
    } catch (e) {
      logger.error('tick lookup failed', { error: e });
      failures.push(record.messageId);
      continue;
    }
    byTenant.set(entry.tenant, [...(byTenant.get(entry.tenant) ?? []), { entry, key, messageId: record.messageId }]);
  }
  for (const i of await runTimers(d, byTenant)) failures.push(i.messageId);
  return { batchItemFailures: failures.map((itemIdentifier) => ({ itemIdentifier })) };
}

export const handler = middy<DynamoDBStreamEvent, DynamoDBBatchResponse>().use(withRequestContext(logger)).use(withMetrics(metrics)).handler((event, context) => meteredInvocation(context.memoryLimitInMB, () => handleStream(getDeps(), event)));

export const scheduleHandler = middy<ScheduledEvent, void>().use(withRequestContext(logger)).use(withMetrics(metrics)).handler(async (_event, context) => {
  await meteredInvocation(context.memoryLimitInMB, () => handleSchedule(getDeps()));
});

export const tickHandler = middy<SQSEvent, SQSBatchResponse>().use(withRequestContext(logger)).use(withMetrics(metrics)).handler((event, context) => meteredInvocation(context.memoryLimitInMB, () => handleTicks(getDeps(), event)));
