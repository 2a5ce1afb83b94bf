/**
 * `GET /clusters/NAME/stratus/v1/cost`: what the cluster made the control plane spend, this month
 * and in each of the last 24 hours, per workload (shared/cost). Authorized by the router as
 * `list pods` at the cluster scope: whoever may list every pod may see what the workloads cost.
 * Figures are what the meter has written (at most a minute late per function instance): this
 * instance writes what it has counted and not written yet first, so a figure once answered is in
 * the store and every instance answers it (no row that shows on one instance and not on the next).
 * What is still pending after that (its write failed) is added.
 */
import { monthOf } from '../../shared/cost/aggregate';
import { meter } from '../../shared/cost/meter';
import { costReport, reportHours } from '../../shared/cost/report';
import { CostStore } from '../../shared/cost/store';
import { methodNotAllowed } from '../../shared/errors';
import { json, type ApiResponse } from './request';
import type { ApiDeps } from './router';

export const COST_PATH = '/stratus/v1/cost';

export async function serveCost(method: string, cluster: string, deps: ApiDeps, now = Date.now()): Promise<ApiResponse> {
  if (method !== 'GET') throw methodNotAllowed(method);
  const hours = reportHours(now);
  await meter.flushAll();
  const stored = await new CostStore(deps.doc, deps.config).read(cluster, monthOf(now), hours[0]!, hours[hours.length - 1]!);
  return json(200, costReport(cluster, now, stored, meter.aggregate.pending(cluster)));
}
