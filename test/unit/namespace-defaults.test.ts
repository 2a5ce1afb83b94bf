import { describe, expect, it } from 'vitest';
import { resourceTypes, type KubeObject } from '../../shared/resources';

const namespaces = resourceTypes.find((t) => t.resource === 'namespaces' && t.group === '')!;

describe('a Namespace always carries kubernetes.io/metadata.name = its name, as Kubernetes keeps it', () => {
  it.each([
    ['no labels', undefined, { 'kubernetes.io/metadata.name': 'team-a' }],
    ['other labels kept', { team: 'a' }, { team: 'a', 'kubernetes.io/metadata.name': 'team-a' }],
    ['a wrong value is put right', { 'kubernetes.io/metadata.name': 'other' }, { 'kubernetes.io/metadata.name': 'team-a' }],
  ])('%s', (_, labels, expected) => {
    // Act
    const out = namespaces.applyDefaults({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'team-a', ...(labels ? { labels } : {}) } } as KubeObject);
    // Assess
    expect(out.metadata.labels).toEqual(expected);
  });
});
