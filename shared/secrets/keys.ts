import { randomBytes } from 'node:crypto';
import { GetCommand, PutCommand, QueryCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { loadConfig, type Config } from '../config';
import { createDocumentClient } from '../store/dynamo';
import { DataKeyNotLoaded, EnvelopeError } from './envelope';
import { kekFromEnv, type KeyEncryptionKey } from './kek';

/*
 * Data keys: one AES-256 key per cluster (more during a rotation), each stored wrapped by the KEK
 * (kek.ts) in the objects table under `~deks#CLUSTER` (sort key: the data key id; '~' keeps the
 * partition out of every object parse and stream consumer: shared/store/keys.ts). Ids start with
 * the creation time in fixed-width hex, so the newest id sorts last: the newest is current (what
 * new ciphertexts use); older ones stay readable, since each ciphertext names its key.
 *
 * Cache (per process, i.e. per warm Lambda instance or the local stack): unwrapped data keys by
 * (cluster, id), kept until the cluster is deleted by this process or MAX_CACHED are held (the
 * oldest goes first); the current key id of a cluster is re-read after CURRENT_TTL_MS, so a
 * rotation made elsewhere is picked up within that time (until then writers keep using the
 * previous key, which stays readable). A cold data key costs one GetItem and one KEK unwrap (on
 * AWS a kms:Decrypt: docs/cost.md).
 */

const CURRENT_TTL_MS = 60_000;
const MAX_CACHED = 4_096;

export const dataKeysPk = (cluster: string) => `~deks#${cluster}`;
const newDataKeyId = () => `dk-${Date.now().toString(16).padStart(12, '0')}${randomBytes(4).toString('hex')}`;

export interface DataKeyInfo {
  readonly cluster: string;
  readonly keyId: string;
  readonly kekId: string;
  readonly createdAt: string;
}

export class SecretKeyring {
  private readonly keys = new Map<string, Buffer>();
  private readonly current = new Map<string, { keyId: string; at: number }>();
  private readonly pending = new Map<string, Promise<{ keyId: string; key: Buffer }>>();

  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly config: Config,
    readonly kek: KeyEncryptionKey,
  ) {}

  private remember(cluster: string, keyId: string, key: Buffer) {
    const k = `${cluster}\0${keyId}`;
    this.keys.delete(k);
    this.keys.set(k, key);
    if (this.keys.size > MAX_CACHED) this.keys.delete(this.keys.keys().next().value!);
  }

  /** A loaded data key (sync, for decoders); throws DataKeyNotLoaded otherwise. */
  keyOf(cluster: string, keyId: string): Buffer {
    const key = this.keys.get(`${cluster}\0${keyId}`);
    if (!key) throw new DataKeyNotLoaded(cluster, keyId);
    return key;
  }

  /** The current data key when it is loaded and fresh (sync, for encoders after `prepare`). */
  currentLoaded(cluster: string): { keyId: string; key: Buffer } | undefined {
    const c = this.current.get(cluster);
    if (!c) return undefined;
    const key = this.keys.get(`${cluster}\0${c.keyId}`);
    return key ? { keyId: c.keyId, key } : undefined;
  }

  /** Loads the cluster's current data key (made on first use) unless fresh in memory. */
  async prepare(cluster: string): Promise<{ keyId: string; key: Buffer }> {
    const c = this.current.get(cluster);
    const loaded = this.currentLoaded(cluster);
    if (c && loaded && Date.now() - c.at < CURRENT_TTL_MS) return loaded;
    let p = this.pending.get(cluster);
    if (!p) {
      p = (async () => {
        const list = await this.list(cluster);
        const newest = list.at(-1);
        const keyId = newest ? newest.keyId : (await this.create(cluster)).keyId;
        if (newest) await this.load(cluster, keyId);
        this.current.set(cluster, { keyId, at: Date.now() });
        return { keyId, key: this.keyOf(cluster, keyId) };
      })().finally(() => this.pending.delete(cluster));
      this.pending.set(cluster, p);
    }
    return p;
  }

  /** Reads and unwraps one data key into the cache. */
  async load(cluster: string, keyId: string): Promise<Buffer> {
    const hit = this.keys.get(`${cluster}\0${keyId}`);
    if (hit) return hit;
    const out = await this.doc.send(new GetCommand({ TableName: this.config.objectsTable, Key: { pk: dataKeysPk(cluster), sk: keyId }, ConsistentRead: true }));
    if (!out.Item) throw new EnvelopeError(`data key ${keyId} of cluster ${cluster} does not exist`);
    const key = await this.kek.unwrap(out.Item.wrapped as Uint8Array, String(out.Item.kek), { cluster, keyId });
    this.remember(cluster, keyId, key);
    return key;
  }

  /** Every data key of a cluster, oldest first (no key material). */
  async list(cluster: string): Promise<DataKeyInfo[]> {
    const out: DataKeyInfo[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const page = await this.doc.send(
        new QueryCommand({ TableName: this.config.objectsTable, KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': dataKeysPk(cluster) }, ConsistentRead: true, ExclusiveStartKey: start }),
      );
      for (const i of page.Items ?? []) out.push({ cluster, keyId: String(i.sk), kekId: String(i.kek), createdAt: String(i.createdAt) });
      start = page.LastEvaluatedKey;
    } while (start);
    return out.sort((a, b) => a.keyId.localeCompare(b.keyId));
  }

  /** Makes a new data key for the cluster, wrapped by the current KEK, and makes it current here. */
  async create(cluster: string): Promise<{ keyId: string; key: Buffer }> {
    const keyId = newDataKeyId();
    const key = randomBytes(32);
    const { kekId, wrapped } = await this.kek.wrap(key, { cluster, keyId });
    await this.doc.send(
      new PutCommand({
        TableName: this.config.objectsTable,
        Item: { pk: dataKeysPk(cluster), sk: keyId, tenant: cluster, wrapped, kek: kekId, createdAt: new Date().toISOString() },
        ConditionExpression: 'attribute_not_exists(pk)',
      }),
    );
    this.remember(cluster, keyId, key);
    this.current.set(cluster, { keyId, at: Date.now() });
    return { keyId, key };
  }

  /** Re-wraps every data key of a cluster under the current KEK (conditional on the KEK it was read under). */
  async rewrap(cluster: string): Promise<number> {
    let n = 0;
    const kekNow = await this.kek.currentId();
    for (const info of await this.list(cluster)) {
      const item = (await this.doc.send(new GetCommand({ TableName: this.config.objectsTable, Key: { pk: dataKeysPk(cluster), sk: info.keyId }, ConsistentRead: true }))).Item;
      if (!item) continue;
      if (String(item.kek) === kekNow && !(this.kek.description.startsWith('KMS'))) continue;
      const key = await this.kek.unwrap(item.wrapped as Uint8Array, String(item.kek), { cluster, keyId: info.keyId });
      const { kekId, wrapped } = await this.kek.wrap(key, { cluster, keyId: info.keyId });
      await this.doc.send(
        new PutCommand({
          TableName: this.config.objectsTable,
          Item: { ...item, wrapped, kek: kekId, rewrappedAt: new Date().toISOString() },
          ConditionExpression: 'kek = :old',
          ExpressionAttributeValues: { ':old': String(item.kek) },
        }),
      );
      n++;
    }
    return n;
  }

  /** Forgets a cluster's keys in this process (its items go with the cluster: shared/clusters.ts). */
  forget(cluster: string): void {
    for (const k of [...this.keys.keys()]) if (k.startsWith(`${cluster}\0`)) this.keys.delete(k);
    this.current.delete(cluster);
  }
}

let ring: SecretKeyring | undefined;
let ringFor = '';

/**
 * The process's keyring, made on first call from the first store's client and config (else from
 * the environment), with the KEK from the environment (kek.ts). One per process, so every store instance shares its cache.
 */
export function secretKeyring(doc?: DynamoDBDocumentClient, config?: Config): SecretKeyring {
  // A new one when the tables or the KEK moved (a local stack restarted in the same process).
  const env = process.env;
  const target = config ? JSON.stringify([config.objectsTable, env.AWS_ENDPOINT_URL_DYNAMODB, env.STRATUS_SECRETS_KEK_FILE, env.STRATUS_SECRETS_KMS_KEY_ID]) : ringFor;
  if (!ring || (doc && target !== ringFor)) {
    const cfg = config ?? loadConfig();
    ring = new SecretKeyring(doc ?? createDocumentClient(cfg), cfg, kekFromEnv());
    ringFor = target;
  }
  return ring;
}

/** Replaces the process's keyring (tests, and a restarted local stack in the same process). */
export function resetSecretKeyring(next?: SecretKeyring): void {
  ring = next;
  ringFor = '';
}
