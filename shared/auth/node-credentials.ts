/**
 * Node credentials expire and rotate (issue #16), as a kubelet's client certificate does
 * (`--rotate-certificates`; Kubernetes signs those for 1 year by default, Stratus's bearer tokens
 * last NODE_TOKEN_LIFETIME_SECONDS).
 *
 *   - Every node token carries `expiresAt` (and `issuedAt`); past it the token is unknown (401, as
 *     any bad credential). A node asks for a shorter life at join or renewal if it wants
 *     (`--token-lifetime-seconds`, at least MIN_NODE_TOKEN_LIFETIME_SECONDS); longer is capped.
 *   - Renewal: `POST /clusters/NAME/stratus/v1/node-token` {nodeName} with the node's current
 *     token gives a new one. Only a node identity, and only for its own name. The token it was
 *     called with stays valid for renewalGraceSeconds (requests in flight finish), then is refused;
 *     the token that one had replaced (long past its grace) is deleted, so a node leaves at most
 *     two items behind.
 *   - Tokens made before expiry existed (no `expiresAt`): a node token's lifetime counts from its
 *     first use after the upgrade (stampLegacyExpiry writes `expiresAt` then); the agent renews at
 *     once when it knows no expiry for its token.
 *   - The operator revokes one node's every credential (`stratus cluster revoke-node CLUSTER
 *     NODE`): a scan of the objects table for that node's token items, which are deleted.
 */
import { randomBytes } from 'node:crypto';
import { DeleteCommand, ScanCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Config } from '../config';
import { badRequest, forbidden, unauthorized } from '../errors';
import { nodeUser } from './node-pki';
import { hashToken, identityOfItem, putToken, readTokenItem, type Identity } from './tokens';

export const NODES_GROUP = 'system:nodes';
export const NODE_TOKEN_PATH = '/stratus/v1/node-token';

/** A node token's default (and longest) life: 30 days. */
export const NODE_TOKEN_LIFETIME_SECONDS = 30 * 86_400;
/** The shortest life a node may ask for (tests ask for seconds). */
export const MIN_NODE_TOKEN_LIFETIME_SECONDS = 10;
/** How long a renewed token stays valid at most (requests in flight with it finish). */
export const MAX_RENEWAL_GRACE_SECONDS = 120;
/** Share of its life after which the agent renews its token (node-agent/identity.ts tokenRenewalTime). */
export const TOKEN_RENEW_AT_FRACTION = 0.8;

/** The node name of a node identity, or undefined for any other user (the node authorizer's NodeIdentifier). */
export function nodeNameOf(identity: Pick<Identity, 'user' | 'groups'>): string | undefined {
  if (!identity.groups.includes(NODES_GROUP) || !identity.user.startsWith('system:node:')) return undefined;
  const name = identity.user.slice('system:node:'.length);
  return name || undefined;
}

