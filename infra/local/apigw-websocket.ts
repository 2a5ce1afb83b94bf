/**
 * A local API Gateway WebSocket API: what API Gateway does for a WebSocket API with one Lambda
 * proxy integration on `$connect`, `$default` and `$disconnect`, and nothing more, so the handler
 * it runs (functions/relay/handler.ts) is the one deployed on AWS.
 *
 *   wss://127.0.0.1:PORT/STAGE?QUERY       the clients' side (TLS with the stack's certificate)
 *   http://127.0.0.1:MPORT/STAGE/@connections/{id}
 *                                          the management API: POST (PostToConnection),
 *                                          DELETE (DeleteConnection), GET (GetConnection), as the
 *                                          real SDK client with an endpoint override calls it
 *
 * As API Gateway: an upgrade is a `$connect` event (headers, query string, a new connection id)
 * and is refused with the handler's status code and body unless it answers 2xx; each message is
 * one `$default` event, invoked as it arrives (not waiting for the previous one: API Gateway
 * promises no order either); a binary frame closes the connection with 1003 (API Gateway WebSocket
 * APIs take text frames only); a frame over 32 KB closes it with 1009; a close (either side's, or
 * DeleteConnection) is one `$disconnect` event. PostToConnection sends a text frame.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { createServer as createHttpServer, STATUS_CODES, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import type { RelayEvent, RelayResult } from '../../functions/relay/handler';

/** API Gateway's limits: one frame, one message. */
const MAX_FRAME = 32 * 1024;
const MAX_MESSAGE = 128 * 1024;

export interface ApiGatewayWebSocketStats {
  /** Upgrades `$connect` accepted, and refused. */
  connected: number;
  refused: number;
  /** `$default` invocations, and the bytes of their bodies. */
  messages: number;
  messageBytes: number;
  /** PostToConnection calls answered 200. */
  posted: number;
}

export interface ApiGatewayWebSocket {
  /** wss://127.0.0.1:PORT/STAGE */
  readonly url: string;
  /** http://127.0.0.1:MPORT/STAGE: the `@connections` endpoint. */
  readonly managementEndpoint: string;
  readonly stats: ApiGatewayWebSocketStats;
  close(): Promise<void>;
}

export interface ApiGatewayWebSocketOptions {
  /** The integration: the wired handler, invoked in this process. */
  readonly handler: (event: RelayEvent) => Promise<RelayResult>;
  readonly tls: { key: string; cert: string };
  readonly stage?: string;
  readonly port?: number;
  /** Each message's body before the handler sees it (bench/kubelet-relay.ts counts frames). */
  readonly onMessage?: (connectionId: string, body: string) => void;
  readonly log: (s: string) => void;
}

interface Conn {
  readonly ws: WebSocket;
  readonly connectedAt: number;
  lastActiveAt: number;
  readonly sourceIp: string;
  readonly userAgent: string;
}

const API_ID = 'local';

