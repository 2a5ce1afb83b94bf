/**
 * The node's Ingress controller (issue #15): an HTTP reverse proxy on a port of the node that
 * serves the cluster's Ingresses of a class whose controller is `stratus.dev/ingress`, routing by
 * host and path (ingress-routes.ts has the rules) to the ready endpoints of the backend Service's
 * port, spread round-robin per backend. 404 when nothing matches, 503 when the backend has no
 * ready endpoint, 502 when the chosen endpoint does not answer, 504 when it is too slow to connect.
 *
 * It reads the agent's cluster view (the same lists the service proxy and DNS read; Ingress changes
 * reach the node as the services signal). It connects only to addresses inside this cluster's node
 * pod CIDRs (podAddressFilter): Endpoints and EndpointSlices are tenant-writable and could name the
 * host, the store or another cluster, and this process runs on the host, outside the pods' rules.
 *
 * Not done: TLS (spec.tls), WebSocket/Upgrade, HTTP/2; requests are proxied as HTTP/1.1.
 */
import { createServer, request as httpRequest, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { errorMessage, type Logger } from '../log';
import type { ClusterSnapshot, ClusterView } from './cluster-view';
import { matchRoute, podAddressFilter, resolveBackend, servedIngresses, type RouteIngress, type Target } from './ingress-routes';

/** An upstream silent this long (ingress-nginx's proxy-read-timeout) is cut. */
const READ_TIMEOUT_MS = 60_000;

/** Headers that belong to one hop (RFC 9110 7.6.1), never forwarded. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'proxy-authorization', 'proxy-authenticate']);

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
}

function forwardHeaders(headers: IncomingHttpHeaders, req: IncomingMessage): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  const named = new Set(String(headers.connection ?? '').toLowerCase().split(',').map((s) => s.trim()));
  for (const [k, v] of Object.entries(headers)) if (v !== undefined && !HOP_BY_HOP.has(k) && !named.has(k)) out[k] = v;
  const client = req.socket.remoteAddress ?? '';
  out['x-forwarded-for'] = headers['x-forwarded-for'] ? `${String(headers['x-forwarded-for'])}, ${client}` : client;
  out['x-real-ip'] = client;
  if (headers.host) out['x-forwarded-host'] = headers.host;
  out['x-forwarded-proto'] = 'http';
  return out;
}

export class IngressProxy {
  private server: Server | undefined;
  private served: { version: string; ingresses: RouteIngress[] } = { version: '', ingresses: [] };
  private allowed: (ip: string) => boolean = () => false;
  private readonly next = new Map<string, number>();
  private unsubscribe: (() => void) | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly opts: IngressProxyOptions) {}

  /** Starts listening; resolves to the port. */
  async listen(): Promise<number> {
    this.unsubscribe = this.opts.view.subscribe(() => void this.refreshCidrs());
    this.timer = setInterval(() => void this.refreshCidrs(), 60_000);
    this.timer.unref();
    void this.refreshCidrs();
    const server = createServer((req, res) => this.handle(req, res));
    server.keepAliveTimeout = 65_000;
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.opts.port ?? 0, this.opts.address ?? '0.0.0.0', () => {
        server.off('error', reject);
        resolve();
      });
    });
    return (server.address() as AddressInfo).port;
  }

  async close(): Promise<void> {
    this.unsubscribe?.();
    if (this.timer) clearInterval(this.timer);
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
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

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const snapshot = this.opts.view.current();
    const route = matchRoute(this.servedIngresses(snapshot), req.headers.host, req.url ?? '/');
    if (!route) return void reply(res, 404, '404 page not found\n');
    const resolution = resolveBackend(snapshot, route.namespace, route.backend, this.allowed);
    if ('unavailable' in resolution) return void reply(res, 503, '503 Service Temporarily Unavailable\n');
    const key = `${route.namespace}/${route.backend.service?.name ?? ''}/${route.backend.service?.port?.number ?? route.backend.service?.port?.name ?? ''}`;
    const n = this.next.get(key) ?? 0;
    this.next.set(key, n + 1);
    const target = resolution.targets[n % resolution.targets.length]!;
    this.forward(req, res, target);
  }

  private forward(req: IncomingMessage, res: ServerResponse, target: Target): void {
    // The check again, at the moment of connecting (the resolution's filter is the same function).
    if (!this.allowed(target.ip)) return void reply(res, 503, '503 Service Temporarily Unavailable\n');
    const upstream = httpRequest({ host: target.ip, port: target.port, method: req.method, path: req.url, headers: forwardHeaders(req.headers, req), setHost: false, timeout: READ_TIMEOUT_MS }, (up) => {
      const headers: Record<string, string | string[]> = {};
      for (const [k, v] of Object.entries(up.headers)) if (v !== undefined && !HOP_BY_HOP.has(k)) headers[k] = v;
      res.writeHead(up.statusCode ?? 502, up.statusMessage, headers);
      up.pipe(res);
      up.on('error', () => res.destroy());
    });
    let connected = false;
    const connectTimer = setTimeout(() => upstream.destroy(new Error('connect timed out')), this.opts.connectTimeoutMs ?? 10_000);
    upstream.on('socket', (s) => s.once('connect', () => {
      connected = true;
      clearTimeout(connectTimer);
    }));
    upstream.on('close', () => clearTimeout(connectTimer));
    upstream.on('timeout', () => upstream.destroy(new Error('upstream timed out')));
    upstream.on('error', (e) => {
      this.opts.log.warn('ingress proxy: upstream failed', { target: `${target.ip}:${target.port}`, error: errorMessage(e) });
      if (res.headersSent) return void res.destroy();
      if (!connected && e.message === 'connect timed out') reply(res, 504, '504 Gateway Time-out\n');
      else reply(res, 502, '502 Bad Gateway\n');
    });
    req.on('aborted', () => upstream.destroy());
    req.pipe(upstream);
  }
}

function reply(res: ServerResponse, status: number, body: string): void {
  if (res.headersSent) return void res.destroy();
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}
