/**
 * The agent's own HTTP endpoint, the kubelet's port (10250 in Kubernetes): what the API server
 * proxies to for a pod's logs (and, later, exec). Its port goes into the Node's
 * status.daemonEndpoints.kubeletEndpoint.Port, its address is the node's InternalIP.
 *
 *   GET /containerLogs/{namespace}/{pod}/{container}?follow&previous&timestamps&tailLines&...
 *   GET /exec/{namespace}/{pod}/{container}?command=...&stdin&stdout&stderr&tty&podUID
 *   GET /attach/{namespace}/{pod}/{container}?stdin&stdout&stderr&tty&podUID
 *       (WebSocket upgrades, subprotocol v5.channel.k8s.io or v4.channel.k8s.io; see exec.ts)
 *   GET /stats/summary   (CPU and memory of the node and its pods, for metrics.k8s.io; see stats.ts)
 *   GET /metrics         (the agent's own Prometheus metrics; see metrics.ts)
 *   GET /healthz
 *
 * Authentication: mutual TLS (issue #16). The endpoint serves the node's own certificate (signed by
 * its cluster's node CA at join, naming system:node:NAME: node-agent/identity.ts), and accepts
 * only a client certificate signed by its cluster's CA whose subject is the API's
 * (stratus:apiserver-kubelet-client, shared/auth/node-pki.ts): the handshake fails for anyone
 * else, and no secret is shared between nodes or with whatever address a Node's status names.
 *
 * Errors are Kubernetes Status objects, so the API can pass them through with their code; a
 * refused upgrade answers one too, as a plain HTTP response before any WebSocket exists.
 */
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import type { TLSSocket } from 'node:tls';
import { API_CLIENT_CN } from '../shared/auth/node-pki';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import { chooseProtocol, EXEC_PROTOCOLS, failSession, parseExecOptions, serveExecSession, type ContainerExecutor } from './exec';
import { errorMessage, withCurrentLogKeys, withLogKeys, type Logger } from './log';
import { parseLogOptions } from './logs';
import type { ContainerLogSource } from './runtime';
import type { Summary } from './stats';
import type { PortForwardServer } from './port-forward';

export interface KubeletServerOptions {
  readonly logs: ContainerLogSource;
  /** Runs `kubectl exec` commands and attaches; without it /exec and /attach answer 404. */
  readonly exec?: ContainerExecutor;
  /** Serves /portForward (upgrades) and /podProxy (see port-forward.ts); without it they answer 404. */
  readonly portForward?: PortForwardServer;
  /** Serves /stats/summary; without it that path answers 404. */
  readonly stats?: { summary(): Promise<Summary> };
  /** Serves /metrics (Prometheus text format); without it that path answers 404. */
  readonly metrics?: { render(): Promise<{ contentType: string; body: string }> };
  /** The node's serving key and certificate (PEM), and the CA of the client certificates it accepts. */
  readonly tls: { readonly key: string; readonly cert: string; readonly clientCA: string };
  /** @default 0 (any free port: several agents may share one host) */
  readonly port?: number;
  /** @default '0.0.0.0' */
  readonly host?: string;
  readonly log: Logger;
}

const status = (code: number, reason: string, message: string) =>
  JSON.stringify({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code });

function sendStatus(res: http.ServerResponse, code: number, reason: string, message: string): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(code, { 'content-type': 'application/json' });
  res.end(status(code, reason, message));
}

