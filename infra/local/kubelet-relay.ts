/**
 * The kubelet relay emulator (docs/exec.md, "every API → agent call through the outbound relay"):
 * what the API Gateway WebSocket API of the AWS design does, on 127.0.0.1, one per local stack.
 *
 *   wss://127.0.0.1:PORT/api?tenant=T&session=S    Authorization: Bearer <the session's API key>
 *   wss://127.0.0.1:PORT/node?tenant=T&session=S   Authorization: Bearer <the node's own token>
 *
 * The handshake is the `$connect` authorizer: the session item is read and the side admitted or
 * refused with an HTTP status (shared/relay/session.ts authorizeRelaySide), then claimed once.
 * Once both sides are there each gets the text message `paired`, and from then on every binary
 * message of one side goes to the other cut into frames of at most 32 KB (API Gateway's frame
 * limit; on AWS one `$default` Lambda invocation and one PostToConnection per frame), with
 * backpressure. A session not paired within RELAY_PAIR_TIMEOUT_MS is closed (4408); either side
 * closing closes the other. The bytes are the mutual TLS of the API and the node: the relay can
 * neither read nor forge them.
 */
import { createServer, type Server } from 'node:https';
import type { IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { STATUS_CODES } from 'node:http';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import type { Config } from '../../shared/config';
import { lookupToken } from '../../shared/auth/tokens';
import {
  authorizeRelaySide,
  claimRelaySide,
  closeRelaySession,
  readRelaySession,
  RELAY_CLOSE_UNPAIRED,
  RELAY_PAIR_TIMEOUT_MS,
  RELAY_PAIRED,
  splitFrames,
  type RelayCredential,
  type RelaySide,
} from '../../shared/relay/session';

/** Stop reading a side while this much waits to be sent to the other. */
const HIGH_WATER = 1 << 20;
/** Largest message a side may send (API Gateway takes 128 KB messages, in 32 KB frames). */
const MAX_MESSAGE = 128 * 1024;

export interface KubeletRelay {
  /** wss://127.0.0.1:PORT */
  readonly url: string;
  readonly port: number;
  /** Since start: sessions paired and refused, frames and bytes copied (bench/kubelet-relay.ts counts cost from them). */
  readonly stats: RelayStats;
  close(): Promise<void>;
}

export interface RelayStats {
  paired: number;
  refused: number;
  frames: number;
  bytes: number;
}

interface Waiting {
  readonly ws: WebSocket;
  readonly timer: NodeJS.Timeout;
}

function refuse(socket: Duplex, status: number, message: string): void {
  const body = JSON.stringify({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason: STATUS_CODES[status]?.replace(/ /g, '') ?? 'Error', code: status });
  socket.end(`HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
}

const bearer = (req: IncomingMessage) => /^Bearer (\S+)$/i.exec(req.headers.authorization ?? '')?.[1];

/** Copies `from`'s binary messages to `to` in ≤ 32 KB frames, with backpressure; a close closes the other. */
function pipe(from: WebSocket, to: WebSocket, stats: RelayStats): void {
  from.on('message', (data: RawData, isBinary: boolean) => {
    if (!isBinary || to.readyState !== WebSocket.OPEN) return;
    const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as Buffer);
    const frames = splitFrames(buf);
    stats.frames += frames.length;
    stats.bytes += buf.length;
    for (const frame of frames) to.send(frame, { binary: true }, () => {
      if (from.isPaused && to.bufferedAmount < HIGH_WATER / 2) from.resume();
    });
    if (to.bufferedAmount > HIGH_WATER) from.pause();
  });
  from.on('close', () => to.readyState === WebSocket.OPEN || to.readyState === WebSocket.CONNECTING ? to.close(1000) : undefined);
  from.on('error', () => to.terminate());
}

export async function startKubeletRelay(opts: { doc: DynamoDBDocumentClient; config: Config; tls: { key: string; cert: string }; port?: number; log: (s: string) => void }): Promise<KubeletRelay> {
  const { doc, config, log } = opts;
  const waiting = new Map<string, { side: RelaySide; w: Waiting }>();
  const stats: RelayStats = { paired: 0, refused: 0, frames: 0, bytes: 0 };
  const server: Server = createServer({ key: opts.tls.key, cert: opts.tls.cert }, (_req, res) => {
    res.writeHead(426, { 'content-type': 'text/plain' }).end('the kubelet relay takes WebSocket connections only\n');
  });
  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, maxPayload: MAX_MESSAGE });

  const admit = async (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const url = new URL(req.url ?? '/', 'https://relay');
    const side: RelaySide | undefined = url.pathname === '/api' ? 'api' : url.pathname === '/node' ? 'node' : undefined;
    const tenant = url.searchParams.get('tenant') ?? '';
    const session = url.searchParams.get('session') ?? '';
    if (!side || !tenant || !/^[0-9a-f]{32}$/.test(session)) return refuse(socket, 404, 'not a relay session URL');
    const token = bearer(req);
    const cred: RelayCredential = side === 'api' ? { side, apiKey: token } : { side, identity: token ? await lookupToken(doc, config, token) : undefined };
    const item = await readRelaySession(doc, config, tenant, session);
    const admission = authorizeRelaySide(item, tenant, cred);
    if (!admission.ok) {
      stats.refused++;
      log(`kubelet relay: ${side} side of session ${session.slice(0, 8)}… refused (${admission.status}): ${admission.message}`);
      return refuse(socket, admission.status, admission.message);
    }
    if (!(await claimRelaySide(doc, config, tenant, session, side))) {
      stats.refused++;
      return refuse(socket, 409, `the ${side} side of this relay session is taken`);
    }
    if (socket.destroyed) return;
    wss.handleUpgrade(req, socket, head, (ws) => {
      ws.on('error', () => undefined);
      const key = `${tenant}/${session}`;
      const other = waiting.get(key);
      if (!other) {
        const timer = setTimeout(() => {
          waiting.delete(key);
          ws.close(RELAY_CLOSE_UNPAIRED, side === 'api' ? 'the node did not pick up the relay session in time' : 'the API side of the relay session did not come');
          void closeRelaySession(doc, config, tenant, session);
        }, RELAY_PAIR_TIMEOUT_MS);
        waiting.set(key, { side, w: { ws, timer } });
        ws.once('close', () => {
          if (waiting.get(key)?.w.ws !== ws) return;
          clearTimeout(timer);
          waiting.delete(key);
          void closeRelaySession(doc, config, tenant, session);
        });
        return;
      }
      waiting.delete(key);
      clearTimeout(other.w.timer);
      stats.paired++;
      pipe(ws, other.w.ws, stats);
      pipe(other.w.ws, ws, stats);
      ws.once('close', () => void closeRelaySession(doc, config, tenant, session));
      ws.send(RELAY_PAIRED);
      other.w.ws.send(RELAY_PAIRED);
    });
  };

  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => undefined);
    admit(req, socket, head).catch((e: unknown) => {
      log(`kubelet relay: admission failed: ${(e as Error).message}`);
      if (!socket.destroyed) refuse(socket, 500, 'internal error in the kubelet relay');
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `wss://127.0.0.1:${port}`,
    port,
    stats,
    close: async () => {
      for (const ws of wss.clients) ws.terminate();
      for (const { w } of waiting.values()) clearTimeout(w.timer);
      waiting.clear();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
