/**
 * The API side of the kubelet relay (shared/relay/session.ts has the protocol): an https.Agent
 * whose connections go through a relay session instead of a TCP connection to the node, so every
 * API → agent call (logs, exec, attach, port-forward, pods/services proxy, stats) keeps its code
 * and its mutual TLS: `tls.connect({ socket: <relay stream>, ...the KubeletTls options })`, the
 * node's serving certificate checked by node name, never by an address.
 */
import { readFileSync } from 'node:fs';
import https from 'node:https';
import tls from 'node:tls';
import type { Duplex } from 'node:stream';
import { GetQueueUrlCommand, SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { WebSocket } from 'ws';
import { nodeQueueName, type Config } from '../config';
import { createSqsClient } from '../queue';
import { kubeletTls, type KubeletTls } from '../auth/kubelet-client';
import type { KubeObject } from '../resources';
import type { ObjectStore } from '../store/store';
import { closeRelaySession, KUBELET_RELAY_ANNOTATION, openRelaySession, RELAY_PAIR_TIMEOUT_MS, type RelaySessionMessage } from './session';
import { pairedRelayStream, relaySideUrl } from './frames';

/** The port in the URLs of relay-mode nodes (the kubelet's; never dialled: the relay agent carries the call). */
export const RELAY_KUBELET_PORT = 10250;

/** Where the relay is (wss://host:port), from the deployment's configuration; undefined when it runs none. */
export const relayUrl = (env: NodeJS.ProcessEnv = process.env): string | undefined => env.STRATUS_KUBELET_RELAY_URL || undefined;

/** The CA the relay's own certificate chains to (PEM), when it is not a public one (the local stack's: a file). */
function relayCa(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const file = env.STRATUS_KUBELET_RELAY_CA_FILE;
  return file ? readFileSync(file, 'utf8') : undefined;
}

let sqsClient: SQSClient | undefined;
const queueUrls = new Map<string, string>();

async function sendToNode(config: Config, tenant: string, node: string, message: RelaySessionMessage): Promise<void> {
  sqsClient ??= createSqsClient(config);
  const name = nodeQueueName(config.queuePrefix, tenant, node);
  let url = queueUrls.get(name);
  if (!url) {
    try {
      url = (await sqsClient.send(new GetQueueUrlCommand({ QueueName: name }))).QueueUrl!;
    } catch (e) {
      throw new Error(`node "${node}" has no queue to receive relay sessions on`, { cause: e });
    }
    queueUrls.set(name, url);
  }
  await sqsClient.send(new SendMessageCommand({ QueueUrl: url, MessageBody: JSON.stringify(message) }));
}

/** Opens a session to `node`, waits until the node side is paired, and resolves with the relay stream. */
export async function dialRelay(p: {
  doc: DynamoDBDocumentClient;
  config: Config;
  tenant: string;
  node: string;
  url: string;
  ca?: string;
  /** How the node hears of the session. @default a message on the node's own SQS queue */
  notify?: (message: RelaySessionMessage) => Promise<void>;
}): Promise<Duplex> {
  const { session, apiKey } = await openRelaySession(p.doc, p.config, p.tenant, p.node);
  const ws = new WebSocket(relaySideUrl(p.url, 'api', p.tenant, session), {
    headers: { authorization: `Bearer ${apiKey}` },
    perMessageDeflate: false,
    handshakeTimeout: RELAY_PAIR_TIMEOUT_MS,
    ...(p.ca ? { ca: p.ca } : {}),
  });
  ws.on('error', () => undefined);
  try {
    await new Promise<void>((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('unexpected-response', (_req, res) => reject(new Error(`the kubelet relay refused the session: ${res.statusCode} ${res.statusMessage ?? ''}`.trim())));
      ws.once('error', (e) => reject(new Error(`the kubelet relay cannot be reached: ${e.message}`)));
    });
    const paired = pairedRelayStream(ws, RELAY_PAIR_TIMEOUT_MS + 1000, {
      timeout: () => `node "${p.node}" did not pick up the relay session within ${RELAY_PAIR_TIMEOUT_MS / 1000}s`,
      closed: (code, reason) => (reason.length ? `node "${p.node}" did not pick up the relay session: ${reason}` : `the kubelet relay closed the session (${code})`),
    });
    // Rejected later when the send below fails: handled there, never unhandled.
    paired.catch(() => undefined);
    // The node hears of the session only once our side waits for it.
    const message: RelaySessionMessage = { kind: 'relay', tenant: p.tenant, session };
    await (p.notify ? p.notify(message) : sendToNode(p.config, p.tenant, p.node, message));
    return await paired;
  } catch (e) {
    ws.terminate();
    void closeRelaySession(p.doc, p.config, p.tenant, session);
    throw e;
  }
}

/**
 * An https.Agent reaching node `node` of `tenant` through the relay: each request gets its own
 * session, and the TLS of `kubeletTls` (the API's client certificate, the node's serving
 * certificate checked by name) runs end to end over it.
 */
export function relayAgent(p: {
  doc: DynamoDBDocumentClient;
  config: Config;
  tenant: string;
  node: string;
  url: string;
  kubeletTls: KubeletTls;
  /** The relay's CA. @default $STRATUS_KUBELET_RELAY_CA_FILE's, else the public roots */
  ca?: string;
  notify?: (message: RelaySessionMessage) => Promise<void>;
}): https.Agent {
  const agent = new https.Agent({ keepAlive: false });
  const ca = p.ca ?? relayCa();
  const create = (_options: unknown, callback: (err: Error | null, socket?: Duplex) => void): undefined => {
    dialRelay({ ...p, ...(ca ? { ca } : {}) }).then(
      (stream) => {
        const socket = tls.connect({
          socket: stream,
          servername: p.node,
          ca: p.kubeletTls.ca,
          cert: p.kubeletTls.cert,
          key: p.kubeletTls.key,
          rejectUnauthorized: true,
          checkServerIdentity: p.kubeletTls.checkServerIdentity,
        });
        // Each follows the other: a TLS socket over a stream does not end the stream itself, and
        // the session (both WebSockets, the node's connection) lasts until one side closes.
        stream.on('error', (e) => socket.destroy(e));
        stream.on('close', () => socket.destroy());
        socket.once('close', () => stream.destroy());
        callback(null, socket);
      },
      (e: Error) => callback(e),
    );
    return undefined;
  };
  (agent as unknown as { createConnection: typeof create }).createConnection = create;
  return agent;
}

/**
 * The TLS options of a call to `node` (a Node object): those of the direct path, plus the relay
 * agent when the node is in relay mode and this deployment runs a relay (metrics' scraper).
 */
export async function kubeletCallTls(store: ObjectStore, tenant: string, node: KubeObject): Promise<KubeletTls> {
  const name = String(node.metadata.name);
  const direct = await kubeletTls(store, tenant, name);
  const url = relayUrl();
  if (node.metadata.annotations?.[KUBELET_RELAY_ANNOTATION] !== 'true' || !url) return direct;
  return { ...direct, agent: relayAgent({ doc: store.doc, config: store.config, tenant, node: name, url, kubeletTls: direct }) };
}
