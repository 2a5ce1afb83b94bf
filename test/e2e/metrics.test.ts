import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Api, eventually, uniqueName } from '../helpers/api';
import { allRunning, waitForPod } from '../helpers/pods';
import { kubectl as runKubectl } from '../helpers/kubectl';

/*
 * Issue #17, resource metrics end to end: the real kubectl top → metrics.k8s.io on the api
 * function → the node agent's /stats/summary → the containers' cgroups (or Docker's stats).
 */
const IMAGE = 'stratus-test/busybox:1.36';
const NS = '/api/v1/namespaces/default';
const kubectl = (...args: string[]) => runKubectl(args);
let api: Api;
const name = uniqueName('top');
const app = uniqueName('burn');

/** millicores of a kubectl top CPU cell (`12m`, `1`). */
const millicores = (cell: string) => (cell.endsWith('m') ? Number(cell.slice(0, -1)) : Number(cell) * 1000);

beforeAll(async () => {
  api = Api.forTenant('default');
  const r = await api.post(`${NS}/pods`, {
    metadata: { name, labels: { app } },
    spec: {
      terminationGracePeriodSeconds: 1,
      containers: [
        { name: 'burn', image: IMAGE, command: ['sh', '-c', 'while :; do :; done'], resources: { requests: { cpu: '10m' }, limits: { cpu: '200m' } } },
        { name: 'idle', image: IMAGE, command: ['sh', '-c', 'sleep 3600'] },
      ],
    },
  });
  expect(r.status, r.text).toBe(201);
  await waitForPod(api, NS, name, 'running', allRunning);
});

afterAll(async () => {
  await api.delete(`${NS}/pods/${name}`);
});

describe('kubectl top', () => {
  it('top pods shows the pod; --containers splits it by container; the burning one uses CPU', async () => {
    const r = await eventually(async () => {
      const out = await kubectl('top', 'pods', '-l', `app=${app}`, '--containers');
      return out.code === 0 && out.stdout.includes('burn') ? out : undefined;
    }, 30_000, 'container metrics');
    const lines = r.stdout.trim().split('\n').map((l) => l.trimEnd());
    expect(lines[0]).toMatch(/^POD\s+NAME\s+CPU\(cores\)\s+MEMORY\(bytes\)\s*$/);
    const rows = Object.fromEntries(lines.slice(1).map((l) => l.split(/\s+/)).map((c) => [c[1], c]));
    expect(Object.keys(rows).sort()).toEqual(['burn', 'idle']);
    expect(rows.burn![0]).toBe(name);
    expect(millicores(rows.burn![2]!)).toBeGreaterThan(millicores(rows.idle![2]!));
    expect(rows.idle![3]).toMatch(/^\d+Mi$/);

    const one = await kubectl('top', 'pod', name);
    expect(one.code, one.stderr).toBe(0);
    expect(one.stdout).toMatch(new RegExp(`^NAME\\s+CPU\\(cores\\)\\s+MEMORY\\(bytes\\)\\s*\\n${name}\\s+\\d+m\\s+\\d+Mi\\s*\\n$`));
  });

  it('top pods -A lists pods of every namespace with their namespace', async () => {
    const r = await kubectl('top', 'pods', '-A');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.split('\n')[0]).toMatch(/^NAMESPACE\s+NAME\s+CPU\(cores\)\s+MEMORY\(bytes\)\s*$/);
    expect(r.stdout).toMatch(new RegExp(`\\ndefault\\s+${name}\\s+\\d+m\\s+\\d+Mi`));
  });

  it('top nodes shows each node with usage and percentages of allocatable', async () => {
    const pod = (await api.get(`${NS}/pods/${name}`)).body;
    const r = await kubectl('top', 'nodes');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.split('\n')[0]).toMatch(/^NAME\s+CPU\(cores\)\s+CPU(%|\(%\))\s+MEMORY\(bytes\)\s+MEMORY(%|\(%\))\s*$/);
    expect(r.stdout).toMatch(new RegExp(`\\n${pod.spec.nodeName}\\s+\\d+m\\s+\\d+%\\s+\\d+Mi\\s+\\d+%`));
  });

  it('get --raw serves PodMetrics, NodeMetrics and their lists; a missing pod is NotFound in metrics-server words', async () => {
    const pm = JSON.parse((await kubectl('get', '--raw', `/apis/metrics.k8s.io/v1beta1/namespaces/default/pods/${name}`)).stdout);
    expect(pm).toMatchObject({ kind: 'PodMetrics', apiVersion: 'metrics.k8s.io/v1beta1', metadata: { name, namespace: 'default', labels: { app } } });
    expect(pm.containers.map((c: { name: string }) => c.name).sort()).toEqual(['burn', 'idle']);
    expect(pm.window).toMatch(/^[\d.]+m?s$/);
    const nodes = JSON.parse((await kubectl('get', '--raw', '/apis/metrics.k8s.io/v1beta1/nodes')).stdout);
    expect(nodes.kind).toBe('NodeMetricsList');
    expect(nodes.items.length).toBeGreaterThan(0);
    const missing = await kubectl('get', '--raw', '/apis/metrics.k8s.io/v1beta1/namespaces/default/pods/no-such-pod');
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toContain('podmetrics.metrics.k8s.io "default/no-such-pod" not found');
  });

  it('is read-only: writes and watches are 405; discovery lists the group', async () => {
    expect((await api.delete(`/apis/metrics.k8s.io/v1beta1/namespaces/default/pods/${name}`)).status).toBe(405);
    expect((await api.post('/apis/metrics.k8s.io/v1beta1/namespaces/default/pods', { metadata: { name: 'x' } })).status).toBe(405);
    expect((await api.get('/apis/metrics.k8s.io/v1beta1/pods?watch=true')).status).toBe(405);
    const versions = await kubectl('api-versions');
    expect(versions.stdout).toContain('metrics.k8s.io/v1beta1');
  });

  it('a client without a token gets 401', async () => {
    const anon = new Api(api.base, undefined, api.ca);
    expect((await anon.get('/apis/metrics.k8s.io/v1beta1/nodes')).status).toBe(401);
  });
});
