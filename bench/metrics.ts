/**
 * Benchmark for issue #17 (run by hand: `npm run bench:metrics`; figures in BENCHMARKS.md).
 *
 * On the local stack with one real node agent:
 *  1. metrics read latency: BENCH_PODS (default 30) sleeping pods of one Deployment, then
 *     `GET .../metrics.k8s.io/v1beta1/namespaces/default/pods` and `.../nodes`: the first read
 *     (cold: the agent samples twice, MIN_WINDOW apart) and BENCH_READS (default 20) warm reads,
 *     p50/p99 (each read asks the agent, nothing is cached in the api);
 *  2. HPA reaction: a 1-replica Deployment burning CPU (20m request, 60m limit), then an HPA at
 *     50% cpu, max 3: time from the HPA's creation to the scale decision (the Deployment's
 *     spec.replicas = 3) and to the new pods Ready (readyReplicas = 3). Locally the controllers'
 *     timers run every 10 s and the HPA's first sync runs off the stream at once.
 * Never used as a test assertion.
 */
import { pct, withBenchCluster } from './lib';
import { sleep } from '../shared/sleep';

const PODS = Number(process.env.BENCH_PODS ?? 30);
const READS = Number(process.env.BENCH_READS ?? 20);
const IMAGE = 'stratus-test/busybox:1.36';
const progress = (s: string) => process.stderr.write(`${s}\n`);
const APPS = '/apis/apps/v1/namespaces/default/deployments';

function deployment(name: string, replicas: number, command: string, resources: Record<string, unknown> = {}) {
  return {
    metadata: { name },
    spec: {
      replicas,
      selector: { matchLabels: { app: name } },
      template: { metadata: { labels: { app: name } }, spec: { terminationGracePeriodSeconds: 1, containers: [{ name: 'c', image: IMAGE, command: ['sh', '-c', command], resources }] } },
    },
  };
}

async function main() {
  await withBenchCluster(progress, async ({ api }) => {
    const until = async (what: string, ok: () => Promise<boolean>, timeoutMs = 600_000) => {
      const end = Date.now() + timeoutMs;
      while (!(await ok())) {
        if (Date.now() > end) throw new Error(`timed out: ${what}`);
        await sleep(100);
      }
    };

    progress(`[3/5] ${PODS} sleeping pods`);
    await api('POST', APPS, deployment('bench-idle', PODS, 'sleep 3600'));
    await until('idle pods ready', async () => (await api('GET', `${APPS}/bench-idle`)).body.status?.readyReplicas === PODS);

    progress(`[4/5] metrics reads: 1 cold + ${READS} warm`);
    const timed = async (path: string) => {
      const t0 = performance.now();
      const r = await api('GET', path);
      if (r.status !== 200) throw new Error(`${path}: ${r.status}`);
      return { ms: performance.now() - t0, items: (r.body.items as unknown[]).length };
    };
    const PODS_PATH = '/apis/metrics.k8s.io/v1beta1/namespaces/default/pods';
    const NODES_PATH = '/apis/metrics.k8s.io/v1beta1/nodes';
    await sleep(65_000); // past the agent's reuse window: the next read is cold
    const cold = await timed(PODS_PATH);
    const warm: number[] = [];
    const warmNodes: number[] = [];
    let items = 0;
    for (let i = 0; i < READS; i++) {
      const r = await timed(PODS_PATH);
      warm.push(r.ms);
      items = r.items;
      warmNodes.push((await timed(NODES_PATH)).ms);
    }
    await api('DELETE', `${APPS}/bench-idle`);

    progress('[5/5] HPA reaction: burning Deployment, HPA 50% max 3');
    await api('POST', APPS, deployment('bench-burn', 1, 'while :; do :; done', { requests: { cpu: '20m' }, limits: { cpu: '60m' } }));
    await until('burner ready', async () => (await api('GET', `${APPS}/bench-burn`)).body.status?.readyReplicas === 1);
    await sleep(5_000); // let it burn
    const h0 = performance.now();
    await api('POST', '/apis/autoscaling/v2/namespaces/default/horizontalpodautoscalers', {
      metadata: { name: 'bench-burn' },
      spec: { scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'bench-burn' }, minReplicas: 1, maxReplicas: 3, metrics: [{ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 50 } } }] },
    });
    await until('scale decision', async () => (await api('GET', `${APPS}/bench-burn`)).body.spec?.replicas === 3);
    const decision = performance.now() - h0;
    await until('3 ready', async () => (await api('GET', `${APPS}/bench-burn`)).body.status?.readyReplicas === 3);
    const ready = performance.now() - h0;
    await api('DELETE', '/apis/autoscaling/v2/namespaces/default/horizontalpodautoscalers/bench-burn');
    await api('DELETE', `${APPS}/bench-burn`);

    const f = (x: number) => `${x.toFixed(0)} ms`;
    console.log(`metrics.k8s.io PodMetrics list, ${items} pods on 1 node: cold ${f(cold.ms)}; warm p50 ${f(pct(warm, 50))} p99 ${f(pct(warm, 99))} (${READS} reads)`);
    console.log(`metrics.k8s.io NodeMetrics list, 1 node: warm p50 ${f(pct(warmNodes, 50))} p99 ${f(pct(warmNodes, 99))}`);
    console.log(`HPA reaction (load already present): HPA created → scale decision ${f(decision)}; → 3 pods Ready ${f(ready)}`);
  });
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
