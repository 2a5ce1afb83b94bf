import { badRequest } from './errors';
import { parseFields, parseLabels } from './label-selector';
import type { KubeObject } from './resources';

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

/** Field selectors each kind supports, with how to read the field. */
const FIELD_GETTERS: Record<string, Record<string, (o: KubeObject) => string | undefined>> = {
  '*': {
    'metadata.name': (o) => o.metadata.name,
    'metadata.namespace': (o) => o.metadata.namespace,
  },
  pods: {
    'spec.nodeName': (o) => (o.spec as { nodeName?: string } | undefined)?.nodeName ?? '',
    'spec.restartPolicy': (o) => (o.spec as { restartPolicy?: string } | undefined)?.restartPolicy,
    'spec.schedulerName': (o) => (o.spec as { schedulerName?: string } | undefined)?.schedulerName,
    'spec.serviceAccountName': (o) => (o.spec as { serviceAccountName?: string } | undefined)?.serviceAccountName ?? '',
    'status.phase': (o) => (o.status as { phase?: string } | undefined)?.phase ?? '',
    'status.podIP': (o) => (o.status as { podIP?: string } | undefined)?.podIP ?? '',
    'status.nominatedNodeName': (o) => (o.status as { nominatedNodeName?: string } | undefined)?.nominatedNodeName ?? '',
  },
  nodes: { 'spec.unschedulable': (o) => String((o.spec as { unschedulable?: boolean } | undefined)?.unschedulable ?? false) },
  namespaces: { 'status.phase': (o) => (o.status as { phase?: string } | undefined)?.phase ?? '' },
  events: Object.fromEntries(
    ['kind', 'namespace', 'name', 'uid', 'apiVersion', 'resourceVersion', 'fieldPath'].map((f) => [
      `involvedObject.${f}`,
      (o: KubeObject) => String((o.involvedObject as Record<string, unknown> | undefined)?.[f] ?? ''),
    ]),
  ),
};
FIELD_GETTERS.events!['reason'] = (o) => String(o.reason ?? '');
FIELD_GETTERS.events!['type'] = (o) => String(o.type ?? '');
FIELD_GETTERS.events!['source'] = (o) => String((o.source as { component?: string } | undefined)?.component ?? '');

/**
 * Parses `a=b,c!=d` for `resource` as fields.ParseSelector does (shared/label-selector.ts); 400
 * BadRequest for malformed selectors and for fields that kind does not support.
 */
export function parseFieldSelector(resource: string, selector: string): FieldRequirement[] {
  let terms;
  try {
    terms = parseFields(selector);
  } catch (e) {
    throw badRequest((e as Error).message);
  }
  return terms.map(({ field, op, value }) => {
    if (!FIELD_GETTERS['*']![field] && !FIELD_GETTERS[resource]?.[field]) throw badRequest(`field label not supported: ${field}`);
    return { field, op, value };
  });
}

export function matchesFields(resource: string, reqs: readonly FieldRequirement[], obj: KubeObject): boolean {
  return reqs.every((r) => {
    const get = FIELD_GETTERS['*']![r.field] ?? FIELD_GETTERS[resource]![r.field]!;
    const v = get(obj) ?? '';
    return r.op === '=' ? v === r.value : v !== r.value;
  });
}
