/**
 * The local Lambda runtime against real DynamoDB Local, with throwaway fixture handlers
 * (test/fixtures/) and its own wiring: the real handlers are not needed here.
 */
import { request as httpsRequest } from 'node:https';
import type { IncomingHttpHeaders } from 'node:http';
import { DynamoDBDocumentClient, PutCommand } from '@aws-sdk/lib-dynamodb';
import type { APIGatewayProxyEventV2, ScheduledEvent } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '../../shared/config';
import { LOCAL_REGION } from '../../infra/local/dynamodb';
import type { LocalRuntime } from '../../infra/local/runtime';
import type { FunctionWiring } from '../../infra/wiring';
import { startFixtureRuntime, type FixtureRuntime } from '../helpers/fixture-runtime';
import type { RecorderState, SeenRecord } from '../fixtures/stream-recorder';

const fixtureWiring: readonly FunctionWiring[] = [
  {
    name: 'echo',
    entry: 'test/fixtures/http-echo.ts',
    handler: 'handler',
    trigger: { type: 'http', streaming: false },
    memoryMiB: 128,
    timeoutSeconds: 10,
  },
  {
    name: 'streamer',
    entry: 'test/fixtures/streaming.ts',
    handler: 'handler',
    trigger: { type: 'http', streaming: true },
    memoryMiB: 128,
    timeoutSeconds: 30,
  },
  {
    name: 'recorder',
    entry: 'test/fixtures/stream-recorder.ts',
    handler: 'handler',
    trigger: {
      type: 'stream',
      table: 'objects',
      batchSize: 10,
      maxBatchingWindowMs: 100,
      maxRetryAttempts: 5,
      bisectOnError: true,
    },
    memoryMiB: 128,
    timeoutSeconds: 10,
  },
  {
    name: 'ticker',
    entry: 'test/fixtures/scheduled.ts',
    handler: 'handler',
    trigger: { type: 'schedule', everySeconds: 1 },
    memoryMiB: 128,
    timeoutSeconds: 10,
  },
];

const config: Config = {
  region: LOCAL_REGION,
  objectsTable: 'runtime-test-objects',
  changesTable: 'runtime-test-changes',
  queuePrefix: 'runtime-test',
  changeLogTtlSeconds: 3600,
};

interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
  /** When each chunk arrived, in ms since the request was sent. */
  chunkTimes: number[];
}

let runtime: LocalRuntime;
let caCert: string;
let doc: DynamoDBDocumentClient;
const logs: string[] = [];

function call(
  base: string,
  path: string,
  opts: { method?: string; headers?: Record<string, string | string[]>; body?: Buffer | string; chunked?: boolean } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const sent = Date.now();
    const req = httpsRequest(new URL(path, base), { method: opts.method ?? 'GET', ca: caCert, headers: opts.headers }, (res) => {
      const chunks: Buffer[] = [];
      const chunkTimes: number[] = [];
      res.on('data', (c: Buffer) => {
        chunks.push(c);
        chunkTimes.push(Date.now() - sent);
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks), chunkTimes }));
      res.on('error', reject);
    });
    req.on('error', reject);
    if (opts.chunked && Buffer.isBuffer(opts.body)) {
      // No content-length: the server has to count while reading.
      for (let i = 0; i < opts.body.length; i += 1 << 20) req.write(opts.body.subarray(i, i + (1 << 20)));
      req.end();
    } else req.end(opts.body);
  });
}

