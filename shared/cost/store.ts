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
 */
import { GetCommand, QueryCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Config } from '../config';
import { monthOf, type HourCounts } from './aggregate';
import type { CostSink } from './meter';
import { addCounts, COUNT_FIELDS, zeroCounts, type CostCounts } from './prices';

export const HOUR_TTL_DAYS = 40;
export const MONTH_TTL_DAYS = 400;
/** Counts per UpdateItem (each `#nN :vN` term is about 12 characters of the 4 KB expression). */
export const UPDATE_TERMS = 200;

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
      await this.add(cluster, `h#${hour}`, costAttributes(byWorkload), HOUR_TTL_DAYS, now);
      const m = months.get(monthOf(hour)) ?? months.set(monthOf(hour), new Map()).get(monthOf(hour))!;
      mergeByWorkload(m, byWorkload);
    }
    for (const [month, byWorkload] of months) await this.add(cluster, `m#${month}`, costAttributes(byWorkload), MONTH_TTL_DAYS, now);
  }

  /** The month's counts and the hours from `fromHour` to `toHour` (inclusive), as stored. */
  async read(cluster: string, month: string, fromHour: string, toHour: string): Promise<{ month: Map<string, CostCounts>; hours: HourCounts }> {
    const pk = costPartitionKey(cluster);
    const m = await this.doc.send(new GetCommand({ TableName: this.config.changesTable, Key: { pk, sk: `m#${month}` }, ConsistentRead: true }));
    const hours: HourCounts = new Map();
    let start: Record<string, unknown> | undefined;
    do {
      const q = await this.doc.send(
        new QueryCommand({
          TableName: this.config.changesTable,
          KeyConditionExpression: 'pk = :pk AND sk BETWEEN :a AND :b',
          ExpressionAttributeValues: { ':pk': pk, ':a': `h#${fromHour}`, ':b': `h#${toHour}` },
          ConsistentRead: true,
          ExclusiveStartKey: start,
        }),
      );
      for (const item of q.Items ?? []) hours.set(String(item.sk).slice(2), countsOfItem(item));
      start = q.LastEvaluatedKey;
    } while (start);
    return { month: countsOfItem(m.Item), hours };
  }
}
