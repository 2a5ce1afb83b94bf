/**
 * The kubelet's port-forward and proxy endpoints on the agent (kubelet-server.ts routes here once
 * the caller's secret is checked):
 *
 *   GET /portForward/{namespace}/{pod}?podUID&tenant[&ports=8080,9090]   an upgrade, one of
 *     - WebSocket, subprotocol `SPDY/3.1+portforward.k8s.io`: SPDY tunnelled in binary messages
 *       (kubectl 1.32's first choice)
 *     - WebSocket, subprotocol `v4.channel.k8s.io`: the channel protocol of the official clients,
 *       ports from the query; port i has data channel 2i and error channel 2i+1, and the first
 *       message on each channel carries the port (uint16, little endian)
 *     - `Upgrade: SPDY/3.1` with `X-Stream-Protocol-Version: portforward.k8s.io` (kubectl's fallback)
 *   ANY /podProxy/{namespace}/{pod}/{port}?podUID&tenant   pods/proxy and services/proxy: one HTTP
 *     request to the pod; the path (and query) the pod sees is the header X-Stratus-Proxy-Path,
 *     never part of our own route, so no `..` in it can reach another of our endpoints.
 *
 * SPDY port-forward (the kubelet's httpstream handler): the client opens two streams per
 * connection, `streamType: error` and `streamType: data`, with the same `requestID` and `port`
 * headers; once both exist we connect and copy data both ways; a failure is written to the error
 * stream (`error forwarding port 8080 to pod NAME, uid UID: ...`), which kubectl prints.
 *
 * Every connection goes through the PodConnector: localhost:PORT inside the pod's own netns, of
 * a pod of this agent's cluster on this node. `tenant` must be this agent's: an API that was
 * pointed at us by another cluster's Node object gets 403 (the secret is shared by the deployment).
 */
import http from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, createWebSocketStream, type WebSocket } from 'ws';
import { errorMessage, type Logger } from './log';
import type { PodConnector, PodRef } from './pod-connector';
import { SpdySession, type SpdyStream } from './spdy';

export const PORT_FORWARD_PROTOCOLS = { spdyTunnel: 'SPDY/3.1+portforward.k8s.io', v4: 'v4.channel.k8s.io' } as const;
/** What the SPDY tunnel's subprotocol is called inside the ws library (see upgrade()). */
const SPDY_TUNNEL_TOKEN = 'stratus-spdy-tunnel';
/** X-Stream-Protocol-Version of a plain SPDY port-forward. */
export const PORT_FORWARD_STREAM_PROTOCOL = 'portforward.k8s.io';
/** The header carrying the path (and query) a proxied request has at the pod. */
export const PROXY_PATH_HEADER = 'x-stratus-proxy-path';

/** The ports of a v4 WebSocket port-forward (`ports=8080,9090` or repeated), or the problem. */
export function parsePorts(query: URLSearchParams): { ok: true; ports: number[] } | { ok: false; message: string } {
  const raw = query.getAll('ports').flatMap((v) => v.split(',')).map((s) => s.trim()).filter(Boolean);
  if (raw.length === 0) return { ok: false, message: 'query parameter "port" is required' };
  const ports: number[] = [];
  for (const r of raw) {
    const n = /^\d{1,5}$/.test(r) ? Number(r) : NaN;
    if (!(n >= 1 && n <= 65535)) return { ok: false, message: `invalid port "${r}"` };
    ports.push(n);
  }
  return { ok: true, ports };
}

/** The first message of a v4 channel: the channel byte, then the port, little endian. */
export function portPrefix(channel: number, port: number): Buffer {
  return Buffer.from([channel, port & 0xff, (port >> 8) & 0xff]);
}

/** Hop-by-hop headers, never forwarded by a proxy (RFC 9110 7.6.1). */
export const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'proxy-authenticate', 'proxy-authorization']);

