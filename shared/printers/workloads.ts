import { selectorString, workloadSelector } from '../selectors';
import type { LabelSelector } from '../schemas/apps';
import { AGE, age, col, humanDuration, NAME, num, rec, since, type Rec, type TableConvertor } from './columns';

/*
 * `kubectl get` columns of the workload kinds (apps/v1, batch/v1, core/v1 ReplicationController
 * and PodTemplate), as Kubernetes' printers
 * (pkg/printers/internalversion/printers.go) define them.
 */

const CONTAINERS = col('Containers', 'Names of each container in the template.', 1);
const IMAGES = col('Images', 'Images referenced by each container in the template.', 1);
const SELECTOR = col('Selector', 'Label selector for pods.', 1);

function templateCells(template: unknown): [string, string] {
  const containers = (rec(rec(template).spec).containers ?? []) as { name?: string; image?: string }[];
  return [containers.map((c) => c.name ?? '').join(','), containers.map((c) => c.image ?? '').join(',')];
}
const selectorCell = (s: unknown) => selectorString(s as LabelSelector | undefined) || '<none>';

export const deployments: TableConvertor = {
  columns: [NAME, col('Ready', 'Number of the pod with ready state'), col('Up-to-date', 'Total number of non-terminated pods targeted by this deployment that have the desired template spec.'), col('Available', 'Total number of available pods (ready for at least minReadySeconds) targeted by this deployment.'), AGE, CONTAINERS, IMAGES, SELECTOR],
  cells: (o, now) => {
    const spec = rec(o.spec);
    const status = rec(o.status);
    return [o.metadata.name, `${num(status.readyReplicas)}/${num(spec.replicas)}`, num(status.updatedReplicas), num(status.availableReplicas), age(o, now), ...templateCells(spec.template), selectorCell(spec.selector)];
  },
};

/** ReplicaSets and ReplicationControllers: the same columns; an RC's selector is a label map. */
const replicaColumns = (resource: string): TableConvertor => ({
  columns: [NAME, col('Desired', 'Number of desired pods.', 0, 'integer'), col('Current', 'Number of actual replicas.', 0, 'integer'), col('Ready', 'Number of ready replicas.', 0, 'integer'), AGE, CONTAINERS, IMAGES, SELECTOR],
  cells: (o, now) => {
    const spec = rec(o.spec);
    const status = rec(o.status);
    return [o.metadata.name, num(spec.replicas), num(status.replicas), num(status.readyReplicas), age(o, now), ...templateCells(spec.template), selectorCell(workloadSelector(resource, o))];
  },
});

const formatLabels = (labels: unknown) =>
  Object.entries((labels ?? {}) as Record<string, string>)
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([k, v]) => `${k}=${v}`)
    .join(',') || '<none>';

export const podTemplates: TableConvertor = {
  columns: [NAME, col('Containers', 'Names of each container in the template.'), col('Images', 'Images referenced by each container in the template.'), col('Pod Labels', 'The labels for the pod template.')],
  cells: (o) => [o.metadata.name, ...templateCells(o.template), formatLabels(rec(rec(o.template).metadata).labels)],
};

/** CONTROLLER is `<kind>.<group>/<name>` in lower case, as kubectl's formatResourceName prints it. */
export const controllerRevisions: TableConvertor = {
  columns: [NAME, col('Controller', 'Controller of the object'), col('Revision', 'Revision indicates the revision of the state represented by Data.'), AGE],
  cells: (o, now) => {
    const ref = (o.metadata.ownerReferences ?? []).find((r) => r.controller === true);
    const group = ref?.apiVersion.includes('/') ? ref.apiVersion.split('/')[0] : '';
    const controller = ref ? `${ref.kind.toLowerCase()}${group ? `.${group}` : ''}/${ref.name}` : '<none>';
    return [o.metadata.name, controller, num(o.revision), age(o, now)];
  },
};

