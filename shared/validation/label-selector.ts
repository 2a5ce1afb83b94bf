import type { StatusCause } from '../errors';
import { labelValueProblems, qualifiedNameProblems } from '../label-selector';

/*
 * apimachinery's ValidateLabelSelector (pkg/apis/meta/v1/validation) in its words: matchLabels'
 * keys are qualified names and values label values; each expression's operator is one of the four,
 * In/NotIn need values and Exists/DoesNotExist refuse them; keys and values as for labels.
 */

interface Selector {
  matchLabels?: Record<string, string> | null;
  matchExpressions?: readonly { key: string; operator: string; values?: readonly string[] | null }[] | null;
}

const invalid = (field: string, value: string, why: string): StatusCause => ({ reason: 'FieldValueInvalid', message: `Invalid value: ${JSON.stringify(value)}: ${why}`, field });

/** The causes of a LabelSelector at `path` (nothing for an absent one). */
export function labelSelectorProblems(selector: Selector | null | undefined, path: string): StatusCause[] {
  if (!selector) return [];
  const causes: StatusCause[] = [];
  const labelsPath = `${path}.matchLabels`;
  for (const [k, v] of Object.entries(selector.matchLabels ?? {})) {
    for (const msg of qualifiedNameProblems(k)) causes.push(invalid(labelsPath, k, msg));
    for (const msg of labelValueProblems(v)) causes.push(invalid(labelsPath, v, msg));
  }
  (selector.matchExpressions ?? []).forEach((e, i) => {
    const at = `${path}.matchExpressions[${i}]`;
    const values = e.values ?? [];
    if (e.operator === 'In' || e.operator === 'NotIn') {
      if (values.length === 0) causes.push({ reason: 'FieldValueRequired', message: "Required value: must be specified when `operator` is 'In' or 'NotIn'", field: `${at}.values` });
    } else if (e.operator === 'Exists' || e.operator === 'DoesNotExist') {
      if (values.length > 0) causes.push({ reason: 'FieldValueForbidden', message: "Forbidden: may not be specified when `operator` is 'Exists' or 'DoesNotExist'", field: `${at}.values` });
    } else causes.push(invalid(`${at}.operator`, e.operator, 'not a valid selector operator'));
    for (const msg of qualifiedNameProblems(e.key)) causes.push(invalid(`${at}.key`, e.key, msg));
    values.forEach((v, j) => {
      for (const msg of labelValueProblems(v)) causes.push(invalid(`${at}.values[${j}]`, v, msg));
    });
  });
  return causes;
}

/** Whether `labels` satisfy a LabelSelector (an empty selector matches everything; an unknown operator nothing). */
export function labelSelectorMatches(selector: Selector | null | undefined, labels: Readonly<Record<string, string>>): boolean {
  if (!selector) return false;
  for (const [k, v] of Object.entries(selector.matchLabels ?? {})) if (labels[k] !== v) return false;
  for (const e of selector.matchExpressions ?? []) {
    const has = Object.prototype.hasOwnProperty.call(labels, e.key);
    const values = e.values ?? [];
    switch (e.operator) {
      case 'In':
        if (!has || !values.includes(labels[e.key]!)) return false;
        break;
      case 'NotIn':
        if (has && values.includes(labels[e.key]!)) return false;
        break;
      case 'Exists':
        if (!has) return false;
        break;
      case 'DoesNotExist':
        if (has) return false;
        break;
      default:
        return false;
    }
  }
  return true;
}

/**
 * metav1.FormatLabelSelector: the selector's string form (requirements sorted by key, set values
 * sorted), "<none>" for an empty one, as `kubectl get` prints selectors.
 */
export function formatLabelSelector(selector: Selector | null | undefined): string {
  const reqs: { key: string; text: string }[] = [];
  for (const [k, v] of Object.entries(selector?.matchLabels ?? {})) reqs.push({ key: k, text: `${k}=${v}` });
  for (const e of selector?.matchExpressions ?? []) {
    const values = [...(e.values ?? [])].sort().join(',');
    if (e.operator === 'In') reqs.push({ key: e.key, text: `${e.key} in (${values})` });
    else if (e.operator === 'NotIn') reqs.push({ key: e.key, text: `${e.key} notin (${values})` });
    else if (e.operator === 'Exists') reqs.push({ key: e.key, text: e.key });
    else if (e.operator === 'DoesNotExist') reqs.push({ key: e.key, text: `!${e.key}` });
    else return '<error>';
  }
  const text = reqs
    .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
    .map((r) => r.text)
    .join(',');
  return text || '<none>';
}
