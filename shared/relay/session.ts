/**
 * The kubelet relay's sessions (docs/exec.md, "every API → agent call through the outbound
 * relay"): how an API → agent call reaches a node that has no listening kubelet port. One
 * session per call:
 *
 *   1. the api function writes a session item (this file: openRelaySession) naming the cluster,
 *      the node, the hash of a one-time API-side key and an expiry, and dials the relay as the
 *      session's API side (`/api?tenant=T&session=S`, `Authorization: Bearer <api key>`);
 *   2. it sends the node `{"kind":"relay","tenant":T,"session":S}` on the node's own SQS queue;
 *   3. the agent dials the relay as the node side (`/node?tenant=T&session=S`) with its own node
 *      credential (`system:node:NAME`); the relay admits it only if that credential's node and
 *      cluster are the ones S names (authorizeRelaySide), each side once (claimRelaySide);
 *   4. the relay pairs the two connections and copies bytes both ways. What it copies is the
 *      mutual TLS of the direct path, end to end (API client certificate, node serving
 *      certificate checked by node name): the relay sees ciphertext only.
 *
 * The item lives in the changes table (it has a TTL attribute and no stream, so a session costs no
 * stream record), under `${tenant}#~relay`, which cluster delete's `${tenant}#` scan removes.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { DeleteCommand, GetCommand, PutCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { z } from 'zod';
import type { Config } from '../config';
import type { Identity } from '../auth/tokens';

/** The annotation an agent in relay mode puts on its Node: the API then calls it through the relay. */
export const KUBELET_RELAY_ANNOTATION = 'stratus.dev/kubelet-relay';

/** How long a session may wait to be paired (both sides connected); the API gives up then. */
export const RELAY_PAIR_TIMEOUT_MS = 10_000;
/** How long a session item admits its sides (after that: refused as expired). */
export const RELAY_SESSION_TTL_SECONDS = 60;
/** Largest relayed WebSocket frame: API Gateway WebSocket APIs carry at most 32 KB per frame. */
export const RELAY_FRAME_BYTES = 32 * 1024;
/** The text message the relay sends each side once both are there; data messages follow (shared/relay/frames.ts). */
export const RELAY_PAIRED = 'paired';
/** The longest a relay connection lives: API Gateway closes a WebSocket connection after 2 hours. */
export const RELAY_CONNECTION_MAX_SECONDS = 2 * 3600;

/** The message on the node's queue asking it to open the node side of a session. */
export const RelaySessionMessageSchema = z.object({ kind: z.literal('relay'), tenant: z.string().min(1), session: z.string().regex(/^[0-9a-f]{32}$/) });
export type RelaySessionMessage = z.infer<typeof RelaySessionMessageSchema>;

export type RelaySide = 'api' | 'node';

export interface RelaySessionItem {
  readonly tenant: string;
  readonly session: string;
  readonly node: string;
  /** sha256 (hex) of the API side's one-time key. */
  readonly apiKeyHash: string;
  /** Epoch milliseconds after which neither side is admitted. */
  readonly expiresAtMs: number;
  readonly apiClaimed?: boolean;
  readonly nodeClaimed?: boolean;
  /** The API Gateway connection id of each side, stored by the claim (functions/relay/handler.ts). */
  readonly apiConn?: string;
  readonly nodeConn?: string;
  /** Each side said `ready` (its connection is open): the relay pairs once both have. */
  readonly apiReady?: boolean;
  readonly nodeReady?: boolean;
}

const ItemSchema = z.looseObject({
  tenant: z.string(),
  session: z.string(),
  node: z.string(),
  apiKeyHash: z.string(),
  expiresAtMs: z.number(),
  apiClaimed: z.boolean().optional(),
  nodeClaimed: z.boolean().optional(),
  apiConn: z.string().optional(),
  nodeConn: z.string().optional(),
  apiReady: z.boolean().optional(),
  nodeReady: z.boolean().optional(),
});

/** Parses a session item as read from the table; undefined when it is not one. */
export const parseRelaySession = (item: unknown): RelaySessionItem | undefined => {
  const parsed = ItemSchema.safeParse(item);
  return parsed.success ? parsed.data : undefined;
};

export const relaySessionKey = (tenant: string, session: string) => ({ pk: `${tenant}#~relay`, sk: session });

const sha256 = (s: string) => createHash('sha256').update(s, 'utf8').digest('hex');

/** A new session id: 128 random bits, hex. */
export const newSessionId = () => randomBytes(16).toString('hex');

