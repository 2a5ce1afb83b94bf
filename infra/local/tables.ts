/**
 * Creates the system's tables in DynamoDB Local from the same specs the CDK app reads
 * (infra/tables.ts), so local and AWS key schemas cannot differ.
 */
import {
  CreateTableCommand,
  DescribeTableCommand,
  DynamoDBClient,
  ResourceInUseException,
  ResourceNotFoundException,
  UpdateTimeToLiveCommand,
  type AttributeDefinition,
  type GlobalSecondaryIndex,
} from '@aws-sdk/client-dynamodb';
import type { Config } from '../../shared/config';
import { tables, type TableSpec } from '../tables';
import { LOCAL_CREDENTIALS } from './dynamodb';
import { sleep } from '../../shared/sleep';


/**
 * Creates config.objectsTable and config.changesTable at `endpoint` if missing (idempotent) and
 * resolves once both are ACTIVE. Uses the local stack's credentials and config.region.
 */
export async function createTables(config: Config, endpoint: string): Promise<void> {
  const client = new DynamoDBClient({ endpoint, region: config.region, credentials: LOCAL_CREDENTIALS });
  try {
    const names: Record<keyof typeof tables, string> = { objects: config.objectsTable, changes: config.changesTable };
    await Promise.all(
      (Object.keys(tables) as (keyof typeof tables)[]).map((key) => createTable(client, names[key], tables[key])),
    );
  } finally {
    client.destroy();
  }
}

async function createTable(client: DynamoDBClient, name: string, spec: TableSpec): Promise<void> {
  const attributes = new Map<string, AttributeDefinition>();
  const keyAttr = (attr: string) => attributes.set(attr, { AttributeName: attr, AttributeType: 'S' });
  keyAttr(spec.partitionKey);
  keyAttr(spec.sortKey);
  const indexes: GlobalSecondaryIndex[] = spec.globalIndexes.map((gsi) => {
    keyAttr(gsi.partitionKey);
    keyAttr(gsi.sortKey);
    return {
      IndexName: gsi.name,
      KeySchema: [
        { AttributeName: gsi.partitionKey, KeyType: 'HASH' },
        { AttributeName: gsi.sortKey, KeyType: 'RANGE' },
      ],
      Projection: { ProjectionType: 'ALL' },
    };
  });

  if (!(await exists(client, name))) {
    try {
      await client.send(
        new CreateTableCommand({
          TableName: name,
          BillingMode: 'PAY_PER_REQUEST',
          AttributeDefinitions: [...attributes.values()],
          KeySchema: [
            { AttributeName: spec.partitionKey, KeyType: 'HASH' },
            { AttributeName: spec.sortKey, KeyType: 'RANGE' },
          ],
          GlobalSecondaryIndexes: indexes.length ? indexes : undefined,
          StreamSpecification: spec.stream ? { StreamEnabled: true, StreamViewType: 'NEW_AND_OLD_IMAGES' } : undefined,
        }),
      );
    } catch (err) {
      // Someone else created it between our check and our create: that is what we wanted.
      if (!(err instanceof ResourceInUseException)) throw err;
    }
  }
  await waitActive(client, name);

  if (spec.ttlAttribute) {
    try {
      await client.send(
        new UpdateTimeToLiveCommand({
          TableName: name,
          TimeToLiveSpecification: { Enabled: true, AttributeName: spec.ttlAttribute },
        }),
      );
    } catch {
      // Already enabled on a re-run, or not supported by this engine: expiry is only housekeeping.
    }
  }
}

async function exists(client: DynamoDBClient, name: string): Promise<boolean> {
  try {
    await client.send(new DescribeTableCommand({ TableName: name }));
    return true;
  } catch (err) {
    if (err instanceof ResourceNotFoundException) return false;
    throw err;
  }
}

async function waitActive(client: DynamoDBClient, name: string): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const out = await client.send(new DescribeTableCommand({ TableName: name }));
    const table = out.Table;
    const indexesActive = (table?.GlobalSecondaryIndexes ?? []).every((i) => i.IndexStatus === 'ACTIVE');
    if (table?.TableStatus === 'ACTIVE' && indexesActive) return;
    if (Date.now() > deadline) throw new Error(`table ${name} not ACTIVE after 60 s (${table?.TableStatus})`);
    await sleep(100);
  }
}
