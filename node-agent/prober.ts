/**
 * Container probes, as the kubelet's prober (pkg/kubelet/prober): one worker per running
 * container and probe type (startup, liveness, readiness), each on its own timer.
 *
 * - A worker probes every periodSeconds once initialDelaySeconds have passed since the container
 *   started; liveness and readiness wait until the startup probe (if any) has succeeded.
 * - A result is published only after successThreshold successes or failureThreshold failures in
 *   a row; readiness starts as failure, liveness as success, startup as not yet.
 * - A published liveness or startup failure kills the container (events Unhealthy, Killing); the
 *   pod's restartPolicy then decides whether it runs again, as for any other exit.
 * - Every change of a published result calls onChange(pod), so the agent patches status at once.
 *
 * Workers belong to one container id: a restarted container (new id) gets fresh workers, so its
 * readiness starts at "not ready" again, as in Kubernetes.
 */
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { z } from 'zod';
import { errorMessage, type Logger } from './log';
import { ExecTimeoutError, type ContainerCommander, type EventRecorder } from './runtime';
import { podKeyOf, type Container, type Pod, type PodKey, type PodStatus } from './types';
import { sleep } from '../shared/sleep';

const IntOrStringSchema = z.union([z.number().int(), z.string()]);

/** core/v1 Probe, parsed at the point of use; a malformed probe fails, it never crashes the agent. */
export const ProbeSchema = z.looseObject({
  exec: z.looseObject({ command: z.array(z.string()).min(1) }).optional(),
  httpGet: z
    .looseObject({
      path: z.string().optional(),
      port: IntOrStringSchema,
      host: z.string().optional(),
      scheme: z.enum(['HTTP', 'HTTPS']).optional(),
      httpHeaders: z.array(z.looseObject({ name: z.string(), value: z.string() })).optional(),
    })
    .optional(),
  tcpSocket: z.looseObject({ port: IntOrStringSchema, host: z.string().optional() }).optional(),
  grpc: z.looseObject({ port: z.number().int(), service: z.string().optional() }).optional(),
  initialDelaySeconds: z.number().int().min(0).optional(),
  periodSeconds: z.number().int().min(1).optional(),
  timeoutSeconds: z.number().int().min(1).optional(),
  successThreshold: z.number().int().min(1).optional(),
  failureThreshold: z.number().int().min(1).optional(),
  terminationGracePeriodSeconds: z.number().int().min(0).optional(),
});
export type Probe = z.infer<typeof ProbeSchema>;

export type ProbeType = 'startup' | 'liveness' | 'readiness';
const PROBE_FIELD = { startup: 'startupProbe', liveness: 'livenessProbe', readiness: 'readinessProbe' } as const;
/** The kubelet's words in events: "Liveness probe failed: ...". */
const PROBE_WORD = { startup: 'Startup', liveness: 'Liveness', readiness: 'Readiness' } as const;

export type ProbeOutcome = { readonly result: 'success' } | { readonly result: 'failure'; readonly output: string };

/** Where a probe is aimed: the container (for exec) and the pod IP (for httpGet, tcpSocket). */
export interface ProbeTarget {
  readonly containerID: string;
  readonly podIP?: string;
  readonly container: Container;
}

/** The probe of `type` on `container`, parsed; undefined when none; an error text when malformed. */
export function probeOf(container: Container, type: ProbeType): Probe | string | undefined {
  const raw = container[PROBE_FIELD[type]];
  if (raw === undefined || raw === null) return undefined;
  const parsed = ProbeSchema.safeParse(raw);
  if (!parsed.success) return `invalid ${PROBE_FIELD[type]}: ${parsed.error.issues[0]?.message ?? 'malformed'}`;
  const handlers = ['exec', 'httpGet', 'tcpSocket', 'grpc'].filter((k) => parsed.data[k as 'exec'] !== undefined);
  if (handlers.length !== 1) return `invalid ${PROBE_FIELD[type]}: must specify exactly one handler type (exec, httpGet, tcpSocket, grpc)`;
  return parsed.data;
}

/** A port number, or the container port of that name. */
export function resolvePort(port: number | string, container: Container): number | undefined {
  if (typeof port === 'number') return port;
  if (/^\d+$/.test(port)) return Number(port);
  return container.ports?.find((p) => p.name === port)?.containerPort;
}

