import { freshStatus } from './common';
import type { StatusCause } from '../errors';
import type { KubeObject, ResourceType } from '../resources';
import { DaemonSetSchema, DeploymentSchema, ReplicaSetSchema, StatefulSetSchema, type IntOrString, type LabelSelector, type PodTemplateSpec } from '../schemas/apps';
import type { PodSpec } from '../schemas/pod';
import { canonicalJson } from '../canonical';
import { defaultPod, validatePod } from '../validation/pod';
import { daemonSets, deployments, replicaSets, statefulSets } from '../printers/workloads';

// ---------------------------------------------------------------------------------------------
// Label selectors (meta/v1 LabelSelector), shared by validation, the scale subresource and the
// workload controllers.

/** Whether `labels` satisfy `selector`. An empty selector matches everything; none matches nothing. */
export function selectorMatches(selector: LabelSelector | undefined, labels: Record<string, string> | undefined): boolean {
  if (!selector) return false;
  const l = labels ?? {};
  for (const [k, v] of Object.entries(selector.matchLabels ?? {})) if (l[k] !== v) return false;
  for (const r of selector.matchExpressions ?? []) {
    const has = Object.prototype.hasOwnProperty.call(l, r.key);
    const values = r.values ?? [];
    if (r.operator === 'In' && !(has && values.includes(l[r.key]!))) return false;
    if (r.operator === 'NotIn' && has && values.includes(l[r.key]!)) return false;
    if (r.operator === 'Exists' && !has) return false;
    if (r.operator === 'DoesNotExist' && has) return false;
  }
  return true;
}

import { selectorString } from '../selectors';
export { selectorString };

const isEmptySelector = (s: LabelSelector) => Object.keys(s.matchLabels ?? {}).length === 0 && (s.matchExpressions ?? []).length === 0;

/** Go's %#v of a map[string]string, as Kubernetes' validation messages print label maps. */
export function goStringMap(m: Record<string, string> | undefined): string {
  const entries = Object.entries(m ?? {}).sort(([a], [b]) => (a < b ? -1 : 1));
  return `map[string]string{${entries.map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`).join(', ')}}`;
}

// ---------------------------------------------------------------------------------------------
// Defaults and validation shared by every workload kind.

/**
 * Pod defaults for a template, as Kubernetes' defaulting applies them to PodTemplateSpecs.
 * Tolerations, priority and the like come from admission plugins at pod creation, not here.
 */
export function defaultTemplate(t: PodTemplateSpec | undefined): PodTemplateSpec {
  const tmpl = t ?? {};
  const orig = (tmpl.spec ?? {}) as PodSpec;
  const spec = { ...(defaultPod({ metadata: {}, spec: orig }).spec as PodSpec) };
  for (const k of ['tolerations', 'priority', 'preemptionPolicy', 'enableServiceLinks'] as const) {
    if (orig[k] === undefined) delete spec[k];
  }
  return { ...tmpl, metadata: tmpl.metadata ?? {}, spec };
}

const invalidValue = (field: string, value: unknown, why: string): StatusCause => ({
  reason: 'FieldValueInvalid',
  message: `Invalid value: ${typeof value === 'string' ? JSON.stringify(value) : String(value)}: ${why}`,
  field,
});

export function nonNegative(field: string, v: number | undefined): StatusCause[] {
  return v !== undefined && v < 0 ? [invalidValue(field, v, 'must be greater than or equal to 0')] : [];
}

/** An IntOrString that must be a non-negative int or a percentage (at most 100% when `capped`). */
export function intOrPercentProblems(field: string, v: IntOrString | undefined, capped: boolean): StatusCause[] {
  if (v === undefined) return [];
  if (typeof v === 'number') return nonNegative(field, v);
  const m = /^(\d+)%$/.exec(v);
  if (!m) return [invalidValue(field, v, "a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')")];
  if (capped && Number(m[1]) > 100) return [invalidValue(field, v, 'must not be greater than 100%')];
  return [];
}

/** Resolves an IntOrString against a total: percentages round up (surge) or down (unavailable). */
export function scaledValue(v: IntOrString | undefined, total: number, roundUp: boolean): number {
  if (v === undefined) return 0;
  if (typeof v === 'number') return v;
  const pct = Number(v.replace('%', ''));
  const raw = (pct * total) / 100;
  return roundUp ? Math.ceil(raw) : Math.floor(raw);
}

interface WorkloadSpec {
  selector?: LabelSelector;
  template?: PodTemplateSpec;
}

/**
 * Selector and template checks every workload kind makes, with Kubernetes' fields and words:
 * a selector is required, not empty, matches the template's labels and never changes.
 */
export function validateSelectorAndTemplate(kind: string, spec: WorkloadSpec, oldSpec: WorkloadSpec | undefined, restartPolicies: readonly string[]): StatusCause[] {
  const causes: StatusCause[] = [];
  const labels = spec.template?.metadata?.labels;
  if (!spec.selector) causes.push({ reason: 'FieldValueRequired', message: 'Required value', field: 'spec.selector' });
  else if (isEmptySelector(spec.selector))
    causes.push({ reason: 'FieldValueInvalid', message: `Invalid value: "": empty selector is invalid for ${kind.toLowerCase()}`, field: 'spec.selector' });
  else if (!selectorMatches(spec.selector, labels))
    causes.push({ reason: 'FieldValueInvalid', message: `Invalid value: ${goStringMap(labels)}: \`selector\` does not match template \`labels\``, field: 'spec.template.metadata.labels' });
  if (oldSpec && spec.selector && canonicalJson(spec.selector) !== canonicalJson(oldSpec.selector ?? null))
    causes.push({ reason: 'FieldValueInvalid', message: `Invalid value: ${JSON.stringify(spec.selector)}: field is immutable`, field: 'spec.selector' });
  for (const c of validatePod({ metadata: {}, spec: spec.template?.spec ?? {} }))
    causes.push({ ...c, field: c.field ? `spec.template.${c.field}` : 'spec.template' });
  const rp = (spec.template?.spec as PodSpec | undefined)?.restartPolicy;
  if (rp !== undefined && !restartPolicies.includes(rp))
    causes.push({ reason: 'FieldValueNotSupported', message: `Unsupported value: "${rp}": supported values: ${restartPolicies.map((p) => `"${p}"`).join(', ')}`, field: 'spec.template.spec.restartPolicy' });
  return causes;
}

