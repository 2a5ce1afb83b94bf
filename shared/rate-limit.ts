/**
 * Fairness: per-cluster and per-user request rate limits, shared by every instance of the api
 * function (an in-memory bucket alone would do nothing on AWS, where each concurrent request may
 * run in another Lambda instance).
 *
 * The budget is counted in one-second windows (a fixed window: the whole second's budget may be
 * spent at once, which is the burst a client gets). A client that went over its budget in the
 * previous second is paced instead (pacedAllowance): the window's budget opens over the second, a
 * lease's worth at its start and the rest at the limit's rate, so a flood's admitted requests
 * come evenly, not as the whole budget's burst at each second's start (which took, locally, the
 * CPU and DynamoDB of every other tenant's requests of those milliseconds and, on AWS, a burst of
 * Lambda concurrency). Each (cluster, window) and (cluster, user, window) has a counter item in
 * the `changes` table:
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
 *
 * Per-source budgets (sourceKey below: the client's address as the API sees it, an IPv6 address
 * by its /64) guard what no cluster's budget can: requests that fail authentication (scope
 * `auth`, `join` on the node-join endpoints) and the anonymous OIDC discovery endpoints
 * (`anonymous`). Same counters, same leases, under a deployment-wide key of the source:
 *
 *   pk `~source#${source}`, sk `${scope}#${second}`; `used`; `ttl`
 *
 * A failure is counted after it happened (a request with a valid token is never counted, so a
 * NAT of many users is not punished by their successful requests); once the shared counter has
 * refused an instance's lease, that instance refuses the source's later requests of the second
 * from memory, before any token verification or store read (refuseSourceFromMemory).
 */
import { BlockList, isIP } from 'node:net';
import { GetCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Config } from './config';
import { StatusError } from './errors';
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

/** The 429, made without a stack trace: a flood makes hundreds a second and no one reads their stacks. */
export function tooManyRequests(retryAfterSeconds: number): StatusError {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    return new StatusError(429, 'TooManyRequests', TOO_MANY_REQUESTS_MESSAGE, { retryAfterSeconds });
  } finally {
    Error.stackTraceLimit = limit;
  }
}

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
 * What a paced window's counter may reach `msIntoWindow` ms into its second: one lease at its
 * start, then the limit's rate (limit per 1,000 ms), never more than the limit. A client over its
 * budget in the previous second gets this instead of the whole limit at once.
 */
export const pacedAllowance = (limit: number, size: number, msIntoWindow: number): number => Math.min(limit, Math.min(size, limit) + Math.floor((limit * Math.max(0, msIntoWindow)) / 1000));

/**
 * When (ms into the second) a paced counter holding `used` lets a whole lease through: the
 * allowance is a lease plus limit/1,000 per ms, so it fits once limit × ms / 1,000 ≥ used.
 */
export const pacedResumeMs = (limit: number, used: number): number => Math.ceil((Math.max(0, used) * 1000) / limit);

/** How long a paced bucket whose lease was refused waits before it asks again: the time the allowance takes to grow by one lease. */
export const pacedPauseMs = (limit: number, size: number): number => Math.ceil((Math.min(size, limit) * 1000) / limit);

/**
 * Whether a paced bucket may spend a token it holds at `now`, and its next due time if it does:
 * tokens go out at the limit's rate (one per 1,000/limit ms) with one spare (a burst of two), as
 * the generic cell rate algorithm meters cells, so a lease of several tokens is not spent by
 * back-to-back requests of one connection at once. `due` is the previous due time (0 at first).
 */
export function pacedSpend(limit: number, due: number, now: number): { ok: boolean; due: number } {
  const interval = 1000 / limit;
  if (now < due - interval) return { ok: false, due };
  return { ok: true, due: Math.max(due, now) + interval };
}

/**
 * Whether a request is long-running, which the limits leave alone as kube-apiserver's
 * max-inflight filter does: watches, exec/attach/port-forward and following a log.
 */
