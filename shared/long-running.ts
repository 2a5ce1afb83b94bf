/**
 * Fairness for long-running requests: a per-cluster and per-user cap on how many watches, log
 * follows and exec/attach/port-forward sessions are open at once, counted across every instance
 * of the api function (docs/cost.md "Rate limits and fairness", docs/security.md).
 *
 * The request rate limits (shared/rate-limit.ts) leave long-running requests alone, as
 * kube-apiserver's max-inflight filter does; but on AWS an open watch holds a Lambda instance of
 * the api's concurrency for up to 15 minutes, so one tenant's many watches could take what every
 * other tenant needs. The cap bounds that.
 *
 * Each open stream holds a numbered slot: an item in the `changes` table
 *
 *   pk `${cluster}#~longrun`, sk `c#${i}` (the cluster's slots, 0 ≤ i < cluster cap) and
 *   sk `u#${user}#${i}` (the user's slots, 0 ≤ i < user cap; the user name URI-encoded);
 *   `holder` (the stream's random id), `exp` (ms since the epoch), `ttl` (s, DynamoDB TTL)
 *
 * Taking slots: one strongly consistent Query per capped scope reads the slots that are held and
 * live (exp in the future); a free number is picked at random and written with a conditional
 * Put ("no such slot, or its exp has passed"), both scopes in one TransactWriteItems. Two
 * instances racing for one number: one wins, the other reads again and picks another (up to
 * ACQUIRE_ATTEMPTS times). So the cap is exact across instances: no two live holders of a number,
 * and no number at or above the cap. A cap lowered below the live count refuses new streams
 * until enough have closed.
 *
 * Holding: the holder renews `exp` every RENEW_EVERY_MS (a conditional UpdateItem on its own
 * `holder`), so a slot lives SLOT_TTL_MS past its last renewal. An instance that dies mid-stream
 * (crash, Lambda timeout, a killed local stack) stops renewing and its slots stop counting within
 * SLOT_TTL_MS. A holder also stops renewing after its `maxHoldMs` (a watch or log follow: the
 * api invocation's 15 minutes and a minute), so a stream whose close was never seen cannot hold a
 * slot for ever.
 *
 * Freeing: the stream's close (client gone, timeoutSeconds reached, an error, the server
 * destroying its streams at shutdown) deletes the items (conditional on `holder`: a slot that
 * expired and was taken by another stream is left to it). A local api instance that stops also
 * frees whatever it still holds (releaseAll, through functions/api/handler.ts `shutdown`, which
 * the local runtime calls); Lambda offers no shutdown call to rely on, so there a vanished
 * instance's slots expire (SLOT_TTL_MS).
 *
 * A DynamoDB failure lets the request through without a slot (logged through onError): the cap
 * must not take the API down with it, as the rate limiter does not.
 *
 * Nodes (group system:nodes) are exempt: their identities are minted by the operator's join flow,
 * not by a tenant's users, and a node fleet must never be locked out of its watches by a tenant's
 * many users. Cost per open and per open-hour in docs/cost.md.
 */
import { randomInt, randomUUID } from 'node:crypto';
import { DeleteCommand, GetCommand, PutCommand, QueryCommand, TransactWriteCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Config } from './config';
import { queryBool } from './query';
import { isValidLimit } from './rate-limit';

/** Open long-running requests at once; 0 means no cap. */
export interface LongRunningLimits {
  readonly cluster: number;
  readonly user: number;
}

/**
 * What a cluster gets unless created with others (`stratus cluster create --long-running-limit N
 * --user-long-running-limit N`). 200 open streams per cluster: a kubectl `get -w` holds one, the
 * dashboard a handful, a controller one per kind it informs on, so 200 is room for dozens of
 * people and tools at once; 100 per user leaves any single user (or ServiceAccount) half of it.
 * With AWS's default of 1,000 concurrent Lambda executions per account and Region, five tenants at
 * their cap would fill a default account: an operator with many tenants raises the account's quota
 * or lowers this default (STRATUS_DEFAULT_LONG_RUNNING_LIMIT).
 */
export const DEFAULT_LONG_RUNNING_LIMITS: LongRunningLimits = { cluster: 200, user: 100 };

/** The env settings of the deployment's defaults. */
export const LONG_RUNNING_LIMIT_ENV = { cluster: 'STRATUS_DEFAULT_LONG_RUNNING_LIMIT', user: 'STRATUS_DEFAULT_USER_LONG_RUNNING_LIMIT' } as const;