// ---------------------------------------------------------------------------------------------
// apps/v1 kinds.

type Spec<T> = T & Record<string, unknown>;
const specOf = <T>(o: KubeObject | undefined) => (o?.spec ?? {}) as Spec<T>;

interface DeploymentSpecShape extends WorkloadSpec {
  replicas?: number;
  strategy?: { type?: string; rollingUpdate?: { maxSurge?: IntOrString; maxUnavailable?: IntOrString } };
  minReadySeconds?: number;
  revisionHistoryLimit?: number;
  progressDeadlineSeconds?: number;
  paused?: boolean;
}

function defaultDeployment(o: KubeObject): KubeObject {
  const spec = { ...specOf<DeploymentSpecShape>(o) };
  spec.replicas ??= 1;
  const type = spec.strategy?.type ?? 'RollingUpdate';
  spec.strategy =
    type === 'RollingUpdate'
      ? { ...spec.strategy, type, rollingUpdate: { maxUnavailable: '25%', maxSurge: '25%', ...spec.strategy?.rollingUpdate } }
      : { ...spec.strategy, type };
  spec.revisionHistoryLimit ??= 10;
  spec.progressDeadlineSeconds ??= 600;
  spec.template = defaultTemplate(spec.template);
  return { ...o, spec };
}

function validateDeployment(o: KubeObject, old?: KubeObject): StatusCause[] {
  const spec = specOf<DeploymentSpecShape>(o);
  const causes = validateSelectorAndTemplate('Deployment', spec, old ? specOf<DeploymentSpecShape>(old) : undefined, ['Always']);
  causes.push(...nonNegative('spec.replicas', spec.replicas), ...nonNegative('spec.minReadySeconds', spec.minReadySeconds), ...nonNegative('spec.revisionHistoryLimit', spec.revisionHistoryLimit));
  const ru = spec.strategy?.rollingUpdate;
  if (spec.strategy?.type === 'Recreate' && ru)
    causes.push({ reason: 'FieldValueForbidden', message: "Forbidden: may not be specified when strategy `type` is 'Recreate'", field: 'spec.strategy.rollingUpdate' });
  if (ru) {
    causes.push(...intOrPercentProblems('spec.strategy.rollingUpdate.maxSurge', ru.maxSurge, false));
    causes.push(...intOrPercentProblems('spec.strategy.rollingUpdate.maxUnavailable', ru.maxUnavailable, true));
    const zero = (v: IntOrString | undefined) => v === 0 || v === '0%';
    if (zero(ru.maxSurge) && zero(ru.maxUnavailable))
      causes.push({ reason: 'FieldValueInvalid', message: `Invalid value: ${JSON.stringify(ru.maxUnavailable)}: may not be 0 when \`maxSurge\` is 0`, field: 'spec.strategy.rollingUpdate.maxUnavailable' });
  }
  if (spec.progressDeadlineSeconds !== undefined) {
    if (spec.progressDeadlineSeconds <= 0)
      causes.push(invalidValue('spec.progressDeadlineSeconds', spec.progressDeadlineSeconds, 'must be greater than 0'));
    else if (spec.progressDeadlineSeconds <= (spec.minReadySeconds ?? 0))
      causes.push(invalidValue('spec.progressDeadlineSeconds', spec.progressDeadlineSeconds, 'must be greater than minReadySeconds'));
  }
  return causes;
}

