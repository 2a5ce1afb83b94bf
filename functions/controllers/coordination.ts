import { randomUUID } from 'node:crypto';
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { DeleteCommand, PutCommand, QueryCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
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
 */

const LEASE_SECONDS = 90; // longer than the function timeout: a live holder never loses it
const TIMERS_PK = '~timers';

const isConditionFailed = (e: unknown) => e instanceof ConditionalCheckFailedException || (e as { name?: string })?.name === 'ConditionalCheckFailedException';

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
    const when = new Date(Math.ceil(due.getTime() / 1000) * 1000).toISOString();
    await this.doc.send(
      new PutCommand({
        TableName: this.config.changesTable,
        Item: { pk: TIMERS_PK, sk: `${when}#${tenant}#${key}`, ttl: Math.floor(due.getTime() / 1000) + 7 * 86400 },
      }),
    );
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
      const sk = String(item.sk);
      const m = /^([^#]+)#([^#]+)#(.+)$/.exec(sk);
      return m ? [{ sk, due: new Date(m[1]!), tenant: m[2]!, key: m[3]! }] : [];
    });
  }

  async done(entry: TimerEntry): Promise<void> {
    await this.doc.send(new DeleteCommand({ TableName: this.config.changesTable, Key: { pk: TIMERS_PK, sk: entry.sk } }));
  }
}