/** The deployment's defaults: LONG_RUNNING_LIMIT_ENV settings when valid limits, else DEFAULT_LONG_RUNNING_LIMITS. */
export function defaultLongRunningLimits(env: NodeJS.ProcessEnv = process.env): LongRunningLimits {
  const read = (v: string | undefined, d: number) => (v !== undefined && v.trim() !== '' && isValidLimit(Number(v)) ? Number(v) : d);
  return { cluster: read(env[LONG_RUNNING_LIMIT_ENV.cluster], DEFAULT_LONG_RUNNING_LIMITS.cluster), user: read(env[LONG_RUNNING_LIMIT_ENV.user], DEFAULT_LONG_RUNNING_LIMITS.user) };
}

/** How long a slot lives past its holder's last renewal: a dead instance's slots free themselves within this. */
export const SLOT_TTL_MS = 120_000;
/** How often a holder renews its slots (three chances per SLOT_TTL_MS). */
export const RENEW_EVERY_MS = 40_000;
/** Reads and writes one acquisition tries when other instances take the numbers it picked. */
const ACQUIRE_ATTEMPTS = 4;
/** Retry-After of a refusal: kube-apiserver's max-inflight filter says 1 s too. */
export const LONG_RUNNING_RETRY_AFTER_SECONDS = 1;

/**
 * Whether a request holds a slot while open: a watch, a followed log, exec, attach, port-forward.
 * (pods/proxy and services/proxy are long-running to kube-apiserver but are proxied requests that
 * end with their answer; they are not capped.)
 */
export function holdsSlot(method: string, subresource: string | undefined, query: URLSearchParams): boolean {
  if (subresource === 'exec' || subresource === 'attach' || subresource === 'portforward') return true;
  if (subresource === undefined) return method === 'GET' && queryBool(query, 'watch');
  return subresource === 'log' && method === 'GET' && queryBool(query, 'follow');
}

/** Whether an identity is outside the cap: node agents (operator-minted identities). */
export const exemptFromCap = (groups: readonly string[]): boolean => groups.includes('system:nodes');

export const longRunningPk = (cluster: string): string => `${cluster}#~longrun`;
/** The sort key prefix of a scope's slots. */
export const slotPrefix = (scope: 'cluster' | 'user', user: string): string => (scope === 'cluster' ? 'c#' : `u#${encodeURIComponent(user)}#`);

/** The slot numbers of `items` (sk PREFIX + number) that are live at `nowMs`: exp in the future. */
export function liveSlots(items: readonly { sk?: unknown; exp?: unknown }[], prefix: string, nowMs: number): Set<number> {
  const live = new Set<number>();
  for (const item of items) {
    if (typeof item.sk !== 'string' || !item.sk.startsWith(prefix) || typeof item.exp !== 'number' || item.exp <= nowMs) continue;
    const n = Number(item.sk.slice(prefix.length));
    if (Number.isInteger(n) && n >= 0) live.add(n);
  }
  return live;
}

/**
 * A free slot number under `limit`: the first free one from a random start, wrapping around
 * (instances racing start apart more often; at most live.size + 1 numbers looked at), or
 * undefined when `live` already holds `limit` or more (numbers at or above the limit count too:
 * a lowered cap is full until enough streams close).
 */
export function pickFreeSlot(limit: number, live: ReadonlySet<number>, random: (n: number) => number = randomInt): number | undefined {
  if (limit <= 0 || live.size >= limit) return undefined;
  const start = random(limit);
  for (let i = 0; i < limit; i++) {
    const n = (start + i) % limit;
    if (!live.has(n)) return n;
  }
  return undefined;
}

/** An open stream's hold on its slots; release() is idempotent and never throws. */
export interface Slot {
  release(): Promise<void>;
}

const NO_SLOT: Slot = { release: async () => undefined };

export type SlotDecision = { readonly allowed: true; readonly slot: Slot } | { readonly allowed: false; readonly scope: 'cluster' | 'user'; readonly retryAfterSeconds: number };

interface SlotKey {
  readonly pk: string;
  readonly sk: string;
}

