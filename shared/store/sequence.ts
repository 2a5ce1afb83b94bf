import { TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import { GetCommand, PutCommand, TransactWriteCommand, UpdateCommand, type DynamoDBDocumentClient, type TransactWriteCommandInput } from '@aws-sdk/lib-dynamodb';
import type { Config } from '../config';
import { StatusError } from '../errors';
import type { KubeObject, ResourceType } from '../resources';
import { logEntry, voidEntry, type WatchEventType } from './changelog';
import type { Clock } from './clock';
import { approximateBytes } from './codec';
import { pad, partitionKey, SEQUENCE_SK } from './keys';

/*
 * The write side of a sequence: versions reserved by an atomic increment, then ONE transaction
 * with the object operations and the log entry (design note and proof in store.ts).
 */

export type TransactItem = NonNullable<TransactWriteCommandInput['TransactItems']>[number];

/** DynamoDB's limit on the items of one TransactWriteItems. */
export const MAX_TRANSACT_ITEMS = 100;
/**
 * The most a change-log entry's compressed changes may take: DynamoDB's item limit is 400 KB.
 * A group over it is committed in halves; a single write over it (one object, or one batch
 * bind) fails with LogEntryTooLarge.
 */
const MAX_LOG_ENTRY_BYTES = 380_000;

/** Raised when one write's changes do not fit one change-log entry (413): write (or bind) less at once. */
export class LogEntryTooLarge extends StatusError {
  constructor(bytes: number) {
    super(413, 'RequestEntityTooLarge', `the object (or batch) is too large to store: ${bytes} bytes compressed, at most ${MAX_LOG_ENTRY_BYTES}`);
  }
}

const MAX_COMMIT_ATTEMPTS = 200;
/**
 * Transactions one process keeps in flight per sequence (they no longer exclude each other).
 * 3: the scheduler's bind transactions (~100 items each) kept DynamoDB Local busy only half the
 * time with 2 (BENCHMARKS.md, 2026-11-24).
 */
const PARALLEL_GROUPS = 3;
/** DynamoDB's limits on one TransactWriteItems: 100 items, 4 MB. */
const MAX_GROUP_ITEMS = 100;
const MAX_GROUP_BYTES = 3_500_000;
/**
 * A writer sends its transaction only this soon after reserving its versions; later, it voids
 * them and reserves again (readers will likely have voided them: changelog.ts). Bounds how long
 * after its reservation a range can be committed, which the cold watermark and the gaps that may
 * be expired history rely on (RESOLVED_AFTER_MS, far longer).
 */
export const WRITER_DEADLINE_MS = 2_000;

/**
 * One queued write: `count` consecutive versions starting at the one `build` receives, one
 * change per version (`logs`, in order; the group's changes share one log entry), and the
 * object operations (`items`).
 */
export interface PendingWrite {
  readonly count: number;
  /** Items `build` returns at most (chooses how many versions to reserve for a group). */
  readonly maxItems: number;
  readonly build: (firstRv: number) => { result: unknown; logs: { type: WatchEventType; object: KubeObject }[]; items: TransactItem[] };
  /** Maps the indexes (among `items`) whose condition failed to the caller's error. */
  readonly onConditionFailed: (failed: number[]) => Error;
  /**
   * The latest time (the store's clock, ms) at which this write's transaction may be sent; after
   * it the write fails with WriteTooLate instead. A write that admission charged to a quota
   * carries one: its pending charge is counted only for so long (shared/quota/recompute.ts).
   */
  readonly notAfter?: number;
  attempts: number;
  /** Set after a non-condition failure inside a group: retry alone to learn whose it was. */
  alone: boolean;
  resolve(result: unknown): void;
  reject(err: unknown): void;
}

/** What a caller hands SequenceWriter.write. */
export type WriteRequest = Pick<PendingWrite, 'count' | 'maxItems' | 'build' | 'onConditionFailed' | 'notAfter'>;

/**
 * A write not sent by its `notAfter` (504, as kube-apiserver answers a write its storage did not
 * complete in time): nothing of it was written; the client may retry.
 */
export class WriteTooLate extends StatusError {
  constructor() {
    super(504, 'Timeout', 'Timeout: request did not complete within requested timeout - context deadline exceeded', { retryAfterSeconds: 1 });
  }
}

/**
 * A fault hook for tests: runs after a group's versions are reserved and its transaction built,
 * before the transaction is sent. A pause here is a slow writer; a promise that never settles, a
 * writer that died after reserving. Never set in production.
 */
export type BeforeCommitHook = (sequence: string, first: number, count: number) => Promise<void>;

function itemIdentity(item: TransactItem): string {
  const op = item.Put ?? item.Update ?? item.Delete ?? item.ConditionCheck;
  const k = (item.Put ? item.Put.Item : (op as { Key?: Record<string, unknown> }).Key) ?? {};
  return `${op?.TableName}|${String(k.pk)}|${String(k.sk)}`;
}

const isConditionFailure = (e: unknown) => (e as Error).name === 'ConditionalCheckFailedException';

/** One group-committing writer per sequence (tenant, resource type) of one store instance. */
export class Sequences {
  private readonly writers = new Map<string, SequenceWriter>();

  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly config: Config,
    private readonly clock: Clock,
    private readonly beforeCommit?: BeforeCommitHook,
  ) {}

  /** Queues a write on the sequence of (tenant, rt); resolves with its `build`'s result once committed. */
  write<T>(tenant: string, rt: ResourceType, w: WriteRequest): Promise<T> {
    const pk = partitionKey(tenant, rt);
    let writer = this.writers.get(pk);
    if (!writer) {
      writer = new SequenceWriter(this.doc, this.config, this.clock, pk, rt, this.beforeCommit);
      this.writers.set(pk, writer);
    }
    return writer.write<T>(w);
  }
}

