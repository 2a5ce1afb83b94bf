/**
 * The node's Ingress controller (issue #15): an HTTP reverse proxy on a port of the node that
 * serves the cluster's Ingresses of a class whose controller is `stratus.dev/ingress`, routing by
 * host and path (ingress-routes.ts has the rules) to the ready endpoints of the backend Service's
 * port, spread round-robin per backend. 404 when nothing matches, 503 when the backend has no
 * ready endpoint, 502 when the chosen endpoint does not answer, 504 when it is too slow to connect.
 *
 * A second listener on its own port terminates TLS (spec.tls; ingress-tls.ts picks the
 * certificate by SNI, ingress-certificates.ts reads the Secrets) and speaks HTTP/2 or HTTP/1.1 as
 * ALPN settles; both listeners pass HTTP/1.1 Upgrade (WebSocket) through to the backend. Backends
 * are always spoken to over HTTP/1.1, their responses parsed leniently (bare-LF line endings
 * accepted, as nginx does; insecureHTTPParser on upstream requests only, never on what clients send).
 *
 * It reads the agent's cluster view (the same lists the service proxy and DNS read; Ingress changes
 * reach the node as the services signal). It connects only to addresses inside this cluster's node
 * pod CIDRs (podAddressFilter): Endpoints and EndpointSlices are tenant-writable and could name the
 * host, the store or another cluster, and this process runs on the host, outside the pods' rules.
 *
 * WebSocket over HTTP/2 (RFC 8441): the TLS listener advertises SETTINGS_ENABLE_CONNECT_PROTOCOL
 * and takes an extended CONNECT (`:protocol websocket`) as an HTTP/1.1 Upgrade to the backend
 * (h2WebSocket).
 *
 * Not done: HTTP/2 or TLS towards backends.
 */
import { createServer, request as httpRequest, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createSecureServer, type Http2SecureServer, type Http2ServerRequest, type Http2ServerResponse } from 'node:http2';
import { randomBytes } from 'node:crypto';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { errorMessage, type Logger } from '../log';
import type { ClusterSnapshot, ClusterView } from './cluster-view';
import { IngressCertificates, type SecretReader } from './ingress-certificates';
import { matchRoute, podAddressFilter, requestHost, resolveBackend, servedIngresses, type Route, type RouteIngress, type Target } from './ingress-routes';
import { redirectsToTls } from './ingress-tls';

/** An upstream silent this long (ingress-nginx's proxy-read-timeout) is cut. */
const READ_TIMEOUT_MS = 60_000;

/** Headers that belong to one hop (RFC 9110 7.6.1), never forwarded. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'proxy-authorization', 'proxy-authenticate', 'http2-settings']);

export interface IngressProxyOptions {
  readonly view: ClusterView;
  readonly log: Logger;
  /** IngressClass spec.controller this proxy serves. */
  readonly controller: string;
  /** @default 0 (any free port) */
  readonly port?: number;
  /** @default 0.0.0.0 */
  readonly address?: string;
  /** The cluster's node pod CIDRs (every Node's spec.podCIDRs), read on each view change and every minute. */
  readonly clusterPodCIDRs: () => Promise<readonly string[]>;
  /** The deployment's pod CIDR pool: no address outside it is ever connected to. */
  readonly podCidrPool: string;
  /** @default 10000 */
  readonly connectTimeoutMs?: number;
  /** The TLS listener: reads the Secrets spec.tls names (by name). Absent: no TLS listener. */
  readonly readSecret?: SecretReader;
  /** The TLS listener's port. @default 0 (any free port) */
  readonly tlsPort?: number;
  /** How often the named Secrets are read again. @default 30000 */
  readonly secretRefreshMs?: number;
}

type ClientRequest = IncomingMessage | Http2ServerRequest;
type ClientResponse = ServerResponse | Http2ServerResponse;

/** The request's authority: Host, or HTTP/2's :authority. */
const authorityOf = (req: ClientRequest): string | undefined => req.headers.host ?? (req.headers[':authority'] as string | undefined);

function forwardHeaders(headers: IncomingHttpHeaders, req: ClientRequest, secure: boolean): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  const named = new Set(String(headers.connection ?? '').toLowerCase().split(',').map((s) => s.trim()));
  for (const [k, v] of Object.entries(headers)) if (v !== undefined && !k.startsWith(':') && !HOP_BY_HOP.has(k) && !named.has(k)) out[k] = v;
  const authority = authorityOf(req);
  if (authority && !out.host) out.host = authority;
  const client = req.socket.remoteAddress ?? '';
  out['x-forwarded-for'] = headers['x-forwarded-for'] ? `${String(headers['x-forwarded-for'])}, ${client}` : client;
  out['x-real-ip'] = client;
  if (authority) out['x-forwarded-host'] = authority;
  out['x-forwarded-proto'] = secure ? 'https' : 'http';
  return out;
}

