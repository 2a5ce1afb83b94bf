import https from 'node:https';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { kubeletTls } from '../../shared/auth/kubelet-client';
import { loadConfig } from '../../shared/config';
import { createDocumentClient } from '../../shared/store/dynamo';
import { ObjectStore } from '../../shared/store/store';
import { Api, eventually, uniqueName } from '../helpers/api';
import { createPod, waitForPod } from '../helpers/pods';

/*
 * Issue #17: the node agent's own Prometheus metrics (node-agent/metrics.ts) from the real agent
 * the test stack runs, read at its kubelet endpoint as the API reads /stats/summary.
 */
const IMAGE = 'stratus-test/busybox:1.36';
const NS = '/api/v1/namespaces/default';
const name = uniqueName('prom');
let api: Api;

async function scrape(): Promise<string> {
  const stack = inject('stack');
  const node = (await api.get(`/api/v1/nodes/${stack.nodeName}`)).body;
  const address = node.status.addresses.find((a: { type: string }) => a.type === 'InternalIP').address as string;
  const port = node.status.daemonEndpoints.kubeletEndpoint.Port as number;
  // As the API calls it: mutual TLS with the cluster's PKI (shared/auth/kubelet-client.ts).
  const tls = await kubeletTls(new ObjectStore(createDocumentClient(loadConfig()), loadConfig()), stack.tenant, stack.nodeName);
  const res = await new Promise<{ status: number; text: string }>((resolve, reject) => {
    https.get(`https://${address}:${port}/metrics`, { agent: false, ...tls }, (r) => {
      let text = '';
      r.setEncoding('utf8');
      r.on('data', (d: string) => (text += d));
      r.on('end', () => resolve({ status: r.statusCode ?? 0, text }));
    }).on('error', reject);
  });
  expect(res.status).toBe(200);
  return res.text;
}

const value = (text: string, re: RegExp): number | undefined => {
  const line = text.split('\n').find((l) => re.test(l));
  return line === undefined ? undefined : Number(line.split(' ').pop());
};

beforeAll(async () => {
  api = Api.forTenant('default');
  await createPod(api, NS, name, [
    { name: 'probed', image: IMAGE, command: ['sh', '-c', 'sleep 3600'], readinessProbe: { exec: { command: ['true'] }, periodSeconds: 1 } },
    { name: 'crashes', image: IMAGE, command: ['sh', '-c', 'sleep 1; exit 3'] },
  ]);
  await waitForPod(api, NS, name, 'ready probed container', (p) => p.status?.containerStatuses?.some((c: { name: string; ready: boolean }) => c.name === 'probed' && c.ready));
});

afterAll(async () => {
  await api.delete(`${NS}/pods/${name}`);
});

describe('node agent /metrics', () => {
  it('counts the pod, its probe results and its container restarts', async () => {
    const text = await eventually(async () => {
      const t = await scrape();
      const restarts = value(t, new RegExp(`^kube_pod_container_status_restarts_total\\{[^}]*pod="${name}"[^}]*container="crashes"`));
      return restarts !== undefined && restarts >= 1 ? t : undefined;
    }, 60_000, 'a restart of the crashing container in /metrics');
    expect(value(text, /^kubelet_running_pods\{/)).toBeGreaterThanOrEqual(1);
    expect(value(text, new RegExp(`^prober_probe_total\\{[^}]*probe_type="Readiness"[^}]*result="successful"[^}]*container="probed"[^}]*pod="${name}"`))).toBeGreaterThanOrEqual(1);
    expect(value(text, /^stratus_agent_placement_messages_total\{[^}]*outcome="ok"/)).toBeGreaterThanOrEqual(1);
    expect(text).toMatch(/^process_cpu_seconds_total\{/m);
  });

  it("refuses a scrape without the API's client certificate (the TLS handshake fails)", async () => {
    const stack = inject('stack');
    const node = (await api.get(`/api/v1/nodes/${stack.nodeName}`)).body;
    const address = node.status.addresses.find((a: { type: string }) => a.type === 'InternalIP').address as string;
    const plain = new Promise((resolve, reject) => https.get(`https://${address}:${node.status.daemonEndpoints.kubeletEndpoint.Port}/metrics`, { agent: false, rejectUnauthorized: false }, resolve).on('error', reject));
    await expect(plain).rejects.toThrow();
  });
});