export function isLongRunning(method: string, subresource: string | undefined, query: URLSearchParams): boolean {
  if (subresource === 'exec' || subresource === 'attach' || subresource === 'portforward' || subresource === 'proxy') return true;
  if (method === 'GET' && queryBool(query, 'watch')) return true;
  return subresource === 'log' && queryBool(query, 'follow');
}

/** What a source address's budget counts: failed authentications, failed node joins, anonymous requests. */
export type SourceScope = 'auth' | 'join' | 'anonymous';

/** Per-source budgets, per second; 0 means no limit. */
export type SourceLimits = Readonly<Record<SourceScope, number>>;

/** A source's budgets unless the deployment sets others (sourceLimitsFromEnv). */
export const DEFAULT_SOURCE_LIMITS: SourceLimits = { auth: 10, join: 5, anonymous: 20 };

/** The env setting of each source budget. */
export const SOURCE_LIMIT_ENV: Readonly<Record<SourceScope, string>> = {
  auth: 'STRATUS_SOURCE_AUTH_FAILURE_LIMIT',
  join: 'STRATUS_SOURCE_JOIN_FAILURE_LIMIT',
  anonymous: 'STRATUS_SOURCE_ANONYMOUS_LIMIT',
};

/** The deployment's source budgets: each SOURCE_LIMIT_ENV setting when a valid limit, else its DEFAULT_SOURCE_LIMITS. */
export function sourceLimitsFromEnv(env: NodeJS.ProcessEnv = process.env): SourceLimits {
  const read = (scope: SourceScope): number => {
    const v = env[SOURCE_LIMIT_ENV[scope]];
    return v !== undefined && v.trim() !== '' && isValidLimit(Number(v)) ? Number(v) : DEFAULT_SOURCE_LIMITS[scope];
  };
  return { auth: read('auth'), join: read('join'), anonymous: read('anonymous') };
}

/**
 * Addresses no source budget applies to: STRATUS_SOURCE_LIMIT_EXEMPT, a comma-separated list of
 * addresses and CIDR blocks (a monitoring host, the local stack's own tests). Entries that are
 * neither are ignored. Empty by default.
 */
export function sourceExemptions(env: NodeJS.ProcessEnv = process.env): BlockList {
  const list = new BlockList();
  for (const raw of (env.STRATUS_SOURCE_LIMIT_EXEMPT ?? '').split(',')) {
    const entry = raw.trim();
    if (!entry) continue;
    const [addr, bits] = entry.split('/');
    const family = isIP(addr ?? '');
    if (!family) continue;
    const type = family === 4 ? 'ipv4' : 'ipv6';
    if (bits === undefined) list.addAddress(addr!, type);
    else if (/^\d+$/.test(bits) && Number(bits) <= (family === 4 ? 32 : 128)) list.addSubnet(addr!, Number(bits), type);
  }
  return list;
}

