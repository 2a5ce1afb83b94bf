/**
 * The service health check server (kube-proxy's pkg/proxy/healthcheck service_health.go): for each
 * LoadBalancer Service with externalTrafficPolicy Local, an HTTP server on spec.healthCheckNodePort
 * that a load balancer asks whether this node should get the Service's traffic: any request is
 * answered 200 when the node has ready endpoints of the Service, 503 when it has none, with
 * kube-proxy's JSON body ({"service":{"namespace","name"},"localEndpoints":N,"serviceProxyHealthy"}).
 *
 * Where it listens: the node's own addresses (`addresses`). Several nodes share one host locally
 * and would collide on the host's address, so there each listens on its bridge gateway
 * (10.128.x.1, unique per node; pods cannot reach it: node-bridge's input chain); on a host of its
 * own (EC2) the node's InternalIP is added, which is what an NLB target group's health check asks.
 */
import { createServer, type Server } from 'node:http';
import { errorMessage, type Logger } from '../log';
import type { ClusterSnapshot, ClusterView } from './cluster-view';
import { endpointsFor } from './service-rules';
import type { EndpointSlice, Service } from '../../shared/schemas/service';

const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';

/** port → the Service it checks, and its local ready endpoint count (kube-proxy's LocalReadyEndpoints: per Service port). */
export function healthChecks(snapshot: ClusterSnapshot, nodeName: string): Map<number, { namespace: string; name: string; localEndpoints: number }> {
  const out = new Map<number, { namespace: string; name: string; localEndpoints: number }>();
  // The Services checked first: without one (the usual case), no slice is looked at.
  const checked = (snapshot.services as Service[]).filter(({ spec }) => spec.type === 'LoadBalancer' && spec.externalTrafficPolicy === 'Local' && !!spec.healthCheckNodePort);
  if (!checked.length) return out;
  const wanted = new Set(checked.map((svc) => `${svc.metadata.namespace ?? ''}/${svc.metadata.name ?? ''}`));
  const slicesBySvc = new Map<string, EndpointSlice[]>();
  for (const s of snapshot.endpointSlices) {
    const name = s.metadata.labels?.[SERVICE_NAME_LABEL];
    if (!name) continue;
    const k = `${s.metadata.namespace ?? ''}/${name}`;
    if (!wanted.has(k)) continue;
    (slicesBySvc.get(k) ?? slicesBySvc.set(k, []).get(k)!).push(s);
  }
  for (const svc of checked) {
    const { spec } = svc;
    const port = spec.healthCheckNodePort;
    if (!port || out.has(port)) continue;
    const namespace = svc.metadata.namespace ?? '';
    const name = svc.metadata.name ?? '';
    const slices = slicesBySvc.get(`${namespace}/${name}`) ?? [];
    let localEndpoints = 0;
    for (const sp of spec.ports ?? []) {
      // Ready ones only (endpointsFor falls back to serving-terminating ones when none is ready).
      const ready = endpointsFor(
        slices.map((s) => ({ ...s, endpoints: s.endpoints.filter((e) => e.conditions?.ready !== false) })),
        sp.name ?? '',
        sp.protocol ?? 'TCP',
        { nodeName, localOnly: true },
      );
      localEndpoints += ready.length;
    }
    out.set(port, { namespace, name, localEndpoints });
  }
  return out;
}

/** kube-proxy's answer: the status code and the body. */
export function healthAnswer(check: { namespace: string; name: string; localEndpoints: number }, proxyHealthy = true): { status: number; body: string } {
  const body = JSON.stringify({ service: { namespace: check.namespace, name: check.name }, localEndpoints: check.localEndpoints, serviceProxyHealthy: proxyHealthy }, null, '\t');
  return { status: check.localEndpoints > 0 && proxyHealthy ? 200 : 503, body };
}

export interface HealthCheckServerOptions {
  readonly view: ClusterView;
  readonly nodeName: string;
  /** Where to listen (read at each snapshot: the bridge may come later). */
  readonly addresses: () => readonly string[];
  readonly log: Logger;
}

export class HealthCheckServer {
  private checks = new Map<number, { namespace: string; name: string; localEndpoints: number }>();
  private readonly servers = new Map<string, Server>();
  private unsubscribe: (() => void) | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly opts: HealthCheckServerOptions) {}

  start(): void {
    this.unsubscribe = this.opts.view.subscribe((s) => this.sync(s));
    this.sync(this.opts.view.current());
    // A listener that failed (the bridge's address not there yet) is tried again.
    this.timer = setInterval(() => this.sync(this.opts.view.current()), 10_000);
    this.timer.unref();
  }

  stop(): void {
    this.unsubscribe?.();
    clearInterval(this.timer);
    for (const s of this.servers.values()) s.close();
    this.servers.clear();
  }

  /** The listeners now open (address:port), for tests and logs. */
  listening(): string[] {
    return [...this.servers.keys()].sort();
  }

  sync(snapshot: ClusterSnapshot): void {
    if (snapshot.version === '') return;
    this.checks = healthChecks(snapshot, this.opts.nodeName);
    const want = new Set<string>();
    for (const address of this.opts.addresses()) for (const port of this.checks.keys()) want.add(`${address}:${port}`);
    for (const [key, server] of this.servers)
      if (!want.has(key)) {
        server.close();
        this.servers.delete(key);
      }
    for (const key of want) {
      if (this.servers.has(key)) continue;
      const at = key.lastIndexOf(':');
      const address = key.slice(0, at);
      const port = Number(key.slice(at + 1));
      const server = createServer((_req, res) => {
        const check = this.checks.get(port);
        if (!check) {
          res.destroy();
          return;
        }
        const { status, body } = healthAnswer(check);
        res.writeHead(status, { 'Content-Type': 'application/json', 'X-Content-Type-Options': 'nosniff' });
        res.end(body);
      });
      server.on('error', (e) => {
        this.opts.log.warn('service health check not served', { address, port, error: errorMessage(e) });
        if (this.servers.get(key) === server) this.servers.delete(key);
      });
      server.listen(port, address);
      this.servers.set(key, server);
    }
  }
}
