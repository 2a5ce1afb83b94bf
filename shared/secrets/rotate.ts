import { QueryCommand, ScanCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Config } from '../config';
import { resourceByName } from '../resources';
import { partitionKey } from '../store/keys';
import { readHeader, isEnvelope } from './envelope';
import { secretKeyring } from './keys';
import { decodeStored, encodeStored, itemLocation, prepareSecretWrite, withDataKeys } from './store-codec';

/*
 * Key rotation (`npx stratus secrets rotate-key`): `kek` makes a new KEK current and re-wraps every
 * data key under it; `dataKey` gives each cluster a new data key and re-encrypts its Secrets'
 * object items under it (each a conditional write on the item's version: a Secret written
 * meanwhile keeps the ciphertext its writer made, which names its own key and stays readable).
 * Old data keys are kept: change-log entries sealed under them live until the log's TTL, and each
 * ciphertext names its key, so everything stays readable during and after a rotation.
 */

export interface RotateResult {
  clusters: string[];
  kek?: string;
  rewrapped: number;
  newDataKeys: number;
  reencrypted: number;
}

/** Clusters that have data keys (the `~deks#CLUSTER` partitions). */
async function clustersWithKeys(doc: DynamoDBDocumentClient, config: Config): Promise<string[]> {
  const out = new Set<string>();
  let start: Record<string, unknown> | undefined;
  do {
    const page = await doc.send(
      new ScanCommand({ TableName: config.objectsTable, FilterExpression: 'begins_with(pk, :p)', ExpressionAttributeValues: { ':p': '~deks#' }, ProjectionExpression: 'pk', ExclusiveStartKey: start }),
    );
    for (const i of page.Items ?? []) out.add(String(i.pk).slice('~deks#'.length));
    start = page.LastEvaluatedKey;
  } while (start);
  return [...out].sort();
}

export async function rotateSecretKeys(doc: DynamoDBDocumentClient, config: Config, opts: { kek: boolean; dataKey: boolean; clusters?: string[] }): Promise<RotateResult> {
  const ring = secretKeyring(doc, config);
  const clusters = opts.clusters ?? (await clustersWithKeys(doc, config));
  const result: RotateResult = { clusters, rewrapped: 0, newDataKeys: 0, reencrypted: 0 };
  if (opts.kek) {
    result.kek = await ring.kek.rotate();
    for (const c of clusters) result.rewrapped += await ring.rewrap(c);
  }
  if (opts.dataKey) {
    const secrets = resourceByName('secrets');
    for (const cluster of clusters) {
      const { keyId } = await ring.create(cluster);
      result.newDataKeys++;
      await prepareSecretWrite(cluster);
      const pk = partitionKey(cluster, secrets);
      let start: Record<string, unknown> | undefined;
      do {
        const page = await doc.send(new QueryCommand({ TableName: config.objectsTable, KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': pk }, ConsistentRead: true, ExclusiveStartKey: start }));
        for (const item of page.Items ?? []) {
          const o = item.o as unknown;
          if (isEnvelope(o) && readHeader(o).header.keyId === keyId) continue;
          const obj = await withDataKeys(() => decodeStored(pk, o, itemLocation(String(item.sk))));
          try {
            await doc.send(
              new UpdateCommand({
                TableName: config.objectsTable,
                Key: { pk, sk: String(item.sk) },
                UpdateExpression: 'SET o = :o',
                ConditionExpression: 'rv = :rv',
                ExpressionAttributeValues: { ':o': encodeStored(pk, obj), ':rv': Number(item.rv) },
              }),
            );
            result.reencrypted++;
          } catch (e) {
            if ((e as Error).name !== 'ConditionalCheckFailedException') throw e;
          }
        }
        start = page.LastEvaluatedKey;
      } while (start);
    }
  }
  return result;
}
