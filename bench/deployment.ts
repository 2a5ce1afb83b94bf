/**
 * Benchmark for issue #4 (run by hand: `npm run bench:deployment`; the lead records the figures).
 *
 * In one run, on one machine:
 *  1. floor: raw `docker create + start` of the test image through dockerode, REPLICAS containers
 *     started CONCURRENCY at a time (what the node agent at best could do);
 *  2. Stratus: a REPLICAS-replica Deployment, create (HTTPS) → all pods Ready (status.readyReplicas
 *     and availableReplicas = REPLICAS), through api → stream → controllers (Deployment →
 *     ReplicaSet → pods) → scheduler → SQS → agent → Docker;
 *  3. Stratus: a rolling update of it (new image, default 25%/25%) → rolled out (all updated and
 *     available, old ReplicaSet at zero).
 * Prints the times and the ratio to the floor. Never used as a test assertion.
 * BENCH_REPLICAS (default 100) and BENCH_CONCURRENCY (default 8) change the size.
 */
import Docker from 'dockerode';
import { withBenchCluster } from './lib';
import { sleep } from '../shared/sleep';

const REPLICAS = Number(process.env.BENCH_REPLICAS ?? 100);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 8);
const IMAGE = 'stratus-test/busybox:1.36';
const OTHER_IMAGE = 'stratus/pause:1';
const progress = (s: string) => process.stderr.write(`${s}\n`);


async function main() {
  const docker = new Docker();
  await withBenchCluster(progress, async ({ api }) => {

    progress(`[3/5] floor: ${REPLICAS} × raw docker create + start, ${CONCURRENCY} at a time`);
    const f0 = performance.now();
    const ids: string[] = [];
    let next = 0;
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < REPLICAS) {
          next++;
          const c = await docker.createContainer({ Image: IMAGE, Cmd: ['sleep', '3600'], Labels: { 'io.stratus.bench': '1' } });
          await c.start();
          ids.push(c.id);
        }
      }),
    );
    const floorMs = performance.now() - f0;
    await Promise.all(ids.map((id) => docker.getContainer(id).remove({ force: true }).catch(() => undefined)));

    progress(`[4/5] Stratus: Deployment of ${REPLICAS} replicas → all Ready`);
    const name = 'bench-web';
    const t0 = performance.now();
    const created = await api('POST', '/apis/apps/v1/namespaces/default/deployments', {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name },
      spec: {
        replicas: REPLICAS,
        selector: { matchLabels: { app: name } },
        template: { metadata: { labels: { app: name } }, spec: { terminationGracePeriodSeconds: 1, containers: [{ name: 'main', image: IMAGE, command: ['sleep', '3600'] }] } },
      },
    });
    if (created.status !== 201) throw new Error(`create failed: ${JSON.stringify(created.body)}`);
    const rolledOut = async (image: string) => {
      for (;;) {
        const d = (await api('GET', `/apis/apps/v1/namespaces/default/deployments/${name}`)).body;
        const s = d.status ?? {};
        const done =
          d.spec.template.spec.containers[0].image === image &&
          s.observedGeneration >= d.metadata.generation &&
          s.updatedReplicas === REPLICAS &&
          s.replicas === REPLICAS &&
          s.readyReplicas === REPLICAS &&
          s.availableReplicas === REPLICAS;
        if (done) return;
        await sleep(250);
      }
    };
    await rolledOut(IMAGE);
    const readyMs = performance.now() - t0;

    progress(`[5/5] Stratus: rolling update of ${REPLICAS} replicas to ${OTHER_IMAGE}`);
    const t1 = performance.now();
    const patched = await api(
      'PATCH',
      `/apis/apps/v1/namespaces/default/deployments/${name}`,
      { spec: { template: { spec: { containers: [{ name: 'main', image: OTHER_IMAGE }] } } } },
      'application/strategic-merge-patch+json',
    );
    if (patched.status !== 200) throw new Error(`patch failed: ${JSON.stringify(patched.body)}`);
    await rolledOut(OTHER_IMAGE);
    const rollMs = performance.now() - t1;

    const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
    console.log(
      [
        `Deployment benchmark (${REPLICAS} replicas, one node, one machine)`,
        `floor: raw docker create+start ×${REPLICAS} (${CONCURRENCY} at a time)   ${s(floorMs)}  (${(floorMs / REPLICAS).toFixed(0)} ms/pod)`,
        `Deployment create → ${REPLICAS} Ready                       ${s(readyMs)}  (${(readyMs / REPLICAS).toFixed(0)} ms/pod, ${(readyMs / floorMs).toFixed(2)}x floor)`,
        `rolling update (25%/25%) → rolled out                  ${s(rollMs)}  (${(rollMs / floorMs).toFixed(2)}x floor)`,
      ].join('\n'),
    );
    await api('DELETE', `/apis/apps/v1/namespaces/default/deployments/${name}`);
  });
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
