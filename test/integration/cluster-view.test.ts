import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { loadConfig, nodeDeadLetterQueueName, nodeQueueName } from '../../shared/config';
import { createSqsClient } from '../../shared/queue';
import { KubeApiClient } from '../../node-agent/api-client';
import { silentLogger } from '../../node-agent/log';
import { ApiClusterView } from '../../node-agent/network/api-cluster-view';
import { PlacementQueue } from '../../node-agent/placement-queue';
import { Api } from '../helpers/api';

/*
 * A Service change reaches a node's cluster view through the delivery path the agents use: the
 * controllers' stream consumer sends a services signal to the node's queue, the view lists again
 * with the node's credential. The view's own periodic resync is an hour here, so only the signal
 * can bring the change. The signal names the changed objects and the view GETs those alone (the
 * node credential may get them).
 */
const admin = () => Api.forTenant('default');
const NODE = `view-${randomBytes(3).toString('hex')}`;
const NS = `view-${randomBytes(3).toString('hex')}`;
const stop = new AbortController();
let view: ApiClusterView;
let polling: Promise<void>;
let signals = 0;
/** The objects the signals named, and the view's rounds (whole lists or GETs of the named objects). */
const named: string[] = [];
const rounds: NonNullable<ApiClusterView['lastRound']>[] = [];

async function until(what: string, cond: () => boolean): Promise<void> {
  for (let i = 0; i < 600; i++) {
    if (cond()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

beforeAll(async () => {
  const stack = inject('stack');
  Object.assign(process.env, stack.env);
  const config = loadConfig();
  // A node object (tainted: nothing is scheduled to it) whose queue this test reads as its agent would.
  expect((await admin().send('POST', '/api/v1/nodes', { apiVersion: 'v1', kind: 'Node', metadata: { name: NODE }, spec: { taints: [{ key: 'test', value: 'view', effect: 'NoSchedule' }] } })).status).toBe(201);
  expect((await admin().send('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } })).status).toBe(201);
  const queue = new PlacementQueue({
    sqs: createSqsClient(config),
    queueName: nodeQueueName(config.queuePrefix, 'default', NODE),
    deadLetterQueueName: nodeDeadLetterQueueName(config.queuePrefix, 'default', NODE),
    log: silentLogger,
    waitTimeSeconds: 1,
  });
  await queue.ensure();
  const api = new KubeApiClient({ server: `${stack.apiUrl}/clusters/default`, token: stack.nodeToken, ca: stack.caCert });
  view = new ApiClusterView({ api, log: silentLogger, resyncSeconds: 3600 });
  await view.refresh(); // the node credential may list all three kinds (403 otherwise)
  polling = queue.poll(
    stop.signal,
    () => Promise.reject(new Error('no pod messages expected')),
    async (msg) => {
      signals++;
      named.push(...(msg.changes ?? []));
      await view.signal(msg.changes);
      if (view.lastRound) rounds.push(view.lastRound);
    },
  );
}, 60_000);

afterAll(async () => {
  stop.abort();
  await polling;
  await admin().send('DELETE', `/api/v1/namespaces/${NS}`);
  await admin().send('DELETE', `/api/v1/nodes/${NODE}`);
});

describe('the cluster view on the services signal', () => {
  it('sees a new Service, its endpoints, and its removal, without a resync', async () => {
    const created = await admin().send('POST', `/api/v1/namespaces/${NS}/services`, {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'web' },
      spec: { selector: { app: 'web' }, ports: [{ port: 80, targetPort: 8080 }] },
    });
    expect(created.status).toBe(201);
    const has = () => view.current().services.some((s) => s.metadata.namespace === NS && s.metadata.name === 'web');
    await until('the Service in the view', has);
    expect(signals).toBeGreaterThan(0);
    const mine = view.current().services.find((s) => s.metadata.namespace === NS)!;
    expect(mine.spec.clusterIP).toBe(created.body.spec.clusterIP);
    // Its EndpointSlice (written by the controller) follows.
    await until('the EndpointSlice in the view', () => view.current().endpointSlices.some((s) => s.metadata.namespace === NS && s.metadata.labels?.['kubernetes.io/service-name'] === 'web'));

    expect((await admin().send('DELETE', `/api/v1/namespaces/${NS}/services/web`)).status).toBe(200);
    await until('the Service gone from the view', () => !has());
    // Named, and read by GET (no whole list after the first).
    expect(named).toContain(`Service/${NS}/web`);
    expect(named.some((k) => k.startsWith(`EndpointSlice/${NS}/web-`))).toBe(true);
    expect(rounds.some((r) => !r.full && r.gets > 0)).toBe(true);
    expect(rounds.every((r) => !r.full)).toBe(true);
  }, 90_000);
});
