import { calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK, type CryptoKey, type JWK } from 'jose';
import { GetCommand, PutCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Config } from '../config';
import { isEnvelope, openJson, sealedUnderOldKey, sealJson } from '../secrets/sealed-item';
import { secretsEncryptionEnabled } from '../secrets/store-codec';

/*
 * Per-cluster service account signing keys (Kubernetes' --service-account-signing-key-file, one
 * per virtual cluster). ES256 (P-256): a key pair is made in about a millisecond, so a cluster
 * gets its own at creation (ensureSystemNamespaces) or, for one made before, at first need.
 *
 * Stored in the objects table under `sakeys#TENANT` (never an object: no API path reads it), the
 * private half as a JWK that only the api function and controllers read; the public halves are
 * what the JWKS endpoint serves. Several keys may be listed (rotation: the newest signs, all
 * verify). The list is encrypted at rest as Secrets are (issue #16): the item's `sealed` is an
 * envelope under the cluster's current data key (shared/secrets/sealed-item.ts, place
 * SEALED_NAME). Items written before hold the JSON in clear in `keys`: read as they are, and
 * sealed in place by the first ensureSigningKeys (a write conditional on the clear value) while
 * encryption is on (STRATUS_SECRETS_ENCRYPTION=off writes clear). Verified keys are cached per
 * warm instance for KEY_CACHE_MS; a token naming an
 * unknown key id rereads at most once a second.
 */

export const SIGNING_ALG = 'ES256';
const KEY_CACHE_MS = 60_000;
const MISS_REREAD_MS = 1_000;

export interface SigningKey {
  readonly kid: string;
  readonly publicJwk: JWK;
  readonly privateJwk: JWK;
  readonly createdAt: string;
}

export interface ClusterKeys {
  /** Newest first: keys[0] signs. */
  readonly keys: readonly SigningKey[];
}

export const signingKeysItemKey = (tenant: string) => ({ pk: `sakeys#${tenant}`, sk: 'sakeys' });

const cache = new Map<string, { keys: ClusterKeys | undefined; at: number }>();
const imported = new Map<string, CryptoKey>();

export const SEALED_NAME = '~serviceaccount-signing-keys';
const sealKeys = (doc: DynamoDBDocumentClient, config: Config, tenant: string, keys: readonly SigningKey[]) => sealJson(doc, config, tenant, SEALED_NAME, keys);
const openKeys = (doc: DynamoDBDocumentClient, config: Config, tenant: string, sealed: Uint8Array) => openJson<SigningKey[]>(doc, config, tenant, SEALED_NAME, sealed);

/** The stored attributes of a key list: sealed while encryption is on, else clear (`keys`). */
async function storedForm(doc: DynamoDBDocumentClient, config: Config, tenant: string, keys: readonly SigningKey[]): Promise<Record<string, unknown>> {
  return secretsEncryptionEnabled() ? { sealed: await sealKeys(doc, config, tenant, keys) } : { keys: JSON.stringify(keys) };
}

interface StoredKeys extends ClusterKeys {
  /** The clear JSON when the item is of the old, unencrypted form. */
  readonly clear?: string;
}

async function readKeys(doc: DynamoDBDocumentClient, config: Config, tenant: string): Promise<StoredKeys | undefined> {
  const out = await doc.send(new GetCommand({ TableName: config.objectsTable, Key: signingKeysItemKey(tenant), ConsistentRead: true }));
  const sealed: unknown = out.Item?.sealed;
  if (isEnvelope(sealed)) return { keys: await openKeys(doc, config, tenant, sealed) };
  const raw: unknown = out.Item?.keys;
  if (typeof raw !== 'string') return undefined;
  return { keys: JSON.parse(raw) as SigningKey[], clear: raw };
}

/** The cluster's signing keys as stored, either form (tests, and tools that scan). */
export async function readSigningKeys(doc: DynamoDBDocumentClient, config: Config, tenant: string): Promise<SigningKey[] | undefined> {
  return (await readKeys(doc, config, tenant))?.keys as SigningKey[] | undefined;
}

/**
 * Seals the cluster's keys in place, under its current data key: an item of the old clear form,
 * or (after a data key rotation, `rotate` true) one sealed under an older key. Conditional on the
 * stored value read, so a concurrent writer wins. Returns whether it wrote.
 */
