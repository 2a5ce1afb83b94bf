/**
 * What the cluster makes the control plane spend (GET /stratus/v1/cost, shared/cost on the server):
 * this month and each of the last 24 hours, for the cluster and per workload (a Deployment counts
 * its ReplicaSets' and pods' work). Not a watch: the figures are read on opening and then once a
 * minute, the most often the meter writes them; a failed read is tried again soon (1 s, 2 s, 4 s ...
 * up to the minute).
 */
import { useEffect, useState } from 'preact/hooks';
import { getJson } from './api';
import { retryDelayMs } from './retry';
import { DataTable, ErrorLine } from './ui';

export const COST_REFRESH_MS = 60_000;

interface Counts {
  readUnits: number;
  writeUnits: number;
  invocations: number;
  gbSeconds: number;
  sqsRequests: number;
}
interface Usd {
  dynamodb: number;
  lambda: number;
  sqs: number;
  total: number;
}
interface WorkloadCost {
  workload?: { namespace: string; kind: string; name: string };
  counts: Counts;
  usd: Usd;
}
interface Period {
  counts: Counts;
  usd: Usd;
  workloads: WorkloadCost[];
}
interface CostReport {
  cluster: string;
  month: Period & { month: string };
  hours: (Period & { hour: string })[];
}

/** Dollars: cents once there are any, else enough digits to see a millionth of a dollar. */
export function usd(v: number): string {
  if (v === 0) return '$0';
  if (v >= 0.01) return `$${v.toFixed(2)}`;
  return `$${v.toFixed(8).replace(/0+$/, '')}`;
}

const num = (v: number, digits = 1) => (Number.isInteger(v) ? String(v) : v.toFixed(digits));
const workloadName = (w: WorkloadCost) => (w.workload ? `${w.workload.kind}/${w.workload.name}` : '(cluster: scheduler, meter)');
const hourLabel = (hour: string) => `${hour.slice(0, 10)} ${hour.slice(11, 13)}:00 UTC`;
const countCells = (c: Counts, u: Usd) => [num(c.readUnits), num(c.writeUnits), num(c.invocations, 2), c.gbSeconds.toFixed(3), num(c.sqsRequests), usd(u.total)];
const COUNT_HEAD = ['Read units', 'Write units', 'Invocations', 'GB-s', 'SQS requests', 'Cost'];

function WorkloadTable({ label, period, namespace }: { label: string; period: Period; namespace: string }) {
  const shown = period.workloads.filter((w) => !namespace || w.workload?.namespace === namespace);
  return (
    <DataTable
      label={label}
      empty="Nothing counted."
      head={[...(namespace ? [] : ['Namespace']), 'Workload', ...COUNT_HEAD]}
      keys={shown.map((w) => `${w.workload?.namespace ?? ''}/${workloadName(w)}`)}
      rows={shown.map((w) => [...(namespace ? [] : [w.workload?.namespace ?? '']), workloadName(w), ...countCells(w.counts, w.usd)])}
    />
  );
}

export function CostView({ namespace }: { namespace: string }) {
  const [report, setReport] = useState<CostReport | undefined>();
  const [error, setError] = useState<string | undefined>();
  const [updated, setUpdated] = useState<Date | undefined>();
  useEffect(() => {
    const controller = new AbortController();
    let timer: ReturnType<typeof setTimeout> | undefined;
    let failures = 0;
    // One read at a time: the next is due a minute after a success, soon after a failure.
    const load = (): void => {
      getJson<CostReport>('/stratus/v1/cost', controller.signal).then(
        (r) => {
          failures = 0;
          setReport(r);
          setError(undefined);
          setUpdated(new Date());
          next(COST_REFRESH_MS);
        },
        (e: Error) => {
          if (controller.signal.aborted) return;
          failures += 1;
          setError(e.message);
          next(retryDelayMs(failures, COST_REFRESH_MS));
        },
      );
    };
    const next = (ms: number) => {
      if (!controller.signal.aborted) timer = setTimeout(load, ms);
    };
    load();
    return () => {
      clearTimeout(timer);
      controller.abort();
    };
  }, []);
  const hours = report ? [...report.hours].reverse() : [];
  const current = report?.hours[report.hours.length - 1];
  return (
    <>
      <h1>
        Control-plane cost{' '}
        {updated && (
          <small>
            updated <time dateTime={updated.toISOString()}>{updated.toLocaleTimeString()}</time>, every minute
          </small>
        )}
      </h1>
      <ErrorLine message={error} />
      {!report ? (
        !error && <p aria-busy="true">Loading…</p>
      ) : (
        <>
          <section aria-labelledby="cost-month-h">
            <h2 id="cost-month-h">This month ({report.month.month})</h2>
            <dl class="summary" aria-label="This month's cost">
              <dt>Total</dt>
              <dd>{usd(report.month.usd.total)}</dd>
              <dt>DynamoDB</dt>
              <dd>{usd(report.month.usd.dynamodb)}</dd>
              <dt>Lambda</dt>
              <dd>{usd(report.month.usd.lambda)}</dd>
              <dt>SQS</dt>
              <dd>{usd(report.month.usd.sqs)}</dd>
              <dt>This hour</dt>
              <dd>{usd(current?.usd.total ?? 0)}</dd>
            </dl>
            <h3>Per workload{namespace ? ` in ${namespace}` : ''}</h3>
            <WorkloadTable label="Cost per workload this month" period={report.month} namespace={namespace} />
          </section>
          {current && (
            <section aria-labelledby="cost-hour-h">
              <h2 id="cost-hour-h">This hour ({hourLabel(current.hour)})</h2>
              <WorkloadTable label="Cost per workload this hour" period={current} namespace={namespace} />
            </section>
          )}
          <section aria-labelledby="cost-hours-h">
            <h2 id="cost-hours-h">Per hour, the cluster</h2>
            <DataTable label="Cost per hour" head={['Hour', ...COUNT_HEAD]} keys={hours.map((h) => h.hour)} rows={hours.map((h) => [hourLabel(h.hour), ...countCells(h.counts, h.usd)])} />
          </section>
          <p class="note">
            List prices (us-east-1, on demand) of what the control plane did for this cluster: DynamoDB read and write units as DynamoDB reported them, Lambda invocations and GB-seconds, SQS requests. Node agents' own queue polling and per-deployment costs are not in these figures.
          </p>
        </>
      )}
    </>
  );
}
