/**
 * Benchmark for issue #17 (run by hand: `npm run bench:metrics -- --help`; figures in BENCHMARKS.md).
 *
 * On the local stack with real node agents (--nodes, default 3, all on this machine):
 *  1. metrics read latency: --pods (default 100) sleeping pods of one Deployment, spread over the
 *     nodes by the scheduler; the first read after more than a minute of quiet (cold: every
 *     agent samples twice, MIN_WINDOW apart) and --reads warm reads, p50/p99, of PodMetrics in
 *     `default`, PodMetrics of all namespaces and NodeMetrics (each read asks the agents, nothing
 *     is cached in the api); --cold N takes N cold reads of each list, a minute apart;
 *  2. HPA reaction to a load step on a running HPA (--hpa-samples, default 3): a 1-replica
 *     Deployment (20m cpu request, 60m limit: burning, it is at 300%) with an autoscaling/v2 HPA
 *     at 50% cpu, min 1 max 3, settled with the pod idle; then a busy loop started in the pod's
 *     container (`docker exec`, the agents run on this machine) at a random phase of the HPA's
 *     15 s period: time from the step to the scale decision (the Deployment's spec.replicas
 *     changes), to spec.replicas = 3, and to 3 pods Ready. Between samples the loop is killed and
 *     the HPA scales back to 1: the bench sets behavior.scaleDown.stabilizationWindowSeconds 0
 *     (the default 300 s would make each sample wait five minutes);
 *  3. HPA created with the load already present (the first version of this bench): a burning
 *     1-replica Deployment, then the HPA at t=0; time to spec.replicas = 3 and to 3 Ready.
 * Never used as a test assertion.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Command, InvalidArgumentError } from 'commander';
import { pct, withBenchCluster, type BenchCluster } from './lib';
import { sleep } from '../shared/sleep';

const IMAGE = 'stratus-test/busybox:1.36';
const progress = (s: string) => process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] ${s}\n`);
const APPS = '/apis/apps/v1/namespaces/default/deployments';
const HPAS = '/apis/autoscaling/v2/namespaces/default/horizontalpodautoscalers';
const run = promisify(execFile);

function count(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('a whole number');
  return n;
}

interface Options {
  nodes: number;
  pods: number;
  reads: number;
  cold: number;
  hpaSamples: number;
  created: boolean;
}

function options(): Options {
  const program = new Command()
    .name('bench:metrics')
    .description('metrics.k8s.io read latency and HorizontalPodAutoscaler reaction time on the local stack (issue #17)')
    .option('--nodes <n>', 'node agents to start on this machine', count, 3)
    .option('--pods <n>', 'sleeping pods for the metrics reads (env BENCH_PODS)', count, Number(process.env.BENCH_PODS ?? 100))
    .option('--reads <n>', 'warm reads of each list (env BENCH_READS)', count, Number(process.env.BENCH_READS ?? 20))
    .option('--cold <n>', 'cold reads of each list, each after 65 s of quiet', count, 1)
    .option('--hpa-samples <n>', 'load steps on a running HPA', count, 3)
    .option('--no-created', 'skip the HPA-created-with-load-present measurement')
    .addHelpText('after', '\n--pods 0 skips the metrics reads; --hpa-samples 0 skips the load steps.');
  program.parse();
  return program.opts<Options>();
}

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

const BURN_RESOURCES = { requests: { cpu: '20m' }, limits: { cpu: '60m' } };
const f = (x: number) => `${x.toFixed(0)} ms`;
const dist = (xs: number[]) => (xs.length ? `p50 ${f(pct(xs, 50))}, p99 ${f(pct(xs, 99))}, min ${f(Math.min(...xs))}, max ${f(Math.max(...xs))} (n=${xs.length})` : 'n/a');

async function main() {
  const opts = options();
  const lines: string[] = [];
  const report = (s: string) => {
    lines.push(s);
    progress(`RESULT ${s}`);
  };
  const { stdout: up0 } = await run('uptime');
  await withBenchCluster(
    progress,
    async ({ api, nodes }: BenchCluster) => {
      const until = async (what: string, ok: () => Promise<boolean>, timeoutMs = 900_000, everyMs = 100) => {
        const end = Date.now() + timeoutMs;
        while (!(await ok())) {
          if (Date.now() > end) throw new Error(`timed out: ${what}`);
          await sleep(everyMs);
        }
      };
      const dep = async (name: string) => (await api('GET', `${APPS}/${name}`)).body as { spec?: { replicas?: number }; status?: { replicas?: number; readyReplicas?: number } };

      if (opts.pods > 0) {
        progress(`[3/5] ${opts.pods} sleeping pods on ${nodes.length} node(s)`);
        await api('POST', APPS, deployment('bench-idle', opts.pods, 'sleep 3600'));
        let last = -1;
        await until(
          'idle pods ready',
          async () => {
            const ready = (await dep('bench-idle')).status?.readyReplicas ?? 0;
            if (ready !== last && ready % 10 === 0) progress(`  ${ready}/${opts.pods} ready`);
            last = ready;
            return ready === opts.pods;
          },
          1_800_000,
          1000,
        );
        const pods = (await api('GET', '/api/v1/namespaces/default/pods?labelSelector=app%3Dbench-idle')).body.items as { spec: { nodeName?: string } }[];
        const perNode = new Map<string, number>();
        for (const p of pods) perNode.set(p.spec.nodeName ?? '-', (perNode.get(p.spec.nodeName ?? '-') ?? 0) + 1);
        const spread = [...perNode].map(([n, c]) => `${n} ${c}`).join(', ');

        const timed = async (path: string) => {
          const t0 = performance.now();
          const r = await api('GET', path);
          if (r.status !== 200) throw new Error(`${path}: ${r.status} ${JSON.stringify(r.body)}`);
          return { ms: performance.now() - t0, items: (r.body.items as unknown[]).length };
        };
        const paths = {
          'PodMetrics list, namespace default': '/apis/metrics.k8s.io/v1beta1/namespaces/default/pods',
          'PodMetrics list, all namespaces': '/apis/metrics.k8s.io/v1beta1/pods',
          'NodeMetrics list': '/apis/metrics.k8s.io/v1beta1/nodes',
        };
        const cold = new Map<string, number[]>();
        const warm = new Map<string, number[]>();
        const items = new Map<string, number>();
        for (let i = 0; i < opts.cold; i++) {
          for (const [what, path] of Object.entries(paths)) {
            progress(`[4/5] 65 s quiet, then a cold ${what} (${i + 1}/${opts.cold})`);
            await sleep(65_000); // past the agents' reuse window (MAX_WINDOW_MS): the next read is cold
            const r = await timed(path);
            cold.set(what, [...(cold.get(what) ?? []), r.ms]);
          }
        }
        progress(`[4/5] ${opts.reads} warm reads of each list`);
        for (let i = 0; i < opts.reads; i++) {
          for (const [what, path] of Object.entries(paths)) {
            const r = await timed(path);
            warm.set(what, [...(warm.get(what) ?? []), r.ms]);
            items.set(what, r.items);
          }
        }
        await api('DELETE', `${APPS}/bench-idle`);
        report(`pods: ${opts.pods} on ${nodes.length} nodes (${spread})`);
        for (const what of Object.keys(paths)) {
          report(`${what} (${items.get(what)} items): cold ${dist(cold.get(what) ?? [])}; warm ${dist(warm.get(what) ?? [])}`);
        }
        await until('idle pods gone', async () => ((await api('GET', '/api/v1/namespaces/default/pods?labelSelector=app%3Dbench-idle')).body.items as unknown[]).length === 0, 900_000, 2000);
      }

      if (opts.hpaSamples > 0) {
        progress(`[5/5] HPA reaction to a load step, ${opts.hpaSamples} samples`);
        await api('POST', APPS, deployment('bench-step', 1, 'sleep 36000', BURN_RESOURCES));
        await until('step pod ready', async () => (await dep('bench-step')).status?.readyReplicas === 1);
        const r = await api('POST', HPAS, {
          metadata: { name: 'bench-step' },
          spec: {
            scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'bench-step' },
            minReplicas: 1,
            maxReplicas: 3,
            metrics: [{ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 50 } } }],
            // Not the default 300 s: each sample scales back to 1 before the next.
            behavior: { scaleDown: { stabilizationWindowSeconds: 0 } },
          },
        });
        if (r.status !== 201) throw new Error(`HPA create: ${r.status} ${JSON.stringify(r.body)}`);
        const decisions: number[] = [];
        const toMax: number[] = [];
        const readies: number[] = [];
        const firstSizes: number[] = [];
        for (let s = 0; s < opts.hpaSamples; s++) {
          // Settled: 1 replica, 1 pod, the HPA has synced at least twice since with the pod idle
          // (its metrics window then holds no earlier load).
          await until('back to 1 replica', async () => {
            const d = await dep('bench-step');
            return d.spec?.replicas === 1 && d.status?.replicas === 1 && d.status.readyReplicas === 1;
          });
          await until('pods gone', async () => ((await api('GET', '/api/v1/namespaces/default/pods?labelSelector=app%3Dbench-step')).body.items as unknown[]).length === 1, 900_000, 500);
          const settledAt = Date.now();
          await until('two idle HPA syncs', async () => {
            const h = (await api('GET', `${HPAS}/bench-step`)).body as { status?: { currentMetrics?: { resource?: { current?: { averageUtilization?: number } } }[] }; metadata: { resourceVersion: string } };
            return Date.now() - settledAt > 31_000 && (h.status?.currentMetrics?.[0]?.resource?.current?.averageUtilization ?? 100) < 10;
          }, 900_000, 1000);
          await sleep(Math.random() * 15_000); // a random phase of the 15 s period
          const pod = ((await api('GET', '/api/v1/namespaces/default/pods?labelSelector=app%3Dbench-step')).body.items as { metadata: { name: string }; status?: { containerStatuses?: { containerID?: string }[] } }[])[0];
          const id = pod?.status?.containerStatuses?.[0]?.containerID?.replace(/^[a-z]+:\/\//, '');
          if (!id) throw new Error('no container id for the step pod');
          // The load step: a busy loop in the running container (its cgroup: limited to 60m).
          await run('docker', ['exec', '-d', id, 'sh', '-c', 'echo $$ > /tmp/burn.pid; exec sh -c "while :; do :; done"']);
          const t0 = performance.now();
          let first = 0;
          await until('scale decision', async () => {
            const n = (await dep('bench-step')).spec?.replicas ?? 1;
            if (n !== 1) first = n;
            return n !== 1;
          });
          const decision = performance.now() - t0;
          await until('3 replicas', async () => (await dep('bench-step')).spec?.replicas === 3);
          const max = performance.now() - t0;
          await until('3 ready', async () => (await dep('bench-step')).status?.readyReplicas === 3);
          const ready = performance.now() - t0;
          decisions.push(decision);
          firstSizes.push(first);
          toMax.push(max);
          readies.push(ready);
          progress(`  sample ${s + 1}: step → decision (1 → ${first}) ${f(decision)}, → 3 replicas ${f(max)}, → 3 Ready ${f(ready)}`);
          await run('docker', ['exec', id, 'sh', '-c', 'kill $(cat /tmp/burn.pid)']);
        }
        report(`HPA load step → scale decision: ${dist(decisions)}; first new sizes ${firstSizes.join(', ')}`);
        report(`HPA load step → spec.replicas 3: ${dist(toMax)}`);
        report(`HPA load step → 3 pods Ready: ${dist(readies)}`);
        report(`HPA load step samples (decision / 3 replicas / 3 Ready, ms): ${decisions.map((d, i) => `${d.toFixed(0)}/${toMax[i]!.toFixed(0)}/${readies[i]!.toFixed(0)}`).join('; ')}`);
        await api('DELETE', `${HPAS}/bench-step`);
        await api('DELETE', `${APPS}/bench-step`);
      }

      if (opts.created) {
        progress('[5/5] HPA created with the load present: burning Deployment, HPA 50% max 3');
        await api('POST', APPS, deployment('bench-burn', 1, 'while :; do :; done', BURN_RESOURCES));
        await until('burner ready', async () => (await dep('bench-burn')).status?.readyReplicas === 1);
        await sleep(5_000); // let it burn
        const h0 = performance.now();
        await api('POST', HPAS, {
          metadata: { name: 'bench-burn' },
          spec: { scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'bench-burn' }, minReplicas: 1, maxReplicas: 3, metrics: [{ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 50 } } }] },
        });
        await until('scale decision', async () => (await dep('bench-burn')).spec?.replicas === 3);
        const decision = performance.now() - h0;
        await until('3 ready', async () => (await dep('bench-burn')).status?.readyReplicas === 3);
        const ready = performance.now() - h0;
        await api('DELETE', `${HPAS}/bench-burn`);
        await api('DELETE', `${APPS}/bench-burn`);
        report(`HPA created with the load present: → scale decision ${f(decision)}; → 3 pods Ready ${f(ready)}`);
      }
    },
    { nodes: opts.nodes },
  );
  const { stdout: up1 } = await run('uptime');
  console.log(`uptime before: ${up0.trim()}`);
  console.log(`uptime after:  ${up1.trim()}`);
  for (const l of lines) console.log(l);
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
