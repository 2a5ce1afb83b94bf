import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KubeletServer } from '../../node-agent/kubelet-server';
import { silentLogger } from '../../node-agent/log';
import { AgentMetrics } from '../../node-agent/metrics';
import type { Pod } from '../../node-agent/types';
import { kubeletCall, testNodeTls, type TestNodeTls } from '../helpers/kubelet-tls';

function pod(name: string, phase: string, containers: { name: string; state: Record<string, unknown>; restartCount: number }[]): Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'ns', uid: `uid-${name}` },
    spec: { nodeName: 'n1', containers: containers.map((c) => ({ name: c.name, image: 'i' })) },
    status: { phase, containerStatuses: containers.map((c) => ({ name: c.name, ready: false, image: 'i', imageID: '', state: c.state, restartCount: c.restartCount })) },
  } as unknown as Pod;
}

let pods: Pod[] = [];
const metrics = new AgentMetrics('n1', { pods: () => pods }, { defaultMetrics: false });

/** The value of one series in the exposition text, or undefined when absent. */
async function sample(name: string, labels: Record<string, string> = {}): Promise<number | undefined> {
  const { body } = await metrics.render();
  for (const line of body.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    const m = /^([^{ ]+)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const got = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => got[k] === v)) return Number(m[3]);
  }
  return undefined;
}

describe('agent metrics (Prometheus text format)', () => {
  it.each([
    ['no pods', [], { running: 0, runningContainers: 0, exited: 0 }],
    ['one running pod, two containers', [pod('a', 'Running', [{ name: 'c1', state: { running: {} }, restartCount: 0 }, { name: 'c2', state: { running: {} }, restartCount: 3 }])], { running: 1, runningContainers: 2, exited: 0 }],
    [
      'a running and a failed pod',
      [pod('a', 'Running', [{ name: 'c', state: { running: {} }, restartCount: 0 }]), pod('b', 'Failed', [{ name: 'c', state: { terminated: { exitCode: 1 } }, restartCount: 0 }])],
      { running: 1, runningContainers: 1, exited: 1 },
    ],
  ] as const)('counts pods and containers when scraped: %s', async (_case, current, want) => {
    pods = [...current];
    expect(await sample('kubelet_running_pods')).toBe(want.running);
    expect(await sample('kubelet_running_containers', { container_state: 'running' })).toBe(want.runningContainers);
    expect(await sample('kubelet_running_containers', { container_state: 'exited' })).toBe(want.exited);
    expect(await sample('stratus_agent_pods', { phase: 'Running' })).toBe(want.running);
  });

  it('reports restarts per container and forgets pods that left', async () => {
    pods = [pod('a', 'Running', [{ name: 'c2', state: { running: {} }, restartCount: 3 }])];
    expect(await sample('kube_pod_container_status_restarts_total', { namespace: 'ns', pod: 'a', container: 'c2' })).toBe(3);
    pods = [];
    expect(await sample('kube_pod_container_status_restarts_total', { pod: 'a' })).toBeUndefined();
  });

  it('counts probe results with the kubelet labels', async () => {
    const key = { namespace: 'ns', name: 'a', uid: 'uid-a' };
    metrics.probeResult('readiness', 'failed', key, 'c');
    metrics.probeResult('readiness', 'failed', key, 'c');
    metrics.probeResult('liveness', 'successful', key, 'c');
    expect(await sample('prober_probe_total', { probe_type: 'Readiness', result: 'failed', pod: 'a', container: 'c', namespace: 'ns' })).toBe(2);
    expect(await sample('prober_probe_total', { probe_type: 'Liveness', result: 'successful' })).toBe(1);
  });

  it('observes the queue lag of placement messages', async () => {
    const now = Date.now();
    metrics.placementHandled('ok', new Date(now - 300), now);
    metrics.placementHandled('error', undefined, now);
    expect(await sample('stratus_agent_placement_messages_total', { outcome: 'ok' })).toBe(1);
    expect(await sample('stratus_agent_placement_messages_total', { outcome: 'error' })).toBe(1);
    expect(await sample('stratus_agent_placement_queue_lag_seconds_bucket', { le: '0.25' })).toBe(0);
    expect(await sample('stratus_agent_placement_queue_lag_seconds_bucket', { le: '0.5' })).toBe(1);
    expect(await sample('stratus_agent_placement_queue_lag_seconds_count')).toBe(1);
  });

  it('labels every series with the node', async () => {
    expect(await sample('kubelet_running_pods', { node: 'n1' })).toBeDefined();
  });
});

describe('kubelet endpoint /metrics', () => {
  let server: KubeletServer;
  let port: number;
  let tls: TestNodeTls;
  beforeAll(async () => {
    tls = await testNodeTls();
    server = new KubeletServer({ logs: { containerLogs: () => Promise.resolve({ ok: false, code: 404, message: 'no' }) }, metrics, tls: tls.server, host: '127.0.0.1', log: silentLogger });
    port = await server.listen();
  });
  afterAll(() => server.close());
  it("answers the API's client certificate only (mutual TLS), in the text format", async () => {
    await expect(kubeletCall(tls, port, '/metrics', { as: 'none' })).rejects.toThrow();
    const ok = await kubeletCall(tls, port, '/metrics');
    expect(ok.status).toBe(200);
    expect(ok.text).toMatch(/^# HELP kubelet_running_pods /m);
    expect((await kubeletCall(tls, port, '/metrics', { method: 'POST' })).status).toBe(405);
  });
});