export interface PortForwardServerOptions {
  readonly connector: PodConnector;
  /** This agent's cluster: requests naming another are refused. */
  readonly tenant: string;
  readonly log: Logger;
}

type Reject = (socket: Duplex, code: number, reason: string, message: string) => void;

export class PortForwardServer {
  private readonly wss = new WebSocketServer({
    noServer: true,
    perMessageDeflate: false,
    maxPayload: 16 * 1024 * 1024,
    handleProtocols: (offered) => (offered.has(SPDY_TUNNEL_TOKEN) ? SPDY_TUNNEL_TOKEN : (choosePortForwardProtocol(offered) ?? false)),
  });
  private readonly sockets = new Set<Duplex>();

  constructor(private readonly opts: PortForwardServerOptions) {
    this.wss.on('headers', (headers) => {
      const i = headers.findIndex((h) => h.toLowerCase() === `sec-websocket-protocol: ${SPDY_TUNNEL_TOKEN}`);
      if (i >= 0) headers[i] = `Sec-WebSocket-Protocol: ${PORT_FORWARD_PROTOCOLS.spdyTunnel}`;
    });
  }

  /** Ends every session (the agent is stopping). */
  close(): void {
    for (const ws of this.wss.clients) ws.terminate();
    for (const s of this.sockets) s.destroy();
  }

  private refOf(segs: readonly string[], url: URL): PodRef {
    const uid = url.searchParams.get('podUID') ?? undefined;
    return { namespace: segs[1]!, pod: segs[2]!, ...(uid ? { uid } : {}) };
  }

  private tenantMatches(url: URL): boolean {
    return url.searchParams.get('tenant') === this.opts.tenant;
  }

