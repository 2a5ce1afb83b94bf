import type { StatusCause } from '../errors';
import type { KubeObject, ResourceType } from '../resources';
import { PodDisruptionBudgetSchema, PriorityClassSchema, type PodDisruptionBudget, type PriorityClass } from '../schemas/policy';
import { identity, freshStatus } from './common';
import { podDisruptionBudgets, priorityClasses } from '../printers/config';

const INT_OR_PERCENT = /^\d+%$/;
/** User PriorityClasses stay at or below one billion; higher values are the system's. */
export const HIGHEST_USER_PRIORITY = 1_000_000_000;
export const SYSTEM_PRIORITY_CLASSES: Record<string, number> = { 'system-cluster-critical': 2_000_000_000, 'system-node-critical': 2_000_001_000 };

function validatePdb(obj: KubeObject): StatusCause[] {
  const spec = (obj as PodDisruptionBudget).spec ?? {};
  const causes: StatusCause[] = [];
  if (spec.minAvailable !== undefined && spec.maxUnavailable !== undefined)
    causes.push({ reason: 'FieldValueInvalid', message: 'Invalid value: "spec": minAvailable and maxUnavailable cannot be both set', field: 'spec' });
  for (const f of ['minAvailable', 'maxUnavailable'] as const) {
    const v = spec[f];
    if (v === undefined) continue;
    if (typeof v === 'number' ? v < 0 : !INT_OR_PERCENT.test(v) || Number(v.slice(0, -1)) > 100)
      causes.push({ reason: 'FieldValueInvalid', message: `Invalid value: ${JSON.stringify(v)}: must be a non-negative integer or a percentage between 0% and 100%`, field: `spec.${f}` });
  }
  return causes;
}

function validatePriorityClass(obj: KubeObject, old?: KubeObject): StatusCause[] {
  const pc = obj as PriorityClass;
  const causes: StatusCause[] = [];
  const name = pc.metadata.name ?? '';
  if (name.startsWith('system-') && !(name in SYSTEM_PRIORITY_CLASSES))
    causes.push({ reason: 'FieldValueInvalid', message: `Invalid value: "${name}": priority class names with 'system-' prefix are reserved`, field: 'metadata.name' });
  if (!(name in SYSTEM_PRIORITY_CLASSES) && pc.value > HIGHEST_USER_PRIORITY)
    causes.push({ reason: 'FieldValueForbidden', message: `Forbidden: maximum allowed value of a user defined priority is ${HIGHEST_USER_PRIORITY}`, field: 'value' });
  if (old && (old as PriorityClass).value !== pc.value) causes.push({ reason: 'FieldValueForbidden', message: 'Forbidden: may not be changed in an update.', field: 'value' });
  return causes;
}

/** policy/v1 PodDisruptionBudget and scheduling.k8s.io/v1 PriorityClass (issue #6). */
export const policyTypes: readonly ResourceType[] = [
  {
    group: 'policy',
    version: 'v1',
    resource: 'poddisruptionbudgets',
    kind: 'PodDisruptionBudget',
    table: podDisruptionBudgets,
    singular: 'poddisruptionbudget',
    namespaced: true,
    shortNames: ['pdb'],
    subresources: ['status'],
    prepareForCreate: freshStatus({ disruptionsAllowed: 0, currentHealthy: 0, desiredHealthy: 0, expectedPods: 0 }),
    schema: PodDisruptionBudgetSchema,
    validate: validatePdb,
    applyDefaults: identity,
    nameIsLabel: false,
  },
  {
    group: 'scheduling.k8s.io',
    version: 'v1',
    resource: 'priorityclasses',
    kind: 'PriorityClass',
    table: priorityClasses,
    singular: 'priorityclass',
    namespaced: false,
    shortNames: ['pc'],
    subresources: [],
    schema: PriorityClassSchema,
    validate: validatePriorityClass,
    applyDefaults: (o) => ({ ...o, preemptionPolicy: (o as PriorityClass).preemptionPolicy ?? 'PreemptLowerPriority' }),
    nameIsLabel: false,
  },
];
