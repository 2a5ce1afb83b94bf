/**
 * The one wiring table: which handler runs on which trigger.
 *
 * Read by the CDK app (infra/stack.ts) to create functions, Function URLs, event source
 * mappings and schedules, and by the local runtime (infra/local/runtime.ts) to play those
 * same triggers against the very same handlers. Neither may wire a handler that is not here,
 * so the two can never drift apart.
 */

import { ALLOC_ONLY_ATTRIBUTE } from '../shared/store/attributes';
import type { FilterPattern } from './stream-filter';
import {
  EVERY_KIND,
  NODE_SIGNAL_RESOURCES,
  controllerDeclarations,
  createdResources,
  hasTrigger,
  hearsGcAttribute,
  removedResources,
  watchedResources,
  type ControllerDeclaration,
} from '../shared/controllers';

/** Tables the system owns. `objects` streams NEW_AND_OLD_IMAGES; `changes` holds the watch log. */
export type TableName = 'objects' | 'changes';

export type Trigger =
  /** Lambda Function URL (payload format 2.0). `streaming`: RESPONSE_STREAM invoke mode. */
  | { readonly type: 'http'; readonly streaming: boolean }
  /** DynamoDB Streams event source mapping with ReportBatchItemFailures. */
  | {
      readonly type: 'stream';
      readonly table: TableName;
      readonly batchSize: number;
      /** MaximumBatchingWindowInSeconds, in milliseconds for the local runtime's sake. */
      readonly maxBatchingWindowMs: number;
      readonly maxRetryAttempts: number;
      readonly bisectOnError: boolean;
      /**
       * Lambda FilterCriteria patterns (ORed; see infra/stream-filter.ts for the rules honoured):
       * records none of them matches are dropped before batching and never invoke the function.
       * Absent: every record.
       */
      readonly filters?: readonly FilterPattern[];
    }
  /** EventBridge Scheduler rate schedule (`rate(N seconds|minutes)` on AWS). */
  | { readonly type: 'schedule'; readonly everySeconds: number }
  /**
   * An SQS queue the system owns, consumed by an event source mapping with
   * ReportBatchItemFailures. `ticks`: the controllers' delayed timer wake-ups
   * (controllerTicksQueueName in shared/config.ts; functions/controllers/coordination.ts).
   */
  | { readonly type: 'queue'; readonly queue: 'ticks'; readonly batchSize: number; readonly maxBatchingWindowMs: number }
  /**
   * An API Gateway WebSocket API whose `$connect`, `$default` and `$disconnect` routes invoke the
   * function (Lambda proxy integration), deployed as `stage`. Locally the stack's API Gateway
   * emulator (infra/local/apigw-websocket.ts) plays it against the same handler.
   */
  | { readonly type: 'websocket'; readonly stage: string };

export interface FunctionWiring {
  /** Short name: the folder under functions/ and the Lambda function's logical name. */
  readonly name: string;
  /** Module path relative to the repository root. */
  readonly entry: string;
  /** Exported handler name in that module. */
  readonly handler: string;
  readonly trigger: Trigger;
  readonly memoryMiB: number;
  readonly timeoutSeconds: number;
}

/**
 * The kinds any write of which concerns some controller (shared/controllers.ts, the union of
 * the declarations' `watches`): workloads, the pods and nodes they watch, claims and volumes. As
 * the store's `res` attribute names them: GroupResource strings (`pods`, `deployments.apps`;
 * shared/store/keys.ts), so a resource of another group with the same plural never matches.
 * A kind missing here is a change the controllers never hear of.
 */
export const CONTROLLER_RESOURCES: readonly string[] = watchedResources();

/**
 * A node's allocation sums change with every bind and release (shared/store/store.ts), in the
 * node's item but not in the node object: those writes mark the item `allocOnly` (the next write
 * of the object clears it), and neither consumer wants their records (the scheduler's
 * `mayFreeCapacity` and dispatch.ts `keysFor` compare the objects, which are the same). Only node
 * items ever carry the mark, so "no mark" is added to the rules that let node writes in. Two such
 * records per pod lifecycle (its bind, its removal) were 4 of its 14 stream invocations.
 */
const notAllocOnly = { [ALLOC_ONLY_ATTRIBUTE]: { BOOL: [{ exists: false }] } } as const;

