/**
 * The meter's SDK middlewares (meter.ts): installed on the DynamoDB and SQS clients the handlers
 * build (shared/store/dynamo.ts, shared/queue.ts). Outside a cost scope they pass requests through
 * untouched; inside one:
 * - DynamoDB: item and query requests ask for `ReturnConsumedCapacity: TOTAL` (unless the caller
 *   asked for something already) and the capacity DynamoDB answers is added to the scope as read
 *   or write units. A conditional write that fails consumes write units too, but its error carries
 *   no capacity: counted as 1 write unit per item it was about (DynamoDB's minimum).
 * - SQS: one request per call (each 64 KB of a message batch's payload is billed as one more).
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { SQSClient } from '@aws-sdk/client-sqs';
import { count, currentScope } from './meter';

const READS = new Set(['GetItemCommand', 'QueryCommand', 'ScanCommand', 'BatchGetItemCommand', 'TransactGetItemsCommand']);
const WRITES = new Set(['PutItemCommand', 'UpdateItemCommand', 'DeleteItemCommand', 'BatchWriteItemCommand', 'TransactWriteItemsCommand']);

interface Capacity {
  CapacityUnits?: number;
  ReadCapacityUnits?: number;
  WriteCapacityUnits?: number;
}

/** Read and write units of a response's ConsumedCapacity (one object, or a list for batches and transactions). */
export function unitsOf(commandName: string, consumed: Capacity | Capacity[] | undefined): { readUnits: number; writeUnits: number } {
  const list = consumed === undefined ? [] : Array.isArray(consumed) ? consumed : [consumed];
  let readUnits = 0;
  let writeUnits = 0;
  for (const c of list) {
    if (c.ReadCapacityUnits !== undefined || c.WriteCapacityUnits !== undefined) {
      readUnits += c.ReadCapacityUnits ?? 0;
      writeUnits += c.WriteCapacityUnits ?? 0;
    } else if (WRITES.has(commandName)) writeUnits += c.CapacityUnits ?? 0;
    else readUnits += c.CapacityUnits ?? 0;
  }
  return { readUnits, writeUnits };
}

/** Items a failed conditional write was about (its minimum charge). */
function itemsOf(commandName: string, input: Record<string, unknown>): number {
  if (commandName === 'TransactWriteItemsCommand') return (input.TransactItems as unknown[] | undefined)?.length ?? 1;
  return 1;
}

export function meterDynamoDb(client: DynamoDBClient): void {
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const name = context.commandName ?? '';
      const metered = READS.has(name) || WRITES.has(name);
      if (!metered || !currentScope()) return next(args);
      const input = args.input as Record<string, unknown>;
      const ours = input.ReturnConsumedCapacity === undefined;
      try {
        const out = await next(ours ? { ...args, input: { ...input, ReturnConsumedCapacity: 'TOTAL' } } : args);
        count(unitsOf(name, (out.output as { ConsumedCapacity?: Capacity | Capacity[] }).ConsumedCapacity));
        if (ours) delete (out.output as { ConsumedCapacity?: unknown }).ConsumedCapacity;
        return out;
      } catch (e) {
        const errName = (e as { name?: string }).name;
        if (WRITES.has(name) && (errName === 'ConditionalCheckFailedException' || errName === 'TransactionCanceledException')) count({ writeUnits: itemsOf(name, input) });
        throw e;
      }
    },
    { step: 'initialize', name: 'stratusCostMeter', override: true },
  );
}

export function meterSqs(client: SQSClient): void {
  client.middlewareStack.add(
    (next) => async (args) => {
      if (currentScope()) count({ sqsRequests: 1 });
      return next(args);
    },
    { step: 'initialize', name: 'stratusCostMeter', override: true },
  );
}