/** Timestamps as Kubernetes writes them (RFC 3339, seconds): also ordered as strings. */
export const rfc3339 = (ms: number) => new Date(Math.floor(ms / 1000) * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');

/** The life a node token gets when `requested` seconds are asked for (undefined: the default). */
export function nodeTokenLifetime(requested?: unknown): number {
  if (requested === undefined || requested === null) return NODE_TOKEN_LIFETIME_SECONDS;
  if (typeof requested !== 'number' || !Number.isInteger(requested) || requested < MIN_NODE_TOKEN_LIFETIME_SECONDS)
    throw badRequest(`expirationSeconds: Invalid value: ${JSON.stringify(requested)}: may not specify a duration less than ${MIN_NODE_TOKEN_LIFETIME_SECONDS} seconds`);
  return Math.min(requested, NODE_TOKEN_LIFETIME_SECONDS);
}

/** How long the token a renewal was called with stays valid: a twentieth of the new life, 1 s to 2 min. */
export const renewalGraceSeconds = (lifetimeSeconds: number) => Math.min(MAX_RENEWAL_GRACE_SECONDS, Math.max(1, Math.floor(lifetimeSeconds / 20)));

/** Whether an item's `expiresAt` has passed at `now` (ms); an item without one has not. */
export function expired(item: Record<string, unknown>, now: number): boolean {
  return typeof item.expiresAt === 'string' && !(Date.parse(item.expiresAt) > now);
}

export interface NodeToken {
  readonly token: string;
  readonly issuedAt: string;
  readonly expiresAt: string;
}

type Deps = { readonly doc: DynamoDBDocumentClient; readonly config: Config };

/** A new credential (bearer token) for node `nodeName` of `tenant`, expiring after `lifetimeSeconds`. */
export async function issueNodeToken(deps: Deps, tenant: string, nodeName: string, opts: { lifetimeSeconds?: number; now?: number; replaces?: string } = {}): Promise<NodeToken> {
  const now = opts.now ?? Date.now();
  const token = `st_${randomBytes(24).toString('base64url')}`;
  const issuedAt = rfc3339(now);
  const expiresAt = rfc3339(now + (opts.lifetimeSeconds ?? NODE_TOKEN_LIFETIME_SECONDS) * 1000);
  await putToken(deps.doc, deps.config, token, { tenant, user: nodeUser(nodeName), groups: [NODES_GROUP, 'system:authenticated'] }, { expiresAt, attributes: { issuedAt, ...(opts.replaces ? { replaces: opts.replaces } : {}) } });
  return { token, issuedAt, expiresAt };
}

const conditionFailed = (e: unknown) => (e as Error).name === 'ConditionalCheckFailedException';

/**
 * Renews the credential `callerToken` of node `nodeName` for `caller` (who must be that node):
 * a new token; the caller's stays valid for the grace only; the one it had replaced is deleted.
 */
export async function renewNodeToken(deps: Deps, caller: Identity, callerToken: string, nodeName: string, opts: { lifetimeSeconds?: number; now?: number } = {}): Promise<NodeToken> {
  const self = nodeNameOf(caller);
  if (self === undefined) throw forbidden(`User "${caller.user}" cannot renew node credentials: only a node renews its own`);
  if (self !== nodeName) throw forbidden(`node "${self}" can only renew its own credential, not node "${nodeName}"'s`);
  const now = opts.now ?? Date.now();
  const lifetime = opts.lifetimeSeconds ?? NODE_TOKEN_LIFETIME_SECONDS;
  const oldHash = hashToken(callerToken);
  const old = await readTokenItem(deps.doc, deps.config, oldHash, true);
  if (!old || expired(old, now) || identityOfItem(old)?.user !== caller.user || old.tenant !== caller.tenant) throw unauthorized();
  const fresh = await issueNodeToken(deps, caller.tenant, nodeName, { lifetimeSeconds: lifetime, now, replaces: oldHash });
  const graceEnd = rfc3339(now + renewalGraceSeconds(lifetime) * 1000);
  try {
    await deps.doc.send(
      new UpdateCommand({
        TableName: deps.config.objectsTable,
        Key: { pk: `token#${oldHash}`, sk: 'token' },
        UpdateExpression: 'SET expiresAt = :g',
        ConditionExpression: 'attribute_exists(pk) AND #u = :user AND (attribute_not_exists(expiresAt) OR expiresAt > :g)',
        ExpressionAttributeNames: { '#u': 'user' },
        ExpressionAttributeValues: { ':g': graceEnd, ':user': caller.user },
      }),
    );
  } catch (e) {
    if (!conditionFailed(e)) throw e; // already ending sooner
  }
  if (typeof old.replaces === 'string' && /^[0-9a-f]{64}$/.test(old.replaces)) {
    try {
      await deps.doc.send(
        new DeleteCommand({
          TableName: deps.config.objectsTable,
          Key: { pk: `token#${old.replaces}`, sk: 'token' },
          ConditionExpression: '#u = :user AND tenant = :t',
          ExpressionAttributeNames: { '#u': 'user' },
          ExpressionAttributeValues: { ':user': caller.user, ':t': caller.tenant },
        }),
      );
    } catch (e) {
      if (!conditionFailed(e)) throw e;
    }
  }
  return fresh;
}

/**
 * A node token stored before expiry existed gets one now: `NODE_TOKEN_LIFETIME_SECONDS` from this,
 * its first use after the upgrade (conditional: the first writer's stands). Returns the item's
 * expiry in ms (Infinity for tokens that are not a node's and have none).
 */
export async function stampLegacyExpiry(deps: Deps, tokenHash: string, item: Record<string, unknown>, now = Date.now()): Promise<number> {
  if (typeof item.expiresAt === 'string') return Date.parse(item.expiresAt);
  const identity = identityOfItem(item);
  if (!identity || nodeNameOf(identity) === undefined) return Infinity;
  const expiresAt = rfc3339(now + NODE_TOKEN_LIFETIME_SECONDS * 1000);
  try {
    await deps.doc.send(
      new UpdateCommand({
        TableName: deps.config.objectsTable,
        Key: { pk: `token#${tokenHash}`, sk: 'token' },
        UpdateExpression: 'SET expiresAt = :e',
        ConditionExpression: 'attribute_exists(pk) AND attribute_not_exists(expiresAt)',
        ExpressionAttributeValues: { ':e': expiresAt },
      }),
    );
    return Date.parse(expiresAt);
  } catch (e) {
    if (!conditionFailed(e)) throw e;
    const again = await readTokenItem(deps.doc, deps.config, tokenHash, true);
    return typeof again?.expiresAt === 'string' ? Date.parse(again.expiresAt) : again ? Infinity : 0;
  }
}

/** The identity behind bearer `token` and when it stops (ms; Infinity: never), or undefined (unknown or expired). */
export async function lookupBearer(deps: Deps, token: string, now = Date.now()): Promise<{ identity: Identity; expiresAt: number } | undefined> {
  const hash = hashToken(token);
  const item = await readTokenItem(deps.doc, deps.config, hash);
  const identity = identityOfItem(item);
  if (!item || !identity) return undefined;
  const expiresAt = await stampLegacyExpiry(deps, hash, item, now);
  return expiresAt > now ? { identity, expiresAt } : undefined;
}

/**
 * Deletes every credential of node `nodeName` of `tenant` (operator revocation). A scan of the
 * objects table (token items are keyed by hash only), as cluster delete does. Returns how many.
 */
export async function revokeNodeCredentials(deps: Deps, tenant: string, nodeName: string): Promise<number> {
  let start: Record<string, unknown> | undefined;
  let n = 0;
  do {
    const page = await deps.doc.send(
      new ScanCommand({
        TableName: deps.config.objectsTable,
        FilterExpression: 'begins_with(pk, :token) AND tenant = :t AND #u = :user',
        ExpressionAttributeNames: { '#u': 'user' },
        ExpressionAttributeValues: { ':token': 'token#', ':t': tenant, ':user': nodeUser(nodeName) },
        ProjectionExpression: 'pk, sk',
        ExclusiveStartKey: start,
        ConsistentRead: true,
      }),
    );
    for (const item of page.Items ?? []) {
      await deps.doc.send(new DeleteCommand({ TableName: deps.config.objectsTable, Key: { pk: String(item.pk), sk: String(item.sk) } }));
      n++;
    }
    start = page.LastEvaluatedKey;
  } while (start);
  return n;
}
