/**
 * Fairness: per-cluster and per-user request rate limits, shared by every instance of the api
 * function (an in-memory bucket alone would do nothing on AWS, where each concurrent request may
 * run in another Lambda instance).
 *
 * The budget is counted in one-second windows (a fixed window: the whole second's budget may be
 * spent at once, which is the burst a client gets). Each (cluster, window) and (cluster, user,
 * window) has a counter item in the `changes` table:
 *
 *   pk `${cluster}#~ratelimit`, sk `c#${second}` or `u#${user}#${second}`; `used`; `ttl`
 *
 * An instance does not write once per request: it takes a lease of several tokens at once with a
 * conditional UpdateItem (`ADD used :n` only while `used < limit`), spends them locally, and comes
 * back when they are gone. The answer (UPDATED_NEW) says how many of the n fitted under the
 * limit; a refused condition, or a partial grant, marks the window exhausted in this instance, so
 * every later request of that second is refused without touching DynamoDB. Tokens a lease took but
 * its instance did not spend in the window are lost (the window ends): the budget is an upper bound.
 * A DynamoDB failure lets the request through (the limiter must not take the API down with it).
 *
 * The items start with the cluster's name, so deleting the cluster deletes them, and the `ttl`
 * removes old windows. Cost per request in docs/cost.md ("Rate limits").
 */
import { GetCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Config } from './config';
import { queryBool } from './query';

/** Requests per second; 0 means no limit. */
export interface RateLimits {
  readonly cluster: number;
  readonly user: number;
}

/** What a cluster gets unless created with others (`stratus cluster create --rate-limit N --user-rate-limit N`). */
export const DEFAULT_RATE_LIMITS: RateLimits = { cluster: 100, user: 50 };

/** Kubernetes' words for a request its flow control refused (apiserver/pkg/server/filters). */
export const TOO_MANY_REQUESTS_MESSAGE = 'Too many requests, please try again later.';

/** The deployment's defaults: STRATUS_DEFAULT_RATE_LIMIT / STRATUS_DEFAULT_USER_RATE_LIMIT, else DEFAULT_RATE_LIMITS. */
export function defaultRateLimits(env: NodeJS.ProcessEnv = process.env): RateLimits {
  const read = (v: string | undefined, d: number) => (v !== undefined && v !== '' && Number.isInteger(Number(v)) && Number(v) >= 0 ? Number(v) : d);
  return { cluster: read(env.STRATUS_DEFAULT_RATE_LIMIT, DEFAULT_RATE_LIMITS.cluster), user: read(env.STRATUS_DEFAULT_USER_RATE_LIMIT, DEFAULT_RATE_LIMITS.user) };
}

/** A valid limit: a whole number of requests per second, 0 (no limit) to 1,000,000. */
export const isValidLimit = (n: unknown): n is number => typeof n === 'number' && Number.isInteger(n) && n >= 0 && n <= 1_000_000;

/** The window of time `nowMs`: its second. */
export const windowOf = (nowMs: number): number => Math.floor(nowMs / 1000);

/** Seconds a refused client should wait: until the window ends, rounded up, at least 1 (Retry-After is whole seconds). */
export const retryAfterSeconds = (nowMs: number): number => Math.max(1, Math.ceil(((windowOf(nowMs) + 1) * 1000 - nowMs) / 1000));

/**
 * Tokens one lease asks for: a tenth of the limit, between 1 and 25. Larger leases mean fewer
 * writes per request; smaller ones less budget stranded in instances that stop being busy.
 */
export const leaseSize = (limit: number): number => Math.max(1, Math.min(25, Math.floor(limit / 10)));

/**
 * How many of the `asked` tokens a lease got, `usedAfter` being the counter after its ADD: those
 * that fit under `limit` (the counter may have been near it already).
 */
export const grantedTokens = (limit: number, asked: number, usedAfter: number): number => Math.max(0, Math.min(asked, limit - (usedAfter - asked)));

