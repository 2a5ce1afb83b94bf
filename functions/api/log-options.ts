import { StatusError, type StatusCause } from '../../shared/errors';

/*
 * kube-apiserver's ValidatePodLogOptions, run before the pod is looked up or its node contacted:
 * a negative tailLines, a limitBytes or sinceSeconds below 1, or both sinceSeconds and sinceTime,
 * is 422 `PodLogOptions "NAME" is invalid: ...` in its words. Values that are not integers are
 * left to the kubelet's parser (400), as kube-apiserver's parameter codec refuses them with 400.
 */

const integer = (v: string | null): number | undefined => (v !== null && /^-?\d+$/.test(v) ? Number(v) : undefined);

/** The field errors of the log query, as Kubernetes lists them (field, then its error body). */
export function podLogOptionErrors(query: URLSearchParams): { field: string; cause: StatusCause }[] {
  const out: { field: string; cause: StatusCause }[] = [];
  const invalid = (field: string, value: number, why: string) => out.push({ field, cause: { reason: 'FieldValueInvalid', message: `Invalid value: ${value}: ${why}`, field } });
  const tailLines = integer(query.get('tailLines'));
  if (tailLines !== undefined && tailLines < 0) invalid('tailLines', tailLines, 'must be greater than or equal to 0');
  const limitBytes = integer(query.get('limitBytes'));
  if (limitBytes !== undefined && limitBytes < 1) invalid('limitBytes', limitBytes, 'must be greater than 0');
  const sinceSeconds = integer(query.get('sinceSeconds'));
  if (query.get('sinceSeconds') !== null && query.get('sinceTime') !== null)
    out.push({ field: '', cause: { reason: 'FieldValueForbidden', message: 'Forbidden: at most one of `sinceTime` or `sinceSeconds` may be specified' } });
  else if (sinceSeconds !== undefined && sinceSeconds < 1) invalid('sinceSeconds', sinceSeconds, 'must be greater than 0');
  return out;
}

/** Throws kube-apiserver's 422 for a log query it would refuse. */
export function checkPodLogOptions(query: URLSearchParams, podName: string): void {
  const errors = podLogOptionErrors(query);
  if (!errors.length) return;
  // field.ErrorList's aggregate: one error as is, several in brackets; an empty field still gets its ": ".
  const texts = errors.map((e) => `${e.field}: ${e.cause.message}`);
  const list = texts.length === 1 ? texts[0]! : `[${texts.join(', ')}]`;
  throw new StatusError(422, 'Invalid', `PodLogOptions "${podName}" is invalid: ${list}`, { name: podName, kind: 'PodLogOptions', causes: errors.map((e) => e.cause) });
}
