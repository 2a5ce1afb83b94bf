/**
 * Each node's placement key: the AES-256 key its placement messages are sealed with
 * (shared/placement-seal.ts), so that only that node reads them (on AWS the nodes of a fleet share
 * an IAM role, hence each other's queues).
 *
 *   - Stored one item per node under `${tenant}#~placement-keys` (sk: node name, `tenant`
 *     attribute), so cluster delete's `${tenant}#` scan removes them with the rest. Made when the
 *     node first asks for it (a conditional put: concurrent askers agree). Senders only read it: a
 *     node that never asked (an agent of before sealed placements, a simulated node without a
 *     queue) gets its placements in clear, as before, and costs no key item.
 *   - The key is sealed at rest as Secrets are (shared/secrets/sealed-item.ts, place
 *     `~placement-key:NODE`, so a sealed key moved to another node's item does not open); clear
 *     `key` while Secrets encryption is off (STRATUS_SECRETS_ENCRYPTION=off). A data key rotation
 *     re-seals the items (shared/secrets/rotate.ts), and pruning counts them.
 *   - A node fetches its own with its node credential: `POST /clusters/NAME/stratus/v1/placement-key`
 *     {nodeName} (functions/api/node-join.ts), allowed only for a node identity and only for its own
 *     name, as the node authorizer would.
 *   - Revoking a node's credentials (`stratus cluster revoke-node`) replaces its key with a new
 *     one, which the revoked holder cannot fetch (the node's next agent, joined again, does).
 *   - Senders cache keys per warm instance for SENDER_KEY_CACHE_MS, and that a node has none for
 *     SENDER_NO_KEY_CACHE_MS (PlacementKeyCache): after a revocation, placements may be sealed
 *     under the old key for up to a minute; a node's first placements after its first fetch may go
 *     in clear for up to 10 s (its agent then reads those pods from the API).
 */
import { randomBytes } from 'node:crypto';
import { GetCommand, PutCommand, QueryCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Config } from '../config';
import { forbidden } from '../errors';
import type { PlacementKey } from '../placement-seal';
import { isEnvelope, openJson, sealedUnderOldKey, sealJson } from '../secrets/sealed-item';
import { secretsEncryptionEnabled } from '../secrets/store-codec';
import { nodeNameOf } from './node-credentials';
import type { Identity } from './tokens';

export const PLACEMENT_KEY_PATH = '/stratus/v1/placement-key';
export const placementKeysPk = (tenant: string) => `${tenant}#~placement-keys`;
export const placementKeyItemKey = (tenant: string, nodeName: string) => ({ pk: placementKeysPk(tenant), sk: nodeName });
const sealedName = (nodeName: string) => `~placement-key:${nodeName}`;

/** How long a sender uses a key it read before reading it again. */
export const SENDER_KEY_CACHE_MS = 60_000;
/** How long a sender remembers that a node has no key (sends it placements in clear). */
export const SENDER_NO_KEY_CACHE_MS = 10_000;

type Deps = { readonly doc: DynamoDBDocumentClient; readonly config: Config };

interface StoredKey {
  readonly keyId: string;
  readonly key: Uint8Array;
  /** The stored value the key came from (the condition of a re-seal). */
  readonly stored: { sealed: Uint8Array } | { key: string };
}

/** The key sealed under the cluster's current data key, for node `nodeName`'s item only. */
function sealKey(deps: Deps, tenant: string, nodeName: string, key: Uint8Array): Promise<Uint8Array> {
  return sealJson(deps.doc, deps.config, tenant, sealedName(nodeName), { key: Buffer.from(key).toString('base64') });
}

async function storedForm(deps: Deps, tenant: string, nodeName: string, key: Uint8Array): Promise<{ sealed: Uint8Array } | { key: string }> {
  return secretsEncryptionEnabled() ? { sealed: await sealKey(deps, tenant, nodeName, key) } : { key: Buffer.from(key).toString('base64') };
}