/** An upstream response's headers minus the hop-by-hop ones (and those its Connection names). */
function responseHeaders(up: IncomingMessage): Record<string, string | string[]> {
  const named = new Set(String(up.headers.connection ?? '').toLowerCase().split(',').map((s) => s.trim()));
  const headers: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(up.headers)) if (v !== undefined && !HOP_BY_HOP.has(k) && !named.has(k)) headers[k] = v;
  return headers;
}

export class IngressProxy {
  private server: Server | undefined;
  private tlsServer: Http2SecureServer | undefined;
  private certs: IngressCertificates | undefined;
  private served: { version: string; ingresses: RouteIngress[] } = { version: '', ingresses: [] };
  private allowed: (ip: string) => boolean = () => false;
  private readonly next = new Map<string, number>();
  private unsubscribe: (() => void) | undefined;
  private timer: NodeJS.Timeout | undefined;
  private secretTimer: NodeJS.Timeout | undefined;
  private boundTlsPort: number | undefined;
  /** Every client connection of both listeners (upgraded WebSockets and HTTP/2 sessions too), ended on close. */
  private readonly sockets = new Set<Socket>();

  constructor(private readonly opts: IngressProxyOptions) {}

  /** The TLS listener's port once listening (undefined: none). */
  get tlsPort(): number | undefined {
    return this.boundTlsPort;
  }

