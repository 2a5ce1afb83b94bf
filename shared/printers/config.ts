import type { KubeObject } from '../resources';
import { AGE, age, col, NAME, rec, str, type TableConvertor } from './columns';

/*
 * `kubectl get` columns of ConfigMaps, Secrets, PodDisruptionBudgets and PriorityClasses, as
 * Kubernetes' printers (pkg/printers/internalversion/printers.go) define them.
 */

const count = (v: unknown) => Object.keys(rec(v)).length;
/** An IntOrString field as the printer shows it: the value, or N/A when unset. */
const intOrString = (v: unknown) => (typeof v === 'number' ? String(v) : typeof v === 'string' ? v : 'N/A');

export const configMaps: TableConvertor = {
  columns: [NAME, col('Data', 'Number of data in configmap', 0, 'integer'), AGE],
  cells: (o, now) => [o.metadata.name, count(o.data) + count(o.binaryData), age(o, now)],
};

export const secrets: TableConvertor = {
  columns: [NAME, col('Type', 'The type of the secret'), col('Data', 'Number of data in secret', 0, 'integer'), AGE],
  cells: (o, now) => [o.metadata.name, str(o.type), count(o.data), age(o, now)],
};

export const podDisruptionBudgets: TableConvertor = {
  columns: [
    NAME,
    col('Min Available', 'The minimum number or percentage of available pods this budget requires.'),
    col('Max Unavailable', 'The maximum number or percentage of unavailable pods this budget allows.'),
    col('Allowed Disruptions', 'Calculated number of pods that may be disrupted at this time.', 0, 'integer'),
    AGE,
  ],
  cells: (o: KubeObject, now) => {
    const spec = rec(o.spec);
    const allowed = rec(o.status).disruptionsAllowed;
    return [o.metadata.name, intOrString(spec.minAvailable), intOrString(spec.maxUnavailable), typeof allowed === 'number' ? allowed : 0, age(o, now)];
  },
};

export const priorityClasses: TableConvertor = {
  columns: [
    NAME,
    col('Value', "The value of this priority class. This is the actual priority that pods receive when they have the name of this class in their pod spec.", 0, 'integer'),
    col('Global-Default', 'globalDefault specifies whether this PriorityClass should be considered as the default priority for pods that do not have any priority class.', 0, 'boolean'),
    AGE,
    col('PreemptionPolicy', 'PreemptionPolicy is the Policy for preempting pods with lower priority.'),
  ],
  cells: (o, now) => [o.metadata.name, typeof o.value === 'number' ? o.value : 0, o.globalDefault === true, age(o, now), str(o.preemptionPolicy)],
};
