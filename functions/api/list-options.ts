import { StatusError, type StatusCause } from '../../shared/errors';

/*
 * kube-apiserver's ValidateListOptions for a list (not a watch: functions/api/watch.ts has those):
 * resourceVersionMatch needs a resourceVersion and no continue, is Exact or NotOlderThan, and
 * Exact is refused at resourceVersion 0; sendInitialEvents is for watches only. 422 `ListOptions`
 * in its words, before anything is read.
 */
export function checkListOptions(query: URLSearchParams): void {
  const causes: StatusCause[] = [];
  const forbidden = (field: string, why: string) => causes.push({ reason: 'FieldValueForbidden', message: `Forbidden: ${why}`, field });
  const match = query.get('resourceVersionMatch') ?? '';
  const rv = query.get('resourceVersion') ?? '';
  if (match) {
    if (!rv) forbidden('resourceVersionMatch', 'resourceVersionMatch is forbidden unless resourceVersion is provided');
    if (query.get('continue')) forbidden('resourceVersionMatch', 'resourceVersionMatch is forbidden when continue is provided');
    if (match !== 'Exact' && match !== 'NotOlderThan')
      causes.push({ reason: 'FieldValueNotSupported', message: `Unsupported value: ${JSON.stringify(match)}: supported values: "Exact", "NotOlderThan", ""`, field: 'resourceVersionMatch' });
    if (match === 'Exact' && rv === '0') forbidden('resourceVersionMatch', 'resourceVersionMatch "exact" is forbidden for resourceVersion "0"');
  }
  if (query.get('sendInitialEvents') !== null) forbidden('sendInitialEvents', 'sendInitialEvents is forbidden for list');
  if (!causes.length) return;
  const texts = causes.map((c) => `${c.field}: ${c.message}`);
  const list = texts.length === 1 ? texts[0]! : `[${texts.join(', ')}]`;
  throw new StatusError(422, 'Invalid', `ListOptions.meta.k8s.io "" is invalid: ${list}`, { group: 'meta.k8s.io', kind: 'ListOptions', causes });
}