  /** /portForward/{ns}/{pod}: segs already decoded, the secret already checked. */
  upgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer, segs: readonly string[], url: URL, reject: Reject): void {
    if (segs.length !== 3) return reject(socket, 404, 'NotFound', 'the server could not find the requested resource');
    if (!this.tenantMatches(url)) return reject(socket, 403, 'Forbidden', 'this node does not serve that cluster');
    const ref = this.refOf(segs, url);
    const upgrade = (req.headers.upgrade ?? '').toLowerCase();
    if (upgrade === 'spdy/3.1') {
      if ((req.headers['x-stream-protocol-version'] ?? '') !== PORT_FORWARD_STREAM_PROTOCOL)
        return reject(socket, 400, 'BadRequest', `unable to upgrade: the client must offer the stream protocol ${PORT_FORWARD_STREAM_PROTOCOL}`);
      socket.write(
        'HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n' + `X-Stream-Protocol-Version: ${PORT_FORWARD_STREAM_PROTOCOL}\r\n\r\n`,
      );
      if (head.length) socket.unshift(head);
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
      this.serveSpdy(socket, ref);
      return;
    }
    if (upgrade !== 'websocket') return reject(socket, 400, 'BadRequest', 'unable to upgrade: only WebSocket and SPDY/3.1 upgrades are served');
    const protocol = choosePortForwardProtocol((req.headers['sec-websocket-protocol'] ?? '').split(','));
    if (!protocol) return reject(socket, 400, 'BadRequest', `unable to upgrade: the client must offer one of the subprotocols ${Object.values(PORT_FORWARD_PROTOCOLS).join(', ')}`);
    let ports: number[] = [];
    if (protocol === PORT_FORWARD_PROTOCOLS.v4) {
      const parsed = parsePorts(url.searchParams);
      if (!parsed.ok) return reject(socket, 400, 'BadRequest', parsed.message);
      ports = parsed.ports;
    }
    // `SPDY/3.1+portforward.k8s.io` is not an RFC 7230 token ('/' is a separator), which the ws
    // library refuses in a handshake: offer it a token of our own, and answer the real name.
    if (protocol === PORT_FORWARD_PROTOCOLS.spdyTunnel) req.headers['sec-websocket-protocol'] = SPDY_TUNNEL_TOKEN;
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      ws.on('error', () => undefined);
      this.opts.log.info('port-forward session', { pod: `${ref.namespace}/${ref.pod}`, protocol });
      if (protocol === PORT_FORWARD_PROTOCOLS.spdyTunnel) {
        const stream = createWebSocketStream(ws);
        stream.on('error', () => undefined);
        this.serveSpdy(stream, ref);
      } else void this.serveChannels(ws, ref, ports);
    });
  }

  /** A SPDY session: pairs of streams by requestID, each pair one connection into the pod. */
  serveSpdy(conn: Duplex, ref: PodRef): void {
    const session = new SpdySession(conn);
    const pairs = new Map<string, { data?: SpdyStream; error?: SpdyStream }>();
    session.on('stream', (stream) => {
      const type = stream.headers.get('streamtype');
      const requestId = stream.headers.get('requestid') ?? '';
      const port = Number(stream.headers.get('port'));
      if (type !== 'data' && type !== 'error') return stream.resetStream();
      // The client never writes to the error stream: what it sends there is dropped.
      if (type === 'error') stream.on('data', () => undefined);
      const pair = pairs.get(requestId) ?? {};
      if (pair[type]) return stream.resetStream();
      pair[type] = stream;
      pairs.set(requestId, pair);
      if (pair.data && pair.error) {
        pairs.delete(requestId);
        void this.forwardSpdy(session, pair.data, pair.error, ref, port);
      }
    });
  }

  private async forwardSpdy(session: SpdySession, data: SpdyStream, error: SpdyStream, ref: PodRef, port: number): Promise<void> {
    // Data the client sends while we connect is kept, then written in order.
    const early: Buffer[] = [];
    let earlyEnd = false;
    const keep = (c: Buffer) => early.push(c);
    const keepEnd = () => (earlyEnd = true);
    data.on('data', keep);
    data.once('end', keepEnd);
    const failed = (message: string) => {
      error.end(Buffer.from(`error forwarding port ${port} to pod ${ref.pod}, uid ${ref.uid ?? ''}: ${message}`));
      data.end();
    };
    if (!Number.isInteger(port) || port < 1 || port > 65535) return failed(`invalid port ${port}`);
    let result;
    try {
      result = await this.opts.connector.connect(ref, port);
    } catch (e) {
      return failed(errorMessage(e));
    }
    if (!result.ok) return failed(result.message);
    const socket = result.socket;
    socket.on('error', () => undefined);
    if (data.reset) return void socket.destroy();
    data.off('data', keep);
    data.off('end', keepEnd);
    for (const c of early) socket.write(c);
    if (earlyEnd) socket.end();
    data.on('data', (chunk: Buffer) => socket.write(chunk));
    data.once('end', () => socket.end());
    data.once('reset', () => socket.destroy());
    socket.on('data', (chunk: Buffer) => {
      if (!data.write(chunk)) {
        socket.pause();
        session.onDrain(() => socket.resume());
      }
    });
    socket.once('end', () => {
      data.end();
      error.end();
    });
    socket.once('close', () => {
      data.end();
      error.end();
    });
  }

  /** v4.channel.k8s.io: one connection per requested port, the session ends when all have. */
  private async serveChannels(ws: WebSocket, ref: PodRef, ports: readonly number[]): Promise<void> {
    for (let i = 0; i < ports.length; i++) {
      ws.send(portPrefix(2 * i, ports[i]!));
      ws.send(portPrefix(2 * i + 1, ports[i]!));
    }
    const sockets: (Duplex | undefined)[] = [];
    const early: Buffer[][] = [];
    let closed = false;
    ws.on('close', () => {
      closed = true;
      for (const s of sockets) s?.destroy();
    });
    ws.on('message', (msg: Buffer, isBinary: boolean) => {
      if (!isBinary || msg.length === 0) return;
      const channel = msg[0]!;
      if (channel % 2 !== 0 || channel / 2 >= ports.length) return;
      const socket = sockets[channel / 2];
      // Not connected yet: kept, and written once it is.
      if (!socket) (early[channel / 2] ??= []).push(Buffer.from(msg.subarray(1)));
      else if (!socket.destroyed) socket.write(msg.subarray(1));
    });
    await Promise.all(
      ports.map(async (port, i) => {
        const result = await this.opts.connector.connect(ref, port).catch((e: unknown) => ({ ok: false as const, message: errorMessage(e) }));
        if (closed) {
          if (result.ok) result.socket.destroy();
          return;
        }
        if (!result.ok) {
          ws.send(Buffer.concat([Buffer.from([2 * i + 1]), Buffer.from(`error forwarding port ${port} to pod ${ref.pod}, uid ${ref.uid ?? ''}: ${result.message}`)]));
          return;
        }
        const socket = result.socket;
        sockets[i] = socket;
        for (const c of early[i] ?? []) socket.write(c);
        socket.on('error', () => undefined);
        socket.on('data', (chunk: Buffer) => {
          if (ws.readyState === ws.OPEN) ws.send(Buffer.concat([Buffer.from([2 * i]), chunk]));
        });
        await new Promise<void>((resolve) => socket.once('close', resolve));
      }),
    );
    if (ws.readyState === ws.OPEN) ws.close(1000);
  }

  /** /podProxy/{ns}/{pod}/{port}: one HTTP request into the pod. */
  async proxy(req: http.IncomingMessage, res: http.ServerResponse, segs: readonly string[], url: URL, send: (code: number, reason: string, message: string) => void): Promise<void> {
    if (segs.length !== 4) return send(404, 'NotFound', 'the server could not find the requested resource');
    if (!this.tenantMatches(url)) return send(403, 'Forbidden', 'this node does not serve that cluster');
    const ref = this.refOf(segs, url);
    const port = /^\d{1,5}$/.test(segs[3]!) ? Number(segs[3]) : NaN;
    const path = String(req.headers[PROXY_PATH_HEADER] ?? '/');
    if (!path.startsWith('/')) return send(400, 'BadRequest', 'the proxied path must start with /');
    const result = await this.opts.connector.connect(ref, port);
    // kube-apiserver's words when the backend cannot be reached.
    if (!result.ok) return send(503, 'ServiceUnavailable', `error trying to reach service: ${result.message}`);
    const socket = result.socket;
    socket.on('error', () => undefined);
    const headers: http.OutgoingHttpHeaders = {};
    for (const [k, v] of Object.entries(req.headers)) {
      if (v === undefined || HOP_BY_HOP.has(k) || k === 'authorization' || k === PROXY_PATH_HEADER || k.startsWith('x-stratus-') || k === 'x-request-id') continue;
      headers[k] = v;
    }
    // No `agent`: only then does Node use createConnection (with agent: false it would dial a host).
    const upstream = http.request({ method: req.method, path, headers, createConnection: () => socket as never });
    upstream.on('error', (e) => {
      socket.destroy();
      if (!res.headersSent) send(503, 'ServiceUnavailable', `error trying to reach service: ${e.message}`);
      else res.destroy();
    });
    upstream.on('response', (up) => {
      const out: http.OutgoingHttpHeaders = {};
      for (const [k, v] of Object.entries(up.headers)) if (v !== undefined && !HOP_BY_HOP.has(k)) out[k] = v;
      res.writeHead(up.statusCode ?? 502, out);
      up.pipe(res);
      res.on('close', () => socket.destroy());
    });
    req.pipe(upstream);
  }
}

/** The port-forward subprotocol to answer with: SPDY tunnelling first (kubectl's), then v4. */
export function choosePortForwardProtocol(offered: Iterable<string>): string | undefined {
  const set = new Set([...offered].map((p) => p.trim()));
  return [PORT_FORWARD_PROTOCOLS.spdyTunnel, PORT_FORWARD_PROTOCOLS.v4].find((p) => set.has(p));
}
