import { createHash, randomBytes } from 'node:crypto';
import { GetCommand, PutCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Config } from '../config';

/** Who a bearer token speaks for. The tenant is the virtual cluster it may reach. */
export interface Identity {
  readonly tenant: string;
  readonly user: string;
  readonly groups: readonly string[];
  /** user.Info's extra (set by impersonation's Impersonate-Extra-* headers). */
  readonly extra?: Readonly<Record<string, readonly string[]>>;
  readonly uid?: string;
}

/** Tokens are stored only as their SHA-256; the plain token is shown once, at creation. */
export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

function tokenKey(token: string) {
  return { pk: `token#${hashToken(token)}`, sk: 'token' };
}

/** Creates a new random token for `identity` and returns it (never stored in plain text). */
export async function createToken(doc: DynamoDBDocumentClient, config: Config, identity: Identity): Promise<string> {
  const token = `st_${randomBytes(24).toString('base64url')}`;
  await putToken(doc, config, token, identity);
  return token;
}

/** Stores a caller-chosen token (e.g. a fixed one for local development). */
export async function putToken(
  doc: DynamoDBDocumentClient,
  config: Config,
  token: string,
  identity: Identity,
  opts: { expiresAt?: string; /** more attributes of the item (node credentials: issuedAt, replaces) */ attributes?: Record<string, string> } = {},
): Promise<void> {
  await doc.send(
    new PutCommand({
      TableName: config.objectsTable,
      Item: { ...(opts.attributes ?? {}), ...tokenKey(token), tenant: identity.tenant, user: identity.user, groups: [...identity.groups], ...(opts.expiresAt ? { expiresAt: opts.expiresAt } : {}) },
    }),
  );
}

/** The stored item of a token (by its hash), or undefined; expiry is the caller's to check. */
export async function readTokenItem(doc: DynamoDBDocumentClient, config: Config, tokenHash: string, consistent = false): Promise<Record<string, unknown> | undefined> {
  const out = await doc.send(new GetCommand({ TableName: config.objectsTable, Key: { pk: `token#${tokenHash}`, sk: 'token' }, ...(consistent ? { ConsistentRead: true } : {}) }));
  return out.Item;
}

/** The identity an item names (undefined when it is no token item). */
export function identityOfItem(item: Record<string, unknown> | undefined): Identity | undefined {
  if (!item || typeof item.tenant !== 'string' || typeof item.user !== 'string') return undefined;
  return { tenant: item.tenant, user: item.user, groups: Array.isArray(item.groups) ? item.groups.map(String) : [] };
}

/** The identity behind `token`, or undefined when it is unknown. */
export async function lookupToken(doc: DynamoDBDocumentClient, config: Config, token: string): Promise<Identity | undefined> {
  return (await lookupTokenEntry(doc, config, token))?.identity;
}

/** The identity behind `token` and when the token ends (ms since the epoch; absent: no end), or undefined when it is unknown. */
export async function lookupTokenEntry(doc: DynamoDBDocumentClient, config: Config, token: string): Promise<{ identity: Identity; expiresAtMs?: number } | undefined> {
  const out = await doc.send(new GetCommand({ TableName: config.objectsTable, Key: tokenKey(token) }));
  const item = out.Item;
  if (!item || typeof item.tenant !== 'string' || typeof item.user !== 'string') return undefined;
  // Short-lived tokens (join tokens) carry their end; past it they are unknown.
  const expiresAtMs = typeof item.expiresAt === 'string' ? Date.parse(item.expiresAt) : undefined;
  if (expiresAtMs !== undefined && !(expiresAtMs > Date.now())) return undefined;
  return { identity: { tenant: item.tenant, user: item.user, groups: Array.isArray(item.groups) ? item.groups.map(String) : [] }, ...(expiresAtMs !== undefined ? { expiresAtMs } : {}) };
}