/**
 * Group commit for one sequence. Writes queue up; each transaction carries as many as fit (100
 * items, 4 MB, no item twice). Their versions are RESERVED first — one unconditional
 * `SET v = v + :k` on the sequence item, which never fails — and the transaction writes the
 * objects and ONE log entry keyed by the first reserved version, so transactions of this and
 * other processes never make each other retry. Versions a transaction does not use (a write
 * that did not fit after all) are voided inside it; if it fails, its whole range is voided at
 * once, so readers do not wait at the gap (design note in store.ts). If a reader voided the range
 * first (the writer was late), the transaction fails on its log entry's condition and its writes
 * go again under new versions. Up to PARALLEL_GROUPS transactions are in flight at once.
 */
class SequenceWriter {
  private readonly queue: PendingWrite[] = [];
  private inFlight = 0;

  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly config: Config,
    private readonly clock: Clock,
    private readonly pk: string,
    private readonly rt: ResourceType,
    private readonly beforeCommit?: BeforeCommitHook,
  ) {}

  write<T>(w: WriteRequest): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ ...w, attempts: 0, alone: false, resolve: resolve as (r: unknown) => void, reject });
      this.pump();
    });
  }

  private pump(): void {
    while (this.inFlight < PARALLEL_GROUPS && this.queue.length > 0) {
      this.inFlight++;
      void this.commitGroup()
        .catch((e: unknown) => console.error(JSON.stringify({ level: 'error', message: 'sequence writer failed', error: String(e) })))
        .finally(() => {
          this.inFlight--;
          this.pump();
        });
    }
  }

  /** Reserves `k` versions: the last one reserved (the range is last-k+1..last). */
  private async reserve(k: number): Promise<number> {
    const out = await this.doc.send(
      new UpdateCommand({
        TableName: this.config.changesTable,
        Key: { pk: this.pk, sk: SEQUENCE_SK },
        UpdateExpression: 'SET v = if_not_exists(v, :zero) + :k',
        ExpressionAttributeValues: { ':zero': 0, ':k': k },
        ReturnValues: 'UPDATED_NEW',
      }),
    );
    return Number(out.Attributes?.v);
  }

  /** Voids versions first..first+n-1 for readers; false when an entry (a commit, or a reader's void) holds `first` already. */
  private async voidRange(first: number, n: number): Promise<boolean> {
    try {
      await this.doc.send(
        new PutCommand({
          TableName: this.config.changesTable,
          Item: voidEntry(this.pk, first, n, this.ttl()),
          ConditionExpression: 'attribute_not_exists(sk)',
        }),
      );
      return true;
    } catch (e) {
      if (isConditionFailure(e)) return false;
      throw e;
    }
  }

  private ttl(): number {
    return Math.floor(this.clock.now() / 1000) + this.config.changeLogTtlSeconds;
  }

  /** Whether `w` may no longer be sent (its notAfter has passed). */
  private late(w: PendingWrite): boolean {
    return w.notAfter !== undefined && this.clock.now() > w.notAfter;
  }

  private async commitGroup(): Promise<void> {
    // Writes past their notAfter fail here, before any version is reserved for them.
    for (let i = this.queue.length - 1; i >= 0; i--) {
      const w = this.queue[i]!;
      if (!this.late(w)) continue;
      this.queue.splice(i, 1);
      w.reject(new WriteTooLate());
    }
    // Which queued writes go together: their item estimates within the limit, with room for the
    // log entry and a void entry for versions left unused.
    const chosen: PendingWrite[] = [];
    let estimate = 2;
    for (const w of this.queue) {
      if (chosen.length > 0 && (w.alone || chosen[0]!.alone || estimate + w.maxItems > MAX_GROUP_ITEMS)) break;
      chosen.push(w);
      estimate += w.maxItems;
    }
    this.queue.splice(0, chosen.length);
    if (chosen.length === 0) return;
    const reserved = chosen.reduce((n, w) => n + w.count, 0);
    let last: number;
    try {
      last = await this.reserve(reserved);
    } catch (e) {
      // Nothing reserved: the writes go back and the error goes to the first one.
      this.queue.unshift(...chosen.slice(1));
      chosen[0]!.reject(e);
      return;
    }
    const reservedAt = this.clock.now();
    const first = last - reserved + 1;

    const group: { w: PendingWrite; result: unknown; items: TransactItem[]; from: number }[] = [];
    const seen = new Set<string>();
    const tx: TransactItem[] = [];
    const changes: { type: WatchEventType; object: KubeObject }[] = [];
    let bytes = 0;
    let used = 0;
    let next = 0;
    for (; next < chosen.length; next++) {
      const w = chosen[next]!;
      let built: ReturnType<PendingWrite['build']>;
      try {
        built = w.build(first + used);
        if (built.logs.length !== w.count) throw new Error(`a write of ${w.count} versions built ${built.logs.length} changes`);
      } catch (e) {
        if (group.length > 0) break;
        w.reject(e); // its own error (e.g. invalid); its versions are voided with the rest
        next++;
        break;
      }
      const ids = built.items.map(itemIdentity);
      const size = approximateBytes(built.items);
      const fits = 2 + tx.length + built.items.length <= MAX_GROUP_ITEMS && bytes + size <= MAX_GROUP_BYTES && ids.every((id) => !seen.has(id));
      if (!fits && group.length > 0) break;
      ids.forEach((id) => seen.add(id));
      group.push({ w, result: built.result, items: built.items, from: tx.length });
      tx.push(...built.items);
      changes.push(...built.logs);
      bytes += size;
      used += w.count;
    }
    // Writes that did not fit wait for the next transaction.
    this.queue.unshift(...chosen.slice(next));
    if (group.length === 0) {
      await this.voidRange(first, reserved);
      return;
    }
    let entry = logEntry(this.pk, first, changes, this.ttl());
    while ((entry.o as Uint8Array).length > MAX_LOG_ENTRY_BYTES) {
      if (group.length === 1) {
        group[0]!.w.reject(new LogEntryTooLarge((entry.o as Uint8Array).length));
        await this.voidRange(first, reserved);
        return;
      }
      // Rare (large objects written together): the later half waits for the next transaction.
      const back = group.splice(Math.ceil(group.length / 2));
      this.queue.unshift(...back.map((g) => g.w));
      tx.length = back[0]!.from;
      used -= back.reduce((n, g) => n + g.w.count, 0);
      changes.length = used;
      entry = logEntry(this.pk, first, changes, this.ttl());
    }
    const logIndex = tx.length;
    tx.push({ Put: { TableName: this.config.changesTable, Item: entry, ConditionExpression: 'attribute_not_exists(sk)' } });
    if (used < reserved)
      tx.push({ Put: { TableName: this.config.changesTable, Item: voidEntry(this.pk, first + used, reserved - used, this.ttl()), ConditionExpression: 'attribute_not_exists(sk)' } });

    const retry: PendingWrite[] = [];
    if (this.beforeCommit) await this.beforeCommit(this.pk, first, reserved);
    if (this.clock.now() - reservedAt > WRITER_DEADLINE_MS || group.some((g) => this.late(g.w))) {
      // Too late to commit these versions (readers may have voided them), or a write of the
      // group may no longer be sent: void, go again (a write past its notAfter then fails).
      await this.voidRange(first, reserved);
      retry.push(...group.map((g) => g.w));
    } else {
      try {
        await this.doc.send(new TransactWriteCommand({ TransactItems: tx }));
        for (const g of group) g.w.resolve(g.result);
        return;
      } catch (e) {
        // Nothing was written (unless the outcome is unknown: the void below tells).
        if (!(await this.voidRange(first, reserved))) {
          const existing = await this.doc.send(new GetCommand({ TableName: this.config.changesTable, Key: { pk: this.pk, sk: pad(first) }, ConsistentRead: true }));
          if (existing.Item && !existing.Item.void) {
            for (const g of group) g.w.resolve(g.result); // it did commit
            return;
          }
        }
        if (!(e instanceof TransactionCanceledException)) {
          // Not about conditions (e.g. a validation error): alone, the write owns its error.
          if (group.length === 1) group[0]!.w.reject(e);
          else for (const g of group) retry.push(Object.assign(g.w, { alone: true }));
        } else {
          const reasons = e.CancellationReasons ?? [];
          if (reasons.slice(logIndex).some((r) => r?.Code === 'ConditionalCheckFailed')) {
            // A reader voided these versions (this writer was late: changelog.ts voidGap). Every
            // write goes again under new versions; an object condition that failed too fails again.
            retry.push(...group.map((g) => g.w));
          } else {
            for (const g of group) {
              const failed = g.items.flatMap((_, i) => (reasons[g.from + i]?.Code === 'ConditionalCheckFailed' ? [i] : []));
              if (failed.length > 0) g.w.reject(g.w.onConditionFailed(failed));
              else retry.push(g.w);
            }
          }
        }
      }
    }
    for (const w of retry) w.attempts++;
    for (const w of retry.filter((w) => w.attempts >= MAX_COMMIT_ATTEMPTS))
      w.reject(new StatusError(429, 'TooManyRequests', `too many concurrent writes to ${this.rt.resource}; please retry`, { retryAfterSeconds: 1 }));
    this.queue.unshift(...retry.filter((w) => w.attempts < MAX_COMMIT_ATTEMPTS));
  }
}
