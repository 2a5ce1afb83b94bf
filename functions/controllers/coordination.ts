import { randomUUID } from 'node:crypto';
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { DeleteCommand, GetCommand, PutCommand, QueryCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Config } from '../../shared/config';
import { assertSetsTimers } from '../../shared/controllers';

/*
 * Per-key leases and timers for the controllers, in the changes table (not streamed, with TTL).
 *
 * Leases give what client-go's workqueue gives a controller manager: one key is never reconciled
 * by two workers at once, and a key that changes while it is being reconciled is reconciled
 * again ("dirty"). Lambda runs stream batches and schedules concurrently (shards, retries), and
 * two invocations that both saw "0 of 3 pods" would create 6; under a lease the second one reads
 * (strongly consistent) after the first one's writes and creates none.
 *
 * Timers are Kubernetes' AddAfter: "reconcile this key at T", for work that time drives
 * (CronJob schedules, progress deadlines, minReadySeconds, activeDeadlineSeconds, TTLs). Only
 * keys that asked for one cost anything: an idle tenant has no timers.
 * Cost: a reconcile is 2 lease writes (+1 when dirty); a timer is 1 write, 1 query, 1 delete.
 *
 * Timers are kept in the table and run by the schedule (every minute on AWS: EventBridge's
 * finest rate). A timer due within SQS's 15-minute delay also sends one delayed message to the
 * tick queue (`wake`), whose consumer runs it at its time: the HPA's 15 s period and a CronJob's
 * minute are kept on AWS too. The table stays the truth: a lost message (a local restart, the
 * emulator keeps queues in memory) only means the schedule runs the timer, up to a minute late.
 * Only a new timer sends (the put is conditional), so timers that repeat themselves never
 * multiply their messages: +3 SQS requests and one Lambda invocation per timer.
 */

const LEASE_SECONDS = 90; // longer than the function timeout: a live holder never loses it
const TIMERS_PK = '~timers';

const isConditionFailed = (e: unknown) => e instanceof ConditionalCheckFailedException || (e as { name?: string })?.name === 'ConditionalCheckFailedException';

/** Sends the tick-queue message that runs timer `sk` in `delaySeconds` (0-900). */
export type TimerWake = (sk: string, delaySeconds: number) => Promise<void>;

/** SQS's longest per-message delay. */
export const MAX_WAKE_DELAY_SECONDS = 900;