/** Writes a new session for node `node` of `tenant`; returns its id and the API side's key. */
export async function openRelaySession(doc: DynamoDBDocumentClient, config: Config, tenant: string, node: string, now = Date.now()): Promise<{ session: string; apiKey: string }> {
  const session = newSessionId();
  const apiKey = randomBytes(32).toString('base64url');
  const expiresAtMs = now + RELAY_SESSION_TTL_SECONDS * 1000;
  const item: RelaySessionItem = { tenant, session, node, apiKeyHash: sha256(apiKey), expiresAtMs };
  await doc.send(
    new PutCommand({
      TableName: config.changesTable,
      Item: { ...relaySessionKey(tenant, session), ...item, ttl: Math.ceil(expiresAtMs / 1000) + 300 },
      ConditionExpression: 'attribute_not_exists(pk)',
    }),
  );
  return { session, apiKey };
}

export async function readRelaySession(doc: DynamoDBDocumentClient, config: Config, tenant: string, session: string): Promise<RelaySessionItem | undefined> {
  const out = await doc.send(new GetCommand({ TableName: config.changesTable, Key: relaySessionKey(tenant, session), ConsistentRead: true }));
  return parseRelaySession(out.Item);
}

/** What a side presents when it connects. */
export type RelayCredential =
  | { readonly side: 'api'; readonly apiKey: string | undefined }
  /** The identity of the bearer token the node side presented (undefined: unknown or none). */
  | { readonly side: 'node'; readonly identity: Identity | undefined };

/** Why a side is refused (HTTP status of the refused WebSocket handshake, as API Gateway's $connect answers it), or ok. */
export type RelayAdmission = { readonly ok: true } | { readonly ok: false; readonly status: 401 | 403 | 404 | 409 | 410; readonly message: string };

/**
 * Whether a side may take its place in session `item` (of the cluster `tenant` named in its
 * URL). Pure: the whole authorization of the relay.
 *  - the session must exist in that cluster (404) and not be past its expiry (410);
 *  - the API side must present the session's one-time key (401);
 *  - the node side must present a known node credential (401) of that cluster whose node is
 *    the one the session names (403): a node can only ever pick up sessions addressed to itself;
 *  - each side once (409): a replayed session id is refused.
 */
export function authorizeRelaySide(item: RelaySessionItem | undefined, tenant: string, cred: RelayCredential, now = Date.now()): RelayAdmission {
  if (!item || item.tenant !== tenant) return { ok: false, status: 404, message: 'no such relay session' };
  if (now >= item.expiresAtMs) return { ok: false, status: 410, message: 'the relay session has expired' };
  if (cred.side === 'api') {
    if (!cred.apiKey || !sameHash(sha256(cred.apiKey), item.apiKeyHash)) return { ok: false, status: 401, message: 'the API side of a relay session must present its key' };
    if (item.apiClaimed) return { ok: false, status: 409, message: 'the API side of this relay session is taken' };
    return { ok: true };
  }
  const id = cred.identity;
  if (!id) return { ok: false, status: 401, message: 'the node side of a relay session must present a node credential' };
  const expected = `system:node:${item.node}`;
  if (id.tenant !== item.tenant || !id.groups.includes('system:nodes') || id.user !== expected) {
    return { ok: false, status: 403, message: `relay session is addressed to ${expected}, not ${id.user}` };
  }
  if (item.nodeClaimed) return { ok: false, status: 409, message: 'the node side of this relay session is taken' };
  return { ok: true };
}

function sameHash(a: string, b: string): boolean {
  const x = Buffer.from(a, 'hex');
  const y = Buffer.from(b, 'hex');
  return x.length === y.length && timingSafeEqual(x, y);
}

/**
 * Marks `side` of the session taken, once, storing the side's connection id with it: false when
 * another connection took it first, or it expired meanwhile.
 */
export async function claimRelaySide(doc: DynamoDBDocumentClient, config: Config, tenant: string, session: string, side: RelaySide, connectionId: string, now = Date.now()): Promise<boolean> {
  const attr = side === 'api' ? 'apiClaimed' : 'nodeClaimed';
  try {
    await doc.send(
      new UpdateCommand({
        TableName: config.changesTable,
        Key: relaySessionKey(tenant, session),
        UpdateExpression: `SET ${attr} = :t, ${side}Conn = :c`,
        ConditionExpression: `attribute_exists(pk) AND attribute_not_exists(${attr}) AND expiresAtMs > :now`,
        ExpressionAttributeValues: { ':t': true, ':c': connectionId, ':now': now },
      }),
    );
    return true;
  } catch (e) {
    if ((e as Error).name === 'ConditionalCheckFailedException') return false;
    throw e;
  }
}

/** Removes a session (it ended, or was never paired). Best effort: the TTL removes it anyway. */
export async function closeRelaySession(doc: DynamoDBDocumentClient, config: Config, tenant: string, session: string): Promise<void> {
  await doc.send(new DeleteCommand({ TableName: config.changesTable, Key: relaySessionKey(tenant, session) })).catch(() => undefined);
}