/**
 * Whether a request is long-running, which the limits leave alone as kube-apiserver's
 * max-inflight filter does: watches, exec/attach/port-forward and following a log.
 */
export function isLongRunning(method: string, subresource: string | undefined, query: URLSearchParams): boolean {
  if (subresource === 'exec' || subresource === 'attach' || subresource === 'portforward' || subresource === 'proxy') return true;
  if (method === 'GET' && queryBool(query, 'watch')) return true;
  return subresource === 'log' && queryBool(query, 'follow');
}

export type LimitDecision = { readonly allowed: true } | { readonly allowed: false; readonly scope: 'cluster' | 'user'; readonly retryAfterSeconds: number };

interface Bucket {
  window: number;
  tokens: number;
  exhausted: boolean;
  pending?: Promise<void>;
}

/** Per-instance state of the limiter over the shared counters: one per api function instance. */
export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();
  private readonly limitCache = new Map<string, { limits: RateLimits; until: number }>();
  /** DynamoDB writes made (leases), for tests and benchmarks. */
  leases = 0;
  /** The latest window in which some bucket of this instance was exhausted. */
  private exhaustedWindow = -1;

  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly config: Config,
    private readonly opts: { now?: () => number; defaults?: RateLimits; limitsTtlMs?: number; onError?: (e: unknown) => void } = {},
  ) {}

  private now(): number {
    return this.opts.now ? this.opts.now() : Date.now();
  }

  /** The limits of `cluster` (its registry item's, else the defaults), cached for 10 s per instance. */
  async limitsOf(cluster: string): Promise<RateLimits> {
    const cached = this.limitCache.get(cluster);
    const t = Date.now();
    if (cached && cached.until > t) return cached.limits;
    const defaults = this.opts.defaults ?? defaultRateLimits();
    let limits = defaults;
    try {
      const out = await this.doc.send(new GetCommand({ TableName: this.config.objectsTable, Key: { pk: '~clusters', sk: cluster }, ProjectionExpression: 'rateLimit, userRateLimit' }));
      limits = { cluster: isValidLimit(out.Item?.rateLimit) ? out.Item.rateLimit : defaults.cluster, user: isValidLimit(out.Item?.userRateLimit) ? out.Item.userRateLimit : defaults.user };
    } catch (e) {
      this.opts.onError?.(e);
    }
    if (this.limitCache.size > 10_000) this.limitCache.clear();
    this.limitCache.set(cluster, { limits, until: t + (this.opts.limitsTtlMs ?? 10_000) });
    return limits;
  }

  /** Whether some budget was found exhausted in this instance during the current window (no refusal from memory is possible otherwise). */
  someExhaustedNow(): boolean {
    return windowOf(this.now()) === this.exhaustedWindow;
  }

  /** The limits of `cluster` if this instance has them cached and fresh (what limitsOf would answer without a read), else undefined. */
  cachedLimits(cluster: string): RateLimits | undefined {
    const cached = this.limitCache.get(cluster);
    return cached && cached.until > Date.now() ? cached.limits : undefined;
  }

  /**
   * take()'s answer when this instance's memory alone decides it is a refusal: the user's bucket
   * (or, the user's budget free or holding tokens, the cluster's) is exhausted for the current
   * window. It refuses only what the shared counter has refused already this second, so it holds
   * across instances as take() does. As take() would, a user token is spent when the cluster's
   * budget refuses. Undefined when take() must decide (an unknown window, a lease in flight,
   * tokens left). Synchronous: the api's fast refusal (functions/api/handler.ts) uses it.
   */
  refuseFromMemory(cluster: string, user: string, limits: RateLimits): LimitDecision | undefined {
    const window = windowOf(this.now());
    if (window !== this.exhaustedWindow) return undefined;
    const state = (key: string, limit: number): { s: 'free' | 'tokens' | 'exhausted' | 'unknown'; b?: Bucket } => {
      if (limit <= 0) return { s: 'free' };
      const b = this.buckets.get(key);
      if (!b || b.window !== window) return { s: 'unknown' };
      if (b.tokens > 0) return { s: 'tokens', b };
      return { s: b.exhausted ? 'exhausted' : 'unknown' };
    };
    const u = state(`${cluster}#u#${user}`, limits.user);
    if (u.s === 'exhausted') return { allowed: false, scope: 'user', retryAfterSeconds: retryAfterSeconds(this.now()) };
    if (u.s === 'unknown') return undefined;
    if (state(`${cluster}#c`, limits.cluster).s !== 'exhausted') return undefined;
    if (u.b) u.b.tokens--;
    return { allowed: false, scope: 'cluster', retryAfterSeconds: retryAfterSeconds(this.now()) };
  }

  /** Forgets cached limits (the operator changed them in this instance). */
  forget(cluster: string): void {
    this.limitCache.delete(cluster);
  }

  /** Takes one request's tokens for `user` of `cluster`: the user's budget first, then the cluster's. */
  async take(cluster: string, user: string, limits: RateLimits): Promise<LimitDecision> {
    if (limits.user > 0 && !(await this.takeOne(cluster, `u#${user}`, limits.user))) return { allowed: false, scope: 'user', retryAfterSeconds: retryAfterSeconds(this.now()) };
    if (limits.cluster > 0 && !(await this.takeOne(cluster, 'c', limits.cluster))) return { allowed: false, scope: 'cluster', retryAfterSeconds: retryAfterSeconds(this.now()) };
    return { allowed: true };
  }

  private bucket(key: string, window: number): Bucket {
    let b = this.buckets.get(key);
    if (!b || b.window !== window) {
      if (this.buckets.size > 10_000) for (const [k, old] of this.buckets) if (old.window < window && !old.pending) this.buckets.delete(k);
      b = { window, tokens: 0, exhausted: false };
      this.buckets.set(key, b);
    }
    return b;
  }

  private async takeOne(cluster: string, scopeKey: string, limit: number): Promise<boolean> {
    const key = `${cluster}#${scopeKey}`;
    for (;;) {
      const window = windowOf(this.now());
      const b = this.bucket(key, window);
      if (b.tokens > 0) {
        b.tokens--;
        return true;
      }
      if (b.exhausted) return false;
      // One lease in flight per bucket: concurrent requests of this instance wait for it.
      b.pending ??= this.lease(cluster, scopeKey, window, limit).then(
        (n) => {
          b.tokens += n.granted;
          if (n.exhausted) {
            b.exhausted = true;
            this.exhaustedWindow = Math.max(this.exhaustedWindow, b.window);
          }
        },
        () => undefined,
      ).finally(() => {
        b.pending = undefined;
      });
      await b.pending;
    }
  }

  /** One conditional ADD of a lease's tokens to the window's counter. */
  private async lease(cluster: string, scopeKey: string, window: number, limit: number): Promise<{ granted: number; exhausted: boolean }> {
    const asked = Math.min(leaseSize(limit), limit);
    this.leases++;
    try {
      const out = await this.doc.send(
        new UpdateCommand({
          TableName: this.config.changesTable,
          Key: { pk: `${cluster}#~ratelimit`, sk: `${scopeKey}#${window}` },
          UpdateExpression: 'ADD used :n SET #ttl = if_not_exists(#ttl, :ttl)',
          ConditionExpression: 'attribute_not_exists(used) OR used < :limit',
          ExpressionAttributeNames: { '#ttl': 'ttl' },
          ExpressionAttributeValues: { ':n': asked, ':limit': limit, ':ttl': window + 120 },
          ReturnValues: 'UPDATED_NEW',
        }),
      );
      const granted = grantedTokens(limit, asked, Number(out.Attributes?.used ?? asked));
      return { granted, exhausted: granted < asked };
    } catch (e) {
      if ((e as Error).name === 'ConditionalCheckFailedException') return { granted: 0, exhausted: true };
      // Fail open: one token, and the next request asks again.
      this.opts.onError?.(e);
      return { granted: 1, exhausted: false };
    }
  }
}
