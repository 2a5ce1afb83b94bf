/**
 * The meter's in-memory aggregate: counts per cluster, per UTC hour, per workload, added up as
 * invocations end and taken out whole when a cluster's flush is due (at most once per interval per
 * cluster and process, never per request). Pure: no I/O, no clock of its own.
 */
import { addCounts, isZero, zeroCounts, type CostCounts } from './prices';

/** The hour bucket of a time: `2026-12-06T18` (UTC). */
export const hourOf = (ms: number): string => new Date(ms).toISOString().slice(0, 13);
/** The month of an hour bucket or a time: `2026-12`. */
export const monthOf = (hourOrMs: string | number): string => (typeof hourOrMs === 'number' ? new Date(hourOrMs).toISOString() : hourOrMs).slice(0, 7);

export type HourCounts = Map<string, Map<string, CostCounts>>;

interface Pending {
  hours: HourCounts;
  /** When the pending counts began (or the last flush), from which the interval runs. */
  since: number;
}

export class CostAggregator {
  private readonly clusters = new Map<string, Pending>();
  private readonly lastFlush = new Map<string, number>();

  add(cluster: string, now: number, workload: string, counts: CostCounts): void {
    if (isZero(counts)) return;
    let p = this.clusters.get(cluster);
    if (!p) {
      p = { hours: new Map(), since: this.lastFlush.get(cluster) ?? now };
      this.clusters.set(cluster, p);
    }
    const hour = hourOf(now);
    let byWorkload = p.hours.get(hour);
    if (!byWorkload) p.hours.set(hour, (byWorkload = new Map<string, CostCounts>()));
    addCounts(byWorkload.get(workload) ?? byWorkload.set(workload, zeroCounts()).get(workload)!, counts);
  }

  /** Takes out the clusters whose counts have waited `intervalMs` since their last flush (or their first count). */
  takeDue(now: number, intervalMs: number): { cluster: string; hours: HourCounts }[] {
    const due: { cluster: string; hours: HourCounts }[] = [];
    for (const [cluster, p] of this.clusters) {
      if (now - p.since < intervalMs) continue;
      this.clusters.delete(cluster);
      this.lastFlush.set(cluster, now);
      due.push({ cluster, hours: p.hours });
    }
    return due;
  }

  /** Puts back counts whose write failed (added to whatever came since). */
  restore(cluster: string, hours: HourCounts): void {
    for (const [hour, byWorkload] of hours) {
      const ms = Date.parse(`${hour}:00:00Z`);
      for (const [workload, counts] of byWorkload) this.add(cluster, ms, workload, counts);
    }
  }

  /** What is pending for a cluster (not yet written), by hour and workload. */
  pending(cluster: string): HourCounts {
    return this.clusters.get(cluster)?.hours ?? new Map<string, Map<string, CostCounts>>();
  }

  /** Clusters with pending counts. */
  clustersPending(): string[] {
    return [...this.clusters.keys()];
  }
}