/** Go's net/http and net dialer words, which kubectl users know from real kubelets. */
function dialError(e: unknown, hostPort: string): string {
  const code = typeof e === 'object' && e !== null && 'code' in e ? String(e.code) : '';
  if (code === 'ECONNREFUSED') return `dial tcp ${hostPort}: connect: connection refused`;
  if (code === 'EHOSTUNREACH') return `dial tcp ${hostPort}: connect: no route to host`;
  if (code === 'ETIMEDOUT') return `dial tcp ${hostPort}: i/o timeout`;
  return `dial tcp ${hostPort}: ${errorMessage(e)}`;
}

/** Runs one probe once. Never throws: anything that goes wrong is a failure with a message. */
export async function runProbe(probe: Probe, target: ProbeTarget, commander: ContainerCommander): Promise<ProbeOutcome> {
  const timeoutMs = (probe.timeoutSeconds ?? 1) * 1000;
  if (probe.exec) {
    try {
      const r = await commander.execInContainer(target.containerID, probe.exec.command, timeoutMs);
      return r.exitCode === 0 ? { result: 'success' } : { result: 'failure', output: r.output.trim() || `command exited with code ${r.exitCode}` };
    } catch (e) {
      if (e instanceof ExecTimeoutError) return { result: 'failure', output: `command timed out: ${JSON.stringify(probe.exec.command.join(' '))} timed out after ${timeoutMs / 1000}s` };
      return { result: 'failure', output: errorMessage(e) };
    }
  }
  if (probe.grpc) return { result: 'failure', output: 'gRPC probes are not supported by this node' };
  const spec = probe.httpGet ?? probe.tcpSocket;
  if (!spec) return { result: 'failure', output: 'probe has no handler' };
  const port = resolvePort(spec.port, target.container);
  if (port === undefined || port < 1 || port > 65535) return { result: 'failure', output: `couldn't find port "${String(spec.port)}" in container` };
  const host = spec.host || target.podIP;
  if (!host) return { result: 'failure', output: 'the pod has no IP yet' };
  const hostPort = `${host.includes(':') ? `[${host}]` : host}:${port}`;
  if (probe.tcpSocket) return tcpProbe(host, port, hostPort, timeoutMs);
  return httpProbe(probe.httpGet!, host, port, hostPort, timeoutMs);
}

function tcpProbe(host: string, port: number, hostPort: string, timeoutMs: number): Promise<ProbeOutcome> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const done = (o: ProbeOutcome) => {
      socket.destroy();
      clearTimeout(timer);
      resolve(o);
    };
    const timer = setTimeout(() => done({ result: 'failure', output: `dial tcp ${hostPort}: i/o timeout` }), timeoutMs);
    socket.once('connect', () => done({ result: 'success' }));
    socket.once('error', (e) => done({ result: 'failure', output: dialError(e, hostPort) }));
  });
}

function httpProbe(get: NonNullable<Probe['httpGet']>, host: string, port: number, hostPort: string, timeoutMs: number): Promise<ProbeOutcome> {
  const scheme = get.scheme === 'HTTPS' ? 'https' : 'http';
  const path = get.path ? (get.path.startsWith('/') ? get.path : `/${get.path}`) : '/';
  const url = `${scheme}://${hostPort}${path}`;
  const headers: Record<string, string> = { 'User-Agent': 'kube-probe/1.32', Accept: '*/*' };
  for (const h of get.httpHeaders ?? []) headers[h.name] = h.value;
  return new Promise((resolve) => {
    let settled = false;
    const done = (o: ProbeOutcome) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req.destroy();
      resolve(o);
    };
    const lib = scheme === 'https' ? https : http;
    // The kubelet does not verify a probe's TLS certificate, so neither do we.
    const req = lib.request(url, { method: 'GET', headers, agent: false, ...(scheme === 'https' ? { rejectUnauthorized: false } : {}) }, (res) => {
      const code = res.statusCode ?? 0;
      res.resume();
      // 2xx and 3xx are success (redirects are not followed, as to another host the kubelet would not either).
      if (code >= 200 && code < 400) done({ result: 'success' });
      else done({ result: 'failure', output: `HTTP probe failed with statuscode: ${code}` });
    });
    const timer = setTimeout(
      () => done({ result: 'failure', output: `Get "${url}": context deadline exceeded (Client.Timeout exceeded while awaiting headers)` }),
      timeoutMs,
    );
    req.once('error', (e) => done({ result: 'failure', output: `Get "${url}": ${dialError(e, hostPort)}` }));
    req.end();
  });
}

