import type { StatusCause } from '../errors';
import type { Allocation, KubeObject, ResourceType } from '../resources';
import type { RegistryContext } from '../registry/context';
import { announcePolicy } from '../quota/presence';
import { isQuantity } from '../schemas/quantity';
import { LimitRangeSchema, ResourceQuotaSchema, type LimitRange, type ResourceQuota } from '../schemas/quota';
import { amount } from '../quota/quantity';
import { limitRanges, resourceQuotas } from '../printers/quota';
import { identity } from './common';

/*
 * core/v1 ResourceQuota and LimitRange (issue #16). What they do is admission's
 * (shared/registry/plugins/limit-ranger.ts, resource-quota.ts) and the quota controller's
 * (functions/controllers/resourcequota.ts); here: shape, validation and columns.
 */

export const QUOTA_SCOPES = ['BestEffort', 'CrossNamespacePodAffinity', 'NotBestEffort', 'NotTerminating', 'PriorityClass', 'Terminating'] as const;
/** Resources counted as whole objects: a fraction makes no sense (Kubernetes' integer quota resources). */
const INTEGER_RESOURCES = new Set(['pods', 'services', 'replicationcontrollers', 'resourcequotas', 'secrets', 'configmaps', 'persistentvolumeclaims', 'services.nodeports', 'services.loadbalancers']);
export const isIntegerResource = (r: string) => INTEGER_RESOURCES.has(r) || r.startsWith('count/');

const invalid = (field: string, value: unknown, why: string): StatusCause => ({ reason: 'FieldValueInvalid', message: `Invalid value: ${JSON.stringify(value)}: ${why}`, field });

function validateResourceList(list: Record<string, string> | undefined, at: string, integers: boolean): StatusCause[] {
  const causes: StatusCause[] = [];
  for (const [k, v] of Object.entries(list ?? {})) {
    if (!isQuantity(v)) continue; // the schema refused it already
    const a = amount(v)!;
    if (a.milli < 0) causes.push(invalid(`${at}[${k}]`, v, 'must be greater than or equal to 0'));
    else if (integers && isIntegerResource(k) && a.milli % 1000 !== 0) causes.push(invalid(`${at}[${k}]`, v, 'must be an integer'));
  }
  return causes;
}

function validateQuota(obj: KubeObject): StatusCause[] {
  const q = obj as ResourceQuota;
  const causes = validateResourceList(q.spec.hard, 'spec.hard', true);
  causes.push(...validateResourceList(q.status?.hard, 'status.hard', true), ...validateResourceList(q.status?.used, 'status.used', true));
  const scopes = q.spec.scopes ?? [];
  for (const [i, s] of scopes.entries())
    if (!(QUOTA_SCOPES as readonly string[]).includes(s))
      causes.push({ reason: 'FieldValueNotSupported', message: `Unsupported value: ${JSON.stringify(s)}: supported values: ${QUOTA_SCOPES.map((x) => `"${x}"`).join(', ')}`, field: `spec.scopes[${i}]` });
  const selected = (q.spec.scopeSelector?.matchExpressions ?? []).map((e) => e.scopeName);
  const all = [...scopes, ...selected];
  if (all.includes('Terminating') && all.includes('NotTerminating')) causes.push(invalid('spec.scopes', all, 'conflicting scopes'));
  if (all.includes('BestEffort') && all.includes('NotBestEffort')) causes.push(invalid('spec.scopes', all, 'conflicting scopes'));
  for (const [i, e] of (q.spec.scopeSelector?.matchExpressions ?? []).entries()) {
    const at = `spec.scopeSelector.matchExpressions[${i}]`;
    if (!(QUOTA_SCOPES as readonly string[]).includes(e.scopeName))
      causes.push({ reason: 'FieldValueNotSupported', message: `Unsupported value: ${JSON.stringify(e.scopeName)}: supported values: ${QUOTA_SCOPES.map((x) => `"${x}"`).join(', ')}`, field: `${at}.scopeName` });
    if (!['In', 'NotIn', 'Exists', 'DoesNotExist'].includes(e.operator))
      causes.push({ reason: 'FieldValueNotSupported', message: `Unsupported value: ${JSON.stringify(e.operator)}: supported values: "DoesNotExist", "Exists", "In", "NotIn"`, field: `${at}.operator` });
    const needsValues = e.operator === 'In' || e.operator === 'NotIn';
    if (needsValues && (e.values ?? []).length === 0) causes.push({ reason: 'FieldValueRequired', message: 'Required value: must be at least one value when `operator` is \'In\' or \'NotIn\' for scope selector', field: `${at}.values` });
    if (!needsValues && (e.values ?? []).length > 0) causes.push(invalid(`${at}.values`, e.values, "may not be specified when `operator` is 'Exists' or 'DoesNotExist'"));
  }
  return causes;
}

const LIMIT_TYPES = ['Container', 'Pod', 'PersistentVolumeClaim'];

