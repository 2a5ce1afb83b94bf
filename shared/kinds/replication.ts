import { freshStatus } from './common';
import type { StatusCause } from '../errors';
import type { KubeObject, ResourceType } from '../resources';
import type { PodTemplateSpec } from '../schemas/apps';
import { ControllerRevisionSchema, PodTemplateSchema, ReplicationControllerSchema } from '../schemas/core-workloads';
import { canonicalJson } from '../canonical';
import { validatePod } from '../validation/pod';
import { defaultTemplate, nonNegative, validateSelectorAndTemplate } from './apps';
import { controllerRevisions, podTemplates, replicationControllers } from '../printers/workloads';

/*
 * Issue #14 B: core/v1 ReplicationController and PodTemplate, apps/v1 ControllerRevision, with
 * Kubernetes' defaulting and validation (pkg/apis/core/v1/defaults.go, validation.go and
 * pkg/apis/apps/validation).
 */

interface RCSpec {
  replicas?: number;
  minReadySeconds?: number;
  selector?: Record<string, string>;
  template?: PodTemplateSpec;
}

const rcSpec = (o: KubeObject | undefined) => (o?.spec ?? {}) as RCSpec;

import { workloadSelector } from '../selectors';
export { workloadSelector };

/** SetDefaults_ReplicationController: selector and labels from the template's labels when empty, one replica. */
function defaultReplicationController(o: KubeObject): KubeObject {
  const spec = { ...rcSpec(o) };
  const labels = spec.template?.metadata?.labels;
  const metadata = { ...o.metadata };
  if (labels) {
    if (Object.keys(spec.selector ?? {}).length === 0) spec.selector = { ...labels };
    if (Object.keys(metadata.labels ?? {}).length === 0) metadata.labels = { ...labels };
  }
  spec.replicas ??= 1;
  if (spec.template) spec.template = defaultTemplate(spec.template);
  return { ...o, metadata, spec };
}

/** ValidateReplicationControllerSpec: the selector may change (unlike apps/v1), must not be empty and must match the template. */
function validateReplicationController(o: KubeObject): StatusCause[] {
  const spec = rcSpec(o);
  const causes: StatusCause[] = [...nonNegative('spec.minReadySeconds', spec.minReadySeconds)];
  const empty = Object.keys(spec.selector ?? {}).length === 0;
  if (empty) causes.push({ reason: 'FieldValueRequired', message: 'Required value', field: 'spec.selector' });
  causes.push(...nonNegative('spec.replicas', spec.replicas));
  if (!spec.template) causes.push({ reason: 'FieldValueRequired', message: 'Required value', field: 'spec.template' });
  else {
    const selector = empty ? undefined : workloadSelector('replicationcontrollers', o);
    causes.push(...validateSelectorAndTemplate('ReplicationController', { selector, template: spec.template }, undefined, ['Always']).filter((c) => c.field !== 'spec.selector'));
    const ads = (spec.template.spec as { activeDeadlineSeconds?: number } | undefined)?.activeDeadlineSeconds;
    if (ads !== undefined)
      causes.push({ reason: 'FieldValueInvalid', message: `Invalid value: ${ads}: activeDeadlineSeconds in ReplicationController is not Supported`, field: 'spec.template.spec.activeDeadlineSeconds' });
  }
  return causes;
}

/** ValidatePodTemplate: the template's pod spec, under `template.`. */
function validatePodTemplate(o: KubeObject): StatusCause[] {
  const template = o.template as PodTemplateSpec | undefined;
  return validatePod({ metadata: {}, spec: template?.spec ?? {} }).map((c) => ({ ...c, field: c.field ? `template.${c.field}` : 'template' }));
}

/** ValidateControllerRevision(Update): revision not negative, data immutable. */
function validateControllerRevision(o: KubeObject, old?: KubeObject): StatusCause[] {
  const causes = nonNegative('revision', o.revision as number | undefined);
  if (old && canonicalJson(o.data ?? null) !== canonicalJson(old.data ?? null))
    causes.push({ reason: 'FieldValueInvalid', message: `Invalid value: ${JSON.stringify(o.data ?? null)}: field is immutable`, field: 'data' });
  return causes;
}

export const replicationTypes: readonly ResourceType[] = [
  {
    group: '',
    version: 'v1',
    resource: 'replicationcontrollers',
    table: replicationControllers,
    kind: 'ReplicationController',
    singular: 'replicationcontroller',
    namespaced: true,
    shortNames: ['rc'],
    subresources: ['status', 'scale'],
    prepareForCreate: freshStatus({ replicas: 0 }),
    schema: ReplicationControllerSchema,
    validate: validateReplicationController,
    applyDefaults: defaultReplicationController,
    nameIsLabel: false,
    // Kubernetes' DefaultGarbageCollectionPolicy: core/v1 RCs orphan their pods, for back compatibility.
    defaultPropagation: 'Orphan',
  },
  {
    group: '',
    version: 'v1',
    resource: 'podtemplates',
    table: podTemplates,
    kind: 'PodTemplate',
    singular: 'podtemplate',
    namespaced: true,
    shortNames: [],
    subresources: [],
    schema: PodTemplateSchema,
    validate: validatePodTemplate,
    applyDefaults: (o) => (o.template ? { ...o, template: defaultTemplate(o.template as PodTemplateSpec) } : o),
    nameIsLabel: false,
  },
  {
    group: 'apps',
    version: 'v1',
    resource: 'controllerrevisions',
    table: controllerRevisions,
    kind: 'ControllerRevision',
    singular: 'controllerrevision',
    namespaced: true,
    shortNames: [],
    subresources: [],
    schema: ControllerRevisionSchema,
    validate: validateControllerRevision,
    applyDefaults: (o) => ({ ...o, revision: o.revision ?? 0 }),
    nameIsLabel: false,
  },
];
