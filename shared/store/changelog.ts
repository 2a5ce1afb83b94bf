import { TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import { GetCommand, PutCommand, QueryCommand, TransactWriteCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Config } from '../config';
import { gone } from '../errors';
import type { KubeObject, ResourceType } from '../resources';
import type { Clock } from './clock';
import { decodeStored, encodeStored, isSecretsPartition, withDataKeys } from '../secrets/store-codec';
import { decodeValue, encodeValue } from './codec';
import { pad, partitionKey, SEQUENCE_SK, VERSION_DIGITS } from './keys';

/*
 * The change log of one sequence (tenant, resource type), read side: watches (changesSince),
 * the version a list returns (currentVersion), and what a reader does at a gap: wait, void it,
 * or answer 410. The write side is sequence.ts; the proof that the two fit is at the top of
 * store.ts.
 */

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface ChangeEvent {
  readonly type: WatchEventType;
  readonly resourceVersion: number;
  readonly object: KubeObject;
}

/** How long a reader waits at a gap before it voids it, unless configured (config.logGapTimeoutMs). */
export const DEFAULT_GAP_TIMEOUT_MS = 1_000;
/**
 * An entry written longer ago than this proves every version reserved before its own resolved:
 * writers commit within WRITER_DEADLINE_MS (2 s, sequence.ts) plus the SDK's bounded retries of
 * reserving, or never. Where the cold watermark starts, and how long a gap that may be expired
 * history is waited at before it is passed (lists) or answered with 410 (watches).
 */
export const RESOLVED_AFTER_MS = 30_000;
/** Log entries a watermark read takes per page. */
const WATERMARK_PAGE = 500;
/** A gap after an entry older than the log's TTL minus this may be expired history (410), not a dead writer. */
const EXPIRY_MARGIN_S = 1_200;
/** Void entries one reader transaction writes at most (DynamoDB's limit on a transaction's items). */
const VOID_CHUNK = 100;

/** What a log entry covers: versions first..last, and when it was written (its ttl's second). */
export interface EntryRange {
  readonly first: number;
  readonly last: number;
  readonly writtenSec: number;
}

export function entryRange(item: Record<string, unknown>, ttlSeconds: number): EntryRange {
  const first = Number(item.sk);
  return { first, last: first + (typeof item.n === 'number' ? item.n : 1) - 1, writtenSec: Number(item.ttl) - ttlSeconds };
}

/**
 * The changes one log entry holds, oldest first. An entry is keyed by the FIRST version it
 * holds (sk); a single change stores `type` and `o` (the object), a group of `n` changes (one
 * transaction's, versions sk..sk+n-1) stores `n` and `o` = the list of [type, object]; a void
 * entry (`void`, `n`) holds versions that were reserved and will never hold a change.
 */
export function entryEvents(item: Record<string, unknown>): ChangeEvent[] {
  const first = Number(item.sk);
  if (item.void) return [];
  const pk = String(item.pk);
  if (typeof item.n !== 'number') return [{ type: item.type as WatchEventType, resourceVersion: first, object: decodeStored(pk, item.o) }];
  const changes = decodeValue(item.o) as [WatchEventType, KubeObject | { [SEALED]: string }][];
  const objectOf = (o: KubeObject | { [SEALED]: string }) => (SEALED in o ? decodeStored(pk, Buffer.from(String((o as Record<string, unknown>)[SEALED]), 'base64')) : (o as KubeObject));
  return changes.map(([type, object], i) => ({ type, resourceVersion: first + i, object: objectOf(object) }));
}

/** In a group entry of Secrets, a change's object as a base64 envelope (secrets/envelope.ts). */
const SEALED = '~sealed';

/** The change-log entry of one transaction's changes (versions first..first+changes-1); see entryEvents. */
export function logEntry(pk: string, first: number, changes: readonly { type: WatchEventType; object: KubeObject }[], ttl: number): Record<string, unknown> {
  const sk = pad(first);
  if (changes.length === 1) return { pk, sk, type: changes[0]!.type, o: encodeStored(pk, changes[0]!.object), ttl };
  // A group of Secrets: each sealed on its own (shared/secrets/store-codec.ts), as base64 in the list.
  const sealed = isSecretsPartition(pk);
  const body = (o: KubeObject) => (sealed ? { [SEALED]: Buffer.from(encodeStored(pk, o)).toString('base64') } : o);
  return { pk, sk, n: changes.length, o: encodeValue(changes.map((c) => [c.type, body(c.object)])), ttl };
}

/** The entry saying versions first..first+n-1 were reserved and will never hold a change. */
export function voidEntry(pk: string, first: number, n: number, ttl: number): Record<string, unknown> {
  return { pk, sk: pad(first), n, void: true, ttl };
}

/** What a reader does at a gap: see ChangeLog.gapVerdict. */
type GapVerdict = 'wait' | 'void' | 'expired';

/**
 * The read side of every sequence of one store instance. Keeps, per sequence, the watermark it
 * found last and the ends of entries it read lately (a warm Lambda continues from them).
 */
export class ChangeLog {
  /** Per sequence: the resolved watermark this process found last. */
  private readonly watermarks = new Map<string, number>();
  /** Per sequence: entry ends this process read lately, with their write second (readers continue from them). */
  private readonly ends = new Map<string, Map<number, number>>();

  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly config: Config,
    private readonly clock: Clock,
  ) {}

  /**
   * The resourceVersion of this resource type in this tenant that a list returns: the resolved
   * watermark, the highest version at or below which every version is committed or will never
   * be (0 before any write). See the design note in store.ts.
   */
  async currentVersion(tenant: string, rt: ResourceType): Promise<number> {
    const pk = partitionKey(tenant, rt);
    let w = this.watermarks.get(pk) ?? (await this.coldWatermark(pk));
    for (;;) {
      const step = await this.readLog(pk, w, WATERMARK_PAGE, 'watermark');
      w = step.through;
      if (!step.more) break;
    }
    this.watermarks.set(pk, w);
    return w;
  }

  /**
   * Changes after `afterVersion`, oldest first, from up to `limit` log entries; 410 Expired when
   * history is gone. Versions may skip (reserved and never used); the changes returned are every
   * change after `afterVersion` up to the first gap that may still be a write in flight.
   */
  async changesSince(tenant: string, rt: ResourceType, afterVersion: number, limit: number): Promise<ChangeEvent[]> {
    return (await this.readLog(partitionKey(tenant, rt), afterVersion, limit, 'watch')).events;
  }

  private rememberEnd(pk: string, version: number, writtenSec: number): void {
    let m = this.ends.get(pk);
    if (!m) this.ends.set(pk, (m = new Map<number, number>()));
    m.set(version, writtenSec);
    if (m.size > 256) m.delete(m.keys().next().value!);
  }

  /**
   * Where a process that knows nothing of a sequence starts looking for its watermark: the end
   * of the newest entry written more than RESOLVED_AFTER_MS ago (every version reserved before
   * it is resolved: its writer's deadline is long past), found by reading the log backwards
   * from the last reserved version; 0 when there is none.
   */
  private async coldWatermark(pk: string): Promise<number> {
    const seq = await this.doc.send(new GetCommand({ TableName: this.config.changesTable, Key: { pk, sk: SEQUENCE_SK }, ConsistentRead: true }));
    const reserved = typeof seq.Item?.v === 'number' ? seq.Item.v : 0;
    if (reserved === 0) return 0;
    const { found } = await this.entryWrittenBefore(pk, reserved, this.clock.now() - RESOLVED_AFTER_MS);
    if (!found) return 0;
    this.rememberEnd(pk, found.last, found.writtenSec);
    return found.last;
  }

  private gapTimeoutMs(): number {
    return this.config.logGapTimeoutMs ?? DEFAULT_GAP_TIMEOUT_MS;
  }

  /**
   * What a reader does at a gap in the log (versions reserved but not logged) before the entry
   * `next`, after the entry `before` (undefined when unknown):
   * - 'void' when `before` was written recently enough that nothing in the gap can have expired
   *   and `next` is older than the gap timeout: the gap is a writer's that is dead or late, and
   *   the reader closes it with void entries (voidGap), which a late writer's commit then fails on;
   * - 'expired' when history may have expired there (`before` old or unknown) and `next` is
   *   older than RESOLVED_AFTER_MS, so that no writer can still commit in it;
   * - 'wait' otherwise: a write may be in flight.
   */
  private gapVerdict(before: { writtenSec: number } | undefined, next: EntryRange, nowMs: number): GapVerdict {
    const age = nowMs - (next.writtenSec + 1) * 1000; // its write second is over: at least this old
    const ttl = this.config.changeLogTtlSeconds;
    const young = (ttl - Math.min(EXPIRY_MARGIN_S, ttl / 3)) * 1000;
    if (before && nowMs - before.writtenSec * 1000 < young) return age >= this.gapTimeoutMs() ? 'void' : 'wait';
    return age >= RESOLVED_AFTER_MS ? 'expired' : 'wait';
  }

  /**
   * Closes the gap of versions from..to (every version in it reserved, none logged) for good:
   * one void entry per version, each conditional on its key being free, VOID_CHUNK to a
   * transaction, in version order. A version range is reserved by one writer and committed under
   * its FIRST version's key, which lies in the gap, so once the gap is void no writer can commit
   * in it; a transaction fails whole if any of its keys was taken meanwhile (a commit or another
   * reader's void), so no void ever lands inside a committed range. Void entries carry the ttl of
   * the entry before the gap (`writtenSec`), not the time of voiding: versions reserved after
   * them were reserved after that entry's (gapVerdict relies on it). False when a key was taken:
   * the caller reads again.
   */
  private async voidGap(pk: string, from: number, to: number, writtenSec: number): Promise<boolean> {
    const ttl = writtenSec + this.config.changeLogTtlSeconds;
    for (let first = from; first <= to; first += VOID_CHUNK) {
      const last = Math.min(to, first + VOID_CHUNK - 1);
      const puts = [];
      for (let v = first; v <= last; v++) puts.push({ TableName: this.config.changesTable, Item: voidEntry(pk, v, 1, ttl), ConditionExpression: 'attribute_not_exists(sk)' });
      try {
        if (puts.length === 1) await this.doc.send(new PutCommand(puts[0]!)); // 1 WRU, not a transaction's 2
        else await this.doc.send(new TransactWriteCommand({ TransactItems: puts.map((Put) => ({ Put })) }));
      } catch (e) {
        if (e instanceof TransactionCanceledException || (e as Error).name === 'ConditionalCheckFailedException') return false;
        throw e;
      }
    }
    return true;
  }

  /**
   * Reads the log after version `after` in version order (up to `limit` entries): the changes
   * ('watch'; none for 'watermark', which reads keys only), and `through`, the version through
   * which every version is resolved. Stops at a gap that may be a write in flight; voids a gap
   * whose writer is dead or late (gapVerdict); a gap that may be expired history is 410 Expired
   * for 'watch' and passed for 'watermark' (the versions in it were committed long ago or never
   * will be, so a list at a version past it misses nothing).
   */
  private async readLog(pk: string, after: number, limit: number, mode: 'watch' | 'watermark'): Promise<{ events: ChangeEvent[]; through: number; more: boolean }> {
    if (after < 0) throw gone(`too old resource version: ${after}`);
    const ttlSeconds = this.config.changeLogTtlSeconds;
    const keysOnly = mode === 'watermark' ? { ProjectionExpression: 'sk, n, #ttl', ExpressionAttributeNames: { '#ttl': 'ttl' } } : {};
    const knownSec = this.ends.get(pk)?.get(after);
    let before: { writtenSec: number } | undefined = knownSec === undefined ? undefined : { writtenSec: knownSec };
    const items: Record<string, unknown>[] = [];
    if (after > 0 && !before) {
      // Where `after` lies: the entry at or before it may hold later versions too, or end there.
      const back = await this.doc.send(
        new QueryCommand({
          TableName: this.config.changesTable,
          KeyConditionExpression: 'pk = :pk AND sk BETWEEN :from AND :to',
          ExpressionAttributeValues: { ':pk': pk, ':from': pad(1), ':to': pad(after) },
          ScanIndexForward: false,
          Limit: 1,
          ConsistentRead: true,
          ...keysOnly,
        }),
      );
      const item = back.Items?.[0];
      if (item) {
        const r = entryRange(item, ttlSeconds);
        if (r.last > after) items.push(item);
        else if (r.last === after) before = { writtenSec: r.writtenSec };
      }
    }
    const page = await this.doc.send(
      new QueryCommand({
        TableName: this.config.changesTable,
        KeyConditionExpression: 'pk = :pk AND sk BETWEEN :from AND :to',
        ExpressionAttributeValues: { ':pk': pk, ':from': pad(after + 1), ':to': '9'.repeat(VERSION_DIGITS) },
        Limit: limit,
        ConsistentRead: true,
        ...keysOnly,
      }),
    );
    items.push(...(page.Items ?? []));
    const events: ChangeEvent[] = [];
    const now = this.clock.now();
    let next = after + 1;
    let stopped = false;
    for (const item of items) {
      const r = entryRange(item, ttlSeconds);
      if (r.last < next) continue;
      if (r.first > next) {
        const verdict = this.gapVerdict(before, r, now);
        if (verdict === 'wait' || (verdict === 'expired' && mode === 'watch' && events.length > 0)) {
          stopped = true;
          break;
        }
        if (verdict === 'expired' && mode === 'watch') throw gone(`too old resource version: ${after} (${r.first - 1})`);
        if (verdict === 'void' && !(await this.voidGap(pk, next, r.first - 1, before!.writtenSec))) {
          stopped = true; // a key in the gap was taken meanwhile: read again
          break;
        }
        next = r.first;
      }
      if (mode === 'watch') for (const e of await withDataKeys(() => entryEvents(item))) if (e.resourceVersion >= next) events.push(e);
      next = r.last + 1;
      before = { writtenSec: r.writtenSec };
      this.rememberEnd(pk, r.last, r.writtenSec); // a reader may continue from here
    }
    const through = next - 1;
    return { events, through, more: !stopped && !!page.LastEvaluatedKey };
  }

  /**
   * The highest version at most `atMost` whose log entry was committed before `beforeMs` (by its
   * commit second); when every entry is younger, the version before the oldest one left; when
   * the log is empty, `atMost`.
   */
  async versionCommittedBefore(tenant: string, rt: ResourceType, atMost: number, beforeMs: number): Promise<number> {
    const { found, oldestFirst } = await this.entryWrittenBefore(partitionKey(tenant, rt), atMost, beforeMs);
    if (found) return Math.min(found.last, atMost);
    return oldestFirst !== undefined ? oldestFirst - 1 : atMost;
  }

  /**
   * Reading the log backwards from `atMost`: the newest entry written before `beforeMs` (its
   * write second over by then), and the first version of the oldest entry read on the way.
   * Eventually consistent: an entry missed is a recent one, so the answer is at worst older.
   */
  private async entryWrittenBefore(pk: string, atMost: number, beforeMs: number): Promise<{ found?: EntryRange; oldestFirst?: number }> {
    let start: Record<string, unknown> | undefined;
    let oldestFirst: number | undefined;
    do {
      const out = await this.doc.send(
        new QueryCommand({
          TableName: this.config.changesTable,
          KeyConditionExpression: 'pk = :pk AND sk BETWEEN :from AND :to',
          ExpressionAttributeValues: { ':pk': pk, ':from': pad(1), ':to': pad(atMost) },
          ProjectionExpression: 'sk, n, #ttl',
          ExpressionAttributeNames: { '#ttl': 'ttl' },
          ScanIndexForward: false,
          Limit: 25,
          ExclusiveStartKey: start,
        }),
      );
      for (const item of out.Items ?? []) {
        const r = entryRange(item, this.config.changeLogTtlSeconds);
        if ((r.writtenSec + 1) * 1000 <= beforeMs) return { found: r, oldestFirst };
        oldestFirst = r.first;
      }
      start = out.LastEvaluatedKey;
    } while (start);
    return { oldestFirst };
  }
}