async function waitFor(what: string, ok: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\n${logs.slice(-20).join('\n')}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const recorder = () => (globalThis as { __streamRecorder?: RecorderState }).__streamRecorder;

let fixture: FixtureRuntime | undefined;

beforeAll(async () => {
  fixture = await startFixtureRuntime(config, fixtureWiring, (s) => logs.push(s));
  ({ runtime, doc } = fixture);
  caCert = fixture.caCert;
}, 120_000);

afterAll(async () => {
  await fixture?.stop();
}, 60_000);

describe('HTTP trigger (Function URL)', () => {
  it('delivers a payload format 2.0 event and writes the structured result back', async () => {
    // Prepare
    const body = JSON.stringify({ hello: 'world' });

    // Act
    const reply = await call(runtime.urls.echo, '/some/path?a=1&a=2&b=x%20y', {
      method: 'POST',
      headers: {
        'Content-Type': 'application/json',
        'X-Dup': ['one', 'two'],
        Cookie: 'c1=v1; c2=v2',
        'User-Agent': 'runtime-test',
      },
      body,
    });

    // Assess
    expect(reply.status).toBe(200);
    expect(reply.headers['x-echo']).toBe('yes');
    expect(reply.headers['set-cookie']).toEqual(['a=1; Path=/', 'b=2; Path=/']);
    const { event, context } = JSON.parse(reply.body.toString('utf8')) as {
      event: APIGatewayProxyEventV2;
      context: { functionName: string; awsRequestId: string; remaining: number };
    };
    expect(event.version).toBe('2.0');
    expect(event.routeKey).toBe('$default');
    expect(event.rawPath).toBe('/some/path');
    expect(event.rawQueryString).toBe('a=1&a=2&b=x%20y');
    expect(event.queryStringParameters).toEqual({ a: '1,2', b: 'x y' });
    expect(event.cookies).toEqual(['c1=v1', 'c2=v2']);
    expect(event.headers['x-dup']).toBe('one,two');
    expect(event.headers['content-type']).toBe('application/json');
    expect(event.headers.cookie).toBeUndefined();
    expect(event.body).toBe(body);
    expect(event.isBase64Encoded).toBe(false);
    expect(event.requestContext).toMatchObject({
      accountId: 'anonymous',
      routeKey: '$default',
      stage: '$default',
      http: { method: 'POST', path: '/some/path', protocol: 'HTTP/1.1', sourceIp: '127.0.0.1', userAgent: 'runtime-test' },
    });
    expect(event.requestContext.time).toMatch(/^\d{2}\/\w{3}\/\d{4}:\d{2}:\d{2}:\d{2} \+0000$/);
    expect(typeof event.requestContext.timeEpoch).toBe('number');
    expect(context.functionName).toBe('echo');
    expect(context.remaining).toBeGreaterThan(9_000);
  });

  it('base64-encodes non-text bodies and results', async () => {
    // Prepare
    const bytes = Buffer.from([0, 1, 2, 3, 254, 255]);

    // Act
    const echoed = await call(runtime.urls.echo, '/upload', {
      method: 'PUT',
      headers: { 'content-type': 'application/vnd.kubernetes.protobuf' },
      body: bytes,
    });
    const binary = await call(runtime.urls.echo, '/binary');
    const plain = await call(runtime.urls.echo, '/plain');

    // Assess
    const { event } = JSON.parse(echoed.body.toString('utf8')) as { event: APIGatewayProxyEventV2 };
    expect(event.isBase64Encoded).toBe(true);
    expect(Buffer.from(event.body ?? '', 'base64')).toEqual(bytes);
    expect(binary.body).toEqual(Buffer.from([0, 1, 2, 255]));
    expect(plain.status).toBe(200);
    expect(plain.headers['content-type']).toBe('application/json');
    expect(plain.body.toString()).toBe('just a string');
  });

  it('answers 413 with a Status above 6 MB', async () => {
    // Prepare
    const big = Buffer.alloc(6 * 1024 * 1024 + 1, 'a');

    // Act
    const declared = await call(runtime.urls.echo, '/big', { method: 'POST', headers: { 'content-type': 'text/plain' }, body: big });
    const chunked = await call(runtime.urls.echo, '/big', { method: 'POST', headers: { 'content-type': 'text/plain' }, body: big, chunked: true });
    const after = await call(runtime.urls.echo, '/small', { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'ok' });

    // Assess
    for (const reply of [declared, chunked]) {
      expect(reply.status).toBe(413);
      expect(JSON.parse(reply.body.toString())).toMatchObject({ kind: 'Status', status: 'Failure', reason: 'RequestEntityTooLarge', code: 413 });
    }
    expect(after.status).toBe(200);
  });

  it('turns a throwing handler into a 500 Status and keeps serving', async () => {
    // Act
    const failed = await call(runtime.urls.echo, '/throw');
    const after = await call(runtime.urls.echo, '/still-alive');

    // Assess
    expect(failed.status).toBe(500);
    expect(JSON.parse(failed.body.toString())).toMatchObject({ kind: 'Status', reason: 'InternalError', code: 500 });
    expect(logs.some((l) => l.includes('boom from the echo fixture'))).toBe(true);
    expect(after.status).toBe(200);
  });
});

describe('HTTP trigger with response streaming', () => {
  it('sends the prelude as the response head and the chunks as they are written', async () => {
    // Act
    const reply = await call(runtime.urls.streamer, '/chunks');

    // Assess
    expect(reply.status).toBe(201);
    expect(reply.headers['x-stream']).toBe('yes');
    expect(reply.headers['content-type']).toBe('text/plain');
    expect(reply.body.toString()).toBe('chunk 0\nchunk 1\nchunk 2\nchunk 3\nchunk 4\n');
    // Five writes 200 ms apart: the first byte arrives long before the last.
    expect(reply.chunkTimes.length).toBeGreaterThanOrEqual(3);
    expect(reply.chunkTimes[reply.chunkTimes.length - 1] - reply.chunkTimes[0]).toBeGreaterThan(500);
  });

  it('destroys the response stream when the client goes away, ending the handler loop', async () => {
    // Prepare
    const state = () => (globalThis as { __streamingFixture?: { foreverEnded: boolean } }).__streamingFixture;

    // Act
    await new Promise<void>((resolve, reject) => {
      const req = httpsRequest(new URL('/forever', runtime.urls.streamer), { ca: caCert }, (res) => {
        let chunks = 0;
        res.on('data', () => {
          if (++chunks === 3) {
            req.destroy();
            resolve();
          }
        });
      });
      req.on('error', (err) => (req.destroyed ? undefined : reject(err)));
      req.end();
    });

    // Assess
    await waitFor('the streaming handler to notice the disconnect', () => state()?.foreverEnded === true, 5_000);
  });
});

describe('stream trigger (DynamoDB Streams event source mapping)', () => {
  const put = (item: Record<string, unknown>) => doc.send(new PutCommand({ TableName: config.objectsTable, Item: item }));
  const byKey = (records: SeenRecord[], prefix: string) => {
    const out = new Map<string, number[]>();
    for (const r of records.filter((x) => x.key.startsWith(prefix))) out.set(r.key, [...(out.get(r.key) ?? []), r.version]);
    return out;
  };

  it('delivers each item’s changes in order and retries from a reported batch item failure', async () => {
    // Prepare
    const keys = ['order/a', 'order/b', 'order/c'];
    const versions = 15;

    // Act: each key's writes in sequence, the keys concurrently; order/b v5 fails once.
    await Promise.all(
      keys.map(async (key) => {
        for (let v = 1; v <= versions; v++) {
          const [pk, sk] = key.split('/');
          await put({ pk, sk, version: v, ...(key === 'order/b' && v === 5 ? { failOnce: true } : {}) });
        }
      }),
    );
    await waitFor('all records to be accepted', () => (recorder()?.accepted.filter((r) => r.key.startsWith('order/')).length ?? 0) >= keys.length * versions);

    // Assess
    const state = recorder()!;
    const accepted = byKey(state.accepted, 'order/');
    for (const key of keys) expect(accepted.get(key)).toEqual(Array.from({ length: versions }, (_, i) => i + 1));
    expect(state.failedOnce.has('order/b@5')).toBe(true);
    const delivered = state.batches.flat().filter((r) => r.key.startsWith('order/'));
    const failedSeq = delivered.find((r) => r.key === 'order/b' && r.version === 5)!.seq;
    expect(delivered.filter((r) => r.seq === failedSeq).length).toBeGreaterThanOrEqual(2);
    // Records before the failed one in its batch were checkpointed: never delivered again.
    const failingBatch = state.batches.find((b) => b.some((r) => r.seq === failedSeq))!;
    const before = failingBatch.slice(0, failingBatch.findIndex((r) => r.seq === failedSeq));
    for (const r of before) expect(delivered.filter((d) => d.seq === r.seq).length).toBe(1);
    // The record shape is Lambda's.
    expect(delivered.filter((r) => r.version === 1).every((r) => r.eventName === 'INSERT')).toBe(true);
    expect(delivered.filter((r) => r.version > 1).every((r) => r.eventName === 'MODIFY')).toBe(true);
    expect(state.firstRecord).toMatchObject({
      eventName: 'INSERT',
      eventVersion: '1.1',
      eventSource: 'aws:dynamodb',
      awsRegion: LOCAL_REGION,
      eventSourceARN: expect.stringContaining(`table/${config.objectsTable}/stream/`),
      dynamodb: {
        Keys: { pk: { S: expect.any(String) }, sk: { S: expect.any(String) } },
        NewImage: { version: { N: '1' } },
        SequenceNumber: expect.any(String),
        SizeBytes: expect.any(Number),
        StreamViewType: 'NEW_AND_OLD_IMAGES',
        ApproximateCreationDateTime: expect.any(Number),
      },
    });
  }, 60_000);

  it('retries a whole batch after the handler throws, and keeps going', async () => {
    // Act
    await put({ pk: 'throw', sk: 'x', version: 1 });
    await put({ pk: 'throw', sk: 'x', version: 2, throwOnce: true });
    await put({ pk: 'throw', sk: 'x', version: 3 });
    await waitFor('records after the throw to be accepted', () =>
      (recorder()?.accepted ?? []).some((r) => r.key === 'throw/x' && r.version === 3),
    );

    // Assess
    const state = recorder()!;
    expect(state.thrownOnce.has('throw/x@2')).toBe(true);
    expect(byKey(state.accepted, 'throw/').get('throw/x')).toEqual([1, 2, 3]);
    expect(logs.some((l) => l.includes('throwOnce throw/x@2'))).toBe(true);
  }, 60_000);
});

describe('schedule trigger', () => {
  it('invokes with an EventBridge Scheduled Event', async () => {
    // Prepare
    const events = () => (globalThis as { __scheduledFixture?: ScheduledEvent[] }).__scheduledFixture ?? [];

    // Act
    await waitFor('a scheduled invocation', () => events().length > 0, 5_000);

    // Assess
    expect(events()[0]).toMatchObject({ 'detail-type': 'Scheduled Event', source: 'aws.events', region: LOCAL_REGION, detail: {} });
  });
});