/** Per-instance side of the shared slots: one per api function instance. */
export class LongRunningSlots {
  /** DynamoDB requests made (queries, puts, renewals, deletes), for tests and benchmarks. */
  requests = 0;
  /** Streams this instance holds slots for now. */
  private readonly held = new Set<HeldSlot>();
  private readonly limitCache = new Map<string, { limits: LongRunningLimits; until: number }>();
  private readonly limitReads = new Map<string, Promise<LongRunningLimits>>();

  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly config: Config,
    private readonly opts: { now?: () => number; onError?: (e: unknown) => void; random?: (n: number) => number; ttlMs?: number; renewMs?: number; defaults?: LongRunningLimits; limitsTtlMs?: number } = {},
  ) {}

  /** The caps of `cluster` (its registry item's, else the deployment's defaults), cached for 10 s per instance; one read in flight per cluster. */
  limitsOf(cluster: string): Promise<LongRunningLimits> {
    const cached = this.limitCache.get(cluster);
    const t = Date.now();
    if (cached && cached.until > t) return Promise.resolve(cached.limits);
    let pending = this.limitReads.get(cluster);
    if (!pending) {
      pending = this.readLimits(cluster, t).finally(() => this.limitReads.delete(cluster));
      this.limitReads.set(cluster, pending);
    }
    return pending;
  }

  private async readLimits(cluster: string, t: number): Promise<LongRunningLimits> {
    const defaults = this.opts.defaults ?? defaultLongRunningLimits();
    let limits = defaults;
    try {
      this.requests++;
      const out = await this.doc.send(new GetCommand({ TableName: this.config.objectsTable, Key: { pk: '~clusters', sk: cluster }, ProjectionExpression: 'longRunningLimit, userLongRunningLimit' }));
      limits = {
        cluster: isValidLimit(out.Item?.longRunningLimit) ? out.Item.longRunningLimit : defaults.cluster,
        user: isValidLimit(out.Item?.userLongRunningLimit) ? out.Item.userLongRunningLimit : defaults.user,
      };
    } catch (e) {
      this.opts.onError?.(e);
    }
    if (this.limitCache.size > 10_000) this.limitCache.clear();
    this.limitCache.set(cluster, { limits, until: t + (this.opts.limitsTtlMs ?? 10_000) });
    return limits;
  }

  /** Forgets cached caps (the operator changed them in this instance). */
  forget(cluster: string): void {
    this.limitCache.delete(cluster);
    this.limitReads.delete(cluster);
  }

  now(): number {
    return this.opts.now ? this.opts.now() : Date.now();
  }

  /** Streams this instance holds slots for. */
  get open(): number {
    return this.held.size;
  }

  /**
   * Takes a slot of `user` and one of `cluster` for a stream about to open (the user's cap first,
   * as the rate limits check the user's budget first). `maxHoldMs`: stop renewing after it.
   */
  async acquire(cluster: string, user: string, limits: LongRunningLimits, maxHoldMs?: number): Promise<SlotDecision> {
    if (limits.cluster <= 0 && limits.user <= 0) return { allowed: true, slot: NO_SLOT };
    const pk = longRunningPk(cluster);
    const scopes = (['user', 'cluster'] as const).filter((s) => limits[s] > 0);
    try {
      for (let attempt = 0; attempt < ACQUIRE_ATTEMPTS; attempt++) {
        const now = this.now();
        const picked: SlotKey[] = [];
        const lives = await Promise.all(scopes.map((s) => this.live(pk, slotPrefix(s, user), now)));
        for (let i = 0; i < scopes.length; i++) {
          const scope = scopes[i]!;
          const n = pickFreeSlot(limits[scope], lives[i]!, this.opts.random);
          if (n === undefined) return { allowed: false, scope, retryAfterSeconds: LONG_RUNNING_RETRY_AFTER_SECONDS };
          picked.push({ pk, sk: `${slotPrefix(scope, user)}${n}` });
        }
        const holder = randomUUID();
        if (await this.put(picked, holder, now)) {
          const slot = new HeldSlot(this, picked, holder, now + (maxHoldMs ?? Number.POSITIVE_INFINITY));
          this.held.add(slot);
          return { allowed: true, slot };
        }
      }
      // Every number it picked was taken meanwhile, attempt after attempt: the caps are (nearly) full.
      return { allowed: false, scope: scopes[scopes.length - 1]!, retryAfterSeconds: LONG_RUNNING_RETRY_AFTER_SECONDS };
    } catch (e) {
      // Fail open: the stream goes ahead uncounted.
      this.opts.onError?.(e);
      return { allowed: true, slot: NO_SLOT };
    }
  }

  /** Releases in flight (deletes not answered yet). */
  private readonly releasing = new Set<Promise<void>>();

  /**
   * Resolves once the releases in flight are done: the api handler awaits it before it returns,
   * since on Lambda work after the return may never run (the slot would then wait for its expiry).
   */
  async settled(): Promise<void> {
    while (this.releasing.size) await Promise.all([...this.releasing]);
  }

  /** @internal */
  track(p: Promise<void>): void {
    this.releasing.add(p);
    void p.finally(() => this.releasing.delete(p));
  }

  /** Frees every slot this instance holds (its streams are being torn down). */
  async releaseAll(): Promise<void> {
    await Promise.all([...this.held].map((s) => s.release()));
  }

  private async live(pk: string, prefix: string, now: number): Promise<Set<number>> {
    const items: Record<string, unknown>[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      this.requests++;
      const out = await this.doc.send(
        new QueryCommand({
          TableName: this.config.changesTable,
          KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
          ExpressionAttributeValues: { ':pk': pk, ':prefix': prefix },
          ProjectionExpression: 'sk, #exp',
          ExpressionAttributeNames: { '#exp': 'exp' },
          ConsistentRead: true,
          ExclusiveStartKey: start,
        }),
      );
      items.push(...(out.Items ?? []));
      start = out.LastEvaluatedKey;
    } while (start);
    return liveSlots(items, prefix, now);
  }

  private item(key: SlotKey, holder: string, now: number): Record<string, unknown> {
    const exp = now + this.ttlMs;
    return { ...key, holder, exp, ttl: Math.ceil(exp / 1000) + 3600 };
  }

  get ttlMs(): number {
    return this.opts.ttlMs ?? SLOT_TTL_MS;
  }

  get renewMs(): number {
    return this.opts.renewMs ?? RENEW_EVERY_MS;
  }

  /** Writes the slots if each is free or expired; false when another holder has one of them. */
  private async put(keys: readonly SlotKey[], holder: string, now: number): Promise<boolean> {
    const condition = { ConditionExpression: 'attribute_not_exists(sk) OR #exp <= :now', ExpressionAttributeNames: { '#exp': 'exp' }, ExpressionAttributeValues: { ':now': now } };
    this.requests++;
    try {
      if (keys.length === 1) await this.doc.send(new PutCommand({ TableName: this.config.changesTable, Item: this.item(keys[0]!, holder, now), ...condition }));
      else await this.doc.send(new TransactWriteCommand({ TransactItems: keys.map((k) => ({ Put: { TableName: this.config.changesTable, Item: this.item(k, holder, now), ...condition } })) }));
      return true;
    } catch (e) {
      const name = (e as Error).name;
      if (name === 'ConditionalCheckFailedException') return false;
      if (name === 'TransactionCanceledException' && ((e as { CancellationReasons?: { Code?: string }[] }).CancellationReasons ?? []).some((r) => r.Code === 'ConditionalCheckFailed')) return false;
      throw e;
    }
  }

  /** Pushes the slots' expiry forward; the keys still held by `holder` (a slot taken over after it expired is lost). */
  async renew(keys: readonly SlotKey[], holder: string): Promise<SlotKey[]> {
    const kept: SlotKey[] = [];
    const now = this.now();
    const exp = now + this.ttlMs;
    await Promise.all(
      keys.map(async (key) => {
        this.requests++;
        try {
          await this.doc.send(
            new UpdateCommand({
              TableName: this.config.changesTable,
              Key: key,
              UpdateExpression: 'SET #exp = :exp, #ttl = :ttl',
              ConditionExpression: 'holder = :holder',
              ExpressionAttributeNames: { '#exp': 'exp', '#ttl': 'ttl' },
              ExpressionAttributeValues: { ':exp': exp, ':ttl': Math.ceil(exp / 1000) + 3600, ':holder': holder },
            }),
          );
          kept.push(key);
        } catch (e) {
          if ((e as Error).name === 'ConditionalCheckFailedException') return;
          // A failed renewal keeps the key: the next one may work (the slot expires meanwhile at worst).
          kept.push(key);
          this.opts.onError?.(e);
        }
      }),
    );
    return kept;
  }

  /** Deletes the slots that `holder` still holds. */
  async free(keys: readonly SlotKey[], holder: string): Promise<void> {
    await Promise.all(
      keys.map(async (key) => {
        this.requests++;
        try {
          await this.doc.send(new DeleteCommand({ TableName: this.config.changesTable, Key: key, ConditionExpression: 'holder = :holder', ExpressionAttributeValues: { ':holder': holder } }));
        } catch (e) {
          if ((e as Error).name !== 'ConditionalCheckFailedException') this.opts.onError?.(e);
        }
      }),
    );
  }

  /** @internal */
  forgetHeld(slot: HeldSlot): void {
    this.held.delete(slot);
  }
}

/** A stream's slots: renewed on a timer while open, deleted at release. */
class HeldSlot implements Slot {
  private timer: NodeJS.Timeout | undefined;
  private released: Promise<void> | undefined;
  private keys: SlotKey[];

  constructor(
    private readonly owner: LongRunningSlots,
    keys: SlotKey[],
    private readonly holder: string,
    private readonly renewUntil: number,
  ) {
    this.keys = keys;
    this.schedule();
  }

  private schedule(): void {
    this.timer = setTimeout(() => void this.renew(), this.owner.renewMs);
    this.timer.unref();
  }

  private async renew(): Promise<void> {
    this.timer = undefined;
    if (this.released) return;
    // Past its longest life the stream should be gone: let the slots expire rather than renew for ever.
    if (this.owner.now() >= this.renewUntil) return;
    this.keys = await this.owner.renew(this.keys, this.holder);
    if (!this.released && this.keys.length) this.schedule();
  }

  release(): Promise<void> {
    this.released ??= (async () => {
      if (this.timer) clearTimeout(this.timer);
      this.owner.forgetHeld(this);
      await this.owner.free(this.keys, this.holder);
    })();
    this.owner.track(this.released);
    return this.released;
  }
}
