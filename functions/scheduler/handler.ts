import { functionMetrics, MetricUnit, withMetrics } from '../../shared/function-metrics';
import middy from '@middy/core';
import { inScope, meteredInvocation } from '../../shared/cost/meter';
import { configureCostMeterFor } from '../../shared/cost/configure';
import type { DynamoDBBatchResponse, DynamoDBStreamEvent } from 'aws-lambda';
import { loadConfig } from '../../shared/config';
import { NodeQueues, Placements, podSyncMessage } from '../../shared/queue';
import { PlacementKeyCache } from '../../shared/auth/placement-keys';
import { resourceByName, type KubeObject } from '../../shared/resources';
import { functionLogger, withRequestContext } from '../../shared/log';
import { createDocumentClient } from '../../shared/store/dynamo';
import { ObjectStore } from '../../shared/store/store';
import { systemContext } from '../../shared/registry/context';
import { finalizeNamespace } from '../../shared/registry/generic';
import { canonicalJson } from '../../shared/canonical';
import { desiredStateChanged, parseRecordWithKeys, type ObjectChange } from '../../shared/store/changes';
import { TenantCaches } from './cache';
import { BackgroundQueue, needsScheduling, Scheduler } from './scheduler';
import { volumeChangeMayUnblock } from './plugins/volume-binding';

/*
 * The scheduler function, driven by the objects table's stream. Level-triggered: a record only
 * says which object changed; the scheduler re-reads it before acting, so replays and any batch
 * split are harmless. Also tells node agents about changes to their pods (deletion, updates),
 * and finishes namespace deletion once a terminating namespace is empty.
 */

const logger = functionLogger('stratus-scheduler');

let deps: { store: ObjectStore; queues: NodeQueues; caches: TenantCaches } | undefined;
function getDeps() {
  if (!deps) {
    const config = loadConfig();
    const doc = createDocumentClient(config);
    const store = new ObjectStore(doc, config);
    // Placements are sealed for their node (shared/placement-seal.ts): no other node reads them.
    deps = { store, queues: new NodeQueues(config, undefined, new PlacementKeyCache({ doc, config })), caches: new TenantCaches(store, resourceByName('nodes'), resourceByName('pods')) };
    configureCostMeterFor(store);
  }
  return deps;
}

/** STRATUS_TRACE_STREAMS=1: one line per tenant batch with where its time went (bench/scheduler.ts). */
const TRACE = process.env.STRATUS_TRACE_STREAMS === '1';
const nodeNameOf = (pod: KubeObject | undefined) => (pod?.spec as { nodeName?: string } | undefined)?.nodeName;
const phaseOf = (pod: KubeObject | undefined) => (pod?.status as { phase?: string } | undefined)?.phase;
const TERMINAL = new Set(['Succeeded', 'Failed']);

interface ReadyCondition {
  type: string;
  status: string;
}
const readyOf = (node: KubeObject | undefined) =>
  ((node?.status as { conditions?: ReadyCondition[] } | undefined)?.conditions ?? []).find((c) => c.type === 'Ready')?.status;

/** Whether this change could let a waiting pod fit somewhere now. */
function mayFreeCapacity(c: ObjectChange): boolean {
  if (c.resource === 'nodes') {
    if (c.eventName === 'INSERT') return true;
    if (c.eventName === 'REMOVE') return false;
    const spec = (o?: KubeObject) => canonicalJson([o?.spec, o?.metadata.labels, (o?.status as { allocatable?: unknown } | undefined)?.allocatable]);
    return readyOf(c.oldObject) !== readyOf(c.newObject) || spec(c.oldObject) !== spec(c.newObject);
  }
  if (c.resource === 'pods' && nodeNameOf(c.oldObject)) {
    return c.eventName === 'REMOVE' || (!TERMINAL.has(phaseOf(c.oldObject) ?? '') && TERMINAL.has(phaseOf(c.newObject) ?? ''));
  }
  return false;
}

