/**
 * The node's placement queue on SQS: the scheduler (and anyone who changes a bound pod) sends
 * `{"kind":"sync",...}` naming a pod, usually with the pod itself as it was when the message was
 * sent; the agent long-polls, syncs that pod, and deletes the message only once the sync
 * succeeded. A failed sync leaves the message to reappear after the visibility timeout; after 5
 * receives SQS moves it to the dead-letter queue.
 *
 * Placements are sealed for this node (shared/placement-seal.ts) and opened with its placement key
 * (placement-key.ts). A sealed message that does not open here (sealed for another node or cluster,
 * under a replaced key, or changed) is dropped with a log line: the periodic resync (a list by
 * spec.nodeName) syncs whatever pod it named. A placement in clear (from a sender of before sealed
 * placements, or forged by anyone who may send to this queue) is taken as a hint only: its carried
 * pod is not used, the pod is read from the API.
 */
import {
  CreateQueueCommand,
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  QueueNameExists,
  ReceiveMessageCommand,
  SetQueueAttributesCommand,
  type Message,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { z } from 'zod';
import { errorMessage, withLogKeys, type Logger } from './log';
import { sleep } from '../shared/sleep';
import { PodSyncMessageSchema, ServicesSignalSchema, type ServicesSignal } from '../shared/queue';
import { PodSchema } from './types';
import { SealedPlacementSchema } from '../shared/placement-seal';
import type { OpenResult } from './placement-key';
import { RelaySessionMessageSchema, type RelaySessionMessage } from '../shared/relay/session';

/**
 * The message body (shared/queue.ts, the schema its senders use), parsed at the boundary;
 * anything else is malformed. `pod` is the pod as the sender saw it (optional: older senders, a
 * removal, a pod too large for a message leave it out), read as a stored pod. A carried pod the
 * agent cannot read is dropped, not the message: the agent then reads the pod from the API as it
 * does for a message without one.
 */
export const PlacementMessageSchema = PodSyncMessageSchema.extend({
  pod: PodSchema.optional().catch(undefined),
});
export type PlacementMessage = z.infer<typeof PlacementMessageSchema>;

/** What SQS says about a received message besides its body. */
export interface PlacementReceipt {
  /** When SQS accepted the message (its SentTimestamp attribute), when it said. */
  readonly sentAt?: Date;
}

/** After this many receives without a delete, SQS moves a message to the DLQ. */
export const MAX_RECEIVE_COUNT = 5;

export interface PlacementQueueOptions {
  readonly sqs: SQSClient;
  readonly queueName: string;
  readonly deadLetterQueueName: string;
  readonly log: Logger;
  /** @default 20 (the SQS maximum: fewest requests while idle) */
  readonly waitTimeSeconds?: number;
  /** Messages being handled at once; polling pauses beyond it. @default 20 */
  readonly maxInFlight?: number;
  /**
   * Opens the node side of a kubelet relay session (shared/relay/session.ts) when the node is in
   * relay mode; without it such messages are dropped. Never retried: a session lives seconds.
   */
  readonly onRelay?: (msg: RelaySessionMessage) => Promise<void>;
  /**
   * Opens sealed placements with the node's key (placement-key.ts PlacementKeyring); without it,
   * sealed placements are dropped (the resync covers their pods).
   */
  readonly keys?: { open(sealed: z.infer<typeof SealedPlacementSchema>): Promise<OpenResult> };
}

/** Handles one valid message; resolve = done (delete it), reject = leave it for a retry. */
export type PlacementHandler = (msg: PlacementMessage, receipt: PlacementReceipt) => Promise<void>;

/**
 * Handles a services signal (shared/queue.ts ServicesSignalSchema): the cluster's Services changed.
 * The message is deleted once it resolves; a failed list is the view's to retry (its resync).
 */
export type ServicesSignalHandler = (msg: ServicesSignal) => Promise<void>;

export class PlacementQueue {
  private queueUrl?: string;

  constructor(private readonly opts: PlacementQueueOptions) {}

  /** Creates the DLQ and the queue with its redrive policy. Idempotent; returns the queue URL. */
  async ensure(): Promise<string> {
    const dlqUrl = await this.createQueue(this.opts.deadLetterQueueName, {});
    const attrs = await this.opts.sqs.send(new GetQueueAttributesCommand({ QueueUrl: dlqUrl, AttributeNames: ['QueueArn'] }));
    const dlqArn = attrs.Attributes?.QueueArn;
    if (!dlqArn) throw new Error(`queue ${this.opts.deadLetterQueueName} has no QueueArn`);
    const redrive = JSON.stringify({ deadLetterTargetArn: dlqArn, maxReceiveCount: String(MAX_RECEIVE_COUNT) });
    this.queueUrl = await this.createQueue(this.opts.queueName, { RedrivePolicy: redrive });
    return this.queueUrl;
  }

  /** Long-polls until `signal` aborts; handlers run concurrently, each message deleted on success. */
  async poll(signal: AbortSignal, handle: PlacementHandler, onServices?: ServicesSignalHandler): Promise<void> {
    let queueUrl: string | undefined;
    for (let attempt = 1; !queueUrl; attempt++) {
      try {
        queueUrl = this.queueUrl ?? (await this.ensure());
      } catch (e) {
        if (signal.aborted) return;
        const delayMs = Math.min(30_000, 1000 * 2 ** Math.min(attempt - 1, 5));
        this.opts.log.warn('creating the placement queue failed, retrying', { queue: this.opts.queueName, error: errorMessage(e), retryInMs: delayMs });
        await sleep(delayMs, signal);
        if (signal.aborted) return;
      }
    }
    this.opts.log.info('polling placement queue', { queueUrl });
    const maxInFlight = this.opts.maxInFlight ?? 20;
    const inFlight = new Set<Promise<void>>();
    let failures = 0;
    while (!signal.aborted) {
      while (inFlight.size >= maxInFlight) await Promise.race(inFlight);
      let messages: Message[];
      try {
        const res = await this.opts.sqs.send(
          new ReceiveMessageCommand({
            QueueUrl: queueUrl,
            WaitTimeSeconds: this.opts.waitTimeSeconds ?? 20,
            MaxNumberOfMessages: Math.min(10, maxInFlight - inFlight.size),
            MessageSystemAttributeNames: ['ApproximateReceiveCount', 'SentTimestamp'],
          }),
          { abortSignal: signal },
        );
        messages = res.Messages ?? [];
        failures = 0;
      } catch (e) {
        if (signal.aborted) break;
        failures++;
        const delayMs = Math.min(30_000, 1000 * 2 ** Math.min(failures - 1, 5));
        this.opts.log.warn('receive from placement queue failed', { queue: this.opts.queueName, error: errorMessage(e), retryInMs: delayMs });
        await sleep(delayMs, signal);
        continue;
      }
      for (const m of messages) {
        // Every line about this message (and the sync it triggers) carries its id.
        const p: Promise<void> = withLogKeys({ placementMessageId: m.MessageId }, () => this.handleOne(queueUrl, m, handle, onServices)).finally(() => inFlight.delete(p));
        inFlight.add(p);
      }
    }
    // Let handlers already running finish (and delete their messages) before returning.
    await Promise.allSettled(inFlight);
  }

  private async handleOne(queueUrl: string, m: Message, handle: PlacementHandler, onServices?: ServicesSignalHandler): Promise<void> {
    let body: unknown;
    try {
      body = JSON.parse(m.Body ?? '');
    } catch {
      body = undefined;
    }
    const relay = RelaySessionMessageSchema.safeParse(body);
    if (relay.success) {
      // Deleted first: the session is open for seconds only, a redelivery could never pair.
      await this.deleteMessage(queueUrl, m);
      try {
        await this.opts.onRelay?.(relay.data);
      } catch (e) {
        this.opts.log.warn('relay session failed', { error: errorMessage(e) });
      }
      return;
    }
    const services = ServicesSignalSchema.safeParse(body);
    if (services.success) {
      // Only a hint to list again: never retried (the view's resync covers a failure).
      try {
        await onServices?.(services.data);
      } catch (e) {
        this.opts.log.warn('services signal failed', { error: errorMessage(e) });
      }
      await this.deleteMessage(queueUrl, m);
      return;
    }
    const sealed = SealedPlacementSchema.safeParse(body);
    let message: unknown = body;
    let sealedAt: number | undefined;
    if (sealed.success) {
      let opened: OpenResult;
      try {
        opened = this.opts.keys ? await this.opts.keys.open(sealed.data) : { drop: 'this agent holds no placement key' };
      } catch (e) {
        opened = { retry: errorMessage(e) };
      }
      if ('retry' in opened) {
        this.opts.log.warn('sealed placement not opened, message left for retry', { reason: opened.retry, receiveCount: m.Attributes?.ApproximateReceiveCount });
        return;
      }
      if ('drop' in opened) {
        // Not for this node (or changed on the way): retrying cannot open it; the resync syncs its pod.
        this.opts.log.warn('sealed placement not for this node, dropped', { reason: opened.drop });
        await this.deleteMessage(queueUrl, m);
        return;
      }
      message = opened.opened.message;
      sealedAt = opened.opened.sealedAt.getTime();
    }
    const parsed = PlacementMessageSchema.safeParse(message);
    if (!parsed.success) {
      // Retrying cannot fix a malformed message: log it and drop it.
      this.opts.log.warn('malformed placement message deleted', { body: sealed.success ? '(sealed)' : (m.Body ?? '').slice(0, 500), error: parsed.error.message });
      await this.deleteMessage(queueUrl, m);
      return;
    }
    // In clear, the message may come from anyone who can send to this queue (on AWS: every node of
    // the fleet): it names a pod to sync, but its pod is not trusted; the agent reads the API.
    if (!sealed.success) delete parsed.data.pod;
    // A sealed message is as old as its seal: sent again later by someone who copied it, it is not fresh.
    const sqsSent = Number(m.Attributes?.SentTimestamp);
    const sent = sealedAt !== undefined ? Math.min(sealedAt, Number.isFinite(sqsSent) && sqsSent > 0 ? sqsSent : Infinity) : sqsSent;
    const receipt: PlacementReceipt = Number.isFinite(sent) && sent > 0 ? { sentAt: new Date(sent) } : {};
    try {
      await handle(parsed.data, receipt);
    } catch (e) {
      this.opts.log.warn('placement sync failed, message left for retry', {
        pod: `${parsed.data.namespace}/${parsed.data.name}`,
        receiveCount: m.Attributes?.ApproximateReceiveCount,
        error: errorMessage(e),
      });
      return;
    }
    await this.deleteMessage(queueUrl, m);
  }

  private async deleteMessage(queueUrl: string, m: Message): Promise<void> {
    try {
      await this.opts.sqs.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: m.ReceiptHandle }));
    } catch (e) {
      // The message comes back later; the sync it triggers is idempotent.
      this.opts.log.warn('delete of placement message failed', { error: errorMessage(e) });
    }
  }

  /** CreateQueue is idempotent for equal attributes; a queue made elsewhere with others is reused and given ours. */
  private async createQueue(name: string, attributes: Record<string, string>): Promise<string> {
    try {
      const res = await this.opts.sqs.send(new CreateQueueCommand({ QueueName: name, Attributes: attributes }));
      if (!res.QueueUrl) throw new Error(`CreateQueue ${name} returned no QueueUrl`);
      return res.QueueUrl;
    } catch (e) {
      if (!(e instanceof QueueNameExists) && !(e instanceof Error && e.name === 'QueueAlreadyExists')) throw e;
      const { QueueUrl } = await this.opts.sqs.send(new GetQueueUrlCommand({ QueueName: name }));
      if (!QueueUrl) throw new Error(`GetQueueUrl ${name} returned no QueueUrl`, { cause: e });
      if (Object.keys(attributes).length > 0) {
        await this.opts.sqs.send(new SetQueueAttributesCommand({ QueueUrl, Attributes: attributes }));
      }
      return QueueUrl;
    }
  }
}

