import { describe, expect, it } from 'vitest';
import { checkPodLogOptions } from '../../functions/api/log-options';
import type { StatusError } from '../../shared/errors';

// kube-apiserver's ValidatePodLogOptions: 422 in its words, before the pod or its node is asked.
const refusal = (q: string) => {
  try {
    checkPodLogOptions(new URLSearchParams(q), 'web');
    return undefined;
  } catch (e) {
    const s = (e as StatusError).toStatus();
    return { code: s.code, reason: s.reason, message: s.message };
  }
};

describe('pod log options', () => {
  it.each([
    ['tailLines=-1', 'PodLogOptions "web" is invalid: tailLines: Invalid value: -1: must be greater than or equal to 0'],
    ['limitBytes=0', 'PodLogOptions "web" is invalid: limitBytes: Invalid value: 0: must be greater than 0'],
    ['sinceSeconds=-5', 'PodLogOptions "web" is invalid: sinceSeconds: Invalid value: -5: must be greater than 0'],
    ['sinceSeconds=5&sinceTime=2026-01-01T00:00:00Z', 'PodLogOptions "web" is invalid: : Forbidden: at most one of `sinceTime` or `sinceSeconds` may be specified'],
    ['tailLines=-1&limitBytes=-1', 'PodLogOptions "web" is invalid: [tailLines: Invalid value: -1: must be greater than or equal to 0, limitBytes: Invalid value: -1: must be greater than 0]'],
  ])('%s is 422', (q, message) => {
    expect(refusal(q)).toEqual({ code: 422, reason: 'Invalid', message });
  });

  it.each(['', 'tailLines=0', 'limitBytes=1&sinceSeconds=1', 'sinceTime=2026-01-01T00:00:00Z&follow=true', 'tailLines=abc'])('%s passes on', (q) => {
    expect(refusal(q)).toBeUndefined();
  });
});