/**
 * What the scheduler reacts to (functions/scheduler/handler.ts): pods (to bind, to tell node
 * agents, to finish a namespace) and, for its retry of pending pods (`mayFreeCapacity`), pods
 * that end or go away and nodes that come, change shape or readiness; VolumeBinding: a claim,
 * volume or class that comes (or a claim that binds) may let a pending pod fit. A removal has only
 * the old image.
 */
export const schedulerFilters: readonly FilterPattern[] = [
  { dynamodb: { NewImage: { res: { S: ['pods', 'nodes', 'persistentvolumeclaims', 'persistentvolumes', 'storageclasses.storage.k8s.io'] }, ...notAllocOnly } } },
  { dynamodb: { OldImage: { res: { S: ['pods', 'nodes'] } }, NewImage: { res: { S: [{ exists: false }] } } } },
];

/**
 * The controllers' stream filter, derived from their declarations (shared/controllers.ts): what
 * can give functions/controllers/dispatch.ts `keysFor` a key, pattern by pattern (each only if
 * some declaration asks for it):
 * 1. any write of a watched kind (CONTROLLER_RESOURCES: its own controller, adoption, DaemonSets
 *    on nodes) but a node's allocation sums alone;
 * 2. a removal of a watched kind or of a kind declared in `removals` (with EVERY_KIND, as the
 *    garbage collector's gc-dependents and blockOwnerDeletion owners need: any object's);
 * 3. a creation of a kind declared in `creations` and not watched (EVERY_KIND: gc-owners verifies
 *    any new object's owners);
 * 4./5. an update whose new or old state has a controller owner reference (an owner's controller
 *    hears of its dependents, including a release) or a deletion pending on finalizers
 *    (gc-finalize): the store's `gc` attribute.
 * What stays out today: updates of every other kind with no controller owner and no pending
 * deletion, above all node Lease renewals (every 10 s per node), and items that are not objects.
 * (At most five patterns: Lambda's default quota per event source mapping; infra/stream-filter.ts
 * assertSupported checks it.) `signalled` (NODE_SIGNAL_RESOURCES for the real consumer) joins the
 * first pattern: kinds whose writes only the nodes' signal needs.
 */
export function controllerFilterPatterns(cs: readonly ControllerDeclaration[] = controllerDeclarations, signalled: readonly string[] = []): FilterPattern[] {
  const watched = [...new Set([...watchedResources(cs), ...signalled])];
  const kinds = (rs: readonly string[]) => (rs.includes(EVERY_KIND) ? [{ exists: true }] : rs);
  const removed = [...new Set([...watched, ...removedResources(cs)])];
  const created = createdResources(cs).filter((r) => !watched.includes(r));
  const patterns: FilterPattern[] = [];
  if (watched.length > 0) patterns.push({ dynamodb: { NewImage: { res: { S: watched }, ...notAllocOnly } } });
  // A removal has only the old image, a creation only the new one. (Lambda documents filtering
  // of DynamoDB records on the `dynamodb` key only, so not on `eventName`.)
  if (removed.length > 0) patterns.push({ dynamodb: { OldImage: { res: { S: kinds(removed) } }, NewImage: { res: { S: [{ exists: false }] } } } });
  if (created.length > 0) patterns.push({ dynamodb: { NewImage: { res: { S: kinds(created) } }, OldImage: { res: { S: [{ exists: false }] } } } });
  if (hearsGcAttribute(cs)) patterns.push({ dynamodb: { NewImage: { gc: { BOOL: [true] } } } }, { dynamodb: { OldImage: { gc: { BOOL: [true] } } } });
  return patterns;
}

export const controllerFilters: readonly FilterPattern[] = controllerFilterPatterns(controllerDeclarations, NODE_SIGNAL_RESOURCES);

/**
 * The controllers' rows, from their declarations: ONE stream consumer for every stream-driven
 * controller (a shard allows about two readers and the scheduler is the other; small window: a
 * burst of pod updates is one reconcile), and one schedule for the timers controllers set
 * (CronJob schedules, progress deadlines, minReadySeconds, activeDeadlineSeconds, TTLs). A row
 * is emitted only if some controller has that trigger.
 */
