import { CreateQueueCommand, DeleteQueueCommand, SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Coordination, MAX_WAKE_DELAY_SECONDS, parseTimerSk } from '../../functions/controllers/coordination';
import { handleTicks, type ControllerDeps } from '../../functions/controllers/handler';
import { QueuePoller } from '../../infra/local/queue-poller';
import { loadConfig } from '../../shared/config';
import { createSqsClient } from '../../shared/queue';
import { createDocumentClient } from '../../shared/store/dynamo';
import { ObjectStore } from '../../shared/store/store';
import { eventually, uniqueName } from '../helpers/api';

/*
 * Timer wake-ups through the tick queue (functions/controllers/coordination.ts): a new timer sends
 * one delayed message, a repeated one none; the tick consumer runs a timer that is still set and
 * drops it; the local runtime's SQS mapping (infra/local/queue-poller.ts) delivers after the
 * delay and redelivers what the handler reported failed.
 */
const config = loadConfig();
const doc = createDocumentClient(config);
const wakes: { sk: string; delaySeconds: number }[] = [];
const coordination = new Coordination(doc, config, (sk, delaySeconds) => (wakes.push({ sk, delaySeconds }), Promise.resolve()));
const deps: ControllerDeps = { store: new ObjectStore(doc, config), coordination };
const tick = (...bodies: string[]): SQSEvent => ({ Records: bodies.map((body, i) => ({ messageId: `m${i}`, body }) as SQSEvent['Records'][number]) });

describe('timer wake-ups', () => {
  it('a new timer sends one wake-up with its delay; the same timer again sends none', async () => {
    wakes.length = 0;
    const key = `horizontalpodautoscalers|horizontalpodautoscalers.autoscaling|default|${uniqueName('hpa')}`;
    const due = new Date(Date.now() + 15_000);
    await coordination.requeueAt('default', key, due);
    await coordination.requeueAt('default', key, due);
    expect(wakes).toHaveLength(1);
    expect(wakes[0]!.delaySeconds).toBeGreaterThanOrEqual(13);
    expect(wakes[0]!.delaySeconds).toBeLessThanOrEqual(16);
    expect(parseTimerSk(wakes[0]!.sk)).toMatchObject({ tenant: 'default', key });
  });

  it('a timer beyond SQS delay limit is left to the schedule', async () => {
    wakes.length = 0;
    const key = `cronjobs|cronjobs.batch|default|${uniqueName('cj')}`;
    await coordination.requeueAt('default', key, new Date(Date.now() + (MAX_WAKE_DELAY_SECONDS + 60) * 1000));
    expect(wakes).toEqual([]);
  });

  it('a tick runs the timer and drops it; a second delivery finds nothing to do; garbage is dropped', async () => {
    wakes.length = 0;
    const key = `horizontalpodautoscalers|horizontalpodautoscalers.autoscaling|default|${uniqueName('gone')}`;
    await coordination.requeueAt('default', key, new Date(Date.now() + 1000));
    const entry = parseTimerSk(wakes[0]!.sk)!;
    expect(await coordination.isSet(entry)).toBe(true);
    const answer = await handleTicks(deps, tick(JSON.stringify({ sk: entry.sk }), 'not json', JSON.stringify({ sk: 'no-date#x#y' }), JSON.stringify({})));
    expect(answer.batchItemFailures).toEqual([]);
    expect(await coordination.isSet(entry)).toBe(false);
    expect((await handleTicks(deps, tick(JSON.stringify({ sk: entry.sk })))).batchItemFailures).toEqual([]);
  });
});

describe('the local runtime SQS mapping', () => {
  let sqs: SQSClient;
  const queueName = `${config.queuePrefix}_test-ticks-${Date.now()}`;
  let poller: QueuePoller;
  const seen: { body: string; at: number }[] = [];
  let failOnce = true;

  beforeAll(async () => {
    sqs = createSqsClient(config);
    poller = new QueuePoller({
      sqs,
      queueName,
      batchSize: 10,
      visibilityTimeoutSeconds: 1,
      region: config.region,
      accountId: '000000000000',
      log: () => undefined,
      invoke: (event) => {
        const failures: string[] = [];
        for (const r of event.Records) {
          seen.push({ body: r.body, at: Date.now() });
          if (r.body === 'flaky' && failOnce) {
            failOnce = false;
            failures.push(r.messageId);
          }
        }
        return Promise.resolve({ batchItemFailures: failures.map((itemIdentifier) => ({ itemIdentifier })) } satisfies SQSBatchResponse);
      },
    });
    await poller.start();
  });

  afterAll(async () => {
    await poller.stop();
    const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: queueName }));
    await sqs.send(new DeleteQueueCommand({ QueueUrl }));
    sqs.destroy();
  });

  it('delivers a delayed message after its delay, and a reported failure again', async () => {
    const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: queueName }));
    const sent = Date.now();
    await sqs.send(new SendMessageCommand({ QueueUrl, MessageBody: 'later', DelaySeconds: 2 }));
    await sqs.send(new SendMessageCommand({ QueueUrl, MessageBody: 'flaky' }));
    const later = await eventually(async () => seen.find((s) => s.body === 'later'), 15_000, 'the delayed message');
    expect(later.at - sent).toBeGreaterThanOrEqual(1900);
    await eventually(async () => (seen.filter((s) => s.body === 'flaky').length >= 2 ? true : undefined), 15_000, 'the failed message redelivered');
    // Handled messages are deleted: none comes back.
    await new Promise((r) => setTimeout(r, 2500));
    expect(seen.filter((s) => s.body === 'later')).toHaveLength(1);
    expect(seen.filter((s) => s.body === 'flaky')).toHaveLength(2);
  });
});
