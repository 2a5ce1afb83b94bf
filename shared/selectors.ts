import { badRequest } from './errors';
import { parseFields, parseLabels } from './label-selector';
import type { KubeObject, ResourceType } from './resources';
import type { LabelSelector } from './schemas/apps';

/** One requirement of a label selector, as Kubernetes' labels.Requirement. */
export type LabelRequirement =
  | { op: 'exists' | '!'; key: string }
  | { op: '=' | '!='; key: string; value: string }
  | { op: 'in' | 'notin'; key: string; values: string[] }
  | { op: 'gt' | 'lt'; key: string; value: string };

/**
 * Parses `a=b,c!=d,e in (f,g),h notin (i),j,!k,l>3` as labels.Parse does (shared/label-selector.ts);
 * 400 BadRequest with Kubernetes' message on syntax errors.
 */
export function parseLabelSelector(selector: string): LabelRequirement[] {
  let parsed;
  try {
    parsed = parseLabels(selector);
  } catch (e) {
    throw badRequest((e as Error).message);
  }
  return parsed.map((r): LabelRequirement => {
    switch (r.op) {
      case 'exists':
      case '!':
        return { op: r.op, key: r.key };
      case 'in':
      case 'notin':
        return { op: r.op, key: r.key, values: [...r.values] };
      default:
        return { op: r.op, key: r.key, value: r.values[0] ?? '' };
    }
  });
}

export function matchesLabels(reqs: readonly LabelRequirement[], labels: Record<string, string> | undefined): boolean {
  const l = labels ?? {};
  return reqs.every((r) => {
    const has = Object.prototype.hasOwnProperty.call(l, r.key);
    switch (r.op) {
      case 'exists':
        return has;
      case '!':
        return !has;
      case '=':
        return has && l[r.key] === r.value;
      case '!=':
        return !has || l[r.key] !== r.value;
      case 'in':
        return has && r.values.includes(l[r.key]!);
      case 'notin':
        return !has || !r.values.includes(l[r.key]!);
      case 'gt':
      case 'lt': {
        if (!has || !/^[+-]?\d+$/.test(l[r.key]!)) return false;
        const have = BigInt(l[r.key]!);
        const want = BigInt(r.value);
        return r.op === 'gt' ? have > want : have < want;
      }
    }
  });
}

export interface FieldRequirement {
  readonly field: string;
  readonly op: '=' | '!=';
  readonly value: string;
}

/** Field selectors every kind supports; a kind's strategy adds its own (ResourceType.fieldSelectors). */
const COMMON_FIELDS: Readonly<Record<string, (o: KubeObject) => string | undefined>> = {
  'metadata.name': (o) => o.metadata.name,
  'metadata.namespace': (o) => o.metadata.namespace,
};

type FieldsOf = Pick<ResourceType, 'fieldSelectors'>;
const getterOf = (rt: FieldsOf, field: string) => COMMON_FIELDS[field] ?? rt.fieldSelectors?.[field];

/**
 * Parses `a=b,c!=d` for a kind as fields.ParseSelector does (shared/label-selector.ts); 400
 * BadRequest for malformed selectors and for fields that kind does not support.
 */
export function parseFieldSelector(rt: FieldsOf, selector: string): FieldRequirement[] {
  let terms;
  try {
    terms = parseFields(selector);
  } catch (e) {
    throw badRequest((e as Error).message);
  }
  return terms.map(({ field, op, value }) => {
    if (!getterOf(rt, field)) throw badRequest(`field label not supported: ${field}`);
    return { field, op, value };
  });
}

export function matchesFields(rt: FieldsOf, reqs: readonly FieldRequirement[], obj: KubeObject): boolean {
  return reqs.every((r) => {
    const get = getterOf(rt, r.field)!;
    const v = get(obj) ?? '';
    return r.op === '=' ? v === r.value : v !== r.value;
  });
}

/** The selector in the string form of `kubectl get -l` (Scale.status.selector). */
export function selectorString(selector: LabelSelector | undefined): string {
  if (!selector) return '';
  const parts = Object.entries(selector.matchLabels ?? {})
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`);
  for (const r of selector.matchExpressions ?? []) {
    const values = [...(r.values ?? [])].sort().join(',');
    if (r.operator === 'In') parts.push(`${r.key} in (${values})`);
    if (r.operator === 'NotIn') parts.push(`${r.key} notin (${values})`);
    if (r.operator === 'Exists') parts.push(r.key);
    if (r.operator === 'DoesNotExist') parts.push(`!${r.key}`);
  }
  return parts.join(',');
}

/**
 * The selector of a replicated workload as a LabelSelector: a ReplicationController's is a plain
 * label map (equality only), every apps/v1 and batch/v1 kind's is already a LabelSelector. The one
 * adapter through which controllers, dispatch and the scale subresource read RC selectors.
 */
export function workloadSelector(resource: string, obj: KubeObject | undefined): LabelSelector | undefined {
  const s = (obj?.spec as { selector?: unknown } | undefined)?.selector;
  if (resource === 'replicationcontrollers') return s ? { matchLabels: { ...(s as Record<string, string>) } } : undefined;
  return s as LabelSelector | undefined;
}
