/*
 * ServiceAccount signing-key rotation (`npx stratus serviceaccounts rotate-key` / `prune-keys`):
 *
 *   - rotate: a new key goes first in the cluster's list (keys.ts: the newest signs, all verify).
 *     Tokens signed by the old keys keep verifying. Processes that cached the list (KEY_CACHE_MS,
 *     60 s) keep signing with the previous key until they reread it.
 *   - prune: a key other than the newest goes once the key that superseded it is older than the
 *     grace: no unexpired token can be signed by it then. The longest TokenRequest token lives
 *     48 h, and a process may sign with a superseded key for 60 s more, so the default grace is
 *     PRUNE_GRACE_SECONDS (49 h). Legacy service-account-token Secrets hold tokens of a year
 *     (functions/controllers/serviceaccount-tokens.ts): a key that signed the token of a stored
 *     Secret is kept (and reported) whatever the grace, until that Secret is deleted (recreating
 *     it gets a token of the newest key).
 *
 * Both write the key list with a condition on the stored value read (a concurrent writer wins; the
 * command says so and can be run again). The list stays sealed with the cluster's data key.
 */
import { decodeProtectedHeader } from 'jose';
import { GetCommand, QueryCommand, ScanCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Config } from '../config';
import { resourceByName } from '../resources';
import { secretKeyring } from '../secrets/keys';
import { isEnvelope, openJson, sealJson } from '../secrets/sealed-item';
import { decodeStored, itemLocation, secretsEncryptionEnabled, withDataKeys } from '../secrets/store-codec';
import { partitionKey } from '../store/keys';
import { clearKeyCache, newSigningKey, SEALED_NAME, signingKeysItemKey, type SigningKey } from './keys';

/** Default grace of prune-keys: the longest token life (48 h), the 60 s key cache, and margin. */
export const PRUNE_GRACE_SECONDS = 49 * 3600;

const SA_TOKEN_TYPE = 'kubernetes.io/service-account-token';

/** Clusters that have signing keys (the `sakeys#CLUSTER` items). */
export async function clustersWithSigningKeys(doc: DynamoDBDocumentClient, config: Config): Promise<string[]> {
  const out = new Set<string>();
  let start: Record<string, unknown> | undefined;
  do {
    const page = await doc.send(
      new ScanCommand({ TableName: config.objectsTable, FilterExpression: 'begins_with(pk, :p)', ExpressionAttributeValues: { ':p': 'sakeys#' }, ProjectionExpression: 'pk', ExclusiveStartKey: start }),
    );
    for (const i of page.Items ?? []) out.add(String(i.pk).slice('sakeys#'.length));
    start = page.LastEvaluatedKey;
  } while (start);
  return [...out].sort();
}

interface Stored {
  readonly keys: SigningKey[];
  /** The condition that the stored value is still what was read. */
  readonly condition: { expr: string; values: Record<string, unknown> };
}

async function readStored(doc: DynamoDBDocumentClient, config: Config, cluster: string): Promise<Stored | undefined> {
  const out = await doc.send(new GetCommand({ TableName: config.objectsTable, Key: signingKeysItemKey(cluster), ConsistentRead: true }));
  const item = out.Item;
  if (!item) return undefined;
  if (isEnvelope(item.sealed)) return { keys: await openJson<SigningKey[]>(doc, config, cluster, SEALED_NAME, item.sealed), condition: { expr: 'sealed = :old', values: { ':old': item.sealed } } };
  if (typeof item.keys === 'string') return { keys: JSON.parse(item.keys) as SigningKey[], condition: { expr: '#k = :old', values: { ':old': item.keys } } };
  return undefined;
}

/** Writes `keys` as the cluster's list if it is still what `prev` read; false when another writer came first. */
async function writeKeys(doc: DynamoDBDocumentClient, config: Config, cluster: string, prev: Stored, keys: readonly SigningKey[]): Promise<boolean> {
  const sealed = secretsEncryptionEnabled();
  try {
    await doc.send(
      new UpdateCommand({
        TableName: config.objectsTable,
        Key: signingKeysItemKey(cluster),
        UpdateExpression: sealed ? 'SET sealed = :new REMOVE #k' : 'SET #k = :new REMOVE sealed',
        ConditionExpression: prev.condition.expr,
        ExpressionAttributeNames: { '#k': 'keys' },
        ExpressionAttributeValues: { ...prev.condition.values, ':new': sealed ? await sealJson(doc, config, cluster, SEALED_NAME, keys) : JSON.stringify(keys) },
      }),
    );
    clearKeyCache();
    return true;
  } catch (e) {
    if ((e as Error).name !== 'ConditionalCheckFailedException') throw e;
    return false;
  }
}

export interface RotateSigningKeysResult {
  readonly clusters: string[];
  /** cluster/kid of each new key. */
  readonly added: string[];
  /** Clusters whose list changed while this ran (not rotated: run again). */
  readonly conflicts: string[];
}

