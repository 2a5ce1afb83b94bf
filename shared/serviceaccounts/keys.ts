import { calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK, type CryptoKey, type JWK } from 'jose';
import { GetCommand, PutCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Config } from '../config';

/*
 * Per-cluster service account signing keys (Kubernetes' --service-account-signing-key-file, one
 * per virtual cluster). ES256 (P-256): a key pair is made in about a millisecond, so a cluster
 * gets its own at creation (ensureSystemNamespaces) or, for one made before, at first need.
 *
 * Stored in the objects table under `sakeys#TENANT` (never an object: no API path reads it), the
 * private half as a JWK that only the api function and controllers read; the public halves are
 * what the JWKS endpoint serves. Several keys may be listed (rotation: the newest signs, all
 * verify). Verified keys are cached per warm instance for KEY_CACHE_MS; a token naming an
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

async function readKeys(doc: DynamoDBDocumentClient, config: Config, tenant: string): Promise<ClusterKeys | undefined> {
  const out = await doc.send(new GetCommand({ TableName: config.objectsTable, Key: signingKeysItemKey(tenant), ConsistentRead: true }));
  const raw: unknown = out.Item?.keys;
  if (typeof raw !== 'string') return undefined;
  return { keys: JSON.parse(raw) as SigningKey[] };
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
          Item: { ...signingKeysItemKey(tenant), tenant, keys: JSON.stringify(fresh.keys) },
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      );
      keys = fresh;
    } catch (e) {
      if ((e as Error).name !== 'ConditionalCheckFailedException') throw e;
      keys = await readKeys(doc, config, tenant);
      if (!keys) throw new Error(`signing keys of ${tenant} vanished`);
    }
  }
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
