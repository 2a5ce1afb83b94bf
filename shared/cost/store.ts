/**
 * Where the meter's aggregate is kept: the `changes` table (no stream, TTL), two items per cluster
 * and period, pk `${cluster}#stratus.cost` (every key starts with the cluster, as all of a
 * cluster's items do):
 * - sk `h#2026-12-06T18`: one UTC hour, expires after HOUR_TTL_DAYS;
 * - sk `m#2026-12`: the month, expires after MONTH_TTL_DAYS.
 * Each holds one number attribute per workload and count, `${field}|${workload}` (field: r w i g q,
 * workload '' for the cluster's own work), added to with one UpdateItem `ADD` per item and flush
 * (more only when a flush carries more than UPDATE_TERMS counts: an update expression is at most
 * 4 KB). ADD is commutative, so instances flushing at once never lose each other's counts.
 *
 * A period's counts are spread over shard items, sk `h#HOUR#S` / `m#MONTH#S` (S: a hex digit
 * pair), so an item stays small: DynamoDB refuses items over 400 KB, and an UpdateItem costs one
 * write unit per KB of the item it changes, not of the change. A flush puts each workload in shard
 * hash(workload) mod N, N the smallest power of two (at most MAX_SHARDS) that leaves about
 * WORKLOADS_PER_SHARD of the flush's workloads per item: a small cluster keeps one item per
 * period (one write per flush, as before), one with thousands of workloads spreads them. Reads
 * sum every shard (and the unsharded items written before), so a workload counted in different
 * shards by flushes of different sizes is still counted exactly once per count.
 */
import { QueryCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Config } from '../config';
import { monthOf, type HourCounts } from './aggregate';
import type { CostSink } from './meter';
import { addCounts, COUNT_FIELDS, zeroCounts, type CostCounts } from './prices';

export const HOUR_TTL_DAYS = 40;
export const MONTH_TTL_DAYS = 400;
/** Counts per UpdateItem (each `#nN :vN` term is about 12 characters of the 4 KB expression). */
export const UPDATE_TERMS = 200;
/** Workloads per shard item a flush aims at (5 counts each, ~25 bytes a count: ~5 KB an item). */
export const WORKLOADS_PER_SHARD = 40;
/** At most this many shard items per period (64 x 40 workloads at ~5 KB each before they grow). */
export const MAX_SHARDS = 64;

const FIELD_CODES: Readonly<Record<keyof CostCounts, string>> = { readUnits: 'r', writeUnits: 'w', invocations: 'i', gbSeconds: 'g', sqsRequests: 'q' };
const CODE_FIELDS = new Map(Object.entries(FIELD_CODES).map(([f, c]) => [c, f as keyof CostCounts]));

export const costPartitionKey = (cluster: string): string => `${cluster}#stratus.cost`;

/** The attributes one workload's counts are stored under (zeros left out). */
export function costAttributes(byWorkload: ReadonlyMap<string, CostCounts>): [string, number][] {
  const out: [string, number][] = [];
  for (const [workload, c] of byWorkload) {
    for (const f of COUNT_FIELDS) {
      // Rounded so float dust never grows an item; GB-seconds keep micro-GB-s.
      const v = Math.round(c[f] * 1e6) / 1e6;
      if (v !== 0) out.push([`${FIELD_CODES[f]}|${workload}`, v]);
    }
  }
  return out;
}

/** An item's counts by workload (attributes that are not counts are ignored). */
export function countsOfItem(item: Record<string, unknown> | undefined): Map<string, CostCounts> {
  const out = new Map<string, CostCounts>();
  for (const [name, value] of Object.entries(item ?? {})) {
    const bar = name.indexOf('|');
    if (bar !== 1 || typeof value !== 'number') continue;
    const field = CODE_FIELDS.get(name[0]!);
    if (!field) continue;
    const workload = name.slice(2);
    const c = out.get(workload) ?? out.set(workload, zeroCounts()).get(workload)!;
    c[field] += value;
  }
  return out;
}

/** Adds b's workloads into a. */
export function mergeByWorkload(a: Map<string, CostCounts>, b: ReadonlyMap<string, CostCounts>): Map<string, CostCounts> {
  for (const [w, c] of b) addCounts(a.get(w) ?? a.set(w, zeroCounts()).get(w)!, c);
  return a;
}

/** The shard suffix of each workload of a flush of these workloads (see the header). */
export function shardsOf(workloads: readonly string[]): Map<string, string> {
  let n = 1;
  while (n < MAX_SHARDS && workloads.length > n * WORKLOADS_PER_SHARD) n *= 2;
  const out = new Map<string, string>();
  for (const w of workloads) {
    // FNV-1a: stable across processes and versions, so a workload keeps its shard for a given n.
    let h = 0x811c9dc5;
    for (let i = 0; i < w.length; i++) h = Math.imul(h ^ w.charCodeAt(i), 0x01000193) >>> 0;
    out.set(w, (h % n).toString(16).padStart(2, '0'));
  }
  return out;
}

