import { GetQueueUrlCommand, SendMessageBatchCommand, SendMessageCommand, SQSClient, QueueDoesNotExist } from '@aws-sdk/client-sqs';
import { z } from 'zod';
import { nodeQueueName, type Config } from './config';
import type { KubeObject } from './resources';
import { meterSqs } from './cost/sdk';
import { sealPlacement, type PlacementKey } from './placement-seal';

/**
 * The placement message on a node's queue. It says "this pod changed, look at it" and carries
 * the pod as the sender saw it (`pod`, with its resourceVersion), so the node agent need not
 * read it from the API. Duplicates, reordering and losses stay harmless: the agent uses a carried
 * pod only when it knows no newer version of that pod, ignores messages for a pod it knows is
 * gone, reads the pod from the API when a message carries none (a removal, a pod too large to
 * carry), and its periodic resync covers losses (node-agent/agent.ts).
 */
export const PodSyncMessageSchema = z.object({
  kind: z.literal('sync'),
  tenant: z.string().min(1),
  namespace: z.string().min(1),
  name: z.string().min(1),
  uid: z.string().min(1),
  pod: z.looseObject({ metadata: z.looseObject({ uid: z.string(), resourceVersion: z.string() }) }).optional(),
});
export type PodSyncMessage = z.infer<typeof PodSyncMessageSchema>;

/**
 * "The cluster's Services, EndpointSlices (Ingresses, NetworkPolicies...) changed": sent by the
 * endpoints controller's stream consumer, one per node of the cluster per stream batch that changed
 * any. `changes` names what changed, `Kind/namespace/name` (namespace empty when cluster-scoped),
 * and the agent's cluster view reads only those (node-agent/network/api-cluster-view.ts); absent
 * (more than MAX_SIGNAL_CHANGES in a batch, or an older sender), the view lists everything again.
 */
export const ServicesSignalSchema = z.object({ kind: z.literal('services'), tenant: z.string().min(1), changes: z.array(z.string()).max(1000).optional().catch(undefined) });
/** Beyond this many changed objects in one stream batch, the signal names none (the agents list whole): ≤ ~60 KB. */
export const MAX_SIGNAL_CHANGES = 200;
export type ServicesSignal = z.infer<typeof ServicesSignalSchema>;

/**
 * A message whose body would be longer than this goes without its pod (the agent then reads the
 * pod from the API). SQS takes 256 KiB per message; a pod is typically 2-3 KB of JSON.
 */
export const MAX_CARRIED_MESSAGE_BYTES = 200 * 1024;

/** The message for a pod on its node's queue, carrying the pod as given (with its resourceVersion). */
export function podSyncMessage(tenant: string, pod: KubeObject): PodSyncMessage {
  const { namespace, name, uid, resourceVersion } = pod.metadata;
  if (!namespace || !name || !uid) throw new Error('a pod sync message needs the pod\'s namespace, name and uid');
  // Without a resourceVersion the agent could not order it against what it knows: not carried.
  const carried = resourceVersion ? { ...pod, metadata: { ...pod.metadata, uid, resourceVersion } } : undefined;
  return { kind: 'sync', tenant, namespace, name, uid, ...(carried ? { pod: carried } : {}) };
}

/**
 * The message body: with the pod when it fits under MAX_CARRIED_MESSAGE_BYTES, else without it.
 * With `seal` (the destination node and its key), the body is sealed for that node
 * (shared/placement-seal.ts): about 4/3 of the plain body (base64) plus 60 bytes, and the pod
 * is left out when the sealed body would not fit.
 */
export function podSyncMessageBody(message: PodSyncMessage, seal?: { nodeName: string; key: PlacementKey }): string {
  const parsed = PodSyncMessageSchema.parse(message);
  const encode = (m: PodSyncMessage) => (seal ? sealPlacement(m, { cluster: m.tenant, nodeName: seal.nodeName }, seal.key) : JSON.stringify(m));
  const body = encode(parsed);
  if (!parsed.pod || Buffer.byteLength(body, 'utf8') <= MAX_CARRIED_MESSAGE_BYTES) return body;
  const { pod: _carried, ...bare } = parsed;
  return encode(bare);
}

/**
 * Where senders get a node's placement key (shared/auth/placement-keys.ts PlacementKeyCache).
 * A NodeQueues without one sends placements in clear, which agents take as hints only (they read
 * the pod from the API: node-agent/placement-queue.ts).
 */
export interface PlacementKeySource {
  /** Undefined when the node has no key (it never asked for one): its placements go in clear. */
  keyOf(tenant: string, nodeName: string): Promise<PlacementKey | undefined>;
}