/** Adds a new signing key, first in the list, to each cluster (default: every cluster with keys). */
export async function rotateSigningKeys(doc: DynamoDBDocumentClient, config: Config, opts: { clusters?: string[]; now?: Date } = {}): Promise<RotateSigningKeysResult> {
  const clusters = opts.clusters ?? (await clustersWithSigningKeys(doc, config));
  const result = { clusters, added: [] as string[], conflicts: [] as string[] };
  for (const cluster of clusters) {
    const stored = await readStored(doc, config, cluster);
    if (!stored) throw new Error(`cluster ${cluster} has no service account signing keys (unknown cluster?)`);
    const key = await newSigningKey(opts.now ?? new Date());
    if (await writeKeys(doc, config, cluster, stored, [key, ...stored.keys])) result.added.push(`${cluster}/${key.kid}`);
    else result.conflicts.push(cluster);
  }
  return result;
}

/**
 * Which keys of a list (newest first) may go at `now` with `graceMs`: not the newest, superseded
 * (the next newer key made) longer ago than the grace, and not in `inUse`. Pure: the prune rule.
 */
export function prunableKeys(keys: readonly SigningKey[], now: number, graceMs: number, inUse: ReadonlySet<string> = new Set()): string[] {
  const sorted = [...keys].sort((a, b) => Date.parse(b.createdAt) - Date.parse(a.createdAt));
  const out: string[] = [];
  for (let i = 1; i < sorted.length; i++) {
    const supersededAt = Date.parse(sorted[i - 1]!.createdAt);
    if (now - supersededAt >= graceMs && !inUse.has(sorted[i]!.kid)) out.push(sorted[i]!.kid);
  }
  return out;
}

/** Key ids that signed the token of a stored service-account-token Secret of `cluster`. */
async function legacySecretKids(doc: DynamoDBDocumentClient, config: Config, cluster: string): Promise<Map<string, number>> {
  const pk = partitionKey(cluster, resourceByName('secrets'));
  const kids = new Map<string, number>();
  let start: Record<string, unknown> | undefined;
  do {
    const page = await doc.send(new QueryCommand({ TableName: config.objectsTable, KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': pk }, ConsistentRead: true, ExclusiveStartKey: start }));
    for (const item of page.Items ?? []) {
      const secret = await withDataKeys(() => decodeStored(pk, item.o, itemLocation(String(item.sk))));
      const token = (secret as { type?: unknown; data?: Record<string, string> }).type === SA_TOKEN_TYPE ? (secret as { data?: Record<string, string> }).data?.token : undefined;
      if (!token) continue;
      try {
        const kid = decodeProtectedHeader(Buffer.from(token, 'base64').toString('utf8')).kid;
        if (kid) kids.set(kid, (kids.get(kid) ?? 0) + 1);
      } catch {
        // not a JWT: nothing of ours
      }
    }
    start = page.LastEvaluatedKey;
  } while (start);
  return kids;
}

export interface PruneSigningKeysResult {
  readonly clusters: string[];
  /** cluster/kid of each removed key. */
  readonly pruned: string[];
  /** cluster/kid (N Secrets) of keys past the grace kept for legacy token Secrets. */
  readonly kept: string[];
  readonly conflicts: string[];
}

/** Removes the keys prunableKeys allows from each cluster (default: every cluster with keys). */
export async function pruneSigningKeys(doc: DynamoDBDocumentClient, config: Config, opts: { clusters?: string[]; graceSeconds?: number; now?: number } = {}): Promise<PruneSigningKeysResult> {
  const clusters = opts.clusters ?? (await clustersWithSigningKeys(doc, config));
  const graceMs = (opts.graceSeconds ?? PRUNE_GRACE_SECONDS) * 1000;
  const now = opts.now ?? Date.now();
  secretKeyring(doc, config); // the data keys legacy Secrets are sealed with
  const result = { clusters, pruned: [] as string[], kept: [] as string[], conflicts: [] as string[] };
  for (const cluster of clusters) {
    const stored = await readStored(doc, config, cluster);
    if (!stored) throw new Error(`cluster ${cluster} has no service account signing keys (unknown cluster?)`);
    const due = prunableKeys(stored.keys, now, graceMs);
    if (due.length === 0) continue;
    const legacy = await legacySecretKids(doc, config, cluster);
    const go = prunableKeys(stored.keys, now, graceMs, new Set(legacy.keys()));
    for (const kid of due) if (!go.includes(kid)) result.kept.push(`${cluster}/${kid} (${legacy.get(kid)} service-account-token Secrets)`);
    if (go.length === 0) continue;
    if (await writeKeys(doc, config, cluster, stored, stored.keys.filter((k) => !go.includes(k.kid)))) result.pruned.push(...go.map((kid) => `${cluster}/${kid}`));
    else result.conflicts.push(cluster);
  }
  return result;
}