/** One period's counts grouped by shard item: sk -> its attributes. */
function shardItems(prefix: string, byWorkload: ReadonlyMap<string, CostCounts>): Map<string, [string, number][]> {
  const shard = shardsOf([...byWorkload.keys()]);
  const groups = new Map<string, Map<string, CostCounts>>();
  for (const [w, c] of byWorkload) {
    const sk = `${prefix}#${shard.get(w)!}`;
    (groups.get(sk) ?? groups.set(sk, new Map()).get(sk)!).set(w, c);
  }
  const out = new Map<string, [string, number][]>();
  for (const [sk, g] of groups) {
    const attrs = costAttributes(g);
    if (attrs.length > 0) out.set(sk, attrs);
  }
  return out;
}

/** The period of a stored cost item's sort key (`h#HOUR`, `h#HOUR#S`, `m#MONTH#S`). */
export const periodOfKey = (sk: string): string => sk.split('#')[1] ?? '';

export class CostStore implements CostSink {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly config: Config,
  ) {}

  private async add(cluster: string, sk: string, attrs: readonly [string, number][], ttlDays: number, now: number): Promise<void> {
    for (let i = 0; i < attrs.length; i += UPDATE_TERMS) {
      const chunk = attrs.slice(i, i + UPDATE_TERMS);
      const names: Record<string, string> = { '#ttl': 'ttl' };
      const values: Record<string, number> = { ':ttl': Math.floor(now / 1000) + ttlDays * 86_400 };
      chunk.forEach(([name, v], j) => {
        names[`#n${j}`] = name;
        values[`:v${j}`] = v;
      });
      await this.doc.send(
        new UpdateCommand({
          TableName: this.config.changesTable,
          Key: { pk: costPartitionKey(cluster), sk },
          UpdateExpression: `SET #ttl = :ttl ADD ${chunk.map((_, j) => `#n${j} :v${j}`).join(', ')}`,
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: values,
        }),
      );
    }
  }

  /** Writes one cluster's pending counts: per hour its hour item, and the month item once per month. */
  async flush(cluster: string, hours: ReadonlyMap<string, ReadonlyMap<string, CostCounts>>, now = Date.now()): Promise<void> {
    const months = new Map<string, Map<string, CostCounts>>();
    for (const [hour, byWorkload] of hours) {
      for (const [sk, attrs] of shardItems(`h#${hour}`, byWorkload)) await this.add(cluster, sk, attrs, HOUR_TTL_DAYS, now);
      const m = months.get(monthOf(hour)) ?? months.set(monthOf(hour), new Map()).get(monthOf(hour))!;
      mergeByWorkload(m, byWorkload);
    }
    for (const [month, byWorkload] of months) {
      for (const [sk, attrs] of shardItems(`m#${month}`, byWorkload)) await this.add(cluster, sk, attrs, MONTH_TTL_DAYS, now);
    }
  }

  /** The month's counts and the hours from `fromHour` to `toHour` (inclusive), as stored (all shards summed). */
  async read(cluster: string, month: string, fromHour: string, toHour: string): Promise<{ month: Map<string, CostCounts>; hours: HourCounts }> {
    const monthCounts = new Map<string, CostCounts>();
    for (const item of await this.query(cluster, `m#${month}`, `m#${month}#~`)) mergeByWorkload(monthCounts, countsOfItem(item));
    const hours: HourCounts = new Map();
    for (const item of await this.query(cluster, `h#${fromHour}`, `h#${toHour}#~`)) {
      const hour = periodOfKey(String(item.sk));
      hours.set(hour, mergeByWorkload(hours.get(hour) ?? new Map<string, CostCounts>(), countsOfItem(item)));
    }
    return { month: monthCounts, hours };
  }

  /** Every item of the cluster's cost partition with from <= sk <= to. */
  private async query(cluster: string, from: string, to: string): Promise<Record<string, unknown>[]> {
    const items: Record<string, unknown>[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const q = await this.doc.send(
        new QueryCommand({
          TableName: this.config.changesTable,
          KeyConditionExpression: 'pk = :pk AND sk BETWEEN :a AND :b',
          ExpressionAttributeValues: { ':pk': costPartitionKey(cluster), ':a': from, ':b': to },
          ConsistentRead: true,
          ExclusiveStartKey: start,
        }),
      );
      items.push(...(q.Items ?? []));
      start = q.LastEvaluatedKey;
    } while (start);
    return items;
  }
}
