/**
 * The operator API: cluster lifecycle at `/stratus/v1/clusters` (outside any `/clusters/NAME`
 * path), for the operator credential only — a token whose identity is OPERATOR_IDENTITY, which no
 * cluster token has, and which itself reaches no cluster (router.ts refuses it elsewhere).
 *
 *   GET    /stratus/v1/clusters                    ClusterList
 *   POST   /stratus/v1/clusters                    {metadata:{name}, spec:{podSecurity?, rateLimit?, userRateLimit?,
 *                                                    longRunningLimit?, userLongRunningLimit?}} → 201 Cluster + credentials.token
 *   GET    /stratus/v1/clusters/NAME               Cluster
 *   PATCH  /stratus/v1/clusters/NAME               {spec:{rateLimit?, userRateLimit?, longRunningLimit?, userLongRunningLimit?}} (merge patch) → Cluster
 *   DELETE /stratus/v1/clusters/NAME               Status Success, once everything it owns is gone
 *   POST   /stratus/v1/clusters/NAME/credentials   201 {token}: a new admin token (tokens are kept hashed)
 *   POST   /stratus/v1/clusters/NAME/join-tokens   201 {token, expirationTimestamp}: a bootstrap token for a node
 *   DELETE /stratus/v1/clusters/NAME/node-credentials/NODE   Status Success: every credential of that node revoked
 */
import type { SQSClient } from '@aws-sdk/client-sqs';
import { z } from 'zod';
import { createJoinToken, JOIN_TOKEN_TTL_SECONDS } from '../../shared/auth/join-tokens';
import { revokeNodeCredentials } from '../../shared/auth/node-credentials';
import { replacePlacementKey } from '../../shared/auth/placement-keys';
import { CLUSTER_LIMIT_FIELDS, createCluster, deleteCluster, getCluster, isOperator, listClusters, mintAdminToken, setClusterRateLimits, type ClusterRateLimits, type ClusterRecord } from '../../shared/clusters';
import { defaultRateLimits } from '../../shared/rate-limit';
import { defaultLongRunningLimits } from '../../shared/long-running';
import { createSqsClient } from '../../shared/queue';
import { badRequest, forbidden, methodNotAllowed, notFound, pathNotFound } from '../../shared/errors';
import { decodeSegment } from '../../shared/limits';
import { authenticate } from './auth';
import { decodeBody, json, type ApiRequest, type ApiResponse } from './request';
import type { ApiDeps } from './router';

export const OPERATOR_PREFIX = '/stratus/v1/clusters';

export const isOperatorPath = (req: ApiRequest) => req.cluster === undefined && (req.path === OPERATOR_PREFIX || req.path.startsWith(`${OPERATOR_PREFIX}/`));

const CreateBody = z.looseObject({
  metadata: z.looseObject({ name: z.string() }),
  spec: z.looseObject({ podSecurity: z.string().optional() }).optional(),
});

const LimitsBody = z.looseObject({ spec: z.looseObject({}) });

/** The rate limits and long-running caps a body's spec names (validated by shared/clusters.ts). */
const limitsOf = (spec: Record<string, unknown> | undefined): ClusterRateLimits =>
  Object.fromEntries(CLUSTER_LIMIT_FIELDS.filter((f) => spec?.[f] !== undefined).map((f) => [f, spec![f]])) as ClusterRateLimits;

function asObject(c: ClusterRecord) {
  const defaults = defaultRateLimits();
  const longRunning = defaultLongRunningLimits();
  return {
    apiVersion: 'stratus.io/v1',
    kind: 'Cluster',
    metadata: { name: c.name, uid: c.uid, creationTimestamp: c.createdAt },
    // The limits in force: the cluster's own, else the deployment's defaults (requests per second;
    // open long-running requests at once; 0: none).
    spec: {
      podSecurity: c.podSecurity,
      rateLimit: c.rateLimit ?? defaults.cluster,
      userRateLimit: c.userRateLimit ?? defaults.user,
      longRunningLimit: c.longRunningLimit ?? longRunning.cluster,
      userLongRunningLimit: c.userLongRunningLimit ?? longRunning.user,
    },
    status: { path: `/clusters/${c.name}` },
  };
}