function listen(server: HttpServer | HttpsServer, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

function refuse(socket: Duplex, status: number, body: string, contentType = 'application/json'): void {
  socket.end(`HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\ncontent-type: ${contentType}\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
}

const newConnectionId = () => randomBytes(12).toString('base64url');

export async function startApiGatewayWebSocket(opts: ApiGatewayWebSocketOptions): Promise<ApiGatewayWebSocket> {
  const stage = opts.stage ?? 'local';
  const { log } = opts;
  const conns = new Map<string, Conn>();
  const stats: ApiGatewayWebSocketStats = { connected: 0, refused: 0, messages: 0, messageBytes: 0, posted: 0 };
  let domainName = '';

  // Every route's event names the client as API Gateway's do (identity.sourceIp: the relay's per-source budget reads it).
  const context = (routeKey: string, eventType: 'CONNECT' | 'MESSAGE' | 'DISCONNECT', connectionId: string, connectedAt: number, identity: { sourceIp: string; userAgent: string }) => {
    const t = Date.now();
    return {
      routeKey,
      eventType,
      messageId: eventType === 'MESSAGE' ? randomUUID() : '',
      extendedRequestId: randomUUID(),
      requestTime: new Date(t).toUTCString(),
      messageDirection: 'IN' as const,
      stage,
      connectedAt,
      requestTimeEpoch: t,
      requestId: randomUUID(),
      domainName,
      connectionId,
      apiId: API_ID,
      identity,
    };
  };
  const invoke = async (event: RelayEvent): Promise<RelayResult> => {
    try {
      return await opts.handler(event);
    } catch (e) {
      log(`api gateway websocket: ${event.requestContext.routeKey} failed: ${(e as Error).message}`);
      return { statusCode: 500 };
    }
  };

  const server = createHttpsServer({ key: opts.tls.key, cert: opts.tls.cert }, (_req, res) => {
    res.writeHead(426, { 'content-type': 'application/json' }).end(JSON.stringify({ message: 'Upgrade Required' }));
  });
  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, maxPayload: MAX_MESSAGE });

  const upgrade = async (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const url = new URL(req.url ?? '/', 'https://apigw');
    // A WebSocket API routes no paths: the stage is the whole path.
    if (url.pathname !== `/${stage}`) return refuse(socket, 403, JSON.stringify({ message: 'Forbidden' }));
    const connectionId = newConnectionId();
    const connectedAt = Date.now();
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) if (v !== undefined) headers[k] = Array.isArray(v) ? v.join(',') : v;
    const query: Record<string, string> = {};
    for (const [k, v] of url.searchParams) query[k] = v;
    const identity = { sourceIp: req.socket.remoteAddress ?? '127.0.0.1', userAgent: headers['user-agent'] ?? '' };
    const result = await invoke({
      headers,
      ...(url.search ? { queryStringParameters: query } : {}),
      requestContext: context('$connect', 'CONNECT', connectionId, connectedAt, identity),
      isBase64Encoded: false,
    });
    const status = result.statusCode ?? 200;
    if (status < 200 || status > 299) {
      stats.refused++;
      return refuse(socket, status, result.body ?? '', String(result.headers?.['content-type'] ?? 'application/json'));
    }
    if (socket.destroyed) {
      void invoke({ requestContext: context('$disconnect', 'DISCONNECT', connectionId, connectedAt, identity), isBase64Encoded: false });
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      stats.connected++;
      const conn: Conn = { ws, connectedAt, lastActiveAt: connectedAt, ...identity };
      conns.set(connectionId, conn);
      ws.on('error', () => undefined);
      ws.on('message', (data: RawData, isBinary: boolean) => {
        const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as Buffer);
        if (isBinary) return ws.close(1003, 'Binary frames are not supported');
        // `ws` clients never fragment: a message is one frame.
        if (buf.length > MAX_FRAME) return ws.close(1009, 'Frame too big');
        conn.lastActiveAt = Date.now();
        const body = buf.toString('utf8');
        stats.messages++;
        stats.messageBytes += buf.length;
        opts.onMessage?.(connectionId, body);
        void invoke({ body, requestContext: context('$default', 'MESSAGE', connectionId, connectedAt, identity), isBase64Encoded: false });
      });
      ws.once('close', () => {
        conns.delete(connectionId);
        void invoke({ requestContext: context('$disconnect', 'DISCONNECT', connectionId, connectedAt, identity), isBase64Encoded: false });
      });
    });
  };
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => undefined);
    upgrade(req, socket, head).catch((e: unknown) => {
      log(`api gateway websocket: upgrade failed: ${(e as Error).message}`);
      if (!socket.destroyed) refuse(socket, 500, JSON.stringify({ message: 'Internal server error' }));
    });
  });

  // The management API. Errors as the SDK parses them: the type in x-amzn-errortype.
  const fail = (res: ServerResponse, status: number, type: string, message: string) =>
    res.writeHead(status, { 'content-type': 'application/json', 'x-amzn-errortype': type }).end(JSON.stringify({ message }));
  const management = createHttpServer((req, res) => {
    const m = /^(?:\/[^/]+)?\/@connections\/([^/?]+)$/.exec(new URL(req.url ?? '/', 'http://m').pathname);
    if (!m) return fail(res, 404, 'NotFoundException', 'Not Found');
    if (!req.headers.authorization) return fail(res, 403, 'ForbiddenException', 'Missing Authentication Token');
    const id = decodeURIComponent(m[1]!);
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const conn = conns.get(id);
      if (!conn || conn.ws.readyState !== WebSocket.OPEN) return fail(res, 410, 'GoneException', `connection ${id} is gone`);
      switch (req.method) {
        case 'POST': {
          const data = Buffer.concat(chunks);
          if (data.length > MAX_MESSAGE) return fail(res, 413, 'PayloadTooLargeException', 'Payload too large');
          conn.ws.send(data.toString('utf8'), { binary: false });
          stats.posted++;
          return res.writeHead(200).end();
        }
        case 'DELETE':
          conn.ws.close(1000);
          return res.writeHead(204).end();
        case 'GET':
          return res
            .writeHead(200, { 'content-type': 'application/json' })
            .end(JSON.stringify({ connectedAt: new Date(conn.connectedAt).toISOString(), lastActiveAt: new Date(conn.lastActiveAt).toISOString(), identity: { sourceIp: conn.sourceIp, userAgent: conn.userAgent } }));
        default:
          return fail(res, 405, 'BadRequestException', 'Method not allowed');
      }
    });
  });

  const port = await listen(server, opts.port ?? 0);
  domainName = `127.0.0.1:${port}`;
  const mport = await listen(management, 0);
  return {
    url: `wss://127.0.0.1:${port}/${stage}`,
    managementEndpoint: `http://127.0.0.1:${mport}/${stage}`,
    stats,
    close: async () => {
      for (const ws of wss.clients) ws.terminate();
      server.closeAllConnections();
      management.closeAllConnections();
      await Promise.all([new Promise<void>((r) => server.close(() => r())), new Promise<void>((r) => management.close(() => r()))]);
    },
  };
}
