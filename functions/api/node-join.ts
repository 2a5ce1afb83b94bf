/**
 * `POST /clusters/NAME/stratus/v1/node-join` {nodeName, csr}: a node agent holding a join
 * (bootstrap) token gets its own identity (shared/auth/node-identity.ts). 201 with
 * {apiVersion: stratus.io/v1, kind: NodeJoin, status: {token, certificate, clusterCA, nodeCA}};
 * a token that is not a bootstrapper's is 403, an expired or unknown one 401.
 */
import { z } from 'zod';
import { joinNode, NODE_JOIN_PATH } from '../../shared/auth/node-identity';
import { badRequest, methodNotAllowed } from '../../shared/errors';
import { authenticate } from './auth';
import { decodeBody, json, type ApiRequest, type ApiResponse } from './request';
import type { ApiDeps } from './router';

export const isNodeJoinPath = (req: ApiRequest) => req.cluster !== undefined && req.path === NODE_JOIN_PATH;

const Body = z.looseObject({ nodeName: z.string(), csr: z.string() });

export async function serveNodeJoin(req: ApiRequest, deps: ApiDeps): Promise<ApiResponse> {
  const identity = await authenticate(req, deps.doc, deps.config);
  if (req.method !== 'POST') throw methodNotAllowed(req.method);
  const parsed = Body.safeParse(decodeBody(req));
  if (!parsed.success) throw badRequest('a node join needs nodeName and csr (a PEM PKCS#10 certificate signing request)');
  const status = await joinNode(deps, identity, parsed.data);
  if (req.audit) {
    req.audit.cluster = identity.tenant;
    req.audit.user = { username: identity.user, groups: identity.groups };
  }
  return json(201, { apiVersion: 'stratus.io/v1', kind: 'NodeJoin', metadata: { name: parsed.data.nodeName }, status });
}