/** A timer's table key parsed (`${dueISO}#${tenant}#${key}`), or undefined. */
export function parseTimerSk(sk: string): TimerEntry | undefined {
  const m = /^([^#]+)#([^#]+)#(.+)$/.exec(sk);
  if (!m) return undefined;
  const due = new Date(m[1]!);
  return Number.isNaN(due.getTime()) ? undefined : { sk, due, tenant: m[2]!, key: m[3]! };
}

export interface TimerEntry {
  readonly sk: string;
  readonly tenant: string;
  readonly key: string;
  readonly due: Date;
}

/** Contract: all methods are idempotent; a lost timer delete only means one extra reconcile. */
export class Coordination {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly config: Config,
    /** Delayed wake-ups of new timers (see the file's header); without it the schedule alone runs them. */
    private readonly wake?: TimerWake,
  ) {}

  private leaseKey(tenant: string, key: string) {
    return { pk: `${tenant}#~controllers`, sk: key };
  }

  /**
   * Runs `work` holding the lease on `key`, again while others marked the key dirty meanwhile.
   * When another worker holds the lease, marks it dirty and returns false: the holder reconciles
   * once more before letting go, so the change is never lost.
   */
  async exclusive(tenant: string, key: string, work: () => Promise<void>): Promise<boolean> {
    const owner = randomUUID();
    for (;;) {
      const now = Math.floor(Date.now() / 1000);
      try {
        await this.doc.send(
          new PutCommand({
            TableName: this.config.changesTable,
            Item: { ...this.leaseKey(tenant, key), holder: owner, expires: now + LEASE_SECONDS, ttl: now + LEASE_SECONDS * 10 },
            ConditionExpression: 'attribute_not_exists(pk) OR expires < :now',
            ExpressionAttributeValues: { ':now': now },
          }),
        );
        break;
      } catch (e) {
        if (!isConditionFailed(e)) throw e;
      }
      try {
        await this.doc.send(
          new UpdateCommand({
            TableName: this.config.changesTable,
            Key: this.leaseKey(tenant, key),
            UpdateExpression: 'SET dirty = :t',
            ConditionExpression: 'attribute_exists(pk) AND expires >= :now',
            ExpressionAttributeValues: { ':t': true, ':now': now },
          }),
        );
        return false;
      } catch (e) {
        if (!isConditionFailed(e)) throw e; // released or expired meanwhile: try to take it
      }
    }
    try {
      for (;;) {
        await work();
        try {
          await this.doc.send(
            new DeleteCommand({
              TableName: this.config.changesTable,
              Key: this.leaseKey(tenant, key),
              ConditionExpression: 'holder = :me AND attribute_not_exists(dirty)',
              ExpressionAttributeValues: { ':me': owner },
            }),
          );
          return true;
        } catch (e) {
          if (!isConditionFailed(e)) throw e;
        }
        // Dirty (someone saw a change while we worked): clear the mark and reconcile again.
        try {
          await this.doc.send(
            new UpdateCommand({
              TableName: this.config.changesTable,
              Key: this.leaseKey(tenant, key),
              UpdateExpression: 'REMOVE dirty SET expires = :exp',
              ConditionExpression: 'holder = :me',
              ExpressionAttributeValues: { ':me': owner, ':exp': Math.floor(Date.now() / 1000) + LEASE_SECONDS },
            }),
          );
        } catch (e) {
          if (isConditionFailed(e)) return true; // lease expired and taken over: the new holder reconciles
          throw e;
        }
      }
    } catch (e) {
      // Let go so a retry need not wait for the lease to expire.
      await this.doc
        .send(new DeleteCommand({ TableName: this.config.changesTable, Key: this.leaseKey(tenant, key), ConditionExpression: 'holder = :me', ExpressionAttributeValues: { ':me': owner } }))
        .catch(() => undefined);
      throw e;
    }
  }

  /** Asks for `key` to be reconciled at `due` (the schedule function runs due timers). */
  async requeueAt(tenant: string, key: string, due: Date): Promise<void> {
    // The key's first field is its controller (dispatch.ts keyString).
    assertSetsTimers(key.split('|')[0] ?? '');
    // One timer per key and second is plenty; repeats overwrite themselves.
    const when = new Date(Math.ceil(due.getTime() / 1000) * 1000);
    const sk = `${when.toISOString()}#${tenant}#${key}`;
    try {
      await this.doc.send(
        new PutCommand({
          TableName: this.config.changesTable,
          Item: { pk: TIMERS_PK, sk, ttl: Math.floor(due.getTime() / 1000) + 7 * 86400 },
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      );
    } catch (e) {
      if (isConditionFailed(e)) return; // already set: its wake-up was sent with it
      throw e;
    }
    const delaySeconds = Math.max(0, Math.ceil((when.getTime() - Date.now()) / 1000));
    // A failed send is not the timer's failure: the schedule still runs it.
    if (this.wake && delaySeconds <= MAX_WAKE_DELAY_SECONDS) await this.wake(sk, delaySeconds).catch(() => undefined);
  }

  /** Timers due at `now`, oldest first. A single partition: fine at this scale (shard it by hash suffix for more). */
  async due(now: Date, limit = 500): Promise<TimerEntry[]> {
    const out = await this.doc.send(
      new QueryCommand({
        TableName: this.config.changesTable,
        KeyConditionExpression: 'pk = :pk AND sk <= :now',
        ExpressionAttributeValues: { ':pk': TIMERS_PK, ':now': `${now.toISOString()}~` },
        Limit: limit,
        ConsistentRead: true,
      }),
    );
    return (out.Items ?? []).flatMap((item) => {
      const entry = parseTimerSk(String(item.sk));
      return entry ? [entry] : [];
    });
  }

  /** Whether timer `entry` is still set (not yet run and dropped). */
  async isSet(entry: TimerEntry): Promise<boolean> {
    const out = await this.doc.send(new GetCommand({ TableName: this.config.changesTable, Key: { pk: TIMERS_PK, sk: entry.sk }, ConsistentRead: true, ProjectionExpression: 'pk' }));
    return out.Item !== undefined;
  }

  async done(entry: TimerEntry): Promise<void> {
    await this.doc.send(new DeleteCommand({ TableName: this.config.changesTable, Key: { pk: TIMERS_PK, sk: entry.sk } }));
  }
}