/** Answers a refused upgrade with a Status over the raw socket (no WebSocket was made). */
function rejectUpgrade(socket: Duplex, code: number, reason: string, message: string): void {
  if (socket.destroyed) return;
  const body = status(code, reason, message);
  socket.end(
    `HTTP/1.1 ${code} ${http.STATUS_CODES[code] ?? 'Error'}\r\n` +
      `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}

/** Whether the request came over a connection whose verified client certificate is the API's. */
function fromApiServer(req: http.IncomingMessage): boolean {
  const socket = req.socket as TLSSocket;
  if (!socket.authorized) return false;
  const cn = socket.getPeerCertificate()?.subject?.CN;
  return (Array.isArray(cn) ? cn[0] : cn) === API_CLIENT_CN;
}

/**
 * The id of a request, for its log lines: the caller's X-Request-Id when it is a plain token of
 * at most 128 characters (it is echoed into logs, so nothing else is trusted), else a new UUID.
 */
export function requestIdOf(header: string | string[] | undefined): string {
  const given = Array.isArray(header) ? header[0] : header;
  return given !== undefined && /^[A-Za-z0-9._:-]{1,128}$/.test(given) ? given : randomUUID();
}

export class KubeletServer {
  private readonly server: https.Server;
  /** Upgrades exec requests; the subprotocol was chosen before (see upgrade()). */
  private readonly wss = new WebSocketServer({
    noServer: true,
    handleProtocols: (offered) => chooseProtocol(offered) ?? false,
    // Output can be large; a frame is one Docker read, far below this.
    maxPayload: 16 * 1024 * 1024,
  });

  constructor(private readonly opts: KubeletServerOptions) {
    // Each request is a unit of work: its lines (the runtime's too) carry its requestId.
    // The handshake itself refuses a client without a certificate of the cluster's CA.
    const tlsOptions = { key: opts.tls.key, cert: opts.tls.cert, ca: opts.tls.clientCA, requestCert: true, rejectUnauthorized: true, minVersion: 'TLSv1.2' as const };
    this.server = https.createServer(tlsOptions, (req, res) => withLogKeys({ requestId: requestIdOf(req.headers['x-request-id']) }, () => {
      void this.handle(req, res).catch((e: unknown) => {
        opts.log.warn('kubelet endpoint request failed', { url: req.url, error: errorMessage(e) });
        sendStatus(res, 500, 'InternalError', errorMessage(e));
      });
    }));
    this.server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => withLogKeys({ requestId: requestIdOf(req.headers['x-request-id']) }, () => {
      socket.on('error', () => undefined);
      void this.upgrade(req, socket, head).catch((e: unknown) => {
        opts.log.warn('kubelet endpoint upgrade failed', { url: req.url, error: errorMessage(e) });
        rejectUpgrade(socket, 500, 'InternalError', errorMessage(e));
      });
    }));
  }

  /** Serves a renewed key and certificate from the next handshake on (node-agent/identity.ts rotation). */
  setServingCertificate(key: string, cert: string): void {
    this.server.setSecureContext({ key, cert, ca: this.opts.tls.clientCA, minVersion: 'TLSv1.2' });
  }

  /**
   * Serves one connection that did not come through a listening socket: the node side of a
   * kubelet relay session (node-agent/kubelet-relay.ts). The same TLS handshake runs over it (the
   * API's client certificate required), so what the relay carries is what a listener would get.
   */
  acceptConnection(stream: Duplex): void {
    this.server.emit('connection', stream);
  }

  /** Listens; resolves with the port actually bound. */
  async listen(): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.opts.port ?? 0, this.opts.host ?? '0.0.0.0', () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    return (this.server.address() as AddressInfo).port;
  }

  /** Stops accepting and drops open streams (a follow would otherwise keep the process alive). */
  async close(): Promise<void> {
    // Upgraded sockets are no longer the HTTP server's: end the exec sessions ourselves.
    for (const ws of this.wss.clients) ws.terminate();
    this.opts.portForward?.close();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://kubelet');
    if (url.pathname === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
      return;
    }
    if (!fromApiServer(req)) return sendStatus(res, 403, 'Forbidden', 'only the API server may call this endpoint');
    const segs = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
    if (url.pathname === '/stats/summary' && this.opts.stats) {
      if (req.method !== 'GET') return sendStatus(res, 405, 'MethodNotAllowed', `the server does not allow this method on the requested resource`);
      const body = JSON.stringify(await this.opts.stats.summary());
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }).end(body);
      return;
    }
    if (url.pathname === '/metrics' && this.opts.metrics) {
      if (req.method !== 'GET') return sendStatus(res, 405, 'MethodNotAllowed', `the server does not allow this method on the requested resource`);
      const { contentType, body } = await this.opts.metrics.render();
      res.writeHead(200, { 'content-type': contentType, 'content-length': Buffer.byteLength(body) }).end(body);
      return;
    }
    if (segs[0] === 'podProxy' && this.opts.portForward) return this.opts.portForward.proxy(req, res, segs, url, (code, reason, message) => sendStatus(res, code, reason, message));
    if (segs[0] !== 'containerLogs' || segs.length !== 4) return sendStatus(res, 404, 'NotFound', `the server could not find the requested resource`);
    if (req.method !== 'GET') return sendStatus(res, 405, 'MethodNotAllowed', `the server does not allow this method on the requested resource`);
    const parsed = parseLogOptions(url.searchParams);
    if (!parsed.ok) return sendStatus(res, 400, 'BadRequest', parsed.message);
    const [, namespace, pod, container] = segs as [string, string, string, string];
    const uid = url.searchParams.get('podUID') ?? undefined;
    const result = await this.opts.logs.containerLogs({ namespace, pod, container, ...(uid ? { uid } : {}) }, parsed.options);
    if (!result.ok) return sendStatus(res, result.code, result.code === 404 ? 'NotFound' : 'BadRequest', result.message);
    const stream = result.stream;
    // The client (the API) went away: stop reading Docker's log.
    res.on('close', () => stream.destroy());
    stream.on('error', (e) => {
      this.opts.log.warn('log stream failed', { pod: `${namespace}/${pod}`, container, error: errorMessage(e) });
      res.destroy();
    });
    res.writeHead(200, { 'content-type': 'text/plain', 'cache-control': 'no-cache' });
    // Headers go out now, so a follow with no output yet still answers at once.
    res.flushHeaders();
    stream.pipe(res);
  }

  /** GET /exec|attach/{namespace}/{pod}/{container}?...: a WebSocket running the command (attached to the container). */
  private async upgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://kubelet');
    if (!fromApiServer(req)) return rejectUpgrade(socket, 403, 'Forbidden', 'only the API server may call this endpoint');
    const segs = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
    if (segs[0] === 'portForward' && this.opts.portForward) return this.opts.portForward.upgrade(req, socket, head, segs, url, rejectUpgrade);
    const exec = this.opts.exec;
    const attach = segs[0] === 'attach';
    if ((segs[0] !== 'exec' && !attach) || segs.length !== 4 || !exec) return rejectUpgrade(socket, 404, 'NotFound', 'the server could not find the requested resource');
    if ((req.headers.upgrade ?? '').toLowerCase() !== 'websocket') return rejectUpgrade(socket, 400, 'BadRequest', 'only WebSocket upgrades are served');
    const offered = (req.headers['sec-websocket-protocol'] ?? '').split(',');
    const protocol = chooseProtocol(offered);
    if (!protocol) return rejectUpgrade(socket, 400, 'BadRequest', `the client must offer one of the subprotocols ${EXEC_PROTOCOLS.join(', ')}`);
    const parsed = parseExecOptions(url.searchParams, attach);
    if (!parsed.ok) return rejectUpgrade(socket, 400, 'BadRequest', parsed.message);
    const [, namespace, pod, container] = segs as [string, string, string, string];
    const uid = url.searchParams.get('podUID') ?? undefined;
    const ref = { namespace, pod, container, ...(uid ? { uid } : {}) };
    const prepared = attach ? await exec.prepareAttach(ref, parsed.options) : await exec.prepareExec(ref, parsed.options);
    if (socket.destroyed) return;
    // The session's WebSocket events run outside this request's async chain: fix its keys.
    const log = withCurrentLogKeys(this.opts.log);
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      // A container that is not running is the session's error, in band, as kube-apiserver
      // reports what the kubelet said: the client's upgrade has succeeded by then (kubectl
      // prints the message rather than falling back to SPDY), and on AWS, where the agent dials
      // out to a relay the client is already connected to, there is no HTTP answer left to give.
      if (!prepared.ok) return void failSession(ws, `unable to upgrade connection: ${prepared.message}`);
      log.info(attach ? 'attach session' : 'exec session', { pod: `${namespace}/${pod}`, container, command: parsed.options.command, tty: parsed.options.tty });
      void serveExecSession(ws, prepared.start(), { protocol, command: parsed.options.command, log });
    });
  }
}