let sqs: SQSClient | undefined;

export async function serveOperator(req: ApiRequest, deps: ApiDeps): Promise<ApiResponse> {
  const identity = await authenticate(req, deps.doc, deps.config);
  if (!isOperator(identity)) throw forbidden(`User "${identity.user}" cannot manage clusters: the operator credential is needed`);
  const segs = req.path.slice(OPERATOR_PREFIX.length).split('/').filter(Boolean).map(decodeSegment);
  const [name, sub, node] = segs;
  if (segs.length > (sub === 'node-credentials' ? 3 : 2)) throw pathNotFound(req.path);
  if (name === undefined) {
    if (req.method === 'GET') return json(200, { apiVersion: 'stratus.io/v1', kind: 'ClusterList', items: (await listClusters(deps)).map(asObject) });
    if (req.method !== 'POST') throw methodNotAllowed(req.method);
    const parsed = CreateBody.safeParse(decodeBody(req));
    if (!parsed.success) throw badRequest('a Cluster needs metadata.name (and may set spec.podSecurity, spec.rateLimit, spec.userRateLimit, spec.longRunningLimit, spec.userLongRunningLimit)');
    const { cluster, adminToken } = await createCluster(deps, parsed.data.metadata.name, parsed.data.spec?.podSecurity ?? 'baseline', limitsOf(parsed.data.spec));
    return json(201, { ...asObject(cluster), credentials: { token: adminToken } });
  }
  if (sub === undefined) {
    if (req.method === 'GET') {
      const cluster = await getCluster(deps, name);
      if (!cluster) throw notFound('clusters', name, 'stratus.io');
      return json(200, asObject(cluster));
    }
    if (req.method === 'PATCH') {
      const parsed = LimitsBody.safeParse(decodeBody(req, ['application/merge-patch+json', 'application/json']));
      if (!parsed.success) throw badRequest('a Cluster patch sets spec.rateLimit, spec.userRateLimit, spec.longRunningLimit and/or spec.userLongRunningLimit');
      const cluster = await setClusterRateLimits(deps, name, limitsOf(parsed.data.spec));
      if (!cluster) throw notFound('clusters', name, 'stratus.io');
      deps.limiter?.forget(name);
      deps.slots?.forget(name);
      return json(200, asObject(cluster));
    }
    if (req.method !== 'DELETE') throw methodNotAllowed(req.method);
    sqs ??= createSqsClient(deps.config);
    const cluster = await deleteCluster({ ...deps, sqs }, name);
    return json(200, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', details: { name, group: 'stratus.io', kind: 'clusters', uid: cluster.uid } });
  }
  if (sub === 'node-credentials') {
    if (node === undefined) throw pathNotFound(req.path);
    if (req.method !== 'DELETE') throw methodNotAllowed(req.method);
    if (!(await getCluster(deps, name))) throw notFound('clusters', name, 'stratus.io');
    const revoked = await revokeNodeCredentials(deps, name, node);
    // And its placement key: the holder of a revoked credential reads no later placement (shared/auth/placement-keys.ts).
    await replacePlacementKey(deps, name, node);
    return json(200, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', message: `${revoked} credentials of node "${node}" revoked`, details: { name: node, group: 'stratus.io', kind: 'node-credentials' } });
  }
  if (req.method !== 'POST') throw methodNotAllowed(req.method);
  if (!(await getCluster(deps, name))) throw notFound('clusters', name, 'stratus.io');
  if (sub === 'credentials') return json(201, { token: await mintAdminToken(deps, name) });
  if (sub === 'join-tokens') {
    const { token, expiresAt } = await createJoinToken(deps.doc, deps.config, name, JOIN_TOKEN_TTL_SECONDS);
    return json(201, { token, expirationTimestamp: expiresAt });
  }
  throw pathNotFound(req.path);
}