interface ReplicaSetSpecShape extends WorkloadSpec {
  replicas?: number;
  minReadySeconds?: number;
}

function validateReplicaSet(o: KubeObject, old?: KubeObject): StatusCause[] {
  const spec = specOf<ReplicaSetSpecShape>(o);
  return [
    ...validateSelectorAndTemplate('ReplicaSet', spec, old ? specOf<ReplicaSetSpecShape>(old) : undefined, ['Always']),
    ...nonNegative('spec.replicas', spec.replicas),
    ...nonNegative('spec.minReadySeconds', spec.minReadySeconds),
  ];
}

interface DaemonSetSpecShape extends WorkloadSpec {
  updateStrategy?: { type?: string; rollingUpdate?: { maxUnavailable?: IntOrString; maxSurge?: IntOrString } };
  revisionHistoryLimit?: number;
  minReadySeconds?: number;
}

function defaultDaemonSet(o: KubeObject): KubeObject {
  const spec = { ...specOf<DaemonSetSpecShape>(o) };
  const type = spec.updateStrategy?.type ?? 'RollingUpdate';
  spec.updateStrategy =
    type === 'RollingUpdate' ? { type, rollingUpdate: { maxUnavailable: 1, maxSurge: 0, ...spec.updateStrategy?.rollingUpdate } } : { ...spec.updateStrategy, type };
  spec.revisionHistoryLimit ??= 10;
  spec.template = defaultTemplate(spec.template);
  return { ...o, spec };
}

function validateDaemonSet(o: KubeObject, old?: KubeObject): StatusCause[] {
  const spec = specOf<DaemonSetSpecShape>(o);
  const causes = validateSelectorAndTemplate('DaemonSet', spec, old ? specOf<DaemonSetSpecShape>(old) : undefined, ['Always']);
  const ru = spec.updateStrategy?.rollingUpdate;
  if (ru) {
    causes.push(...intOrPercentProblems('spec.updateStrategy.rollingUpdate.maxUnavailable', ru.maxUnavailable, true));
    causes.push(...intOrPercentProblems('spec.updateStrategy.rollingUpdate.maxSurge', ru.maxSurge, true));
  }
  return causes;
}

interface StatefulSetSpecShape extends WorkloadSpec {
  replicas?: number;
  podManagementPolicy?: string;
  updateStrategy?: { type?: string; rollingUpdate?: { partition?: number; maxUnavailable?: IntOrString } };
  revisionHistoryLimit?: number;
  persistentVolumeClaimRetentionPolicy?: { whenDeleted?: string; whenScaled?: string };
  serviceName?: string;
}

