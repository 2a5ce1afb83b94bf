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
    trigger: { type: 'http', streaming: false },
    memoryMiB: 1024,
    timeoutSeconds: 30,
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
];