  /** Starts listening (HTTP, and TLS when readSecret is given); resolves to the HTTP port. */
  async listen(): Promise<number> {
    this.unsubscribe = this.opts.view.subscribe((s) => {
      void this.refreshCidrs();
      void this.updateCertificates(s);
    });
    this.timer = setInterval(() => void this.refreshCidrs(), 60_000);
    this.timer.unref();
    void this.refreshCidrs();
    const server = createServer((req, res) => this.handle(req, res, false));
    server.keepAliveTimeout = 65_000;
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => this.upgrade(req, socket, head, false));
    server.on('connection', (s: Socket) => this.track(s));
    this.server = server;
    const port = await listenOn(server, this.opts.port ?? 0, this.opts.address ?? '0.0.0.0');
    if (this.opts.readSecret) {
      const certs = new IngressCertificates(this.opts.readSecret, this.opts.log);
      await certs.init();
      this.certs = certs;
      void this.updateCertificates(this.opts.view.current());
      this.secretTimer = setInterval(() => void this.updateCertificates(this.opts.view.current()), this.opts.secretRefreshMs ?? 30_000);
      this.secretTimer.unref();
      // HTTP/2 and HTTP/1.1 by ALPN; the default certificate without SNI, the server's by SNI.
      const tlsServer = createSecureServer({
        allowHTTP1: true,
        // RFC 8441: clients may open WebSockets over HTTP/2 (extended CONNECT).
        settings: { enableConnectProtocol: true },
        ...certs.defaultPem!,
        SNICallback: (name, cb) => cb(null, certs.contextFor(name)),
      });
      tlsServer.on('request', (req: Http2ServerRequest | IncomingMessage, res: Http2ServerResponse | ServerResponse) => this.handle(req, res, true));
      tlsServer.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => this.upgrade(req, socket, head, true));
      // HTTP/2 CONNECT (the compatibility layer's 'connect'); an HTTP/1.1 CONNECT comes here too, with its socket.
      tlsServer.on('connect', (req: Http2ServerRequest | IncomingMessage, res: Http2ServerResponse | Duplex) => {
        if (req.httpVersionMajor === 2) this.h2WebSocket(req as Http2ServerRequest, res as Http2ServerResponse);
        else (res as Duplex).destroy(); // not a forward proxy
      });
      tlsServer.on('connection', (s: Socket) => this.track(s));
      this.tlsServer = tlsServer;
      this.boundTlsPort = await listenOn(tlsServer, this.opts.tlsPort ?? 0, this.opts.address ?? '0.0.0.0');
    }
    return port;
  }

  async close(): Promise<void> {
    this.unsubscribe?.();
    if (this.timer) clearInterval(this.timer);
    if (this.secretTimer) clearInterval(this.secretTimer);
    const server = this.server;
    this.server = undefined;
    const tlsServer = this.tlsServer;
    this.tlsServer = undefined;
    const closed = [server, tlsServer].filter((x) => x !== undefined).map((x) => new Promise<void>((resolve) => x.close(() => resolve())));
    for (const s of this.sockets) s.destroy();
    await Promise.all(closed);
  }

  private track(s: Socket): void {
    this.sockets.add(s);
    s.once('close', () => this.sockets.delete(s));
  }

  private async updateCertificates(s: ClusterSnapshot): Promise<void> {
    try {
      await this.certs?.update(this.servedIngresses(s));
    } catch (e) {
      this.opts.log.warn('ingress tls: certificates could not be refreshed', { error: errorMessage(e) });
    }
  }

  private async refreshCidrs(): Promise<void> {
    try {
      this.allowed = podAddressFilter(await this.opts.clusterPodCIDRs(), this.opts.podCidrPool);
    } catch (e) {
      this.opts.log.warn('ingress proxy: the cluster\'s pod CIDRs could not be read', { error: errorMessage(e) });
    }
  }

  private servedIngresses(s: ClusterSnapshot): RouteIngress[] {
    if (this.served.version !== s.version) this.served = { version: s.version, ingresses: servedIngresses(s.ingresses ?? [], s.ingressClasses ?? [], this.opts.controller) };
    return this.served.ingresses;
  }

  /** The route and the endpoint of a request, or the status to answer instead. */
  private pick(authority: string | undefined, url: string): { route: Route; target: Target; snapshot: ClusterSnapshot } | { status: 404 | 503 } {
    const snapshot = this.opts.view.current();
    const route = matchRoute(this.servedIngresses(snapshot), authority, url);
    if (!route) return { status: 404 };
    const resolution = resolveBackend(snapshot, route.namespace, route.backend, this.allowed);
    if ('unavailable' in resolution) return { status: 503 };
    const key = `${route.namespace}/${route.backend.service?.name ?? ''}/${route.backend.service?.port?.number ?? route.backend.service?.port?.name ?? ''}`;
    const n = this.next.get(key) ?? 0;
    this.next.set(key, n + 1);
    return { route, target: resolution.targets[n % resolution.targets.length]!, snapshot };
  }

  /** ssl-redirect: the https URL of a plain-HTTP request its Ingress wants on TLS. */
  private tlsRedirect(req: ClientRequest, route: Route): string | undefined {
    const port = this.boundTlsPort;
    if (!this.certs || port === undefined) return undefined;
    const authority = authorityOf(req);
    const host = requestHost(authority);
    const ing = this.served.ingresses.find((i) => (i.metadata.namespace ?? 'default') === route.namespace && i.metadata.name === route.ingress);
    if (!host || !redirectsToTls(ing, this.certs.hasCertificate(host))) return undefined;
    return `https://${host}${port === 443 ? '' : `:${port}`}${req.url ?? '/'}`;
  }

  private handle(req: ClientRequest, res: ClientResponse, secure: boolean): void {
    const picked = this.pick(authorityOf(req), req.url ?? '/');
    if ('status' in picked) return void reply(res, picked.status, picked.status === 404 ? '404 page not found\n' : '503 Service Temporarily Unavailable\n');
    const redirect = secure ? undefined : this.tlsRedirect(req, picked.route);
    if (redirect) {
      res.writeHead(308, { location: redirect, 'content-type': 'text/plain; charset=utf-8', 'content-length': 0 });
      return void res.end();
    }
    this.forward(req, res, picked.target, secure);
  }

  private forward(req: ClientRequest, res: ClientResponse, target: Target, secure: boolean): void {
    // The check again, at the moment of connecting (the resolution's filter is the same function).
    if (!this.allowed(target.ip)) return void reply(res, 503, '503 Service Temporarily Unavailable\n');
    const h2 = req.httpVersionMajor === 2;
    const upstream = httpRequest(
      // insecureHTTPParser: the backend's response may end lines with a bare LF (CGI output), as nginx accepts.
      { host: target.ip, port: target.port, method: req.method, path: req.url, headers: forwardHeaders(req.headers, req, secure), setHost: false, timeout: READ_TIMEOUT_MS, insecureHTTPParser: true },
      (up) => {
        const headers = responseHeaders(up);
        try {
          // HTTP/2 has no reason phrase.
          if (h2) (res as Http2ServerResponse).writeHead(up.statusCode ?? 502, headers);
          else (res as ServerResponse).writeHead(up.statusCode ?? 502, up.statusMessage, headers);
        } catch (e) {
          // The lenient parser lets through what the response writer refuses (a control character in
          // a header value, a status out of range): a 502, never a throw out of this callback.
          this.opts.log.warn('ingress proxy: upstream response not relayable', { target: `${target.ip}:${target.port}`, error: errorMessage(e) });
          up.destroy();
          for (const name of res.getHeaderNames()) res.removeHeader(name);
          return void reply(res, 502, '502 Bad Gateway\n');
        }
        up.pipe(res as NodeJS.WritableStream);
        up.on('error', () => res.destroy());
      },
    );
    const connect = this.connectTimer(upstream);
    upstream.on('error', (e) => {
      this.opts.log.warn('ingress proxy: upstream failed', { target: `${target.ip}:${target.port}`, error: errorMessage(e) });
      if (res.headersSent) return void res.destroy();
      if (!connect.connected() && e.message === 'connect timed out') reply(res, 504, '504 Gateway Time-out\n');
      else reply(res, 502, '502 Bad Gateway\n');
    });
    req.on('aborted', () => upstream.destroy());
    req.pipe(upstream);
  }

  private connectTimer(upstream: ReturnType<typeof httpRequest>): { connected: () => boolean } {
    let connected = false;
    const connectTimer = setTimeout(() => upstream.destroy(new Error('connect timed out')), this.opts.connectTimeoutMs ?? 10_000);
    upstream.on('socket', (s) => s.once('connect', () => {
      connected = true;
      clearTimeout(connectTimer);
    }));
    upstream.on('close', () => clearTimeout(connectTimer));
    upstream.on('timeout', () => upstream.destroy(new Error('upstream timed out')));
    return { connected: () => connected };
  }

  /**
   * An HTTP/1.1 Upgrade (WebSocket): routed as any request, forwarded with its Upgrade and
   * Connection headers; on the backend's 101 the two connections are joined byte for byte, any
   * other answer is relayed and the connection closed.
   */
  private upgrade(req: IncomingMessage, socket: Duplex, head: Buffer, secure: boolean): void {
    socket.on('error', () => socket.destroy());
    const picked = this.pick(authorityOf(req), req.url ?? '/');
    if ('status' in picked) return rawReply(socket, picked.status, picked.status === 404 ? '404 page not found\n' : '503 Service Temporarily Unavailable\n');
    const { target } = picked;
    if (!this.allowed(target.ip)) return rawReply(socket, 503, '503 Service Temporarily Unavailable\n');
    const headers = forwardHeaders(req.headers, req, secure);
    headers.connection = 'upgrade';
    headers.upgrade = req.headers.upgrade ?? '';
    const upstream = httpRequest({ host: target.ip, port: target.port, method: req.method, path: req.url, headers, setHost: false, agent: false, timeout: READ_TIMEOUT_MS, insecureHTTPParser: true });
    const connect = this.connectTimer(upstream);
    upstream.on('upgrade', (res: IncomingMessage, upSocket: Socket, upHead: Buffer) => {
      upSocket.setTimeout(0);
      socket.write(rawHead(res.statusCode ?? 101, res.statusMessage ?? 'Switching Protocols', rawHeaderPairs(res.rawHeaders)));
      if (upHead.length) socket.write(upHead);
      if (head.length) upSocket.write(head);
      upSocket.on('error', () => socket.destroy());
      socket.on('error', () => upSocket.destroy());
      upSocket.on('close', () => socket.destroy());
      socket.on('close', () => upSocket.destroy());
      upSocket.pipe(socket);
      socket.pipe(upSocket);
    });
    upstream.on('response', (res: IncomingMessage) => {
      // No upgrade: relay the answer, then close (the connection has no further requests).
      socket.write(rawHead(res.statusCode ?? 502, res.statusMessage ?? '', [...Object.entries(responseHeaders(res)).flatMap(([k, v]) => (Array.isArray(v) ? v.map((x) => [k, x] as const) : [[k, v] as const])), ['connection', 'close']]));
      res.pipe(socket);
      res.on('error', () => socket.destroy());
    });
    upstream.on('error', (e) => {
      this.opts.log.warn('ingress proxy: upstream upgrade failed', { target: `${target.ip}:${target.port}`, error: errorMessage(e) });
      if (!connect.connected() && e.message === 'connect timed out') rawReply(socket, 504, '504 Gateway Time-out\n');
      else rawReply(socket, 502, '502 Bad Gateway\n');
    });
    socket.on('close', () => upstream.destroy());
    upstream.end();
  }

  /**
   * WebSocket over HTTP/2 (RFC 8441 extended CONNECT): routed as any request and opened to the
   * backend as an HTTP/1.1 Upgrade (GET, Upgrade: websocket, a fresh Sec-WebSocket-Key: HTTP/2
   * carries none; the client's Sec-WebSocket-Version, -Protocol and -Extensions as they came).
   * On the backend's 101 the stream answers 200 (with the backend's Sec-WebSocket-Protocol and
   * -Extensions) and the two are joined byte for byte; any other answer is relayed as it is. A
   * CONNECT for anything else is 405, as Node answers a CONNECT nobody takes.
   */
  private h2WebSocket(req: Http2ServerRequest, res: Http2ServerResponse): void {
    if (req.headers[':protocol'] !== 'websocket') return void reply(res, 405, '405 Method Not Allowed\n');
    const path = (req.headers[':path'] as string | undefined) ?? '/';
    const picked = this.pick(authorityOf(req), path);
    if ('status' in picked) return void reply(res, picked.status, picked.status === 404 ? '404 page not found\n' : '503 Service Temporarily Unavailable\n');
    const { target } = picked;
    if (!this.allowed(target.ip)) return void reply(res, 503, '503 Service Temporarily Unavailable\n');
    const headers = forwardHeaders(req.headers, req, true);
    headers.connection = 'upgrade';
    headers.upgrade = 'websocket';
    headers['sec-websocket-key'] = randomBytes(16).toString('base64');
    headers['sec-websocket-version'] ??= '13';
    const upstream = httpRequest({ host: target.ip, port: target.port, method: 'GET', path, headers, setHost: false, agent: false, timeout: READ_TIMEOUT_MS, insecureHTTPParser: true });
    const connect = this.connectTimer(upstream);
    upstream.on('upgrade', (up: IncomingMessage, upSocket: Socket, upHead: Buffer) => {
      upSocket.setTimeout(0);
      const answer = responseHeaders(up);
      delete answer['sec-websocket-accept']; // the HTTP/1.1 handshake's, not HTTP/2's
      try {
        res.writeHead(200, answer);
      } catch {
        upSocket.destroy();
        return void res.destroy();
      }
      if (upHead.length) res.write(upHead);
      upSocket.on('error', () => res.destroy());
      req.on('error', () => upSocket.destroy());
      upSocket.on('close', () => res.destroy());
      res.on('close', () => upSocket.destroy());
      upSocket.pipe(res as unknown as NodeJS.WritableStream);
      req.pipe(upSocket);
    });
    upstream.on('response', (up: IncomingMessage) => {
      try {
        res.writeHead(up.statusCode ?? 502, responseHeaders(up));
      } catch {
        up.destroy();
        return void reply(res, 502, '502 Bad Gateway\n');
      }
      up.pipe(res as unknown as NodeJS.WritableStream);
      up.on('error', () => res.destroy());
    });
    upstream.on('error', (e) => {
      this.opts.log.warn('ingress proxy: upstream websocket (HTTP/2) failed', { target: `${target.ip}:${target.port}`, error: errorMessage(e) });
      if (!connect.connected() && e.message === 'connect timed out') reply(res, 504, '504 Gateway Time-out\n');
      else reply(res, 502, '502 Bad Gateway\n');
    });
    res.on('close', () => upstream.destroy());
    upstream.end();
  }
}

