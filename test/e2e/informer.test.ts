import { CoreV1Api, KubeConfig, makeInformer, type V1Pod } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { Api, eventually, uniqueName } from '../helpers/api';

/*
 * Issue #3 part A: an informer of the official JavaScript client (@kubernetes/client-node 1.4:
 * list, then watch from the list's resourceVersion) against concurrent writers. Pods name a
 * scheduler nobody runs, so no other writer (scheduler, node agent) touches them.
 */
const LIFECYCLES = 50; // each: create, update, update, delete = 200 writes
const SURVIVORS = 10; // each: create, update; still there at the end
const WRITERS = 8;

let api: Api;
let ns: string;

beforeAll(async () => {
  api = Api.forTenant('default');
  ns = uniqueName('informer');
  expect((await api.post('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } })).status).toBe(201);
});

afterAll(async () => {
  await api.delete(`/api/v1/namespaces/${ns}`);
});

const podBody = (name: string) => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, labels: { step: '0' } },
  spec: { schedulerName: 'nobody', containers: [{ name: 'main', image: 'stratus-test/busybox:1.36' }] },
});

/** Runs `jobs` with `n` concurrent workers. */
async function concurrently(n: number, jobs: (() => Promise<void>)[]): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: n }, async () => {
      while (next < jobs.length) await jobs[next++]!();
    }),
  );
}

describe('an informer (@kubernetes/client-node makeInformer)', () => {
  it('sees every add, update and delete of concurrent writers, in order per object, and ends equal to a fresh list', async () => {
    // Prepare: the kubeconfig the stack wrote (server with /clusters/default, CA data, token).
    const kc = new KubeConfig();
    kc.loadFromFile(inject('stack').kubeconfigPath);
    const core = kc.makeApiClient(CoreV1Api);
    const informer = makeInformer<V1Pod>(kc, `/api/v1/namespaces/${ns}/pods`, () => core.listNamespacedPod({ namespace: ns }));
    const seen = new Map<string, string[]>();
    const record = (what: string) => (pod: V1Pod) => {
      const name = pod.metadata!.name!;
      seen.set(name, [...(seen.get(name) ?? []), `${what}@${pod.metadata!.resourceVersion}`]);
    };
    const errors: unknown[] = [];
    informer.on('add', record('add'));
    informer.on('update', record('update'));
    informer.on('delete', record('delete'));
    informer.on('error', (e) => errors.push(e));
    await informer.start();

    // Act: what each write returned is what the informer must see, in the same order.
    const written = new Map<string, string[]>();
    const write = async (name: string, what: string, res: Promise<{ status: number; body: any }>) => {
      const r = await res;
      expect(r.status, `${what} ${name}: ${JSON.stringify(r.body)}`).toBeLessThan(300);
      written.set(name, [...(written.get(name) ?? []), `${what}@${r.body.metadata.resourceVersion}`]);
    };
    const base = uniqueName('p');
    const lifecycle = (name: string, deleteAtEnd: boolean) => async () => {
      await write(name, 'add', api.post(`/api/v1/namespaces/${ns}/pods`, podBody(name)));
      await write(name, 'update', api.patch(`/api/v1/namespaces/${ns}/pods/${name}`, { metadata: { labels: { step: '1' } } }));
      if (!deleteAtEnd) return;
      await write(name, 'update', api.patch(`/api/v1/namespaces/${ns}/pods/${name}`, { metadata: { labels: { step: '2' } } }));
      await write(name, 'delete', api.delete(`/api/v1/namespaces/${ns}/pods/${name}`));
    };
    const jobs = [
      ...Array.from({ length: LIFECYCLES }, (_, i) => lifecycle(`${base}-${i}`, true)),
      ...Array.from({ length: SURVIVORS }, (_, i) => lifecycle(`${base}-keep-${i}`, false)),
    ];
    try {
      await concurrently(WRITERS, jobs);
      const total = [...written.values()].reduce((n, w) => n + w.length, 0);
      await eventually(
        async () => ([...seen.values()].reduce((n, s) => n + s.length, 0) >= total ? true : undefined),
        60_000,
        `the informer to see ${total} changes`,
      );

      // Assess
      expect(total).toBe(LIFECYCLES * 4 + SURVIVORS * 2);
      expect(errors).toEqual([]);
      expect(Object.fromEntries(seen)).toEqual(Object.fromEntries(written));
      const fresh = await core.listNamespacedPod({ namespace: ns });
      const byName = (pods: readonly V1Pod[]) =>
        pods.map((p) => [p.metadata!.name, p.metadata!.resourceVersion, p.metadata!.labels?.step]).sort((a, b) => String(a[0]).localeCompare(String(b[0])));
      expect(byName(informer.list(ns))).toEqual(byName(fresh.items));
      expect(fresh.items).toHaveLength(SURVIVORS);
    } finally {
      await informer.stop();
    }
  });
});
