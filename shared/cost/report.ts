/**
 * The answer of `GET /clusters/NAME/stratus/v1/cost` (functions/api/cost.ts): this month's and the
 * last hours' counts of a cluster, per workload, with their price. Pure.
 */
import { hourOf, monthOf, type HourCounts } from './aggregate';
import { parseWorkloadKey, type WorkloadRef } from './meter';
import { addCounts, PRICES, priceOf, zeroCounts, type CostCounts, type CostUsd } from './prices';
import { mergeByWorkload } from './store';

/** Hours the answer covers, the current one included. */
export const REPORT_HOURS = 24;

export interface WorkloadCost {
  /** Absent: the cluster's work for no one object (scheduler passes, the meter itself). */
  workload?: WorkloadRef;
  counts: CostCounts;
  usd: CostUsd;
}

export interface PeriodCost {
  counts: CostCounts;
  usd: CostUsd;
  workloads: WorkloadCost[];
}

export interface CostReport {
  apiVersion: 'stratus/v1';
  kind: 'ClusterCost';
  cluster: string;
  prices: typeof PRICES;
  month: PeriodCost & { month: string };
  hours: (PeriodCost & { hour: string })[];
}

function period(byWorkload: ReadonlyMap<string, CostCounts>): PeriodCost {
  const total = zeroCounts();
  const workloads: WorkloadCost[] = [];
  for (const [key, counts] of byWorkload) {
    addCounts(total, counts);
    const workload = parseWorkloadKey(key);
    workloads.push({ ...(workload ? { workload } : {}), counts, usd: priceOf(counts) });
  }
  workloads.sort((a, b) => b.usd.total - a.usd.total || (a.workload?.name ?? '').localeCompare(b.workload?.name ?? ''));
  return { counts: total, usd: priceOf(total), workloads };
}

/** The hours of the report, oldest first: `REPORT_HOURS` UTC hours ending with now's. */
export function reportHours(now: number): string[] {
  const out: string[] = [];
  for (let i = REPORT_HOURS - 1; i >= 0; i--) out.push(hourOf(now - i * 3_600_000));
  return out;
}

/**
 * Builds the report from what is stored and what this instance has not written yet (pending):
 * the pending hours are added to their hour and, when in this month, to the month.
 */
export function costReport(cluster: string, now: number, stored: { month: Map<string, CostCounts>; hours: HourCounts }, pending: HourCounts): CostReport {
  const month = monthOf(now);
  const monthCounts = mergeByWorkload(new Map(), stored.month);
  const hours = new Map<string, Map<string, CostCounts>>();
  for (const [h, w] of stored.hours) hours.set(h, mergeByWorkload(new Map(), w));
  for (const [h, w] of pending) {
    hours.set(h, mergeByWorkload(hours.get(h) ?? new Map<string, CostCounts>(), w));
    if (monthOf(h) === month) mergeByWorkload(monthCounts, w);
  }
  return {
    apiVersion: 'stratus/v1',
    kind: 'ClusterCost',
    cluster,
    prices: PRICES,
    month: { month, ...period(monthCounts) },
    hours: reportHours(now).map((hour) => ({ hour, ...period(hours.get(hour) ?? new Map()) })),
  };
}
