/**
 * The one wiring table: which handler runs on which trigger.
 *
 * Read by the CDK app (infra/stack.ts) to create functions, Function URLs, event source
 * mappings and schedules, and by the local runtime (infra/local/runtime.ts) to play those
 * same triggers against the very same handlers. Neither may wire a handler that is not here,
 * so the two can never drift apart.
 */

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
    }
  /** EventBridge Scheduler rate schedule (`rate(N seconds|minutes)` on AWS). */
  | { readonly type: 'schedule'; readonly everySeconds: number };

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

export const wiring: readonly FunctionWiring[] = [
  {
    name: 'api',
    entry: 'functions/api/handler.ts',
    handler: 'handler',
    // Streaming: watches stream for up to 14 minutes (functions/api/watch.ts); Lambda's limit is 15.
    trigger: { type: 'http', streaming: true },
    memoryMiB: 1024,
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
    },
    memoryMiB: 1024,
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
    // Every stream-driven controller (ReplicaSet, Deployment, DaemonSet, StatefulSet, Job,
    // CronJob bookkeeping, garbage collector) in ONE consumer: a shard allows about two readers
    // and the scheduler is the other. Small window: a burst of pod updates is one reconcile.
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
    },
    memoryMiB: 1024,
    timeoutSeconds: 60,
  },
  {
    // Time-driven controller work (CronJob schedules, progress deadlines, minReadySeconds,
    // activeDeadlineSeconds, TTLs) from the timers controllers set. Every 10 s locally;
    // EventBridge rounds it up to 1 minute on AWS (the CDK warns), which an every-minute
    // CronJob still meets.
    name: 'controllers-schedule',
    entry: 'functions/controllers/handler.ts',
    handler: 'scheduleHandler',
    trigger: { type: 'schedule', everySeconds: 10 },
    memoryMiB: 512,
    timeoutSeconds: 60,
  },
];