export async function resealSigningKeys(doc: DynamoDBDocumentClient, config: Config, tenant: string, rotate = false): Promise<boolean> {
  if (!secretsEncryptionEnabled()) return false;
  const out = await doc.send(new GetCommand({ TableName: config.objectsTable, Key: signingKeysItemKey(tenant), ConsistentRead: true }));
  const item = out.Item;
  if (!item) return false;
  let keys: SigningKey[];
  let condition: { ConditionExpression: string; ExpressionAttributeValues: Record<string, unknown> };
  if (isEnvelope(item.sealed)) {
    if (!rotate || !(await sealedUnderOldKey(doc, config, tenant, item.sealed))) return false;
    keys = await openKeys(doc, config, tenant, item.sealed);
    condition = { ConditionExpression: 'sealed = :old', ExpressionAttributeValues: { ':old': item.sealed } };
  } else if (typeof item.keys === 'string') {
    keys = JSON.parse(item.keys) as SigningKey[];
    condition = { ConditionExpression: '#k = :old', ExpressionAttributeValues: { ':old': item.keys } };
  } else return false;
  try {
    await doc.send(
      new UpdateCommand({
        TableName: config.objectsTable,
        Key: signingKeysItemKey(tenant),
        UpdateExpression: 'SET sealed = :s REMOVE #k',
        ExpressionAttributeNames: { '#k': 'keys' },
        ...condition,
        ExpressionAttributeValues: { ...condition.ExpressionAttributeValues, ':s': await sealKeys(doc, config, tenant, keys) },
      }),
    );
    return true;
  } catch (e) {
    if ((e as Error).name !== 'ConditionalCheckFailedException') throw e;
    return false;
  }
}

/** A fresh key pair, as stored. */
export async function newSigningKey(now = new Date()): Promise<SigningKey> {
  const { publicKey, privateKey } = await generateKeyPair(SIGNING_ALG, { extractable: true });
  const publicJwk = await exportJWK(publicKey);
  const privateJwk = await exportJWK(privateKey);
  const kid = await calculateJwkThumbprint(publicJwk);
  return { kid, publicJwk: { ...publicJwk, kid, alg: SIGNING_ALG, use: 'sig' }, privateJwk: { ...privateJwk, kid, alg: SIGNING_ALG }, createdAt: now.toISOString() };
}

/** The cluster's keys, made when it has none (safe to race: the first writer wins, the rest reread). */
export async function ensureSigningKeys(doc: DynamoDBDocumentClient, config: Config, tenant: string): Promise<ClusterKeys> {
  const hit = cache.get(tenant);
  if (hit?.keys && Date.now() - hit.at < KEY_CACHE_MS) return hit.keys;
  let keys = await readKeys(doc, config, tenant);
  if (!keys) {
    const fresh: ClusterKeys = { keys: [await newSigningKey()] };
    try {
      await doc.send(
        new PutCommand({
          TableName: config.objectsTable,
          Item: { ...signingKeysItemKey(tenant), tenant, ...(await storedForm(doc, config, tenant, fresh.keys)) },
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      );
      keys = fresh;
    } catch (e) {
      if ((e as Error).name !== 'ConditionalCheckFailedException') throw e;
      keys = await readKeys(doc, config, tenant);
      if (!keys) throw new Error(`signing keys of ${tenant} vanished`);
    }
  } else if (keys.clear !== undefined && secretsEncryptionEnabled()) await resealSigningKeys(doc, config, tenant);
  cache.set(tenant, { keys, at: Date.now() });
  return keys;
}

/**
 * The cluster's keys as cached, without making any (verification and discovery: an unknown
 * cluster must not cause writes). `kid` not among them rereads, at most once a second.
 */
export async function clusterKeys(doc: DynamoDBDocumentClient, config: Config, tenant: string, kid?: string): Promise<ClusterKeys | undefined> {
  const hit = cache.get(tenant);
  const age = hit ? Date.now() - hit.at : Infinity;
  const fresh = age < KEY_CACHE_MS && (kid === undefined || hit?.keys?.keys.some((k) => k.kid === kid) || age < MISS_REREAD_MS);
  if (hit && fresh) return hit.keys;
  const keys = await readKeys(doc, config, tenant);
  if (cache.size > 10_000) cache.clear();
  cache.set(tenant, { keys, at: Date.now() });
  return keys;
}

/** Public JWK Set: what `/openid/v1/jwks` serves (never a private member). */
export function publicJwks(keys: ClusterKeys): { keys: JWK[] } {
  return { keys: keys.keys.map((k) => ({ kty: k.publicJwk.kty, crv: k.publicJwk.crv, x: k.publicJwk.x, y: k.publicJwk.y, kid: k.kid, alg: SIGNING_ALG, use: 'sig' })) };
}

/** The imported CryptoKey of one JWK (cached by kid and half). */
export async function cryptoKey(k: SigningKey, half: 'public' | 'private'): Promise<CryptoKey> {
  const id = `${half}:${k.kid}`;
  let key = imported.get(id);
  if (!key) {
    key = (await importJWK(half === 'public' ? k.publicJwk : k.privateJwk, SIGNING_ALG)) as CryptoKey;
    if (imported.size > 10_000) imported.clear();
    imported.set(id, key);
  }
  return key;
}

/** Forgets cached keys (tests). */
export const clearKeyCache = () => cache.clear();
