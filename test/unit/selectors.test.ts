import { describe, expect, it } from 'vitest';
import { matchesFields, matchesLabels, parseFieldSelector, parseLabelSelector } from '../../shared/selectors';
import { StatusError } from '../../shared/errors';
import { resourceByName } from '../../shared/resources';

const pods = resourceByName('pods');

const labels = { app: 'web', tier: 'front', env: '' };

describe('label selectors', () => {
  it.each([
    ['app=web', true],
    ['app==web', true],
    ['app!=web', false],
    ['app=db', false],
    ['app in (web,db)', true],
    ['app notin (web)', false],
    ['tier', true],
    ['!tier', false],
    ['!missing', true],
    ['missing!=x', true],
    ['app=web,tier=front', true],
    ['app=web,tier=back', false],
    ['env=', true],
    ['', true],
  ])('%s matches: %s', (selector, want) => {
    expect(matchesLabels(parseLabelSelector(selector), labels)).toBe(want);
  });

  it('rejects malformed selectors with 400', () => {
    // Act
    const act = () => parseLabelSelector('app in web)');
    // Assess
    expect(act).toThrow(StatusError);
    try {
      act();
    } catch (e) {
      expect((e as StatusError).code).toBe(400);
    }
  });
});

describe('field selectors', () => {
  const pod = { metadata: { name: 'p', namespace: 'ns' }, spec: { nodeName: 'n1' }, status: { phase: 'Running' } };
  it('matches supported fields', () => {
    expect(matchesFields(pods, parseFieldSelector(pods, 'spec.nodeName=n1'), pod)).toBe(true);
    expect(matchesFields(pods, parseFieldSelector(pods, 'status.phase!=Running'), pod)).toBe(false);
    expect(matchesFields(pods, parseFieldSelector(pods, 'metadata.name=p,metadata.namespace=ns'), pod)).toBe(true);
  });
  it('rejects unsupported fields with 400 as Kubernetes does', () => {
    expect(() => parseFieldSelector(pods, 'spec.foo=bar')).toThrow(/field label not supported: spec.foo/);
  });
});
