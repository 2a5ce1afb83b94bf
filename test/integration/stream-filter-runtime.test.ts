/**
 * The local runtime honours a stream row's filter criteria as Lambda's event source mapping does
 * (infra/stream-filter.ts): records no pattern matches are never delivered, the others arrive in
 * order, and the mapping keeps going past long runs of filtered records. Own DynamoDB Local and
 * runtime, with the recording fixture handler (test/fixtures/stream-recorder.ts).
 */
import { DeleteCommand, DynamoDBDocumentClient, PutCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '../../shared/config';
import { LOCAL_REGION } from '../../infra/local/dynamodb';
import type { FunctionWiring } from '../../infra/wiring';
import { startFixtureRuntime, type FixtureRuntime } from '../helpers/fixture-runtime';
import type { RecorderState } from '../fixtures/stream-recorder';

const wiring: readonly FunctionWiring[] = [
  {
    name: 'filtered',
    entry: 'test/fixtures/stream-recorder.ts',
    handler: 'handler',
    trigger: {
      type: 'stream',
      table: 'objects',
      batchSize: 10,
      maxBatchingWindowMs: 100,
      maxRetryAttempts: 5,
      bisectOnError: true,
      filters: [
        { dynamodb: { NewImage: { res: { S: ['wanted'] } } } },
        { eventName: ['REMOVE'], dynamodb: { OldImage: { res: { S: [{ prefix: 'want' }] } } } },
      ],
    },
    memoryMiB: 128,
    timeoutSeconds: 10,
  },
];

const config: Config = {
  region: LOCAL_REGION,
  objectsTable: 'filter-test-objects',
  changesTable: 'filter-test-changes',
  queuePrefix: 'filter-test',
  changeLogTtlSeconds: 3600,
};

let doc: DynamoDBDocumentClient;
const logs: string[] = [];
const recorder = () => (globalThis as { __streamRecorder?: RecorderState }).__streamRecorder;

let fixture: FixtureRuntime | undefined;

beforeAll(async () => {
  fixture = await startFixtureRuntime(config, wiring, (s) => logs.push(s));
  ({ doc } = fixture);
}, 120_000);

afterAll(async () => {
  await fixture?.stop();
}, 60_000);

async function waitFor(what: string, ok: () => boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\n${logs.slice(-20).join('\n')}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('stream trigger with filter criteria', () => {
  it('delivers only the records a pattern matches, in order, and never invokes for the rest', async () => {
    // Prepare
    const put = (item: Record<string, unknown>) => doc.send(new PutCommand({ TableName: config.objectsTable, Item: { pk: 'f', ...item } }));
    const remove = (sk: string) => doc.send(new DeleteCommand({ TableName: config.objectsTable, Key: { pk: 'f', sk } }));

    // Act: a long run of records nobody wants (more than a batch, and more than one GetRecords
    // page of the batch size) around the wanted ones.
    for (let i = 0; i < 25; i++) await put({ sk: `noise-${i}`, res: 'other', version: i });
    await put({ sk: 'a', res: 'wanted', version: 1 }); // INSERT, matches 1
    await put({ sk: 'b', res: 'other', version: 1 }); // INSERT, no
    await put({ sk: 'c', version: 1 }); // INSERT without the attribute, no
    await put({ sk: 'b', res: 'wanted', version: 2 }); // MODIFY into the selection, matches 1
    await remove('a'); // REMOVE, old image `wanted` has the prefix, matches 2
    await remove('c'); // REMOVE, no attribute, no
    for (let i = 0; i < 25; i++) await remove(`noise-${i}`);
    await put({ sk: 'z', res: 'wanted', version: 9 }); // the last one: everything before it is settled
    await waitFor('the last wanted record', () => (recorder()?.accepted ?? []).some((r) => r.key === 'f/z'));

    // Assess
    const delivered = recorder()!.batches.flat();
    expect(delivered.map((r) => `${r.eventName} ${r.key}@${r.version}`)).toEqual(['INSERT f/a@1', 'MODIFY f/b@2', 'REMOVE f/a@1', 'INSERT f/z@9']);
    expect(logs.some((l) => l.includes('2 filter pattern(s)'))).toBe(true);
  }, 90_000);
});