export const daemonSets: TableConvertor = {
  columns: [NAME, col('Desired', 'The total number of nodes that should be running the daemon pod.', 0, 'integer'), col('Current', 'The number of nodes that are running at least 1 daemon pod.', 0, 'integer'), col('Ready', 'The number of nodes running the daemon pod with it ready.', 0, 'integer'), col('Up-to-date', 'The total number of nodes running the updated daemon pod.', 0, 'integer'), col('Available', 'The number of nodes running the daemon pod with it available.', 0, 'integer'), col('Node Selector', 'NodeSelector of the pod template.'), AGE, CONTAINERS, IMAGES, SELECTOR],
  cells: (o, now) => {
    const spec = rec(o.spec);
    const status = rec(o.status);
    const nodeSelector = Object.entries((rec(rec(spec.template).spec).nodeSelector ?? {}) as Record<string, string>).map(([k, v]) => `${k}=${v}`).join(',') || '<none>';
    return [o.metadata.name, num(status.desiredNumberScheduled), num(status.currentNumberScheduled), num(status.numberReady), num(status.updatedNumberScheduled), num(status.numberAvailable), nodeSelector, age(o, now), ...templateCells(spec.template), selectorCell(spec.selector)];
  },
};

export const statefulSets: TableConvertor = {
  columns: [NAME, col('Ready', 'Number of the pod with ready state'), AGE, CONTAINERS, IMAGES],
  cells: (o, now) => {
    const spec = rec(o.spec);
    const status = rec(o.status);
    return [o.metadata.name, `${num(status.readyReplicas)}/${num(spec.replicas)}`, age(o, now), ...templateCells(spec.template)];
  },
};

function jobStatusCell(status: Rec, spec: Rec): string {
  const conds = (status.conditions ?? []) as { type: string; status: string }[];
  const has = (t: string) => conds.some((c) => c.type === t && c.status === 'True');
  if (has('Failed')) return 'Failed';
  if (has('Complete')) return 'Complete';
  if (spec.suspend === true || has('Suspended')) return 'Suspended';
  if (has('FailureTarget')) return 'FailureTarget';
  if (has('SuccessCriteriaMet')) return 'SuccessCriteriaMet';
  return 'Running';
}

export const jobs: TableConvertor = {
  columns: [NAME, col('Status', 'Status of the job.'), col('Completions', 'The completed job pods over the desired completions.'), col('Duration', 'Time required to complete the job.'), AGE, CONTAINERS, IMAGES, SELECTOR],
  cells: (o, now) => {
    const spec = rec(o.spec);
    const status = rec(o.status);
    const completions = spec.completions === undefined ? `${num(status.succeeded)}/1 of ${num(spec.parallelism)}` : `${num(status.succeeded)}/${num(spec.completions)}`;
    const start = Date.parse(String(status.startTime ?? ''));
    const end = status.completionTime ? Date.parse(String(status.completionTime)) : now;
    const duration = Number.isFinite(start) ? humanDuration(end - start) : '';
    return [o.metadata.name, jobStatusCell(status, spec), completions, duration, age(o, now), ...templateCells(spec.template), selectorCell(spec.selector)];
  },
};

export const cronJobs: TableConvertor = {
  columns: [NAME, col('Schedule', 'The schedule in Cron format.'), col('Timezone', 'The time zone name for the given schedule.'), col('Suspend', 'Whether subsequent executions are suspended.', 0, 'boolean'), col('Active', 'The number of currently running jobs.', 0, 'integer'), col('Last Schedule', 'Information when was the last time the job was successfully scheduled.'), AGE, CONTAINERS, IMAGES, SELECTOR],
  cells: (o, now) => {
    const spec = rec(o.spec);
    const status = rec(o.status);
    const jobSpec = rec(rec(spec.jobTemplate).spec);
    const last = status.lastScheduleTime ? since(status.lastScheduleTime, now) : '<none>';
    return [o.metadata.name, spec.schedule, spec.timeZone ?? '<none>', spec.suspend === true ? 'True' : 'False', ((status.active ?? []) as unknown[]).length, last, age(o, now), ...templateCells(jobSpec.template), selectorCell(jobSpec.selector)];
  },
};

export const replicaSets = replicaColumns('replicasets');
export const replicationControllers = replicaColumns('replicationcontrollers');
