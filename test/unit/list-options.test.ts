import { describe, expect, it } from 'vitest';
import { checkListOptions } from '../../functions/api/list-options';
import type { StatusError } from '../../shared/errors';

// kube-apiserver's ValidateListOptions for a list: 422 ListOptions in its words.
const refusal = (q: string) => {
  try {
    checkListOptions(new URLSearchParams(q));
    return undefined;
  } catch (e) {
    const s = (e as StatusError).toStatus();
    return { code: s.code, message: s.message };
  }
};
const prefix = 'ListOptions.meta.k8s.io "" is invalid: ';

describe('list options', () => {
  it.each([
    ['resourceVersion=1&resourceVersionMatch=Bogus', `resourceVersionMatch: Unsupported value: "Bogus": supported values: "Exact", "NotOlderThan", ""`],
    ['resourceVersionMatch=NotOlderThan', 'resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden unless resourceVersion is provided'],
    ['resourceVersion=5&resourceVersionMatch=Exact&continue=x', 'resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden when continue is provided'],
    ['resourceVersion=0&resourceVersionMatch=Exact', 'resourceVersionMatch: Forbidden: resourceVersionMatch "exact" is forbidden for resourceVersion "0"'],
    ['sendInitialEvents=true', 'sendInitialEvents: Forbidden: sendInitialEvents is forbidden for list'],
    ['resourceVersionMatch=Bogus', '[resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden unless resourceVersion is provided, resourceVersionMatch: Unsupported value: "Bogus": supported values: "Exact", "NotOlderThan", ""]'],
  ])('%s is 422', (q, message) => {
    expect(refusal(q)).toEqual({ code: 422, message: prefix + message });
  });

  it.each(['', 'resourceVersion=0', 'resourceVersion=7&resourceVersionMatch=NotOlderThan', 'resourceVersion=7&resourceVersionMatch=Exact', 'limit=5&continue=x'])('%s passes', (q) => {
    expect(refusal(q)).toBeUndefined();
  });
});
