/**
 * Store write ceiling (run by hand: `npm run bench:store`; figures go to BENCHMARKS.md).
 * In one run against one DynamoDB Local: raw conditional PutItem/s (the floor of any write),
 * then store commits/s on ONE resource type (version reservation + object + log entry)
 * with 1, 4 and 32 concurrent writers, from one store instance (group commit) and from four
 * instances (four processes writing one sequence, as separate Lambda instances do).
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DynamoDBClient, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { startLocalStack } from '../infra/local/stack';
import { loadConfig } from '../shared/config';
import { resourceByName } from '../shared/resources';
import { createDocumentClient } from '../shared/store/dynamo';
import { ObjectStore } from '../shared/store/store';

// The AWS SDK's Node 20 support notice only, as bench/lib.ts hides it (this bench does not use lib.ts).
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
const PER_RUN = Number(process.env.BENCH_WRITES ?? 600);
const progress = (s: string) => process.stderr.write(`${s}\n`);

async function rate(writers: number, write: (i: number) => Promise<unknown>): Promise<number> {
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: writers }, async () => {
      for (let i = next++; i < PER_RUN; i = next++) await write(i);
    }),
  );
  return PER_RUN / ((performance.now() - t0) / 1000);
}

async function main() {
  const stack = await startLocalStack({ stateDir: mkdtempSync(join(tmpdir(), 'stratus-bench-store-')) });
  try {
    const config = loadConfig();
    const ddb = new DynamoDBClient({ region: config.region });
    // ConfigMaps: a sequenced kind (Events are best-effort since 2026-11: one plain write, no sequence).
    const configmaps = resourceByName('configmaps');
    const body = (name: string) => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: 'default' }, data: { message: 'x'.repeat(200) } });
    const lines: string[] = [];
    for (const writers of [1, 4, 32]) {
      progress(`raw conditional PutItem, ${writers} writers`);
      const raw = await rate(writers, (i) =>
        ddb.send(
          new PutItemCommand({
            TableName: config.objectsTable,
            Item: { pk: { S: `bench-raw-${writers}#configmaps` }, sk: { S: `default/e${i}` }, o: { S: JSON.stringify(body(`e${i}`)) } },
            ConditionExpression: 'attribute_not_exists(pk)',
          }),
        ),
      );
      progress(`store commits, one instance, ${writers} writers`);
      const one = new ObjectStore(createDocumentClient(config), config);
      const single = await rate(writers, (i) => one.create(`bench-one-${writers}`, configmaps, body(`e${i}`)));
      progress(`store commits, four instances, ${writers} writers`);
      const four = Array.from({ length: 4 }, () => new ObjectStore(createDocumentClient(config), config));
      const multi = await rate(writers, (i) => four[i % 4]!.create(`bench-four-${writers}`, configmaps, body(`e${i}`)));
      lines.push(`${String(writers).padStart(2)} writers: raw PutItem ${raw.toFixed(0)}/s | store, 1 instance ${single.toFixed(0)}/s (${(single / raw).toFixed(2)}x) | store, 4 instances ${multi.toFixed(0)}/s (${(multi / raw).toFixed(2)}x)`);
    }
    console.log(lines.join('\n'));
  } finally {
    await stack.stop();
  }
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
