/**
 * Join (bootstrap) tokens: what `stratus cluster join-token NAME` hands to a new node agent.
 * Shaped like Kubernetes' bootstrap tokens — `[a-z0-9]{6}.[a-z0-9]{16}` (id.secret), user
 * `system:bootstrap:<id>`, groups `system:bootstrappers` and `system:bootstrappers:stratus:<cluster>`
 * — stored hashed like every token, short-lived (1 h by default; refused after), and scoped to one
 * cluster. What a bootstrapper may do (only request its node identity) is the authorizer's and
 * the node-join flow's to enforce; this module only mints them.
 */
import { randomInt } from 'node:crypto';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Config } from '../config';
import { putToken } from './tokens';

export const JOIN_TOKEN_TTL_SECONDS = 3600;
export const JOIN_TOKEN_FORMAT = /^[a-z0-9]{6}\.[a-z0-9]{16}$/;
const ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789';

const randomString = (n: number) => Array.from({ length: n }, () => ALPHABET[randomInt(ALPHABET.length)]).join('');

/** Mints a join token for `cluster` valid `ttlSeconds` from now. */
export async function createJoinToken(
  doc: DynamoDBDocumentClient,
  config: Config,
  cluster: string,
  ttlSeconds = JOIN_TOKEN_TTL_SECONDS,
): Promise<{ token: string; expiresAt: string }> {
  const id = randomString(6);
  const token = `${id}.${randomString(16)}`;
  const expiresAt = new Date(Date.now() + ttlSeconds * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
  await putToken(doc, config, token, { tenant: cluster, user: `system:bootstrap:${id}`, groups: ['system:bootstrappers', `system:bootstrappers:stratus:${cluster}`, 'system:authenticated'] }, { expiresAt });
  return { token, expiresAt };
}