function defaultStatefulSet(o: KubeObject): KubeObject {
  const spec = { ...specOf<StatefulSetSpecShape>(o) };
  spec.replicas ??= 1;
  spec.podManagementPolicy ??= 'OrderedReady';
  const type = spec.updateStrategy?.type ?? 'RollingUpdate';
  spec.updateStrategy = type === 'RollingUpdate' ? { type, rollingUpdate: { partition: 0, ...spec.updateStrategy?.rollingUpdate } } : { ...spec.updateStrategy, type };
  spec.revisionHistoryLimit ??= 10;
  spec.persistentVolumeClaimRetentionPolicy = { whenDeleted: 'Retain', whenScaled: 'Retain', ...spec.persistentVolumeClaimRetentionPolicy };
  spec.template = defaultTemplate(spec.template);
  return { ...o, spec };
}

function validateStatefulSet(o: KubeObject, old?: KubeObject): StatusCause[] {
  const spec = specOf<StatefulSetSpecShape>(o);
  const causes = [
    ...validateSelectorAndTemplate('StatefulSet', spec, old ? specOf<StatefulSetSpecShape>(old) : undefined, ['Always']),
    ...nonNegative('spec.replicas', spec.replicas),
    ...nonNegative('spec.updateStrategy.rollingUpdate.partition', spec.updateStrategy?.rollingUpdate?.partition),
  ];
  if (old) {
    // Kubernetes allows only these StatefulSet spec fields to change.
    const strip = (s: StatefulSetSpecShape) =>
      canonicalJson({ ...s, replicas: undefined, template: undefined, updateStrategy: undefined, persistentVolumeClaimRetentionPolicy: undefined, minReadySeconds: undefined, ordinals: undefined, revisionHistoryLimit: undefined });
    if (strip(spec) !== strip(specOf<StatefulSetSpecShape>(old)))
      causes.push({
        reason: 'FieldValueForbidden',
        message: "Forbidden: updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'revisionHistoryLimit', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden",
        field: 'spec',
      });
  }
  return causes;
}

/** apps/v1: Deployment, ReplicaSet, DaemonSet, StatefulSet (issue #4). */
export const appsTypes: readonly ResourceType[] = [
  {
    group: 'apps',
    version: 'v1',
    resource: 'deployments',
    table: deployments,
    kind: 'Deployment',
    singular: 'deployment',
    namespaced: true,
    shortNames: ['deploy'],
    subresources: ['status', 'scale'],
    prepareForCreate: freshStatus({}),
    schema: DeploymentSchema,
    validate: validateDeployment,
    applyDefaults: defaultDeployment,
    nameIsLabel: false,
  },
  {
    group: 'apps',
    version: 'v1',
    resource: 'replicasets',
    table: replicaSets,
    kind: 'ReplicaSet',
    singular: 'replicaset',
    namespaced: true,
    shortNames: ['rs'],
    subresources: ['status', 'scale'],
    prepareForCreate: freshStatus({ replicas: 0 }),
    schema: ReplicaSetSchema,
    validate: validateReplicaSet,
    applyDefaults: (o) => {
      const spec = { ...specOf<ReplicaSetSpecShape>(o) };
      spec.replicas ??= 1;
      spec.template = defaultTemplate(spec.template);
      return { ...o, spec };
    },
    nameIsLabel: false,
  },
  {
    group: 'apps',
    version: 'v1',
    resource: 'daemonsets',
    table: daemonSets,
    kind: 'DaemonSet',
    singular: 'daemonset',
    namespaced: true,
    shortNames: ['ds'],
    subresources: ['status'],
    prepareForCreate: freshStatus({ currentNumberScheduled: 0, numberMisscheduled: 0, desiredNumberScheduled: 0, numberReady: 0 }),
    schema: DaemonSetSchema,
    validate: validateDaemonSet,
    applyDefaults: defaultDaemonSet,
    nameIsLabel: false,
  },
  {
    group: 'apps',
    version: 'v1',
    resource: 'statefulsets',
    table: statefulSets,
    kind: 'StatefulSet',
    singular: 'statefulset',
    namespaced: true,
    shortNames: ['sts'],
    subresources: ['status', 'scale'],
    prepareForCreate: freshStatus({ replicas: 0, availableReplicas: 0 }),
    schema: StatefulSetSchema,
    validate: validateStatefulSet,
    applyDefaults: defaultStatefulSet,
    nameIsLabel: false,
  },
];
