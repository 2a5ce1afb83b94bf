import { randomBytes } from 'node:crypto';
import { CreateQueueCommand, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { loadConfig, nodeQueueName, type Config } from '../../shared/config';
import { createSqsClient, NodeQueues, podSyncMessage, type PodSyncMessage } from '../../shared/queue';
import type { KubeObject } from '../../shared/resources';

/*
 * NodeQueues against the SQS emulator of the local stack: messages for one node go in as few
 * SendMessageBatch requests as fit, every message arrives once, and a node without a queue is
 * "not sent" rather than an error.
 */
let config: Config;
let sqs: SQSClient;
/** The commands this client sent, by name. */
const sentCommands: string[] = [];

beforeAll(() => {
  Object.assign(process.env, inject('stack').env);
  config = loadConfig();
  sqs = createSqsClient(config);
  sqs.middlewareStack.add((next, context) => (args) => {
    sentCommands.push(String(context.commandName));
    return next(args);
  }, { step: 'initialize' });
});

const pod = (name: string, extra = 0): KubeObject => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, namespace: 'default', uid: `uid-${name}`, resourceVersion: '7', annotations: extra ? { pad: 'x'.repeat(extra) } : {} },
  spec: { nodeName: 'n1', containers: [{ name: 'c', image: 'busybox' }] },
});

async function receiveAll(url: string, expected: number): Promise<PodSyncMessage[]> {
  const got: PodSyncMessage[] = [];
  for (let i = 0; i < 20 && got.length < expected; i++) {
    const out = await sqs.send(new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }));
    for (const m of out.Messages ?? []) got.push(JSON.parse(m.Body!) as PodSyncMessage);
  }
  return got;
}

describe('NodeQueues.sendAll', () => {
  it('sends 25 pods for one node in 3 batch requests; each arrives once, carrying its pod', async () => {
    const tenant = `q${randomBytes(4).toString('hex')}`;
    const url = (await sqs.send(new CreateQueueCommand({ QueueName: nodeQueueName(config.queuePrefix, tenant, 'n1') }))).QueueUrl!;
    const queues = new NodeQueues(config, sqs);
    const messages = Array.from({ length: 25 }, (_, i) => podSyncMessage(tenant, pod(`p${i}`)));
    sentCommands.length = 0;
    // Act
    expect(await queues.sendAll('n1', messages)).toBe(true);
    // Assess
    expect(sentCommands).toEqual(['GetQueueUrlCommand', 'SendMessageBatchCommand', 'SendMessageBatchCommand', 'SendMessageBatchCommand']);
    const got = await receiveAll(url, 25);
    expect(got.map((m) => m.name).sort()).toEqual(messages.map((m) => m.name).sort());
    expect(got.find((m) => m.name === 'p3')!.pod).toEqual(pod('p3'));
    for (const m of messages) expect(queues.sentRecently(m.uid)).toBe(true);
    // Known to the whole process (a function instance), whichever NodeQueues sent it.
    expect(new NodeQueues(config, sqs).sentRecently(messages[0]!.uid)).toBe(true);
    expect(queues.sentRecently('never-sent')).toBe(false);
  });

  it('splits a batch by size: three pods of 100 KB each go in two requests', async () => {
    const tenant = `q${randomBytes(4).toString('hex')}`;
    const url = (await sqs.send(new CreateQueueCommand({ QueueName: nodeQueueName(config.queuePrefix, tenant, 'n1') }))).QueueUrl!;
    const queues = new NodeQueues(config, sqs);
    const messages = ['a', 'b', 'c'].map((n) => podSyncMessage(tenant, pod(n, 100 * 1024)));
    await queues.sendAll('n1', messages); // learns the URL
    sentCommands.length = 0;
    // Act
    await queues.sendAll('n1', messages);
    // Assess
    expect(sentCommands).toEqual(['SendMessageBatchCommand', 'SendMessageBatchCommand']);
    const got = await receiveAll(url, 6);
    expect(got).toHaveLength(6);
    expect(got.every((m) => (m.pod?.metadata.annotations as Record<string, string>).pad.length === 100 * 1024)).toBe(true);
  });

  it('a node with no queue yet is "not sent", not an error, with the queue URL looked up or derived', async () => {
    const queues = new NodeQueues(config, sqs);
    expect(await queues.sendAll('nowhere', [podSyncMessage(`q${randomBytes(4).toString('hex')}`, pod('x'))])).toBe(false);
    const tenant = `q${randomBytes(4).toString('hex')}`;
    await sqs.send(new CreateQueueCommand({ QueueName: nodeQueueName(config.queuePrefix, tenant, 'n1') }));
    expect(await queues.sendAll('n1', [podSyncMessage(tenant, pod('x'))])).toBe(true);
    sentCommands.length = 0;
    expect(await queues.sendAll('nowhere', [podSyncMessage(tenant, pod('x'))])).toBe(false);
    expect(sentCommands).toEqual(['SendMessageCommand']);
  });

  it('after one GetQueueUrl, derives the other queues\' URLs (one lookup for many nodes)', async () => {
    const tenant = `q${randomBytes(4).toString('hex')}`;
    const urls = await Promise.all(['n1', 'n2', 'n3'].map(async (n) => (await sqs.send(new CreateQueueCommand({ QueueName: nodeQueueName(config.queuePrefix, tenant, n) }))).QueueUrl!));
    const queues = new NodeQueues(config, sqs);
    sentCommands.length = 0;
    // Act
    for (const n of ['n1', 'n2', 'n3']) expect(await queues.send(n, podSyncMessage(tenant, pod(`p-${n}`)))).toBe(true);
    // Assess
    expect(sentCommands.filter((c) => c === 'GetQueueUrlCommand')).toHaveLength(1);
    for (const [i, url] of urls.entries()) expect((await receiveAll(url, 1)).map((m) => m.name)).toEqual([`p-n${i + 1}`]);
  });
});
