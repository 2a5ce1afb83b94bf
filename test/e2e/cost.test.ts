import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createToken } from '../../shared/auth/tokens';
import { loadConfig } from '../../shared/config';
import { configureCostMeter, flushCostNow, inScope, meteredInvocation, noteObject } from '../../shared/cost/meter';
import type { CostReport, WorkloadCost } from '../../shared/cost/report';
import { CostStore } from '../../shared/cost/store';
import { createDocumentClient } from '../../shared/store/dynamo';
import { Api, eventually, uniqueName } from '../helpers/api';
import { TEST_IMAGES } from '../helpers/images';

/*
 * Issue #17, the control-plane cost meter through the running stack: a Deployment's requests,
 * controllers and Events are counted for the Deployment (its ReplicaSet's and pods' work climbs the
 * owner chain), served at /stratus/v1/cost to whoever may list pods and refused to others; and the
 * meter's flush, run in this process against the stack's DynamoDB, is what the endpoint reads.
 */

let api: Api;
let ns: string;

beforeAll(async () => {
  api = Api.forTenant('default');
  ns = uniqueName('cost');
  const r = await api.post('/api/v1/namespaces', { metadata: { name: ns } });
  expect(r.status, r.text).toBe(201);
});

afterAll(async () => {
  await api?.send('DELETE', `/api/v1/namespaces/${ns}`);
});

const workloadCost = (report: CostReport, namespace: string, kind: string, name: string): WorkloadCost | undefined =>
  report.month.workloads.find((w) => w.workload?.namespace === namespace && w.workload.kind === kind && w.workload.name === name);

describe('control-plane cost', () => {
  it("counts a Deployment's control-plane work for the Deployment, this month and this hour", async () => {
    // Prepare
    const name = uniqueName('web');
    const r = await api.post(`/apis/apps/v1/namespaces/${ns}/deployments`, {
      metadata: { name },
      spec: {
        replicas: 2,
        selector: { matchLabels: { app: name } },
        template: { metadata: { labels: { app: name } }, spec: { terminationGracePeriodSeconds: 1, containers: [{ name: 'main', image: TEST_IMAGES.busybox, command: ['sleep', '3600'] }] } },
      },
    });
    expect(r.status, r.text).toBe(201);
    // Act: drive requests (the pods' creation by the controllers, the agent's status patches and Events, our reads)
    await eventually(async () => {
      const pods = await api.get(`/api/v1/namespaces/${ns}/pods?labelSelector=app%3D${name}`);
      const running = (pods.body.items as { status?: { phase?: string } }[]).filter((p) => p.status?.phase === 'Running');
      return running.length === 2 ? true : undefined;
    }, 90_000, 'two running pods');
    for (let i = 0; i < 5; i++) expect((await api.get(`/apis/apps/v1/namespaces/${ns}/deployments/${name}`)).status).toBe(200);
    const report = await eventually(async () => {
      const res = await api.get<CostReport>('/stratus/v1/cost');
      expect(res.status, res.text).toBe(200);
      const w = workloadCost(res.body, ns, 'Deployment', name);
      // The agent's Running status patch and its Events (Started) are counted for the Deployment too.
      // The scheduler's counts live in the stack's process, not in the api instance answering: they
      // show once that process has flushed them (at most a minute), as on AWS.
      const cluster = res.body.month.workloads.some((x) => x.workload === undefined && x.counts.sqsRequests > 0);
      return w && w.counts.writeUnits >= 10 && cluster ? res.body : undefined;
    }, 100_000, "the Deployment's cost and the scheduler's");
    // Assert
    const w = workloadCost(report, ns, 'Deployment', name)!;
    expect(report.kind).toBe('ClusterCost');
    expect(report.cluster).toBe('default');
    expect(w.counts.readUnits).toBeGreaterThan(0);
    expect(w.counts.invocations).toBeGreaterThan(0);
    expect(w.counts.gbSeconds).toBeGreaterThan(0);
    expect(w.usd.total).toBeGreaterThan(0);
    // Its pods and ReplicaSet are not workloads of their own: they climbed the owner chain.
    expect(report.month.workloads.filter((x) => x.workload?.namespace === ns && ['Pod', 'ReplicaSet'].includes(x.workload.kind)).map((x) => x.workload)).toEqual([]);
    const hour = report.hours.at(-1)!;
    expect(hour.workloads.find((x) => x.workload?.name === name)?.counts.writeUnits).toBeGreaterThan(0);
    expect(report.hours).toHaveLength(24);
    // The scheduler's binds, a cluster's own work, are counted without a workload.
    expect(report.month.workloads.some((x) => x.workload === undefined && x.counts.sqsRequests > 0)).toBe(true);
  }, 220_000);

  it('refuses the figures to a user who may not list pods (403, in Kubernetes words)', async () => {
    // Prepare
    const config = loadConfig();
    const user = uniqueName('nobody');
    const token = await createToken(createDocumentClient(config), config, { tenant: 'default', user, groups: ['system:authenticated'] });
    const nobody = Api.forTenant('default', token);
    // Act
    const res = await nobody.get('/stratus/v1/cost');
    const anonymous = await new Api(api.base, undefined, api.ca).get('/stratus/v1/cost');
    // Assert
    expect(res.status).toBe(403);
    expect(res.body).toMatchObject({ kind: 'Status', reason: 'Forbidden' });
    expect(res.body.message).toContain(`User "${user}" cannot list resource "pods"`);
    expect(anonymous.status).toBe(401);
  });

  it('writes the aggregate with DynamoDB-reported units at most once per flush, and the endpoint reads it', async () => {
    // Prepare: this process's meter, writing to the stack's table
    const config = loadConfig();
    const doc = createDocumentClient(config);
    configureCostMeter(new CostStore(doc, config));
    const job = uniqueName('job');
    // Act: an invocation whose scope reads an item through the metered client (DynamoDB Local answers the capacity)
    await meteredInvocation(1024, () =>
      inScope('default', { resource: 'jobs', namespace: ns, name: job }, async () => {
        noteObject('jobs', { kind: 'Job', metadata: { namespace: ns, name: job } });
        for (let i = 0; i < 3; i++) await doc.send(new GetCommand({ TableName: config.objectsTable, Key: { pk: 'default#namespaces', sk: `/${ns}` }, ConsistentRead: true }));
      }),
    );
    await flushCostNow();
    // Assert: the units are DynamoDB's answer (3 strongly consistent reads of a small item), stored and served
    const res = await api.get<CostReport>('/stratus/v1/cost');
    expect(res.status, res.text).toBe(200);
    const w = workloadCost(res.body, ns, 'Job', job);
    expect(w?.counts.readUnits).toBe(3);
    expect(w?.counts.invocations).toBe(1);
    expect(w?.counts.gbSeconds).toBeGreaterThan(0);
  });
});