export type PublishedResult = 'success' | 'failure' | 'unknown';

/**
 * The kubelet's threshold logic (worker.doProbe), pure: results in a row publish only at the
 * threshold. `observe` returns true when the published result changed.
 */
export class ThresholdCounter {
  private last: 'success' | 'failure' | undefined;
  private run = 0;

  constructor(
    public published: PublishedResult,
    private readonly successThreshold: number,
    private readonly failureThreshold: number,
  ) {}

  observe(result: 'success' | 'failure'): boolean {
    if (this.last === result) this.run++;
    else {
      this.last = result;
      this.run = 1;
    }
    if ((result === 'failure' && this.run < this.failureThreshold) || (result === 'success' && this.run < this.successThreshold)) return false;
    const changed = this.published !== result;
    this.published = result;
    return changed;
  }

  /** After a kill, count from zero again (the kubelet's resultRun = 0). */
  resetRun(): void {
    this.run = 0;
    this.last = undefined;
  }
}

/** What the prober knows about one container, merged into its containerStatus. */
export interface ContainerProbeState {
  /** The startup probe succeeded, or there is none. */
  readonly started: boolean;
  /** Started and the readiness probe succeeded, or there is none. */
  readonly ready: boolean;
}

export interface ProbeManagerOptions {
  readonly commander: ContainerCommander;
  readonly recorder: EventRecorder;
  readonly log: Logger;
  /** Called when a published result changes or a container was killed; must not throw. */
  readonly onChange: (pod: PodKey) => void;
  /** Called with every probe's raw result (the kubelet's prober_probe_total); must not throw. */
  readonly onResult?: (type: ProbeType, result: 'successful' | 'failed' | 'unknown', pod: PodKey, container: string) => void;
}

interface Worker {
  readonly type: ProbeType;
  readonly containerID: string;
  readonly counter: ThresholdCounter;
  readonly stop: AbortController;
}

const INITIAL: Record<ProbeType, PublishedResult> = { startup: 'unknown', liveness: 'success', readiness: 'failure' };

export class ProbeManager {
  /** By pod uid, then `${container}/${type}`. */
  private readonly workers = new Map<string, Map<string, Worker>>();
  /** Latest pod object and status, read by workers for the pod IP and grace periods. */
  private readonly pods = new Map<string, { pod: Pod; podIP?: string }>();

  constructor(private readonly opts: ProbeManagerOptions) {}