async function readKey(deps: Deps, tenant: string, nodeName: string): Promise<StoredKey | undefined> {
  const item = (await deps.doc.send(new GetCommand({ TableName: deps.config.objectsTable, Key: placementKeyItemKey(tenant, nodeName), ConsistentRead: true }))).Item;
  if (!item || typeof item.keyId !== 'string') return undefined;
  if (isEnvelope(item.sealed)) {
    const { key } = await openJson<{ key: string }>(deps.doc, deps.config, tenant, sealedName(nodeName), item.sealed);
    return { keyId: item.keyId, key: Buffer.from(key, 'base64'), stored: { sealed: item.sealed } };
  }
  if (typeof item.key !== 'string') return undefined;
  return { keyId: item.keyId, key: Buffer.from(item.key, 'base64'), stored: { key: item.key } };
}

/** Node `nodeName`'s placement key, made when it has none (safe to race: the first writer's stands). */
export async function ensurePlacementKey(deps: Deps, tenant: string, nodeName: string): Promise<PlacementKey> {
  const have = await readKey(deps, tenant, nodeName);
  if (have) {
    if ('key' in have.stored && secretsEncryptionEnabled()) await resealPlacementKey(deps, tenant, nodeName, have);
    return { keyId: have.keyId, key: have.key };
  }
  const made = await putNewKey(deps, tenant, nodeName, 'attribute_not_exists(pk)');
  if (!(made instanceof Error)) return made;
  const other = await readKey(deps, tenant, nodeName);
  if (!other) throw new Error(`placement key of node ${nodeName} vanished`, { cause: made });
  return { keyId: other.keyId, key: other.key };
}

/**
 * Writes a new random key for node `nodeName`, in its stored form, if `condition` holds of its item
 * (`attribute_not_exists(pk)`: its first key; `attribute_exists(pk)`: a replacement). Resolves to
 * the key, or to DynamoDB's ConditionalCheckFailedException when the condition did not hold.
 */
async function putNewKey(deps: Deps, tenant: string, nodeName: string, condition: 'attribute_not_exists(pk)' | 'attribute_exists(pk)'): Promise<PlacementKey | Error> {
  const made: PlacementKey = { keyId: randomBytes(8).toString('hex'), key: randomBytes(32) };
  try {
    await deps.doc.send(
      new PutCommand({
        TableName: deps.config.objectsTable,
        Item: { ...placementKeyItemKey(tenant, nodeName), tenant, keyId: made.keyId, createdAt: new Date().toISOString(), ...(await storedForm(deps, tenant, nodeName, made.key)) },
        ConditionExpression: condition,
      }),
    );
    return made;
  } catch (e) {
    if ((e as Error).name !== 'ConditionalCheckFailedException') throw e;
    return e as Error;
  }
}

/** Re-seals one key under the cluster's current data key (conditional on what was read). Returns whether it wrote. */
async function resealPlacementKey(deps: Deps, tenant: string, nodeName: string, have: StoredKey): Promise<boolean> {
  const condition =
    'sealed' in have.stored
      ? { ConditionExpression: 'sealed = :old', ExpressionAttributeValues: { ':old': have.stored.sealed } }
      : { ConditionExpression: '#k = :old', ExpressionAttributeValues: { ':old': have.stored.key } };
  try {
    await deps.doc.send(
      new UpdateCommand({
        TableName: deps.config.objectsTable,
        Key: placementKeyItemKey(tenant, nodeName),
        UpdateExpression: 'SET sealed = :s REMOVE #k',
        ExpressionAttributeNames: { '#k': 'key' },
        ...condition,
        ExpressionAttributeValues: { ...condition.ExpressionAttributeValues, ':s': await sealKey(deps, tenant, nodeName, have.key) },
      }),
    );
    return true;
  } catch (e) {
    if ((e as Error).name !== 'ConditionalCheckFailedException') throw e;
    return false;
  }
}

