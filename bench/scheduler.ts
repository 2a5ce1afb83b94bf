/**
 * Scheduler benchmark for issue #6 (run by hand: `npm run bench:scheduler`; figures go to
 * BENCHMARKS.md). Never a test assertion.
 *
 * In one run, on one machine, against the embedded local stack (DynamoDB Local):
 *  1. the ceiling: raw conditional PutItem/s and single-object store commits/s (the transaction
 *     every object write is: version reservation + object + log entry), at the same concurrency;
 *  2. per scenario (N simulated nodes, P pods, in a fresh tenant): register the nodes with the
 *     simulated fleet (node-agent/simulated, no Docker); warm a scheduler instance's caches;
 *     create a backlog of P pods through the store; then ONE invocation of the scheduler's own
 *     code binds them all: throughput = pods bound / invocation time, with where the time went
 *     (cache sync, decisions, waiting for bind transactions). As in kube-scheduler's
 *     scheduler_perf, nothing reports the pods Running meanwhile (BENCH_STATUS_DURING_BACKLOG=1
 *     lets the simulated kubelets race the binds with their status writes);
 *  3. then, with the fleet reporting pods Running, BENCH_STREAM_PODS pods for the stream-driven
 *     scheduler of the stack, created at BENCH_STREAM_RATE pods/s (default 50; 0 = as fast as
 *     creates go, a burst): latency = bind seen in the change log − create sent (p50/p99).
 * Scenarios: BENCH_SCENARIOS="1000x10000,5000x10000" (nodes x pods). Progress goes to stderr,
 * the table to stdout.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { PutCommand } from '@aws-sdk/lib-dynamodb';
import { startLocalStack } from '../infra/local/stack';
import { SimulatedFleet } from '../node-agent/simulated/fleet';
import { silentLogger } from '../node-agent/log';
import { loadConfig } from '../shared/config';
import { resourceByName } from '../shared/resources';
import { createDocumentClient } from '../shared/store/dynamo';
import { ObjectStore } from '../shared/store/store';
import { NodeQueues } from '../shared/queue';
import { TenantCaches } from '../functions/scheduler/cache';
import { Scheduler } from '../functions/scheduler/scheduler';
import { pct } from './lib';

const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 32);
/** Writers of one resource type contend on its sequence: few writers create fastest. */
const CREATE_CONCURRENCY = Number(process.env.BENCH_CREATE_CONCURRENCY ?? 2);
const STREAM_PODS = Number(process.env.BENCH_STREAM_PODS ?? 1000);
/** Pods per second offered to the stream-driven scheduler in the latency phase (0: as fast as creates go). */
const STREAM_RATE = Number(process.env.BENCH_STREAM_RATE ?? 50);
const FLEET_CONCURRENCY = Number(process.env.BENCH_FLEET_CONCURRENCY ?? 16);
const STATUS_DURING_BACKLOG = process.env.BENCH_STATUS_DURING_BACKLOG === '1';
const SCENARIOS = (process.env.BENCH_SCENARIOS ?? '1000x10000,5000x10000').split(',').map((s) => s.split('x').map(Number) as [number, number]);
const progress = (s: string) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${s}\n`);

async function pool(n: number, limit: number, job: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(limit, n) }, async () => {
    while (next < n) await job(next++);
  }));
}

async function main() {
  // Heartbeats every 30 s from thousands of nodes; no node should go Unknown during a run.
  process.env.STRATUS_NODE_MONITOR_GRACE_SECONDS ??= '600';
  // DynamoDB Local with the JVM's full JIT (infra/local/dynamodb.ts): it runs hot for minutes here.
  process.env.STRATUS_DYNAMODB_JIT ??= 'full';
  const stateDir = mkdtempSync(join(tmpdir(), 'stratus-bench-sched-'));
  progress(`starting the local stack in ${stateDir}`);
  // STRATUS_TRACE_STREAMS=1: the runtime's log (with every stream invocation) to stderr.
  const stack = await startLocalStack({ stateDir, log: process.env.STRATUS_TRACE_STREAMS === '1' ? (s) => process.stderr.write(`[stack ${new Date().toISOString().slice(11, 23)}] ${s}\n`) : undefined });
  const config = loadConfig();
  const doc = createDocumentClient(config);
  const store = new ObjectStore(doc, config);
  const pods = resourceByName('pods');
  const queues = new NodeQueues(config);
  const results: string[] = [];
  try {
    // 1. The ceiling, measured again before each scenario (the machine is shared: the ratio
    // compares figures taken minutes apart, not an hour).
    const measureCeiling = async (label: string) => {
      const seconds = 5;
      let puts = 0;
      const end = Date.now() + seconds * 1000;
      await pool(CONCURRENCY, CONCURRENCY, async () => {
        while (Date.now() < end) {
          try {
            await doc.send(new PutCommand({ TableName: config.objectsTable, Item: { pk: '~bench-writes', sk: randomBytes(8).toString('hex'), o: 'x'.repeat(1500) }, ConditionExpression: 'attribute_not_exists(pk)' }));
            puts++;
          } catch (e) {
            if (!(e instanceof ConditionalCheckFailedException)) throw e;
          }
        }
      });
      const putRate = puts / seconds;
      const ceilingTenant = `ceil${randomBytes(3).toString('hex')}`;
      let commits = 0;
      const end2 = Date.now() + seconds * 1000;
      await pool(CONCURRENCY, CONCURRENCY, async (w) => {
        for (let i = 0; Date.now() < end2; i++) {
          await store.create(ceilingTenant, resourceByName('configmaps'), { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: `c${w}-${i}`, namespace: 'default' }, data: { x: 'x'.repeat(1000) } });
          commits++;
        }
      });
      const commitRate = commits / seconds;
      const load = loadavg()[0]!.toFixed(1);
      progress(`ceiling ${label}: ${putRate.toFixed(0)} conditional PutItem/s, ${commitRate.toFixed(0)} store commits/s (one resource type, concurrency ${CONCURRENCY}); load average ${load}`);
      results.push(`| ceiling ${label} (load average ${load}) | raw conditional PutItem; store commit (reservation + object + log), one resource type; ${CONCURRENCY} writers | ${putRate.toFixed(0)} writes/s; **${commitRate.toFixed(0)} commits/s** |`);
      return commitRate;
    };
    await measureCeiling('at start');

    // 2. Scenarios.
    for (const [nodeCount, podCount] of SCENARIOS) {
      const tenant = `bench${randomBytes(3).toString('hex')}`;
      // The simulated fleet acts for every node at once (and watches all pods): the cluster's admin
      // credential, since a node identity may act only for its own node.
      const { adminToken } = await stack.createTenant(tenant);
      const fleet = new SimulatedFleet({ server: `${stack.apiUrl}/clusters/${tenant}`, token: adminToken, ca: stack.caCert, prefix: 'sim', count: nodeCount, leaseRenewSeconds: 30, log: silentLogger, concurrency: FLEET_CONCURRENCY });
      progress(`${tenant}: registering ${nodeCount} simulated nodes`);
      const regStart = Date.now();
      await fleet.register();
      const regSeconds = (Date.now() - regStart) / 1000;
      fleet.start({ reportPods: STATUS_DURING_BACKLOG });
      progress(`${tenant}: ${nodeCount} nodes registered in ${regSeconds.toFixed(1)} s`);
      results.push(`| ${nodeCount} nodes: registration | Node + status + Lease per node through the API, ${FLEET_CONCURRENCY} in flight | ${regSeconds.toFixed(1)} s (${((3 * nodeCount) / regSeconds).toFixed(0)} writes/s) |`);
      // A warm scheduler instance: its caches (and the snapshot kept from them) have the nodes.
      const cache = new TenantCaches(store, resourceByName('nodes'), pods).of(tenant);
      const scheduler = new Scheduler(store, queues, tenant, cache, { schedulerName: 'bench-scheduler' });
      await cache.sync();
      // Phase A, throughput: a backlog of P pods (created for the "bench-scheduler" profile, which
      // the stack's scheduler leaves alone), then one scheduler invocation — the function's own
      // code: change-log-fed caches, decisions pipelined with batch binds — schedules them all.
      const commitRate = await measureCeiling(`before ${nodeCount}x${podCount}`);
      progress(`${tenant}: creating a backlog of ${podCount} pods`);
      const podBody = (name: string, schedulerName?: string) => ({
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name, namespace: 'default', labels: { app: 'bench' } },
        spec: { ...(schedulerName ? { schedulerName } : {}), containers: [{ name: 'c', image: 'sim', resources: { requests: { cpu: '100m', memory: '128Mi' } } }] },
        status: { phase: 'Pending' },
      });
      const c0 = Date.now();
      let createdCount = 0;
      const createProgress = setInterval(() => progress(`${tenant}: ${createdCount}/${podCount} created (${(createdCount / ((Date.now() - c0) / 1000)).toFixed(0)}/s)`), 15_000);
      await pool(podCount, CREATE_CONCURRENCY, (i) => store.create(tenant, pods, podBody(`b-${i}`, 'bench-scheduler')).then(() => void createdCount++));
      clearInterval(createProgress);
      const createSeconds = (Date.now() - c0) / 1000;
      progress(`${tenant}: backlog created in ${createSeconds.toFixed(1)} s (${(podCount / createSeconds).toFixed(0)} pods/s); scheduling`);
      const t0 = Date.now();
      const tm = scheduler.timings;
      const bindProgress = setInterval(() => progress(`${tenant}: ${tm.podsInTransactions} pods sent in ${tm.transactions} bind transactions (${(tm.podsInTransactions / ((Date.now() - t0) / 1000)).toFixed(0)}/s)`), 15_000);
      const r = await scheduler.retryPending().finally(() => clearInterval(bindProgress));
      const bindSeconds = (Date.now() - t0) / 1000;
      await scheduler.flush();
      const throughput = r.bound / bindSeconds;
      const where = `sync ${(tm.sync / 1000).toFixed(1)} s, decisions ${(tm.decide / 1000).toFixed(1)} s, waiting for binds ${(tm.bindWait / 1000).toFixed(1)} s; ${tm.transactions} transactions, ${(tm.podsInTransactions / Math.max(1, tm.transactions)).toFixed(1)} pods each`;
      const lineA = `| ${nodeCount} nodes, backlog of ${podCount} pods (created at ${(podCount / createSeconds).toFixed(0)}/s) | one invocation: bound ${r.bound}, lost races ${r.lostRaces}, unschedulable ${r.unschedulable}; ${where}${STATUS_DURING_BACKLOG ? '; kubelet status writes racing' : ''} | **${throughput.toFixed(0)} pods/s** (${bindSeconds.toFixed(1)} s; ${((100 * throughput) / commitRate).toFixed(0)}% of the store's commits/s) |`;
      progress(lineA);
      results.push(lineA);
      // Heartbeats: how many nodes renewed their Lease within Kubernetes' 40 s grace, now.
      const leases = (await store.list(tenant, resourceByName('leases'))).items;
      const fresh = leases.filter((l) => Date.now() - Date.parse((l.spec as { renewTime?: string }).renewTime ?? '') <= 40_000).length;
      const lineL = `| ${nodeCount} nodes: heartbeats after the backlog | Leases renewed every 30 s through the API | ${fresh}/${leases.length} renewed within the last 40 s |`;
      progress(lineL);
      results.push(lineL);
      if (STREAM_PODS === 0) {
        await fleet.stop(); // BENCH_STREAM_PODS=0: throughput only
        continue;
      }
      fleet.startPodReports();
      // Latency is measured in the steady state, not behind the backlog's aftermath in the
      // stream (its binds, then the fleet's Running reports): wait for the fleet to report the
      // backlog Running and for one probe pod to be bound by the stream-driven scheduler.
      const settleStart = Date.now();
      const settleBy = Date.now() + 10 * 60 * 1000;
      for (let last = -1, still = 0; fleet.runningReported < r.bound && still < 20 && Date.now() < settleBy; ) {
        await new Promise((res) => setTimeout(res, 1000));
        still = fleet.runningReported === last ? still + 1 : 0;
        last = fleet.runningReported;
      }
      await store.create(tenant, pods, podBody('probe'));
      while (Date.now() < settleBy && !(((await store.get(tenant, pods, 'default', 'probe'))?.spec as { nodeName?: string } | undefined)?.nodeName)) await new Promise((res) => setTimeout(res, 500));
      const settled = `${fleet.runningReported} of the backlog reported Running and the stream caught up in ${((Date.now() - settleStart) / 1000).toFixed(0)} s`;
      progress(`${tenant}: ${settled}`);

      // Phase B, latency: pods created one stream at a time for the default scheduler (the
      // stream-driven function in the stack); latency = bind seen in the log - create sent.
      const created = new Map<string, number>();
      const bound = new Map<string, number>();
      let watching = true;
      let after = await store.currentVersion(tenant, pods);
      const watcher = (async () => {
        while (watching) {
          const events = await store.changesSince(tenant, pods, after, 500);
          const t = Date.now();
          for (const e of events) {
            after = e.resourceVersion;
            const name = e.object.metadata.name!;
            if (name.startsWith('s-') && (e.object.spec as { nodeName?: string }).nodeName && !bound.has(name)) bound.set(name, t);
          }
          if (events.length < 500) await new Promise((res) => setTimeout(res, 50));
        }
      })();
      progress(`${tenant}: creating ${STREAM_PODS} pods for the stream-driven scheduler`);
      const s0 = Date.now();
      const createStreamPod = (i: number) => {
        const name = `s-${i}`;
        created.set(name, Date.now());
        return store.create(tenant, pods, podBody(name));
      };
      if (STREAM_RATE > 0) {
        // Paced, as a steady arrival rate: pod i is created at s0 + i / rate.
        const creates: Promise<unknown>[] = [];
        for (let i = 0; i < STREAM_PODS; i++) {
          const wait = s0 + (i * 1000) / STREAM_RATE - Date.now();
          if (wait > 0) await new Promise((res) => setTimeout(res, wait));
          creates.push(createStreamPod(i));
        }
        await Promise.all(creates);
      } else await pool(STREAM_PODS, CREATE_CONCURRENCY, async (i) => void (await createStreamPod(i)));
      const createdIn = (Date.now() - s0) / 1000;
      const deadline = Date.now() + 10 * 60 * 1000;
      while (bound.size < STREAM_PODS && Date.now() < deadline) await new Promise((res) => setTimeout(res, 500));
      watching = false;
      await watcher;
      const latencies = [...bound].map(([n, t]) => t - created.get(n)!);
      const lineB = `| ${nodeCount} nodes, ${STREAM_PODS} pods streamed in at ${(STREAM_PODS / createdIn).toFixed(0)}/s (after ${settled}) | end to end through the stream: bound ${bound.size}/${STREAM_PODS} | latency p50 ${pct(latencies, 50).toFixed(0)} ms, p99 ${pct(latencies, 99).toFixed(0)} ms |`;
      progress(lineB);
      results.push(lineB);
      // Let the fleet report Running for a moment, then stop it.
      await new Promise((r) => setTimeout(r, 5000));
      progress(`${tenant}: ${fleet.runningReported} pods reported Running by the simulated fleet`);
      await fleet.stop();
    }
  } finally {
    console.log(['| what | detail | result |', '|---|---|---|', ...results].join('\n'));
    doc.destroy();
    await Promise.race([stack.stop(), new Promise((r) => setTimeout(r, 30_000))]);
  }
}

main().then(
  // The fleets' keep-alive sockets and timers may outlive the stack: the figures are out, so go.
  () => process.exit(0),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
