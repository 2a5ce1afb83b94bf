// SCRATCH (not for commit): measures one pod lifecycle's stream records and item sizes.
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { DescribeStreamCommand, DynamoDBStreamsClient, GetRecordsCommand, GetShardIteratorCommand } from '@aws-sdk/client-dynamodb-streams';
import { DescribeTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { expect, inject, it } from 'vitest';
import { loadConfig } from '../../shared/config';
import { createDocumentClient } from '../../shared/store/dynamo';
import { recordMatches } from '../../infra/stream-filter';
import { toLambdaRecord } from '../../infra/local/runtime';
import { controllerFilters, schedulerFilters } from '../../infra/wiring';
import { Api, eventually, uniqueName } from '../helpers/api';

const run = promisify(execFile);
const size = (item: Record<string, unknown>) => Object.entries(item).reduce((n, [k, v]) => n + k.length + (typeof v === 'string' ? Buffer.byteLength(v) : typeof v === 'number' ? 8 : v instanceof Uint8Array ? v.length : Buffer.byteLength(JSON.stringify(v))), 0);

it('probe', async () => {
  const stack = inject('stack');
  Object.assign(process.env, stack.env);
  const config = loadConfig();
  const doc = createDocumentClient(config);
  const api = Api.forTenant(stack.tenant);
  const ns = uniqueName('cost');
  await api.post('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
  await new Promise((r) => setTimeout(r, 1500));
  const t0 = Math.floor(Date.now() / 1000) - 1;
  const name = uniqueName('p');
  const file = `/tmp/probe/${name}.json`;
  writeFileSync(file, JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: ns }, spec: { terminationGracePeriodSeconds: 1, containers: [{ name: 'main', image: 'stratus-test/busybox:1.36', command: ['sleep', '3600'] }] } }));
  const env = { ...process.env, KUBECONFIG: stack.kubeconfigPath };
  await run('kubectl', ['create', '-f', file], { env });
  const runningPod = await eventually(async () => {
    const p = (await api.get(`/api/v1/namespaces/${ns}/pods/${name}`)).body;
    return p?.status?.phase === 'Running' ? p : undefined;
  }, 60_000, 'running');
  await new Promise((r) => setTimeout(r, 1500));
  await run('kubectl', ['delete', 'pod', name, '-n', ns], { env });
  await new Promise((r) => setTimeout(r, 3000));
  const t1 = Math.floor(Date.now() / 1000) + 1;

  const ddb = new DynamoDBClient({ region: config.region });
  const arn = (await ddb.send(new DescribeTableCommand({ TableName: config.objectsTable }))).Table!.LatestStreamArn!;
  const streams = new DynamoDBStreamsClient({ region: config.region });
  const shards: { ShardId?: string }[] = [];
  let startShard: string | undefined;
  do {
    const d = (await streams.send(new DescribeStreamCommand({ StreamArn: arn, ExclusiveStartShardId: startShard }))).StreamDescription!;
    shards.push(...(d.Shards ?? []));
    startShard = d.LastEvaluatedShardId;
  } while (startShard);
  const rows: unknown[] = [];
  const counts = { total: 0, scheduler: 0, controllers: 0 };
  for (const s of shards) {
    let it = (await streams.send(new GetShardIteratorCommand({ StreamArn: arn, ShardId: s.ShardId!, ShardIteratorType: 'TRIM_HORIZON' }))).ShardIterator;
    let empty = 0;
    for (let i = 0; it && i < 5000 && empty < 30; i++) {
      const out = await streams.send(new GetRecordsCommand({ ShardIterator: it, Limit: 1000 }));
      for (const r of out.Records ?? []) {
        const at = r.dynamodb?.ApproximateCreationDateTime ? Math.floor(r.dynamodb.ApproximateCreationDateTime.getTime() / 1000) : 0;
        (globalThis as any).__seen = ((globalThis as any).__seen ?? 0) + 1; (globalThis as any).__at = [at, t0, t1];
        if (at < t0 || at > t1) continue;
        const keys = unmarshall(r.dynamodb!.Keys as never);
        const img = r.dynamodb?.NewImage ? unmarshall(r.dynamodb.NewImage as never) : r.dynamodb?.OldImage ? unmarshall(r.dynamodb.OldImage as never) : {};
        const ours = String(keys.sk).startsWith(`${ns}/`) || (String(keys.pk).endsWith('#nodes') && String(keys.sk) === `/${stack.nodeName}`) || String(keys.pk).endsWith('#leases');
        if (!ours) continue;
        const lr = toLambdaRecord(r, arn, config.region);
        const sch = recordMatches(lr, schedulerFilters);
        const ctl = recordMatches(lr, controllerFilters);
        counts.total++;
        if (sch) counts.scheduler++;
        if (ctl) counts.controllers++;
        const old = r.dynamodb?.OldImage ? unmarshall(r.dynamodb.OldImage as never) : undefined;
        rows.push({ ev: r.eventName, pk: keys.pk, sk: keys.sk, size: size(img), sch, ctl, alloc: old ? `${old.allocPods}->${img.allocPods}` : '' });
      }
      empty = (out.Records ?? []).length ? 0 : empty + 1;
      it = out.NextShardIterator;
    }
  }
  const events = await doc.send(new QueryCommand({ TableName: config.changesTable, KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': `${stack.tenant}#events` } }));
  const mine = (events.Items ?? []).filter((i) => String(i.key).startsWith(`${ns}/`));
  const log = await doc.send(new QueryCommand({ TableName: config.changesTable, KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': `${stack.tenant}#pods` }, ScanIndexForward: false, Limit: 200 }));
  const { decodeObject } = await import('../../shared/store/codec');
  const logMine = (log.Items ?? []).filter((i) => i.o !== undefined && decodeObject(i.o).metadata.name === name);
  const report = {
    counts,
    rows,
    events: mine.map((e) => ({ reason: JSON.parse(String(e.o)).reason, size: size(e) })),
    log: logMine.map((e) => ({ type: e.type, size: size(e) })),
    podJson: Buffer.byteLength(JSON.stringify(runningPod)),
    dbg: [(globalThis as any).__seen, (globalThis as any).__at, shards.length],
  };
  writeFileSync('/tmp/probe/report.json', JSON.stringify(report, null, 1));
  expect(counts.total).toBeGreaterThan(0);
});
