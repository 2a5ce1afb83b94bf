import { badRequest } from './errors';
import type { KubeObject } from './resources';

/** One requirement of a label selector, as Kubernetes' labels.Requirement. */
export type LabelRequirement =
  | { op: 'exists' | '!'; key: string }
  | { op: '=' | '!='; key: string; value: string }
  | { op: 'in' | 'notin'; key: string; values: string[] };

/** Splits on commas that are not inside parentheses. */
function splitTop(s: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of s) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      parts.push(cur);
      cur = '';
    } else cur += ch;
  }
  parts.push(cur);
  return parts.map((p) => p.trim()).filter((p) => p.length > 0);
}

const KEY = /^([a-z0-9A-Z]([-a-z0-9A-Z_.]*[a-z0-9A-Z])?\/)?[a-z0-9A-Z]([-a-z0-9A-Z_.]*[a-z0-9A-Z])?$/;

function checkKey(key: string, selector: string): string {
  if (!KEY.test(key)) throw badRequest(`unable to parse requirement: invalid label key "${key}" in selector "${selector}"`);
  return key;
}

/** Parses `a=b,c!=d,e in (f,g),h notin (i),j,!k`; 400 BadRequest on syntax errors. */
export function parseLabelSelector(selector: string): LabelRequirement[] {
  return splitTop(selector).map((part) => {
    let m = /^(\S+)\s+(in|notin)\s*\((.*)\)$/.exec(part);
    if (m) {
      const values = m[3]!.split(',').map((v) => v.trim()).filter((v) => v.length > 0);
      return { op: m[2] as 'in' | 'notin', key: checkKey(m[1]!, selector), values };
    }
    m = /^([^!=\s]+)\s*(==|!=|=)\s*(\S*)$/.exec(part);
    if (m) return { op: m[2] === '!=' ? '!=' : '=', key: checkKey(m[1]!, selector), value: m[3]! };
    m = /^!\s*(\S+)$/.exec(part);
    if (m) return { op: '!', key: checkKey(m[1]!, selector) };
    if (/^\S+$/.test(part) && !/[=!()]/.test(part)) return { op: 'exists', key: checkKey(part, selector) };
    throw badRequest(`unable to parse requirement: found '${part}', expected: identifier, in, notin, =, ==, !=`);
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

/** Parses `a=b,c!=d` for `resource`; 400 BadRequest for fields that kind does not support. */
export function parseFieldSelector(resource: string, selector: string): FieldRequirement[] {
  return splitTop(selector).map((part) => {
    const m = /^([^!=]+?)\s*(==|!=|=)\s*(.*)$/.exec(part);
    if (!m) throw badRequest(`invalid selector: '${selector}'; can't understand '${part}'`);
    const field = m[1]!.trim();
    if (!FIELD_GETTERS['*']![field] && !FIELD_GETTERS[resource]?.[field])
      throw badRequest(`field label not supported: ${field}`);
    return { field, op: m[2] === '!=' ? '!=' : '=', value: m[3]!.trim() };
  });
}

export function matchesFields(resource: string, reqs: readonly FieldRequirement[], obj: KubeObject): boolean {
  return reqs.every((r) => {
    const get = FIELD_GETTERS['*']![r.field] ?? FIELD_GETTERS[resource]![r.field]!;
    const v = get(obj) ?? '';
    return r.op === '=' ? v === r.value : v !== r.value;
  });
}