/** SendMessageBatch takes up to 10 messages a request. */
export const MAX_BATCH_ENTRIES = 10;
/**
 * ... whose bodies together stay under this: SQS's limit per request was 256 KiB until 2025 (it is
 * 1 MiB now, as in the emulator), and a queue's MaximumMessageSize may still say 256 KiB.
 */
export const MAX_BATCH_BYTES = 256 * 1024;

/**
 * Message bodies grouped, in order, into SendMessageBatch requests: at most `maxEntries` bodies and
 * `maxBytes` of them per request (a body longer than that on its own goes alone).
 */
export function batchBodies(bodies: readonly string[], maxEntries = MAX_BATCH_ENTRIES, maxBytes = MAX_BATCH_BYTES): string[][] {
  const batches: string[][] = [];
  let current: string[] = [];
  let bytes = 0;
  for (const body of bodies) {
    const size = Buffer.byteLength(body, 'utf8');
    if (current.length && (current.length === maxEntries || bytes + size > maxBytes)) {
      batches.push(current);
      current = [];
      bytes = 0;
    }
    current.push(body);
    bytes += size;
  }
  if (current.length) batches.push(current);
  return batches;
}

/**
 * An SQS client for this configuration. The endpoint comes from AWS_ENDPOINT_URL_SQS when set;
 * then the queue URL's own host (e.g. an emulator's `sqs.us-east-1.localhost`) must not be
 * used as the endpoint, which the SDK does by default when no endpoint is passed in code.
 */
export function createSqsClient(config: Config): SQSClient {
  const overridden = !!(process.env.AWS_ENDPOINT_URL_SQS || process.env.AWS_ENDPOINT_URL);
  const client = new SQSClient({ region: config.region, ...(overridden ? { useQueueUrlAsEndpoint: false } : {}) });
  // Counts requests inside a cost scope only (shared/cost/sdk.ts): nothing in the node agent.
  meterSqs(client);
  return client;
}

/**
 * Placement messages gathered per node while a batch is worked through (a bind transaction's
 * pods, a stream batch's records), then sent with one NodeQueues.sendAll per node.
 */
export class Placements {
  private readonly byNode = new Map<string, PodSyncMessage[]>();

  add(nodeName: string, message: PodSyncMessage): void {
    const list = this.byNode.get(nodeName);
    if (list) list.push(message);
    else this.byNode.set(nodeName, [message]);
  }

  /** One send per node, for a queue that runs them concurrently. */
  sends(queues: NodeQueues): (() => Promise<boolean>)[] {
    return [...this.byNode].map(([nodeName, messages]) => () => queues.sendAll(nodeName, messages));
  }
}

/**
 * Pods (uid) this process sent a message for, and when: their bind records, coming back through
 * the stream, need no second message. Per process, not per NodeQueues: a function instance is one
 * process, and whichever of its objects sent the message, the node has it.
 */
const recentlySent = new Map<string, number>();

/** Sends pod sync messages to node queues (created by the node agents at registration). */
export class NodeQueues {
  private readonly urls = new Map<string, string>();
  private readonly sqs: SQSClient;

  constructor(
    private readonly config: Config,
    sqs?: SQSClient,
    /** Seals each placement for its node (shared/placement-seal.ts); without it, placements go in clear. */
    private readonly keys?: PlacementKeySource,
  ) {
    this.sqs = sqs ?? createSqsClient(config);
  }

  /** Whether this process sent a message for the pod in the last minute (recentlySent). */
  sentRecently(uid: string): boolean {
    const at = recentlySent.get(uid);
    return at !== undefined && Date.now() - at < 60_000;
  }

  /** True when sent; false when the node has no queue yet (its agent will resync). */
  async send(nodeName: string, message: PodSyncMessage): Promise<boolean> {
    return this.sendAll(nodeName, [message]);
  }

  /**
   * Sends messages to one node's queue in as few requests as they fit (SendMessageBatch: up to 10
   * a request, batchBodies): SQS bills a request per 64 KB of payload, so ten bound pods for one
   * node cost one request instead of ten. True when sent; false when the node has no queue yet
   * (its agent will resync). A message the batch call refuses is sent again on its own (which
   * throws if SQS refuses it again).
   */
  async sendAll(nodeName: string, messages: readonly PodSyncMessage[]): Promise<boolean> {
    const byQueue = new Map<string, PodSyncMessage[]>();
    for (const m of messages) {
      const queueName = nodeQueueName(this.config.queuePrefix, m.tenant, nodeName);
      (byQueue.get(queueName) ?? byQueue.set(queueName, []).get(queueName)!).push(m);
    }
    let sent = true;
    for (const [queueName, group] of byQueue) sent = (await this.sendToQueue(queueName, nodeName, group)) && sent;
    return sent;
  }

