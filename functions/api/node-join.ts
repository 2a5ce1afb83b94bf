/**
 * `POST /clusters/NAME/stratus/v1/node-join` {nodeName, csr, tokenExpirationSeconds?}: a node
 * agent holding a join (bootstrap) token gets its own identity (shared/auth/node-identity.ts).
 * 201 with {apiVersion: stratus.io/v1, kind: NodeJoin, status: {token, tokenExpirationTimestamp,
 * certificate, clusterCA, nodeCA}}; a token that is not a bootstrapper's is 403, an expired or
 * unknown one 401.
 *
 * `POST /clusters/NAME/stratus/v1/node-token` {nodeName, expirationSeconds?}: a node renews its own
 * credential with it (shared/auth/node-credentials.ts). 201 with {kind: NodeToken, status: {token,
 * expirationTimestamp}}; another node's name is 403.
 *
 * `POST /clusters/NAME/stratus/v1/placement-key` {nodeName}: a node gets the key its placement
 * messages are sealed with (shared/auth/placement-keys.ts), made on first use. 200 with
 * {kind: PlacementKey, status: {keyId, key (base64)}}; anyone but that node is 403.
 */
import { z } from 'zod';
import { NODE_TOKEN_PATH, nodeTokenLifetime, renewNodeToken } from '../../shared/auth/node-credentials';
import { joinNode, NODE_JOIN_PATH } from '../../shared/auth/node-identity';
import { PLACEMENT_KEY_PATH, placementKeyFor } from '../../shared/auth/placement-keys';
import { badRequest, methodNotAllowed } from '../../shared/errors';
import { authenticate } from './auth';
import { decodeBody, json, type ApiRequest, type ApiResponse } from './request';
import type { ApiDeps } from './router';

export const isNodeJoinPath = (req: ApiRequest) => req.cluster !== undefined && (req.path === NODE_JOIN_PATH || req.path === NODE_TOKEN_PATH || req.path === PLACEMENT_KEY_PATH);

const Body = z.looseObject({ nodeName: z.string(), csr: z.string(), tokenExpirationSeconds: z.number().optional() });
const TokenBody = z.looseObject({ nodeName: z.string(), expirationSeconds: z.number().optional() });
const KeyBody = z.looseObject({ nodeName: z.string() });

export async function serveNodeJoin(req: ApiRequest, deps: ApiDeps): Promise<ApiResponse> {
  const identity = await authenticate(req, deps.doc, deps.config);
  if (req.method !== 'POST') throw methodNotAllowed(req.method);
  if (req.audit) {
    req.audit.cluster = identity.tenant;
    req.audit.user = { username: identity.user, groups: identity.groups };
  }
  if (req.path === PLACEMENT_KEY_PATH) {
    const parsed = KeyBody.safeParse(decodeBody(req));
    if (!parsed.success) throw badRequest('a placement key request needs nodeName');
    const key = await placementKeyFor(deps, identity, parsed.data.nodeName);
    return json(200, { apiVersion: 'stratus.io/v1', kind: 'PlacementKey', metadata: { name: parsed.data.nodeName }, status: { keyId: key.keyId, key: Buffer.from(key.key).toString('base64') } });
  }
  if (req.path === NODE_TOKEN_PATH) {
    const parsed = TokenBody.safeParse(decodeBody(req));
    if (!parsed.success) throw badRequest('a node token renewal needs nodeName (and may ask for expirationSeconds)');
    // authenticate() accepted the header's bearer token: the one being renewed.
    const bearer = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '')![1]!;
    const issued = await renewNodeToken(deps, identity, bearer, parsed.data.nodeName, { lifetimeSeconds: nodeTokenLifetime(parsed.data.expirationSeconds) });
    return json(201, { apiVersion: 'stratus.io/v1', kind: 'NodeToken', metadata: { name: parsed.data.nodeName }, status: { token: issued.token, expirationTimestamp: issued.expiresAt } });
  }
  const parsed = Body.safeParse(decodeBody(req));
  if (!parsed.success) throw badRequest('a node join needs nodeName and csr (a PEM PKCS#10 certificate signing request)');
  const status = await joinNode(deps, identity, parsed.data);
  return json(201, { apiVersion: 'stratus.io/v1', kind: 'NodeJoin', metadata: { name: parsed.data.nodeName }, status });
}