/** The eight 16-bit groups of an IPv6 address (isIP-valid), an embedded IPv4 tail included. */
function ipv6Groups(ip: string): number[] {
  let text = ip.toLowerCase().split('%')[0]!;
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (v4) {
    const b = v4.slice(1).map(Number);
    text = `${text.slice(0, v4.index)}${((b[0]! << 8) | b[1]!).toString(16)}:${((b[2]! << 8) | b[3]!).toString(16)}`;
  }
  const [head, tail] = text.includes('::') ? text.split('::') : [text, undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  return groups.map((g) => parseInt(g, 16));
}

/**
 * The key of a client address for the source budgets: an IPv4 address itself (an IPv4-mapped
 * IPv6 address too), an IPv6 address its /64 (one subscriber's usual allocation: anyone holding
 * a /64 could otherwise take a fresh budget per address), undefined when the address is missing
 * or not an address (nothing is limited then).
 */
export function sourceKey(ip: string | undefined): string | undefined {
  if (!ip) return undefined;
  const family = isIP(ip);
  if (family === 4) return ip;
  if (family !== 6) return undefined;
  const g = ipv6Groups(ip);
  if (g.length !== 8 || g.some((n) => !Number.isInteger(n) || n < 0 || n > 0xffff)) return undefined;
  if (g.slice(0, 5).every((n) => n === 0) && g[5] === 0xffff) return `${g[6]! >> 8}.${g[6]! & 0xff}.${g[7]! >> 8}.${g[7]! & 0xff}`;
  return `${g.slice(0, 4).map((n) => n.toString(16)).join(':')}::/64`;
}

/**
 * Tokens one lease of a source budget asks for: a quarter of the limit, between 1 and 25. A
 * source is usually served by few instances, so larger leases than a cluster's strand little and
 * save writes (at the default 10 failures a second: leases of 3).
 */
export const sourceLeaseSize = (limit: number): number => Math.max(1, Math.min(25, Math.ceil(limit / 4)));

export type LimitDecision = { readonly allowed: true } | { readonly allowed: false; readonly scope: 'cluster' | 'user' | 'source'; readonly retryAfterSeconds: number };

interface Bucket {
  window: number;
  tokens: number;
  /** The shared counter refused: no more of this window's budget. */
  exhausted: boolean;
  /** The previous window was over budget (or itself paced and refused): the budget opens over the second (pacedAllowance). */
  paced: boolean;
  /** A paced lease was refused: no budget before this time (ms). */
  pausedUntil: number;
  /** Requests this bucket refused in its window (a paced window that refused more than a lease's worth paces the next). */
  refused: number;
  /** Paced: the earliest time (ms) a token of this instance may be spent without running ahead of the limit's rate (pacedSpend). */
  due: number;
  /** The least the shared counter is known to hold (from this instance's last lease's answer). */
  knownUsed: number;
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
  /** The latest window in which some source budget was found exhausted by this instance. */
  private sourceExhaustedWindow = -1;
  /** The per-source budgets (options, else the environment's). */
  readonly sourceLimits: SourceLimits;
  private readonly exempt: BlockList;

  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly config: Config,
    private readonly opts: { now?: () => number; defaults?: RateLimits; limitsTtlMs?: number; onError?: (e: unknown) => void; sourceLimits?: SourceLimits; exempt?: BlockList } = {},
  ) {
    this.sourceLimits = opts.sourceLimits ?? sourceLimitsFromEnv();
    this.exempt = opts.exempt ?? sourceExemptions();
  }

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
    const now = this.now();
    const window = windowOf(now);
    if (window !== this.exhaustedWindow) return undefined;
    const state = (key: string, limit: number): { s: 'free' | 'tokens' | 'exhausted' | 'unknown'; b?: Bucket } => {
      if (limit <= 0) return { s: 'free' };
      const b = this.buckets.get(key);
      if (!b || b.window !== window) return { s: 'unknown' };
      if (b.tokens > 0 && b.paced && !pacedSpend(limit, b.due, now).ok) return { s: 'exhausted', b };
      if (b.tokens > 0) return { s: 'tokens', b };
      return { s: b.exhausted || b.pausedUntil > now ? 'exhausted' : 'unknown', b };
    };
    const u = state(`${cluster}#~ratelimit#u#${user}`, limits.user);
    if (u.s === 'exhausted') {
      u.b!.refused++;
      return { allowed: false, scope: 'user', retryAfterSeconds: retryAfterSeconds(now) };
    }
    if (u.s === 'unknown') return undefined;
    const c = state(`${cluster}#~ratelimit#c`, limits.cluster);
    if (c.s !== 'exhausted') return undefined;
    c.b!.refused++;
    if (u.b) this.spend(u.b, limits.user, now);
    return { allowed: false, scope: 'cluster', retryAfterSeconds: retryAfterSeconds(now) };
  }

  /** The source budgets' key of a client address: sourceKey's, or undefined when the address is exempt (or none). */
  sourceOf(ip: string | undefined): string | undefined {
    const key = sourceKey(ip);
    if (key === undefined) return undefined;
    const v6 = key.endsWith('/64');
    try {
      return this.exempt.check(v6 ? ip!.split('%')[0]! : key, v6 ? 'ipv6' : 'ipv4') ? undefined : key;
    } catch {
      return key;
    }
  }

  /** Whether some source budget was found exhausted in this instance during the current window. */
  someSourceExhaustedNow(): boolean {
    return windowOf(this.now()) === this.sourceExhaustedWindow;
  }

  /**
   * Retry-After seconds when `source`'s `scope` budget is known, in this instance's memory, to be
   * spent for the current second (the shared counter refused a lease); undefined otherwise.
   * Synchronous and free: the api asks it before verifying a token or reading the store.
   */
  refuseSourceFromMemory(scope: SourceScope, source: string): number | undefined {
    if (this.sourceLimits[scope] <= 0) return undefined;
    const window = windowOf(this.now());
    if (window !== this.sourceExhaustedWindow) return undefined;
    const b = this.buckets.get(`~source#${source}#${scope}`);
    return b && b.window === window && b.exhausted && b.tokens <= 0 ? retryAfterSeconds(this.now()) : undefined;
  }

  /** Spends one token of `source`'s `scope` budget (a failure that happened, or an anonymous request about to be served). */
  async takeSource(scope: SourceScope, source: string): Promise<LimitDecision> {
    const limit = this.sourceLimits[scope];
    if (limit <= 0 || (await this.takeOne(`~source#${source}`, scope, limit, sourceLeaseSize(limit), true))) return { allowed: true };
    return { allowed: false, scope: 'source', retryAfterSeconds: retryAfterSeconds(this.now()) };
  }

  /** Forgets cached limits (the operator changed them in this instance). */
  forget(cluster: string): void {
    this.limitCache.delete(cluster);
  }

  /** Takes one request's tokens for `user` of `cluster`: the user's budget first, then the cluster's. */
  async take(cluster: string, user: string, limits: RateLimits): Promise<LimitDecision> {
    if (limits.user > 0 && !(await this.takeOne(`${cluster}#~ratelimit`, `u#${user}`, limits.user, leaseSize(limits.user)))) return { allowed: false, scope: 'user', retryAfterSeconds: retryAfterSeconds(this.now()) };
    if (limits.cluster > 0 && !(await this.takeOne(`${cluster}#~ratelimit`, 'c', limits.cluster, leaseSize(limits.cluster)))) return { allowed: false, scope: 'cluster', retryAfterSeconds: retryAfterSeconds(this.now()) };
    return { allowed: true };
  }

  private bucket(key: string, window: number, pace: boolean, size: number): Bucket {
    let b = this.buckets.get(key);
    if (!b || b.window !== window) {
      // Over budget in the second just before: its counter refused at the limit, or, paced, it
      // refused more than a lease's worth (a client at about its limit, only paused by tokens
      // stranded in other instances, is free again the next second).
      const paced = pace && !!b && b.window === window - 1 && (b.exhausted || (b.paced && b.refused > size));
      if (this.buckets.size > 10_000) for (const [k, old] of this.buckets) if (old.window < window && !old.pending) this.buckets.delete(k);
      b = { window, tokens: 0, exhausted: false, paced, pausedUntil: 0, refused: 0, due: 0, knownUsed: 0 };
      this.buckets.set(key, b);
    }
    return b;
  }

  /** One token of the counter `pk`/`scopeKey` (leases of `size`); `source`: a source budget's, whose exhaustion refuseSourceFromMemory reads. */
  private async takeOne(pk: string, scopeKey: string, limit: number, size: number, source = false): Promise<boolean> {
    const key = `${pk}#${scopeKey}`;
    for (;;) {
      const now = this.now();
      const window = windowOf(now);
      // Source budgets count failures and are not paced: their whole second may be spent at once.
      const b = this.bucket(key, window, !source, size);
      if (b.tokens > 0) {
        if (b.paced && !pacedSpend(limit, b.due, now).ok) return this.refusePaced(b);
        this.spend(b, limit, now);
        return true;
      }
      if (b.exhausted || b.pausedUntil > now) {
        b.refused++;
        return false;
      }
      // Paced, and the counter already holds more than the allowance lets a lease through: wait
      // without asking (the answer would be a refusal).
      const resume = b.paced && !b.pending && b.knownUsed > 0 ? window * 1000 + pacedResumeMs(limit, b.knownUsed) : 0;
      if (now < resume) {
        b.pausedUntil = resume;
        return this.refusePaced(b);
      }
      // One lease in flight per bucket: concurrent requests of this instance wait for it.
      const cap = b.paced ? pacedAllowance(limit, size, now - window * 1000) : limit;
      b.pending ??= this.lease(pk, scopeKey, window, limit, size, cap).then(
        (n) => {
          b.tokens += n.granted;
          if (n.used !== undefined) b.knownUsed = Math.max(b.knownUsed, n.used);
          if (n.refused && cap < limit && (n.used === undefined || n.used < limit)) {
            // Paced: no lease fits before the allowance reaches the counter plus a lease (when
            // the refusal said what the counter holds), else for the time a lease takes to
            // grow; until then this bucket refuses from memory, with no write.
            b.pausedUntil = n.used === undefined ? this.now() + pacedPauseMs(limit, size) : b.window * 1000 + pacedResumeMs(limit, n.used);
            this.exhaustedWindow = Math.max(this.exhaustedWindow, b.window);
          } else if (n.refused) {
            b.exhausted = true;
            if (source) this.sourceExhaustedWindow = Math.max(this.sourceExhaustedWindow, b.window);
            else this.exhaustedWindow = Math.max(this.exhaustedWindow, b.window);
          }
        },
        () => undefined,
      ).finally(() => {
        b.pending = undefined;
      });
      await b.pending;
    }
  }

  /** Spends one of the bucket's tokens (paced: at the `limit`'s rate, pacedSpend). */
  private spend(b: Bucket, limit: number, now: number): void {
    b.tokens--;
    if (b.paced) b.due = pacedSpend(limit, b.due, now).due;
  }

  /** A refusal by pacing (not the window's end): counted, and marks the window for refusals from memory. */
  private refusePaced(b: Bucket): false {
    b.refused++;
    this.exhaustedWindow = Math.max(this.exhaustedWindow, b.window);
    return false;
  }

  /**
   * One conditional ADD of a lease's tokens to the window's counter, up to `cap` (the limit, or a
   * paced window's allowance so far). Under the limit a lease is all or nothing, so a paced
   * refusal adds nothing to the counter (a partial grant's ADD counts the whole lease, and the
   * rest would be lost to the second); at the limit a partial grant ends the window as always.
   * `refused`: fewer than asked fitted.
   */
  private async lease(pk: string, scopeKey: string, window: number, limit: number, size: number, cap: number): Promise<{ granted: number; refused: boolean; used?: number }> {
    const asked = Math.min(size, limit);
    // `used < condition`: under the limit, only when the whole lease fits under the cap.
    const condition = cap < limit ? cap - asked + 1 : cap;
    this.leases++;
    try {
      const out = await this.doc.send(
        new UpdateCommand({
          TableName: this.config.changesTable,
          Key: { pk, sk: `${scopeKey}#${window}` },
          UpdateExpression: 'ADD used :n SET #ttl = if_not_exists(#ttl, :ttl)',
          ConditionExpression: 'attribute_not_exists(used) OR used < :limit',
          ExpressionAttributeNames: { '#ttl': 'ttl' },
          ExpressionAttributeValues: { ':n': asked, ':limit': condition, ':ttl': window + 120 },
          ReturnValues: 'UPDATED_NEW',
          // A refusal says what the counter holds (no extra units): a paced bucket knows when to ask again.
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
      const usedAfter = Number(out.Attributes?.used ?? asked);
      const granted = grantedTokens(cap, asked, usedAfter);
      return { granted, refused: granted < asked, used: usedAfter };
    } catch (e) {
      if ((e as Error).name === 'ConditionalCheckFailedException') {
        // The old item comes back in DynamoDB's own format (the document client leaves errors alone).
        const used = Number((e as { Item?: { used?: { N?: string } } }).Item?.used?.N);
        return { granted: 0, refused: true, ...(Number.isFinite(used) ? { used } : {}) };
      }
      // Fail open: one token, and the next request asks again.
      this.opts.onError?.(e);
      return { granted: 1, refused: false };
    }
  }
}
