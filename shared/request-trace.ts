/**
 * A debugging aid for benchmarks, off unless STRATUS_TRACE_REQUESTS is set (the local runtime's
 * request trace, infra/local/runtime.ts): what one request spent waiting on DynamoDB, counted by
 * a middleware on the process's DynamoDB client while the request's async context is current.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';

export interface RequestTrace {
  /** DynamoDB calls made, each `Command:ms`. */
  calls: string[];
  /** Their total time, ms. */
  ms: number;
}

export const requestTraces = new AsyncLocalStorage<RequestTrace>();

/** Times each command `client` sends within a traced request (only when tracing is on). */
export function traceDynamoDb(client: DynamoDBClient, env: NodeJS.ProcessEnv = process.env): void {
  if (!env.STRATUS_TRACE_REQUESTS) return;
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const trace = requestTraces.getStore();
      if (!trace) return next(args);
      const t0 = performance.now();
      try {
        return await next(args);
      } finally {
        const ms = performance.now() - t0;
        trace.ms += ms;
        trace.calls.push(`${String(context.commandName ?? '?').replace(/Command$/, '')}:${ms.toFixed(1)}`);
      }
    },
    { step: 'initialize', name: 'stratusRequestTrace' },
  );
}
