import { GetQueueUrlCommand, SendMessageCommand, SQSClient, QueueDoesNotExist } from '@aws-sdk/client-sqs';
import { z } from 'zod';
import { nodeQueueName, type Config } from './config';

/**
 * The placement message on a node's queue. It only says "this pod changed, look at it":
 * the node agent re-reads the pod from the API (level-triggered), so duplicates, reordering
 * and losses are harmless (its periodic resync covers losses).
 */
export const PodSyncMessageSchema = z.object({
  kind: z.literal('sync'),
  tenant: z.string(),
  namespace: z.string(),
  name: z.string(),
  uid: z.string(),
});
export type PodSyncMessage = z.infer<typeof PodSyncMessageSchema>;

/**
 * An SQS client for this configuration. The endpoint comes from AWS_ENDPOINT_URL_SQS when set;
 * then the queue URL's own host (e.g. an emulator's `sqs.us-east-1.localhost`) must not be
 * used as the endpoint, which the SDK does by default when no endpoint is passed in code.
 */
export function createSqsClient(config: Config): SQSClient {
  const overridden = !!(process.env.AWS_ENDPOINT_URL_SQS || process.env.AWS_ENDPOINT_URL);
  return new SQSClient({ region: config.region, ...(overridden ? { useQueueUrlAsEndpoint: false } : {}) });
}

/** Sends pod sync messages to node queues (created by the node agents at registration). */
export class NodeQueues {
  private readonly urls = new Map<string, string>();
  private readonly sqs: SQSClient;

  constructor(private readonly config: Config, sqs?: SQSClient) {
    this.sqs = sqs ?? createSqsClient(config);
  }

  /** Pods (uid) this instance sent for in the last minute: their bind records need no second message. */
  private readonly recent = new Map<string, number>();

  /** Whether this instance sent a message for the pod in the last minute. */
  sentRecently(uid: string): boolean {
    const at = this.recent.get(uid);
    return at !== undefined && Date.now() - at < 60_000;
  }

  /** True when sent; false when the node has no queue yet (its agent will resync). */
  async send(nodeName: string, message: PodSyncMessage): Promise<boolean> {
    const queueName = nodeQueueName(this.config.queuePrefix, message.tenant, nodeName);
    let url = this.urls.get(queueName);
    try {
      if (!url) {
        url = (await this.sqs.send(new GetQueueUrlCommand({ QueueName: queueName }))).QueueUrl!;
        this.urls.set(queueName, url);
      }
      await this.sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: JSON.stringify(PodSyncMessageSchema.parse(message)) }));
      if (this.recent.size > 10_000) this.recent.clear();
      this.recent.set(message.uid, Date.now());
      return true;
    } catch (e) {
      if (e instanceof QueueDoesNotExist || (e as { name?: string }).name === 'QueueDoesNotExist' || (e as { name?: string }).name === 'AWS.SimpleQueueService.NonExistentQueue') {
        this.urls.delete(queueName);
        return false;
      }
      throw e;
    }
  }
}
