/**
 * Per-source-address budgets in the api (shared/rate-limit.ts "Per-source budgets"): what no
 * cluster's budget can limit, because no cluster is known yet.
 *
 * - `auth`: requests that fail authentication (401), anywhere but the node-join endpoints. Counted
 *   after the failure (countFailedAuthentication); a request carrying a valid token is never
 *   counted, whatever its answer.
 * - `join`: the same on the node-join / node-token endpoints (a smaller budget: bootstrap tokens
 *   are what an attacker there guesses).
 * - `anonymous`: the OIDC discovery endpoints (served without authentication, each reading the
 *   cluster's keys): every request counted before it is served (takeAnonymous).
 *
 * Once the shared counter refuses one of an instance's leases for a source, that instance answers
 * the source's later requests of the second 429 TooManyRequests with Retry-After (the same Status
 * as the cluster and user limits'), before any token verification or store read
 * (refusedBySource, called first by the handler and the exec broker). A token that authenticated
 * lately in the instance (auth.ts knownValidToken) is let through to its verification as always,
 * so a NAT's other users keep working while one of them guesses tokens.
 * Health checks and the dashboard's static files do no expensive work and are never limited.
 */
import { discoveryRoute } from '../../shared/serviceaccounts/oidc';
import { tooManyRequests, type SourceScope } from '../../shared/rate-limit';
import { knownValidToken } from './auth';
import { isDashboardPath } from './dashboard';
import { isNodeJoinPath } from './node-join';
import type { ApiRequest } from './request';
import type { ApiDeps } from './router';

const HEALTH = new Set(['/healthz', '/livez', '/readyz', '/healthz/', '/livez/', '/readyz/']);

/** The source budget a request's path belongs to; undefined for paths never limited (health, dashboard files). */
export function sourceScopeOf(req: Pick<ApiRequest, 'path' | 'cluster'>): SourceScope | undefined {
  if (discoveryRoute(req.path)) return 'anonymous';
  if (isNodeJoinPath(req as ApiRequest)) return 'join';
  if (HEALTH.has(req.path) || isDashboardPath(req.path)) return undefined;
  return 'auth';
}

/** Whether a request answered `code` spends a token of its source's `scope` budget after the fact (anonymous requests paid before). */
export const countsAsFailure = (scope: SourceScope | undefined, code: number): boolean => code === 401 && (scope === 'auth' || scope === 'join');

/**
 * Retry-After seconds when this instance already knows the request's source has spent its
 * budget for this second (memory only: no await, no read); undefined when the request goes on.
 */
export function refusedBySource(req: ApiRequest, deps: Pick<ApiDeps, 'limiter'>): number | undefined {
  const limiter = deps.limiter;
  if (!limiter?.someSourceExhaustedNow()) return undefined;
  const scope = sourceScopeOf(req);
  if (!scope) return undefined;
  const source = limiter.sourceOf(req.sourceIp);
  if (source === undefined) return undefined;
  const retry = limiter.refuseSourceFromMemory(scope, source);
  if (retry === undefined) return undefined;
  return scope !== 'anonymous' && knownValidToken(req) ? undefined : retry;
}

/** Counts a failed authentication (401) against the request's source; never throws (the 401 stands). */
export async function countFailedAuthentication(req: ApiRequest, deps: Pick<ApiDeps, 'limiter'>): Promise<void> {
  const scope = sourceScopeOf(req);
  const source = deps.limiter?.sourceOf(req.sourceIp);
  if (!deps.limiter || source === undefined || !countsAsFailure(scope, 401)) return;
  try {
    await deps.limiter.takeSource(scope!, source);
  } catch {
    // the limiter fails open (shared/rate-limit.ts)
  }
}

/** Spends one token of the source's anonymous budget for a request about to be served, or throws the 429. */
export async function takeAnonymous(req: ApiRequest, deps: Pick<ApiDeps, 'limiter'>): Promise<void> {
  const source = deps.limiter?.sourceOf(req.sourceIp);
  if (!deps.limiter || source === undefined) return;
  const decision = await deps.limiter.takeSource('anonymous', source);
  if (!decision.allowed) throw tooManyRequests(decision.retryAfterSeconds);
}