/** Processes one tenant's changes; throws to mark its records failed. */
async function processTenant(tenant: string, changes: ObjectChange[]): Promise<void> {
  const { store, queues, caches } = getDeps();
  const scheduler = new Scheduler(store, queues, tenant, caches.of(tenant));
  const toSchedule: { namespace: string; name: string }[] = [];
  // Messages to node agents go out concurrently, off the loop: a stream batch of binds by other
  // instances is 100 messages, and their order does not matter (each says "re-read pod X").
  const messages = new BackgroundQueue();
  let retryPending = false;
  // Per node, sent together in as few requests as fit (NodeQueues.sendAll).
  const placements = new Placements();
  for (const c of changes) {
    if (c.resource === 'pods') {
      const pod = c.newObject ?? c.oldObject!;
      const ns = pod.metadata.namespace!;
      const name = pod.metadata.name!;
      let changed: boolean | undefined;
      const desiredChanged = () => (changed ??= desiredStateChanged(c.oldObject, c.newObject));
      if (c.newObject && needsScheduling(c.newObject) && (c.eventName === 'INSERT' || desiredChanged())) {
        toSchedule.push({ namespace: ns, name });
      }
      // The node agent learns of changes to its pods other than its own status writes, and of
      // binds this instance did not message about already (pods/binding by another scheduler).
      const node = nodeNameOf(c.newObject) ?? nodeNameOf(c.oldObject);
      const justBound = c.eventName === 'MODIFY' && !nodeNameOf(c.oldObject) && !!nodeNameOf(c.newObject);
      const alreadySent = justBound && queues.sentRecently(pod.metadata.uid!);
      // The removal of a pod that was already terminating: the agent heard of the deletion when
      // deletionTimestamp was set (and most often removed it itself); its resync catches the rest.
      const toldOfDeletion = c.eventName === 'REMOVE' && !!c.oldObject?.metadata.deletionTimestamp;
      if (node && !alreadySent && !toldOfDeletion && desiredChanged()) {
        // The pod as this record has it rides along (the agent need not GET it); a removal
        // carries none, so the agent reads the API and finds it gone.
        const uid = pod.metadata.uid!;
        placements.add(node, c.newObject ? podSyncMessage(tenant, c.newObject) : { kind: 'sync', tenant, namespace: ns, name, uid });
      }
      if (c.eventName === 'REMOVE') {
        const namespace = await store.get(tenant, resourceByName('namespaces'), undefined, ns);
        if (namespace?.metadata.deletionTimestamp) await finalizeNamespace(systemContext(store, tenant), ns);
      }
    }
    if (mayFreeCapacity(c) || volumeChangeMayUnblock(c)) retryPending = true;
  }
  for (const send of placements.sends(queues)) messages.push(send);
  // One batch per invocation: every pod of this stream batch against one snapshot (all pending
  // pods when something changed that could let a waiting pod fit).
  const started = performance.now();
  let scheduled = 0;
  try {
    if (retryPending) await scheduler.retryPending();
    else if (toSchedule.length) await scheduler.scheduleBatch(toSchedule);
    scheduled = performance.now();
  } finally {
    // A Lambda is frozen after it returns: finish the messages and events first.
    await Promise.all([messages.flush(), scheduler.flush()]);
  }
  if (TRACE) {
    const t = scheduler.timings;
    const ms = (n: number) => Math.round(n);
    console.warn(`[scheduler] ${tenant}: ${changes.length} change(s), ${retryPending ? 'all pending' : `${toSchedule.length} to schedule`}; sync ${ms(t.sync)} ms, decide ${ms(t.decide)} ms, bind wait ${ms(t.bindWait)} ms (${t.transactions} tx, ${t.podsInTransactions} pods), flush ${ms(performance.now() - scheduled)} ms, total ${ms(performance.now() - started)} ms`);
  }
}

const metrics = functionMetrics('stratus-scheduler');

async function core(event: DynamoDBStreamEvent): Promise<DynamoDBBatchResponse> {
  metrics.addMetric('StreamRecords', MetricUnit.Count, event.Records.length);
  const byTenant = new Map<string, { changes: ObjectChange[]; firstSeq: string }>();
  for (const record of event.Records) {
    const c = await parseRecordWithKeys(record);
    if (!c) continue;
    const entry = byTenant.get(c.tenant) ?? { changes: [], firstSeq: c.sequenceNumber };
    entry.changes.push(c);
    byTenant.set(c.tenant, entry);
  }
  const failures: { itemIdentifier: string }[] = [];
  // Tenants are independent: one tenant's failure must not hold back another's.
  await Promise.all(
    [...byTenant].map(async ([tenant, { changes }]) => {
      try {
        // Counted as the cluster's own work (shared/cost/meter.ts): a batch binds many workloads' pods at once.
        await inScope(tenant, undefined, () => processTenant(tenant, changes));
      } catch (e) {
        logger.error('scheduling failed', { tenant, error: e });
        failures.push({ itemIdentifier: changes[0]!.sequenceNumber });
      }
    }),
  );
  // Report the earliest failed record: the stream retries from there (at least once).
  failures.sort((a, b) => (BigInt(a.itemIdentifier) < BigInt(b.itemIdentifier) ? -1 : 1));
  return { batchItemFailures: failures.slice(0, 1) };
}

export const handler = middy<DynamoDBStreamEvent, DynamoDBBatchResponse>().use(withRequestContext(logger)).use(withMetrics(metrics)).handler((event, context) => meteredInvocation(context.memoryLimitInMB, () => core(event)));