/** Re-seals every placement key of the cluster sealed under an older data key (a data key rotation). Returns how many. */
export async function resealPlacementKeys(deps: Deps, tenant: string): Promise<number> {
  if (!secretsEncryptionEnabled()) return 0;
  let n = 0;
  for (const item of await placementKeyItems(deps, tenant)) {
    if (isEnvelope(item.sealed) && !(await sealedUnderOldKey(deps.doc, deps.config, tenant, item.sealed))) continue;
    const nodeName = String(item.sk);
    const have = await readKey(deps, tenant, nodeName);
    if (have && (await resealPlacementKey(deps, tenant, nodeName, have))) n++;
  }
  return n;
}

/** The cluster's placement key items as stored (a data key pruning reads their `sealed`). */
export async function placementKeyItems(deps: Deps, tenant: string): Promise<Record<string, unknown>[]> {
  const items: Record<string, unknown>[] = [];
  let start: Record<string, unknown> | undefined;
  do {
    const page = await deps.doc.send(
      new QueryCommand({ TableName: deps.config.objectsTable, KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': placementKeysPk(tenant) }, ConsistentRead: true, ExclusiveStartKey: start }),
    );
    items.push(...(page.Items ?? []));
    start = page.LastEvaluatedKey;
  } while (start);
  return items;
}

/**
 * Replaces node `nodeName`'s key with a new one (credential revocation): whoever holds the old key
 * reads no placement sealed after senders' caches expire. Only for a node that had a key.
 */
export async function replacePlacementKey(deps: Deps, tenant: string, nodeName: string): Promise<boolean> {
  senderCache.delete(`${tenant}\0${nodeName}`);
  return !((await putNewKey(deps, tenant, nodeName, 'attribute_exists(pk)')) instanceof Error);
}

/**
 * The key node `nodeName` asks for with its own credential (`caller`): only a node, only its own
 * (403 otherwise, worded as the node-token renewal's).
 */
export async function placementKeyFor(deps: Deps, caller: Identity, nodeName: string): Promise<PlacementKey> {
  const self = nodeNameOf(caller);
  if (self === undefined) throw forbidden(`User "${caller.user}" cannot get placement keys: only a node gets its own`);
  if (self !== nodeName) throw forbidden(`node "${self}" can only get its own placement key, not node "${nodeName}"'s`);
  return ensurePlacementKey(deps, caller.tenant, nodeName);
}

/** Node `nodeName`'s key, or undefined when it has none (it never asked): never makes one. */
export async function readPlacementKey(deps: Deps, tenant: string, nodeName: string): Promise<PlacementKey | undefined> {
  const have = await readKey(deps, tenant, nodeName);
  return have ? { keyId: have.keyId, key: have.key } : undefined;
}

const senderCache = new Map<string, { key: Promise<PlacementKey | undefined>; at: number }>();

/**
 * The senders' source of keys (NodeQueues): per warm instance, each key read at most once per
 * SENDER_KEY_CACHE_MS (SENDER_NO_KEY_CACHE_MS while the node has none).
 */
export class PlacementKeyCache {
  constructor(private readonly deps: Deps) {}

  keyOf(tenant: string, nodeName: string): Promise<PlacementKey | undefined> {
    const id = `${tenant}\0${nodeName}`;
    const hit = senderCache.get(id);
    if (hit && Date.now() - hit.at < SENDER_NO_KEY_CACHE_MS) return hit.key;
    if (hit && Date.now() - hit.at < SENDER_KEY_CACHE_MS) {
      // A remembered absence is re-read sooner than a key.
      const known = hit.key;
      return known.then((k) => (k ? k : this.read(id, tenant, nodeName)));
    }
    return this.read(id, tenant, nodeName);
  }

  private read(id: string, tenant: string, nodeName: string): Promise<PlacementKey | undefined> {
    const key = readPlacementKey(this.deps, tenant, nodeName);
    if (senderCache.size > 20_000) senderCache.clear();
    const entry = { key, at: Date.now() };
    senderCache.set(id, entry);
    key.catch(() => senderCache.get(id) === entry && senderCache.delete(id)); // a failure is not remembered
    return key;
  }
}

/** Forgets cached keys (tests). */
export const clearPlacementKeyCache = () => senderCache.clear();