export function controllerRows(cs: readonly ControllerDeclaration[] = controllerDeclarations, signalled: readonly string[] = NODE_SIGNAL_RESOURCES): FunctionWiring[] {
  const rows: FunctionWiring[] = [];
  if (hasTrigger('stream', cs))
    rows.push({
      name: 'controllers',
      entry: 'functions/controllers/handler.ts',
      handler: 'handler',
      trigger: {
        type: 'stream',
        table: 'objects',
        batchSize: 100,
        maxBatchingWindowMs: 200,
        maxRetryAttempts: 10,
        bisectOnError: true,
        filters: controllerFilterPatterns(cs, signalled),
      },
      // I/O-bound reconciles (reads and conditional writes); see the scheduler's row.
      memoryMiB: 512,
      timeoutSeconds: 60,
    });
  if (hasTrigger('schedule', cs))
    rows.push({
      // Every 10 s locally; EventBridge rounds it up to 1 minute on AWS (the CDK warns), which an
      // every-minute CronJob still meets.
      name: 'controllers-schedule',
      entry: 'functions/controllers/handler.ts',
      handler: 'scheduleHandler',
      trigger: { type: 'schedule', everySeconds: 10 },
      memoryMiB: 512,
      timeoutSeconds: 60,
    });
  if (hasTrigger('schedule', cs))
    rows.push({
      // The same timers at their time: each new timer due within 15 minutes sends one delayed
      // message here (the HPA's 15 s period on AWS, where the schedule above runs once a minute).
      name: 'controllers-ticks',
      entry: 'functions/controllers/handler.ts',
      handler: 'tickHandler',
      trigger: { type: 'queue', queue: 'ticks', batchSize: 10, maxBatchingWindowMs: 0 },
      memoryMiB: 512,
      timeoutSeconds: 60,
    });
  return rows;
}

export const wiring: readonly FunctionWiring[] = [
  {
    name: 'api',
    entry: 'functions/api/handler.ts',
    handler: 'handler',
    // Streaming: watches stream for up to 14 minutes (functions/api/watch.ts); Lambda's limit is 15.
    trigger: { type: 'http', streaming: true },
    // Measured (npm run bench:api-cost; docs/cost.md): 1-4 ms of CPU per request of a pod's
    // lifecycle and 2-6 DynamoDB round trips, so the duration is mostly waiting and GB-s grow with
    // memory: 512 MB costs 0.14 GB-s per lifecycle (1,024 MB: 0.24) with a modelled p99 under
    // 70 ms for a GET or a POST. Less would leave little room over the ~250 MB the bench process
    // peaked at; CPU-heavy requests (a LIST of hundreds of pods) are the ones that wait for CPU.
    memoryMiB: 512,
    timeoutSeconds: 900,
  },
  {
    name: 'scheduler',
    entry: 'functions/scheduler/handler.ts',
    handler: 'handler',
    trigger: {
      type: 'stream',
      table: 'objects',
      batchSize: 100,
      maxBatchingWindowMs: 0,
      maxRetryAttempts: 10,
      bisectOnError: true,
      filters: schedulerFilters,
    },
    // I/O-bound (DynamoDB and SQS calls): the smallest size the api is measured to run well at.
    memoryMiB: 512,
    timeoutSeconds: 60,
  },
  {
    // Node heartbeats → Ready=Unknown, not-ready/unreachable taints, taint-based eviction. Every
    // 5 s locally; EventBridge rounds up to 1 minute on AWS (see functions/node-lifecycle/handler.ts).
    name: 'node-lifecycle',
    entry: 'functions/node-lifecycle/handler.ts',
    handler: 'handler',
    trigger: { type: 'schedule', everySeconds: 5 },
    memoryMiB: 512,
    timeoutSeconds: 60,
  },
  {
    // The kubelet relay (docs/exec.md): every API → agent call over the agents' outbound
    // connections. One invocation per relayed message, each a DynamoDB read at most and one
    // PostToConnection: I/O-bound and small, so the smallest memory. API Gateway waits at most 29 s
    // for an integration.
    name: 'kubelet-relay',
    entry: 'functions/relay/handler.ts',
    handler: 'handler',
    trigger: { type: 'websocket', stage: 'relay' },
    memoryMiB: 128,
    timeoutSeconds: 29,
  },
  ...controllerRows(),
];