function validateLimitRange(obj: KubeObject): StatusCause[] {
  const lr = obj as LimitRange;
  const causes: StatusCause[] = [];
  for (const [i, item] of lr.spec.limits.entries()) {
    const at = `spec.limits[${i}]`;
    if (!LIMIT_TYPES.includes(item.type))
      causes.push({ reason: 'FieldValueNotSupported', message: `Unsupported value: ${JSON.stringify(item.type)}: supported values: "Container", "PersistentVolumeClaim", "Pod"`, field: `${at}.type` });
    for (const f of ['max', 'min', 'default', 'defaultRequest', 'maxLimitRequestRatio'] as const) causes.push(...validateResourceList(item[f], `${at}.${f}`, false));
    if (item.type === 'Pod') {
      if (item.default) causes.push({ reason: 'FieldValueForbidden', message: "Forbidden: may not be specified when `type` is 'Pod'", field: `${at}.default` });
      if (item.defaultRequest) causes.push({ reason: 'FieldValueForbidden', message: "Forbidden: may not be specified when `type` is 'Pod'", field: `${at}.defaultRequest` });
    }
    const q = (list: Record<string, string> | undefined, k: string) => (list?.[k] !== undefined && isQuantity(list[k]) ? amount(list[k])!.milli : undefined);
    const names = new Set([...Object.keys(item.max ?? {}), ...Object.keys(item.min ?? {}), ...Object.keys(item.default ?? {}), ...Object.keys(item.defaultRequest ?? {})]);
    for (const k of names) {
      const [max, min, def, defReq] = [q(item.max, k), q(item.min, k), q(item.default, k), q(item.defaultRequest, k)];
      if (min !== undefined && max !== undefined && min > max) causes.push(invalid(`${at}.min[${k}]`, item.min![k], `min value ${item.min![k]} is greater than max value ${item.max![k]}`));
      if (defReq !== undefined && min !== undefined && min > defReq) causes.push(invalid(`${at}.defaultRequest[${k}]`, item.defaultRequest![k], `min value ${item.min![k]} is greater than default request value ${item.defaultRequest![k]}`));
      if (defReq !== undefined && max !== undefined && defReq > max) causes.push(invalid(`${at}.defaultRequest[${k}]`, item.defaultRequest![k], `default request value ${item.defaultRequest![k]} is greater than max value ${item.max![k]}`));
      if (defReq !== undefined && def !== undefined && defReq > def) causes.push(invalid(`${at}.defaultRequest[${k}]`, item.defaultRequest![k], `default request value ${item.defaultRequest![k]} is greater than default limit value ${item.default![k]}`));
      if (def !== undefined && min !== undefined && min > def) causes.push(invalid(`${at}.default[${k}]`, item.default![k], `min value ${item.min![k]} is greater than default value ${item.default![k]}`));
      if (def !== undefined && max !== undefined && def > max) causes.push(invalid(`${at}.default[${k}]`, item.default![k], `default value ${item.default![k]} is greater than max value ${item.max![k]}`));
    }
    for (const [k, v] of Object.entries(item.maxLimitRequestRatio ?? {})) {
      const r = isQuantity(v) ? amount(v)!.milli : undefined;
      if (r !== undefined && r < 1000) causes.push(invalid(`${at}.maxLimitRequestRatio[${k}]`, v, `ratio ${v} is less than 1`));
      const max = q(item.max, k);
      const min = q(item.min, k);
      if (r !== undefined && max !== undefined && min !== undefined && min > 0 && r * min > max * 1000)
        causes.push(invalid(`${at}.maxLimitRequestRatio[${k}]`, v, `ratio ${v} is greater than max/min = ${(max / min).toFixed(6)}`));
    }
  }
  return causes;
}

/**
 * SetDefaults_LimitRangeItem: for `Container` items, a default limit from max, a default request
 * from the default limit, else from min.
 */
export function defaultLimitRange(o: KubeObject): KubeObject {
  const lr = o as LimitRange;
  const limits = (lr.spec?.limits ?? []).map((item) => {
    if (item.type !== 'Container') return item;
    const def = { ...(item.default ?? {}) };
    const req = { ...(item.defaultRequest ?? {}) };
    for (const [k, v] of Object.entries(item.max ?? {})) def[k] ??= v;
    for (const [k, v] of Object.entries(def)) req[k] ??= v;
    for (const [k, v] of Object.entries(item.min ?? {})) req[k] ??= v;
    const next = { ...item };
    if (Object.keys(def).length > 0) next.default = def;
    if (Object.keys(req).length > 0) next.defaultRequest = req;
    return next;
  });
  return { ...o, spec: { ...(lr.spec ?? {}), limits } };
}

/**
 * After a create commits, the cluster's quota generation moves, so admission on every instance
 * stops taking the namespace for one without quotas or LimitRanges; the create answers once that
 * holds on every instance (shared/quota/presence.ts announcePolicy).
 */
const announceCreate = (ctx: RegistryContext, obj: KubeObject, old: KubeObject | undefined): Promise<Allocation> =>
  Promise.resolve({
    object: obj,
    abort: () => Promise.resolve(),
    commit: () => (old ? Promise.resolve() : announcePolicy(ctx.store, ctx.tenant)),
  });

/** core/v1 ResourceQuota and LimitRange. */
export const quotaTypes: readonly ResourceType[] = [
  {
    group: '',
    version: 'v1',
    resource: 'resourcequotas',
    kind: 'ResourceQuota',
    singular: 'resourcequota',
    namespaced: true,
    shortNames: ['quota'],
    subresources: ['status'],
    schema: ResourceQuotaSchema,
    validate: validateQuota,
    applyDefaults: identity,
    // Status is the system's: it starts empty, admission and the quota controller fill it in.
    prepareForCreate: (o) => {
      const next = { ...o };
      delete next.status;
      return next;
    },
    table: resourceQuotas,
    allocate: announceCreate,
    nameIsLabel: false,
  },
  {
    group: '',
    version: 'v1',
    resource: 'limitranges',
    kind: 'LimitRange',
    singular: 'limitrange',
    namespaced: true,
    shortNames: ['limits'],
    subresources: [],
    schema: LimitRangeSchema,
    validate: validateLimitRange,
    applyDefaults: defaultLimitRange,
    table: limitRanges,
    allocate: announceCreate,
    nameIsLabel: false,
  },
];
