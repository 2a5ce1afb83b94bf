import { badRequest } from './errors';
import type { KubeObject, ResourceType } from './resources';

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

/** Field selectors every kind supports; a kind's strategy adds its own (ResourceType.fieldSelectors). */
const COMMON_FIELDS: Readonly<Record<string, (o: KubeObject) => string | undefined>> = {
  'metadata.name': (o) => o.metadata.name,
  'metadata.namespace': (o) => o.metadata.namespace,
};

type FieldsOf = Pick<ResourceType, 'fieldSelectors'>;
const getterOf = (rt: FieldsOf, field: string) => COMMON_FIELDS[field] ?? rt.fieldSelectors?.[field];

/** Parses `a=b,c!=d` for a kind; 400 BadRequest for fields that kind does not support. */
export function parseFieldSelector(rt: FieldsOf, selector: string): FieldRequirement[] {
  return splitTop(selector).map((part) => {
    const m = /^([^!=]+?)\s*(==|!=|=)\s*(.*)$/.exec(part);
    if (!m) throw badRequest(`invalid selector: '${selector}'; can't understand '${part}'`);
    const field = m[1]!.trim();
    if (!getterOf(rt, field))
      throw badRequest(`field label not supported: ${field}`);
    return { field, op: m[2] === '!=' ? '!=' : '=', value: m[3]!.trim() };
  });
}

export function matchesFields(rt: FieldsOf, reqs: readonly FieldRequirement[], obj: KubeObject): boolean {
  return reqs.every((r) => {
    const get = getterOf(rt, r.field)!;
    const v = get(obj) ?? '';
    return r.op === '=' ? v === r.value : v !== r.value;
  });
}
