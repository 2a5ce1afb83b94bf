/**
 * The agent's own Prometheus metrics, served at the kubelet endpoint's /metrics (and through the
 * API as /api/v1/nodes/NAME/proxy/metrics, as a kubelet's are). Names follow the kubelet's where
 * it has one (kubelet_running_pods, kubelet_running_containers, prober_probe_total) and
 * kube-state-metrics' for restarts; the rest are stratus_agent_*.
 *
 * One registry per agent (several agents may share a process in tests, and prom-client's global
 * registry would mix them). Pod-derived series are computed when scraped from what the agent last
 * saw of its pods, so nothing is kept per pod between scrapes and a pod that left leaves no series.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Pod } from './types';

export interface PodsSource {
  /** The pods bound to this node, as last seen (spec and the status last reported). */
  pods(): readonly Pod[];
}

/** The probe results the kubelet counts (prober_probe_total's `result` label). */
export type ProbeResultLabel = 'successful' | 'failed' | 'unknown';

type ContainerState = 'running' | 'exited' | 'created' | 'unknown';

function containerState(state: Record<string, unknown> | undefined): ContainerState {
  if (!state) return 'unknown';
  if (state.running) return 'running';
  if (state.terminated) return 'exited';
  if (state.waiting) return 'created';
  return 'unknown';
}

export class AgentMetrics {
  readonly registry = new Registry();
  private readonly probes: Counter<'probe_type' | 'result' | 'container' | 'pod' | 'namespace' | 'pod_uid'>;
  private readonly placementLag: Histogram<never>;
  private readonly placements: Counter<'outcome'>;
  private readonly syncs: Counter<'outcome'>;

  constructor(nodeName: string, source: PodsSource, opts: { defaultMetrics?: boolean } = {}) {
    this.registry.setDefaultLabels({ node: nodeName });
    const registers = [this.registry];
    if (opts.defaultMetrics ?? true) collectDefaultMetrics({ register: this.registry });

    new Gauge({
      name: 'kubelet_running_pods',
      help: 'Number of pods that have a running pod sandbox',
      registers,
      collect() {
        this.set(source.pods().filter((p) => p.status?.phase === 'Running').length);
      },
    });
    new Gauge({
      name: 'kubelet_running_containers',
      help: 'Number of containers currently running',
      labelNames: ['container_state'],
      registers,
      collect() {
        this.reset();
        const counts: Record<ContainerState, number> = { running: 0, exited: 0, created: 0, unknown: 0 };
        for (const p of source.pods()) for (const c of p.status?.containerStatuses ?? []) counts[containerState(c.state as Record<string, unknown> | undefined)]++;
        for (const [state, n] of Object.entries(counts)) this.set({ container_state: state }, n);
      },
    });
    new Gauge({
      name: 'kube_pod_container_status_restarts_total',
      help: 'The number of container restarts per container',
      labelNames: ['namespace', 'pod', 'uid', 'container'],
      registers,
      collect() {
        this.reset();
        for (const p of source.pods()) {
          for (const c of [...(p.status?.initContainerStatuses ?? []), ...(p.status?.containerStatuses ?? [])]) {
            this.set({ namespace: p.metadata.namespace ?? 'default', pod: p.metadata.name, uid: p.metadata.uid, container: c.name }, c.restartCount ?? 0);
          }
        }
      },
    });
    new Gauge({
      name: 'stratus_agent_pods',
      help: 'Pods bound to this node by phase, as last reported',
      labelNames: ['phase'],
      registers,
      collect() {
        this.reset();
        const counts = new Map<string, number>();
        for (const p of source.pods()) {
          const phase = p.status?.phase ?? 'Pending';
          counts.set(phase, (counts.get(phase) ?? 0) + 1);
        }
        for (const phase of ['Pending', 'Running', 'Succeeded', 'Failed', 'Unknown']) this.set({ phase }, counts.get(phase) ?? 0);
      },
    });
    this.probes = new Counter({
      name: 'prober_probe_total',
      help: 'Cumulative number of a liveness, readiness or startup probe for a container by result',
      labelNames: ['probe_type', 'result', 'container', 'pod', 'namespace', 'pod_uid'],
      registers,
    });
    this.placementLag = new Histogram({
      name: 'stratus_agent_placement_queue_lag_seconds',
      help: 'Time from a placement message being sent to SQS to this agent handling it',
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers,
    });
    this.placements = new Counter({
      name: 'stratus_agent_placement_messages_total',
      help: 'Placement messages handled, by outcome (ok, error: left on the queue for a retry)',
      labelNames: ['outcome'],
      registers,
    });
    this.syncs = new Counter({
      name: 'stratus_agent_pod_syncs_total',
      help: 'Pod syncs (placement, resync, container or probe change), by outcome',
      labelNames: ['outcome'],
      registers,
    });
  }

  probeResult(type: 'liveness' | 'readiness' | 'startup', result: ProbeResultLabel, pod: { namespace: string; name: string; uid: string }, container: string): void {
    this.probes.inc({ probe_type: type === 'liveness' ? 'Liveness' : type === 'readiness' ? 'Readiness' : 'Startup', result, container, pod: pod.name, namespace: pod.namespace, pod_uid: pod.uid });
  }

  placementHandled(outcome: 'ok' | 'error', sentAt?: Date, now = Date.now()): void {
    this.placements.inc({ outcome });
    if (sentAt) this.placementLag.observe(Math.max(0, (now - sentAt.getTime()) / 1000));
  }

  podSynced(outcome: 'ok' | 'error'): void {
    this.syncs.inc({ outcome });
  }

  /** The text exposition format and its content type. */
  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