  /**
   * Matches workers to the pod's running containers (as in `status`): starts workers for new
   * containers, stops those whose container is gone, restarted or not running. Idempotent.
   */
  sync(pod: Pod, status: PodStatus): void {
    const uid = pod.metadata.uid;
    this.pods.set(uid, { pod, podIP: status.podIP });
    let mine = this.workers.get(uid);
    const wanted = new Set<string>();
    if (!pod.metadata.deletionTimestamp) {
      for (const spec of pod.spec.containers) {
        const cs = status.containerStatuses?.find((s) => s.name === spec.name);
        const id = cs?.state?.running && cs.containerID ? cs.containerID.replace(/^[a-z]+:\/\//, '') : undefined;
        if (!id) continue;
        for (const type of ['startup', 'liveness', 'readiness'] as const) {
          const probe = probeOf(spec, type);
          if (probe === undefined) continue;
          const key = `${spec.name}/${type}`;
          wanted.add(key);
          const w = mine?.get(key);
          if (w && w.containerID === id) continue;
          w?.stop.abort();
          if (!mine) this.workers.set(uid, (mine = new Map<string, Worker>()));
          mine.set(key, this.startWorker(pod, spec, type, probe, id, cs?.state?.running?.startedAt ?? undefined));
        }
      }
    }
    for (const [key, w] of mine ?? []) {
      if (!wanted.has(key)) {
        w.stop.abort();
        mine!.delete(key);
      }
    }
    if (mine?.size === 0) this.workers.delete(uid);
  }

  /** The probe state of one container; containers without probes are started and ready. */
  stateOf(pod: Pod, containerName: string, containerID: string): ContainerProbeState {
    const spec = pod.spec.containers.find((c) => c.name === containerName);
    if (!spec) return { started: true, ready: true };
    const id = containerID.replace(/^[a-z]+:\/\//, '');
    const published = (type: ProbeType): PublishedResult => {
      const w = this.workers.get(pod.metadata.uid)?.get(`${containerName}/${type}`);
      return w && w.containerID === id ? w.counter.published : INITIAL[type];
    };
    const started = probeOf(spec, 'startup') === undefined || published('startup') === 'success';
    const ready = started && (probeOf(spec, 'readiness') === undefined || published('readiness') === 'success');
    return { started, ready };
  }

  /** Stops every worker of the pod (killed or deleted). */
  removePod(uid: string): void {
    for (const w of this.workers.get(uid)?.values() ?? []) w.stop.abort();
    this.workers.delete(uid);
    this.pods.delete(uid);
  }

  stopAll(): void {
    for (const uid of [...this.workers.keys()]) this.removePod(uid);
  }

  private startWorker(pod: Pod, spec: Container, type: ProbeType, probe: Probe | string, containerID: string, startedAt?: string): Worker {
    const counter = new ThresholdCounter(
      INITIAL[type],
      typeof probe === 'string' || type !== 'readiness' ? 1 : probe.successThreshold ?? 1,
      typeof probe === 'string' ? 3 : probe.failureThreshold ?? 3,
    );
    const worker: Worker = { type, containerID, counter, stop: new AbortController() };
    void this.runWorker(podKeyOf(pod), spec, worker, probe, startedAt).catch((e: unknown) =>
      this.opts.log.warn('probe worker failed', { pod: `${pod.metadata.namespace}/${pod.metadata.name}`, container: spec.name, type, error: errorMessage(e) }),
    );
    return worker;
  }

  private async runWorker(key: PodKey, spec: Container, w: Worker, probe: Probe | string, startedAt?: string): Promise<void> {
    const signal = w.stop.signal;
    const period = typeof probe === 'string' ? 10 : probe.periodSeconds ?? 10;
    const initialDelay = typeof probe === 'string' ? 0 : probe.initialDelaySeconds ?? 0;
    const startedMs = startedAt ? Date.parse(startedAt) : Date.now();
    const firstAt = (Number.isFinite(startedMs) ? startedMs : Date.now()) + initialDelay * 1000;
    await sleep(Math.max(0, firstAt - Date.now()), signal);
    const fieldPath = `spec.containers{${spec.name}}`;
    while (!signal.aborted) {
      const current = this.pods.get(key.uid);
      // Liveness and readiness wait for the startup probe, as in the kubelet.
      const waitForStartup = w.type !== 'startup' && current && !this.stateOf(current.pod, spec.name, w.containerID).started;
      if (!waitForStartup && current) {
        const outcome: ProbeOutcome =
          typeof probe === 'string' ? { result: 'failure', output: probe } : await runProbe(probe, { containerID: w.containerID, podIP: current.podIP, container: spec }, this.opts.commander);
        if (signal.aborted) return;
        this.opts.onResult?.(w.type, outcome.result === 'success' ? 'successful' : 'failed', key, spec.name);
        if (outcome.result === 'failure') {
          this.opts.recorder.event(key, 'Warning', 'Unhealthy', `${PROBE_WORD[w.type]} probe failed: ${outcome.output}`, fieldPath);
        }
        if (w.counter.observe(outcome.result)) {
          this.opts.log.info('probe result changed', { pod: `${key.namespace}/${key.name}`, container: spec.name, type: w.type, result: outcome.result });
          if (w.type !== 'readiness' && outcome.result === 'failure') {
            await this.killForProbe(key, spec, w, probe, current.pod);
            return;
          }
          this.opts.onChange(key);
          // A startup probe has done its job once it succeeded.
          if (w.type === 'startup' && outcome.result === 'success') return;
        }
      }
      await sleep(period * 1000, signal);
    }
  }

  private async killForProbe(key: PodKey, spec: Container, w: Worker, probe: Probe | string, pod: Pod): Promise<void> {
    const word = w.type === 'startup' ? 'startup' : 'liveness';
    this.opts.recorder.event(key, 'Normal', 'Killing', `Container ${spec.name} failed ${word} probe, will be restarted`, `spec.containers{${spec.name}}`);
    const grace =
      (typeof probe === 'string' ? undefined : probe.terminationGracePeriodSeconds) ?? pod.spec.terminationGracePeriodSeconds ?? 30;
    w.counter.resetRun();
    try {
      await this.opts.commander.stopContainer(w.containerID, grace);
    } catch (e) {
      this.opts.log.warn('killing container after failed probe failed', { pod: `${key.namespace}/${key.name}`, container: spec.name, error: errorMessage(e) });
    }
    this.opts.onChange(key);
  }
}