  /**
   * Sends the services signal to each named node of a tenant (one SendMessage per node: each node
   * has its own queue), naming `changes` (Kind/namespace/name) when there are at most
   * MAX_SIGNAL_CHANGES (else none: the agents list whole). Resolves to the number of nodes reached; a node without a queue yet is
   * skipped (its agent lists when it starts).
   */
  async signalServices(tenant: string, nodeNames: readonly string[], changes?: readonly string[]): Promise<number> {
    const named = changes && changes.length <= MAX_SIGNAL_CHANGES ? { changes: [...changes] } : {};
    const body = JSON.stringify(ServicesSignalSchema.parse({ kind: 'services', tenant, ...named }));
    let reached = 0;
    await Promise.all(
      nodeNames.map(async (nodeName) => {
        const queueName = nodeQueueName(this.config.queuePrefix, tenant, nodeName);
        try {
          await this.sqs.send(new SendMessageCommand({ QueueUrl: await this.queueUrl(queueName), MessageBody: body }));
          reached++;
        } catch (e) {
          if (!isMissingQueue(e)) throw e;
          this.urls.delete(queueName);
        }
      }),
    );
    return reached;
  }

  /**
   * A queue's URL is its account's queue URL prefix and its name (`https://sqs.<region>.amazonaws.com/
   * <account>/<name>`, and so in the emulator): once one GetQueueUrl has shown the prefix, the
   * others are derived, so a new instance sending to 5,000 nodes makes one GetQueueUrl, not 5,000
   * (a send to a queue that does not exist fails as it would after a GetQueueUrl).
   */
  private urlPrefix: string | undefined;

  private async queueUrl(queueName: string): Promise<string> {
    const known = this.urls.get(queueName) ?? (this.urlPrefix ? `${this.urlPrefix}${queueName}` : undefined);
    if (known) return known;
    const url = (await this.sqs.send(new GetQueueUrlCommand({ QueueName: queueName }))).QueueUrl!;
    this.urls.set(queueName, url);
    if (url.endsWith(`/${queueName}`)) this.urlPrefix = url.slice(0, url.length - queueName.length);
    return url;
  }

  private async sendToQueue(queueName: string, nodeName: string, messages: readonly PodSyncMessage[]): Promise<boolean> {
    try {
      const url = await this.queueUrl(queueName);
      // One queue is one tenant's: one key for the group.
      const key = this.keys && messages[0] ? await this.keys.keyOf(messages[0].tenant, nodeName) : undefined;
      const bodies = messages.map((m) => podSyncMessageBody(m, key ? { nodeName, key } : undefined));
      if (bodies.length === 1) await this.sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: bodies[0] }));
      else {
        for (const batch of batchBodies(bodies)) {
          const out = await this.sqs.send(new SendMessageBatchCommand({ QueueUrl: url, Entries: batch.map((body, i) => ({ Id: String(i), MessageBody: body })) }));
          for (const f of out.Failed ?? []) await this.sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: batch[Number(f.Id)] }));
        }
      }
      if (recentlySent.size > 10_000) recentlySent.clear();
      const now = Date.now();
      for (const m of messages) recentlySent.set(m.uid, now);
      return true;
    } catch (e) {
      if (isMissingQueue(e)) {
        this.urls.delete(queueName);
        return false;
      }
      throw e;
    }
  }
}

/**
 * The sender of the controllers' tick queue (controllerTicksQueueName): one delayed message per
 * new timer, body `{"sk": ...}` (functions/controllers/coordination.ts). The queue URL is looked
 * up once per instance.
 */
export function tickSender(sqs: SQSClient, queueName: string): (sk: string, delaySeconds: number) => Promise<void> {
  let url: Promise<string> | undefined;
  return async (sk, delaySeconds) => {
    url ??= sqs.send(new GetQueueUrlCommand({ QueueName: queueName })).then((o) => o.QueueUrl!);
    const QueueUrl = await url.catch((e: unknown) => {
      url = undefined; // not there yet (or a blip): look it up again next time
      throw e;
    });
    await sqs.send(new SendMessageCommand({ QueueUrl, MessageBody: JSON.stringify({ sk }), DelaySeconds: Math.min(900, Math.max(0, Math.round(delaySeconds))) }));
  };
}

const isMissingQueue = (e: unknown): boolean =>
  e instanceof QueueDoesNotExist || (e as { name?: string }).name === 'QueueDoesNotExist' || (e as { name?: string }).name === 'AWS.SimpleQueueService.NonExistentQueue';
