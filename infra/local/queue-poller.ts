/**
 * The local runtime's SQS event source mapping: long-polls a queue and invokes the handler with
 * the event Lambda sends (aws-lambda SQSEvent), then deletes every message the handler did not
 * name in batchItemFailures (ReportBatchItemFailures). A message that failed, or whose invocation
 * threw, becomes visible again after the queue's visibility timeout, as on AWS.
 */
import { CreateQueueCommand, DeleteMessageBatchCommand, GetQueueAttributesCommand, ReceiveMessageCommand, type Message, type SQSClient } from '@aws-sdk/client-sqs';
import type { SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';

export interface QueuePollerOptions {
  readonly sqs: SQSClient;
  readonly queueName: string;
  readonly batchSize: number;
  /** Seconds a received message stays hidden (the function's timeout, at least). */
  readonly visibilityTimeoutSeconds: number;
  readonly region: string;
  readonly accountId: string;
  /** Invokes the handler; resolves with its answer. */
  readonly invoke: (event: SQSEvent) => Promise<unknown>;
  readonly log: (line: string) => void;
}

/** Makes the queue if it is missing (idempotent, as CloudFormation would have). */
export async function ensureQueue(sqs: SQSClient, queueName: string, visibilityTimeoutSeconds: number): Promise<string> {
  const out = await sqs.send(new CreateQueueCommand({ QueueName: queueName, Attributes: { VisibilityTimeout: String(visibilityTimeoutSeconds) } }));
  return out.QueueUrl!;
}

/** The SQSRecord Lambda hands a function for `m`. */
export function sqsRecord(m: Message, queueArn: string, region: string): SQSRecord {
  const attrs = m.Attributes ?? {};
  return {
    messageId: m.MessageId!,
    receiptHandle: m.ReceiptHandle!,
    body: m.Body ?? '',
    attributes: {
      ApproximateReceiveCount: attrs.ApproximateReceiveCount ?? '1',
      SentTimestamp: attrs.SentTimestamp ?? String(Date.now()),
      SenderId: attrs.SenderId ?? 'local',
      ApproximateFirstReceiveTimestamp: attrs.ApproximateFirstReceiveTimestamp ?? String(Date.now()),
    },
    messageAttributes: {},
    md5OfBody: m.MD5OfBody ?? '',
    eventSource: 'aws:sqs',
    eventSourceARN: queueArn,
    awsRegion: region,
  };
}

export class QueuePoller {
  private readonly abort = new AbortController();
  private loop?: Promise<void>;

  constructor(private readonly opts: QueuePollerOptions) {}

  async start(): Promise<void> {
    const url = await ensureQueue(this.opts.sqs, this.opts.queueName, this.opts.visibilityTimeoutSeconds);
    const attrs = await this.opts.sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['QueueArn'] }));
    const arn = attrs.Attributes?.QueueArn ?? `arn:aws:sqs:${this.opts.region}:${this.opts.accountId}:${this.opts.queueName}`;
    this.loop = this.run(url, arn);
  }

  private async run(url: string, arn: string): Promise<void> {
    const { sqs, log } = this.opts;
    const signal = this.abort.signal;
    while (!signal.aborted) {
      let messages: Message[];
      try {
        const out = await sqs.send(
          new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: Math.min(10, this.opts.batchSize), WaitTimeSeconds: 2, MessageSystemAttributeNames: ['All'] }),
          { abortSignal: signal },
        );
        messages = out.Messages ?? [];
      } catch (e) {
        if (signal.aborted) return;
        log(`[queue ${this.opts.queueName}] receive failed: ${(e as Error).message}`);
        await new Promise((r) => setTimeout(r, 1000));
        continue;
      }
      if (!messages.length) continue;
      const event: SQSEvent = { Records: messages.map((m) => sqsRecord(m, arn, this.opts.region)) };
      let failed: Set<string>;
      try {
        const answer = (await this.opts.invoke(event)) as SQSBatchResponse | undefined;
        failed = new Set((answer?.batchItemFailures ?? []).map((f) => f.itemIdentifier));
      } catch (e) {
        log(`[queue ${this.opts.queueName}] invocation failed: ${(e as Error).message}`);
        continue; // every message comes back after the visibility timeout
      }
      const done = messages.filter((m) => !failed.has(m.MessageId!));
      if (!done.length) continue;
      await sqs
        .send(new DeleteMessageBatchCommand({ QueueUrl: url, Entries: done.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle! })) }))
        .catch((e: unknown) => log(`[queue ${this.opts.queueName}] delete failed: ${(e as Error).message}`));
    }
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await this.loop?.catch(() => undefined);
  }
}