function listenOn(server: Server | Http2SecureServer, port: number, address: string): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, address, () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

function reply(res: ClientResponse, status: number, body: string): void {
  if (res.headersSent) return void res.destroy();
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

const rawHeaderPairs = (raw: readonly string[]): (readonly [string, string])[] => {
  const out: (readonly [string, string])[] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) out.push([raw[i]!, raw[i + 1]!]);
  return out;
};

/** A status line and headers, for a connection taken over from the HTTP server (an Upgrade). */
function rawHead(status: number, message: string, headers: readonly (readonly [string, string])[]): string {
  const clean = (v: string) => v.replace(/[\r\n]/g, '');
  return `HTTP/1.1 ${status} ${clean(message)}\r\n${headers.map(([k, v]) => `${clean(k)}: ${clean(v)}\r\n`).join('')}\r\n`;
}

function rawReply(socket: Duplex, status: number, body: string): void {
  const messages: Readonly<Record<number, string>> = { 404: 'Not Found', 502: 'Bad Gateway', 503: 'Service Unavailable', 504: 'Gateway Timeout' };
  if (!socket.writable) return void socket.destroy();
  socket.end(rawHead(status, messages[status] ?? '', [['content-type', 'text/plain; charset=utf-8'], ['content-length', String(Buffer.byteLength(body))], ['connection', 'close']]) + body);
}
