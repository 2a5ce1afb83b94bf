import { DeleteCommand, GetCommand, QueryCommand, ScanCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { pkiKey, resealPki } from '../auth/node-pki';
import { placementKeyItems, resealPlacementKeys } from '../auth/placement-keys';
import { resealSigningKeys, signingKeysItemKey } from '../serviceaccounts/keys';
import { decodeValue } from '../store/codec';
import { dataKeysPk } from './keys';
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
 * The cluster's other sealed items (ServiceAccount signing keys, node PKI private keys, the nodes'
 * placement keys: shared/secrets/sealed-item.ts) are re-sealed under the new data key too. Old data keys are
 * kept by the rotation itself: change-log entries sealed under them live until the log's TTL, and
 * each ciphertext names its key, so everything stays readable during and after a rotation.
 *
 * Pruning (`npx stratus secrets prune-keys`, and the end of every rotate-key run): a data key
 * that is not the newest is deleted once no stored ciphertext names it (every Secret object item,
 * every change-log entry of Secrets, expired or not, the signing-key and PKI items are read) and
 * the key that superseded it is older than `graceMs` (default 24 h: DynamoDB Streams keeps a
 * record's images that long, and a lagging stream consumer must still open them; it also covers
 * the 60 s during which other processes keep writing with the key they hold as current).
 * Cost per cluster: a query of its Secrets' object items and of their change log (at most the
 * log's TTL of history), two GetItems, one DeleteItem per pruned key.
 */

export const PRUNE_GRACE_MS = 24 * 3600_000;

export interface RotateResult {
  clusters: string[];
  kek?: string;
  rewrapped: number;
  newDataKeys: number;
  reencrypted: number;
  /** Other sealed items (signing keys, PKI) re-sealed under the new data key. */
  resealed: number;
  /** Data keys deleted (cluster/keyId). */
  pruned: string[];
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

export async function rotateSecretKeys(doc: DynamoDBDocumentClient, config: Config, opts: { kek: boolean; dataKey: boolean; clusters?: string[]; graceMs?: number }): Promise<RotateResult> {
  const ring = secretKeyring(doc, config);
  const clusters = opts.clusters ?? (await clustersWithKeys(doc, config));
  const result: RotateResult = { clusters, rewrapped: 0, newDataKeys: 0, reencrypted: 0, resealed: 0, pruned: [] };
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
      if (await resealSigningKeys(doc, config, cluster, true)) result.resealed++;
      if (await resealPki(doc, config, cluster, true)) result.resealed++;
      result.resealed += await resealPlacementKeys({ doc, config }, cluster);
    }
  }
  for (const cluster of clusters) result.pruned.push(...(await pruneDataKeys(doc, config, cluster, { graceMs: opts.graceMs })).map((id) => `${cluster}/${id}`));
  return result;
}

/** Every item of a partition (strongly consistent), `project`ed. */
async function queryAll(doc: DynamoDBDocumentClient, table: string, pk: string, each: (item: Record<string, unknown>) => void): Promise<void> {
  let start: Record<string, unknown> | undefined;
  do {
    const page = await doc.send(new QueryCommand({ TableName: table, KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': pk }, ConsistentRead: true, ExclusiveStartKey: start }));
    for (const item of page.Items ?? []) each(item);
    start = page.LastEvaluatedKey;
  } while (start);
}

/** The data key ids named by the cluster's stored ciphertexts (object items, change log, sealed items). */
export async function dataKeysInUse(doc: DynamoDBDocumentClient, config: Config, cluster: string): Promise<Set<string>> {
  const used = new Set<string>();
  const note = (o: unknown) => {
    const bytes = typeof o === 'string' ? Buffer.from(o, 'base64') : o;
    if (isEnvelope(bytes)) used.add(readHeader(bytes).header.keyId);
  };
  const pk = partitionKey(cluster, resourceByName('secrets'));
  await queryAll(doc, config.objectsTable, pk, (item) => note(item.o));
  await queryAll(doc, config.changesTable, pk, (item) => {
    if (item.o === undefined) return;
    if (typeof item.n !== 'number') return note(item.o);
    // A group entry: a list of [type, {'~sealed': base64 envelope}] (shared/store/changelog.ts).
    for (const c of decodeValue(item.o) as [string, Record<string, unknown>][]) note(c[1]?.['~sealed'] ?? c[1]);
  });
  for (const key of [signingKeysItemKey(cluster), pkiKey(cluster)]) note((await doc.send(new GetCommand({ TableName: config.objectsTable, Key: key, ConsistentRead: true }))).Item?.sealed);
  for (const item of await placementKeyItems({ doc, config }, cluster)) note(item.sealed);
  return used;
}

/** Deletes the cluster's data keys no ciphertext names, superseded more than `graceMs` ago (see above); returns their ids. */
export async function pruneDataKeys(doc: DynamoDBDocumentClient, config: Config, cluster: string, opts: { graceMs?: number; now?: number } = {}): Promise<string[]> {
  const keys = await secretKeyring(doc, config).list(cluster);
  const grace = opts.graceMs ?? PRUNE_GRACE_MS;
  const now = opts.now ?? Date.now();
  // Candidates: all but the newest, each superseded (its successor made) more than `grace` ago.
  const candidates = keys.slice(0, -1).filter((k, i) => now - Date.parse(keys[i + 1]!.createdAt) >= grace);
  if (candidates.length === 0) return [];
  const used = await dataKeysInUse(doc, config, cluster);
  const pruned: string[] = [];
  for (const k of candidates) {
    if (used.has(k.keyId)) continue;
    await doc.send(new DeleteCommand({ TableName: config.objectsTable, Key: { pk: dataKeysPk(cluster), sk: k.keyId } }));
    pruned.push(k.keyId);
  }
  return pruned;
}
