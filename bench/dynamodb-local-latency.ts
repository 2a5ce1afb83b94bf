/**
 * DynamoDB Local's own latency, no Stratus code in the path (the "slow GET" investigation,
 * BENCHMARKS.md): starts DynamoDB Local as the local stack does (infra/local/dynamodb.ts), writes
 * `--items` items of `--size` bytes, then times `--n` GetItem calls one after another through the
 * bare SDK client (optionally through the document client, as shared/store/dynamo.ts makes it).
 * `npx tsx bench/dynamodb-local-latency.ts [--n 3000] [--host 127.0.0.1|localhost] [--doc]`.
 * JAVA_TOOL_OPTIONS=-Xlog:gc reaches the JVM (GC pauses in this process's stderr).
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { loadavg } from 'node:os';
import { Command } from 'commander';
import { CreateTableCommand, DynamoDBClient, GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import { LOCAL_CREDENTIALS, LOCAL_REGION, startDynamoDBLocal } from '../infra/local/dynamodb';
import { pct } from './lib';

const o = new Command()
  .option('--n <n>', 'GetItem calls timed', Number, 3000)
  .option('--items <n>', 'items written first', Number, 1000)
  .option('--size <bytes>', 'size of each item', Number, 2000)
  .option('--host <host>', 'host name in the endpoint', '127.0.0.1')
  .option('--doc', 'through the document client')
  .option('--endpoint <url>', 'an already running DynamoDB Local (else one is started)')
  .option('--slow <ms>', 'calls above this are listed', Number, 50)
  .parse()
  .opts<{ n: number; items: number; size: number; host: string; doc?: boolean; endpoint?: string; slow: number }>();

async function main(): Promise<void> {
  const ddb = o.endpoint ? undefined : await startDynamoDBLocal({ log: (s) => process.stderr.write(`${s}\n`) });
  try {
    const endpoint = o.endpoint ?? `http://${o.host}:${ddb!.port}`;
    const client = new DynamoDBClient({ endpoint, region: LOCAL_REGION, credentials: LOCAL_CREDENTIALS, maxAttempts: 1 });
    const doc = DynamoDBDocumentClient.from(client);
    const TableName = `lat${process.pid}`;
    await client.send(new CreateTableCommand({ TableName, BillingMode: 'PAY_PER_REQUEST', AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }], KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }] }));
    const pad = 'x'.repeat(o.size);
    for (let i = 0; i < o.items; i++) await client.send(new PutItemCommand({ TableName, Item: { pk: { S: `k${i}` }, v: { S: pad } } }));
    const h = monitorEventLoopDelay({ resolution: 5 });
    h.enable();
    const ms: number[] = [];
    const slow: string[] = [];
    const t0 = performance.now();
    for (let i = 0; i < o.n; i++) {
      const key = `k${Math.floor(Math.random() * o.items)}`;
      const t = performance.now();
      if (o.doc) await doc.send(new GetCommand({ TableName, Key: { pk: key } }));
      else await client.send(new GetItemCommand({ TableName, Key: { pk: { S: key } } }));
      const d = performance.now() - t;
      ms.push(d);
      if (d > o.slow) slow.push(`#${i} at ${((t - t0) / 1000).toFixed(2)} s: ${d.toFixed(1)} ms`);
    }
    h.disable();
    const f = (n: number) => n.toFixed(2);
    console.log(`endpoint ${endpoint}${o.doc ? ' (document client)' : ''}, ${o.n} GetItem, load ${loadavg().map((l) => l.toFixed(1)).join(' / ')}`);
    console.log(`p50 ${f(pct(ms, 50))} p90 ${f(pct(ms, 90))} p99 ${f(pct(ms, 99))} p99.9 ${f(pct(ms, 99.9))} max ${f(Math.max(...ms))} ms; > ${o.slow} ms: ${slow.length}`);
    console.log(`event-loop delay p99 ${f(h.percentile(99) / 1e6)} max ${f(h.max / 1e6)} ms`);
    for (const s of slow.slice(0, 30)) console.log(`  slow ${s}`);
    client.destroy();
  } finally {
    await ddb?.stop();
  }
}
main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? e.stack : String(e)}\n`);
  process.exit(1);
});
