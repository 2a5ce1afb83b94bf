/**
 * Benchmark for issue #2 (run by hand: `npm run bench`; figures go to BENCHMARKS.md).
 *
 * In one run, on one machine:
 *  1. floor: raw `docker create + start` of the test image through dockerode (N times);
 *  2. Stratus: pod startup latency, create (HTTPS) → phase Running observed through the API,
 *     one pod at a time, through api → DynamoDB → stream → scheduler → SQS → agent → Docker;
 *  3. floor: raw DynamoDB PutItem / GetItem of a pod-sized item;
 *  4. Stratus: api create / get latency for pods (not scheduled: schedulerName "none").
 * Prints p50/p99 of each and the ratios. Never used as a test assertion.
 */
import { DynamoDBClient, GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import Docker from 'dockerode';
import { pct, withBenchCluster } from './lib';

const N = Number(process.env.BENCH_PODS ?? 50);
const API_N = Number(process.env.BENCH_API ?? 200);
const IMAGE = 'stratus-test/busybox:1.36';

const fmt = (ms: number) => `${ms.toFixed(1)} ms`;
const summary = (xs: number[]) => ({ p50: pct(xs, 50), p99: pct(xs, 99) });
const progress = (s: string) => process.stderr.write(`${s}\n`);


async function main() {
  const docker = new Docker();
  await withBenchCluster(progress, async ({ api, stack }) => {

    progress(`[3/5] floor: ${N} × raw docker create + start of ${IMAGE}`);
    const raw: number[] = [];
    for (let i = 0; i < N; i++) {
      const t0 = performance.now();
      const c = await docker.createContainer({ Image: IMAGE, Cmd: ['sleep', '3600'], Labels: { 'io.stratus.bench': '1' } });
      await c.start();
      raw.push(performance.now() - t0);
      await c.remove({ force: true });
    }

    progress(`[4/5] Stratus: ${N} pods, create → Running through the API, one at a time`);
    const pods: number[] = [];
    for (let i = 0; i < N; i++) {
      const name = `bench-${i}`;
      const t0 = performance.now();
      const created = await api('POST', '/api/v1/namespaces/default/pods', {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name },
        spec: { terminationGracePeriodSeconds: 0, containers: [{ name: 'c', image: IMAGE, command: ['sleep', '3600'] }] },
      });
      if (created.status !== 201) throw new Error(`create failed: ${JSON.stringify(created.body)}`);
      for (;;) {
        const r = await api('GET', `/api/v1/namespaces/default/pods/${name}`);
        if (r.body?.status?.phase === 'Running') break;
        await new Promise((r) => setTimeout(r, 10));
      }
      pods.push(performance.now() - t0);
      if ((i + 1) % 10 === 0) progress(`  ${i + 1}/${N}`);
    }
    for (let i = 0; i < N; i++) await api('DELETE', `/api/v1/namespaces/default/pods/bench-${i}?gracePeriodSeconds=0`);

    progress(`[5/5] api create/get (${API_N} each) beside raw DynamoDB PutItem/GetItem`);
    const ddb = new DynamoDBClient({ region: stack.env.AWS_REGION, endpoint: stack.env.AWS_ENDPOINT_URL_DYNAMODB });
    const item = JSON.stringify({ metadata: { name: 'x'.repeat(20) }, spec: { containers: [{ name: 'c', image: IMAGE }] }, pad: 'p'.repeat(1200) });
    const put: number[] = [];
    const get: number[] = [];
    for (let i = 0; i < API_N; i++) {
      const Key = { pk: { S: 'bench#raw' }, sk: { S: `k${i}` } };
      let t0 = performance.now();
      await ddb.send(new PutItemCommand({ TableName: 'stratus-objects', Item: { ...Key, o: { S: item } } }));
      put.push(performance.now() - t0);
      t0 = performance.now();
      await ddb.send(new GetItemCommand({ TableName: 'stratus-objects', Key, ConsistentRead: true }));
      get.push(performance.now() - t0);
    }
    const apiCreate: number[] = [];
    const apiGet: number[] = [];
    for (let i = 0; i < API_N; i++) {
      let t0 = performance.now();
      const r = await api('POST', '/api/v1/namespaces/default/pods', {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: `api-${i}` },
        spec: { schedulerName: 'none', containers: [{ name: 'c', image: IMAGE }] },
      });
      if (r.status !== 201) throw new Error(JSON.stringify(r.body));
      apiCreate.push(performance.now() - t0);
      t0 = performance.now();
      await api('GET', `/api/v1/namespaces/default/pods/api-${i}`);
      apiGet.push(performance.now() - t0);
    }

    const rs = summary(raw);
    const ps = summary(pods);
    const lines = [
      `pod startup (N=${N})      p50 ${fmt(ps.p50)}  p99 ${fmt(ps.p99)}`,
      `raw docker create+start  p50 ${fmt(rs.p50)}  p99 ${fmt(rs.p99)}`,
      `  ratio p50 ${(ps.p50 / rs.p50).toFixed(2)}x, overhead p50 ${fmt(ps.p50 - rs.p50)} (target ≤ 250 ms)`,
      `api create (N=${API_N})     p50 ${fmt(summary(apiCreate).p50)}  p99 ${fmt(summary(apiCreate).p99)}`,
      `raw PutItem              p50 ${fmt(summary(put).p50)}  p99 ${fmt(summary(put).p99)}`,
      `  ratio p50 ${(summary(apiCreate).p50 / summary(put).p50).toFixed(2)}x`,
      `api get                  p50 ${fmt(summary(apiGet).p50)}  p99 ${fmt(summary(apiGet).p99)}`,
      `raw GetItem              p50 ${fmt(summary(get).p50)}  p99 ${fmt(summary(get).p99)}`,
      `  ratio p50 ${(summary(apiGet).p50 / summary(get).p50).toFixed(2)}x`,
    ];
    console.log(lines.join('\n'));
  });
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
