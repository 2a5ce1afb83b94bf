import { describe, expect, it } from 'vitest';
import { resourceTypes } from '../../shared/resources';
import { aggregatedDiscovery, aggregatedDiscoveryVersion, apiGroupList, apiResourceList, storageVersionHash } from '../../functions/api/discovery';

const KUBECTL_ACCEPT =
  'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json';

describe('discovery', () => {
  it('lists pods with every verb kubectl needs, short names, the all category and subresources', () => {
    // Act
    const list = apiResourceList('', 'v1')!;
    // Assess
    const pods = list.resources.find((r) => r.name === 'pods')!;
    expect(pods).toMatchObject({ singularName: 'pod', namespaced: true, kind: 'Pod', shortNames: ['po'], categories: ['all'] });
    expect(pods.verbs).toEqual(['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch']);
    expect(list.resources.find((r) => r.name === 'pods/status')).toMatchObject({ kind: 'Pod', verbs: ['get', 'patch', 'update'] });
    expect(list.resources.find((r) => r.name === 'namespaces')!.verbs).not.toContain('deletecollection');
  });

  it('covers every registered kind, so kinds added to the registry appear by themselves', () => {
    // Act
    const named = apiGroupList().groups.flatMap((g) => g.versions.map((v) => v.groupVersion));
    const listed = resourceTypes.map((rt) => {
      const list = apiResourceList(rt.group, rt.version);
      return list?.resources.some((r) => r.name === rt.resource && r.kind === rt.kind);
    });
    // Assess
    expect(listed.every(Boolean)).toBe(true);
    for (const rt of resourceTypes.filter((r) => r.group)) expect(named).toContain(`${rt.group}/${rt.version}`);
  });

  it('answers kubectl 1.32 with aggregated discovery v2, and plain JSON clients without', () => {
    // Assess
    expect(aggregatedDiscoveryVersion(KUBECTL_ACCEPT)).toBe('v2');
    expect(aggregatedDiscoveryVersion('application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList')).toBe('v2beta1');
    expect(aggregatedDiscoveryVersion('application/json, */*')).toBeUndefined();
    expect(aggregatedDiscoveryVersion(undefined)).toBeUndefined();
  });

  it('builds the aggregated document: the core group under /api, named groups under /apis', () => {
    // Act
    const core = aggregatedDiscovery('api');
    const named = aggregatedDiscovery('apis');
    // Assess
    expect(core.apiVersion).toBe('apidiscovery.k8s.io/v2');
    expect(core.items.map((i) => i.metadata.name)).toEqual(['']);
    const pods = core.items[0]!.versions[0]!.resources.find((r) => r.resource === 'pods')!;
    expect(pods).toMatchObject({ responseKind: { group: '', version: 'v1', kind: 'Pod' }, scope: 'Namespaced', singularResource: 'pod', shortNames: ['po'] });
    expect(pods.subresources).toContainEqual({ subresource: 'status', responseKind: { group: '', version: 'v1', kind: 'Pod' }, verbs: ['get', 'patch', 'update'] });
    expect(named.items.map((i) => i.metadata.name)).toContain('coordination.k8s.io');
    expect(named.items.every((i) => i.metadata.name !== '')).toBe(true);
    expect(core.items[0]!.versions[0]!.freshness).toBe('Current');
  });

  it.each([
    // Values a kube-apiserver 1.32 publishes for these kinds.
    ['', 'v1', 'Pod', 'xPOwRZ+Yhw8='],
    ['', 'v1', 'Namespace', 'Q3oi5N2YM8M='],
    ['apps', 'v1', 'Deployment', '8aSe+NMegvE='],
  ])('storageVersionHash of %s/%s/%s is %s', (group, version, kind, hash) => {
    // Assess
    expect(storageVersionHash(group, version, kind)).toBe(hash);
  });

  it('publishes singularName and storageVersionHash for every resource, and no hash on subresources', () => {
    // Act
    const lists = [...new Set(resourceTypes.map((rt) => `${rt.group}|${rt.version}`))].map((gv) => apiResourceList(gv.split('|')[0]!, gv.split('|')[1]!)!);
    // Assess
    for (const list of lists)
      for (const r of list.resources) {
        if (r.name.includes('/')) expect(r).not.toHaveProperty('storageVersionHash');
        else {
          expect(r.singularName).not.toBe('');
          const [group, version] = list.groupVersion.includes('/') ? list.groupVersion.split('/') : ['', list.groupVersion];
          expect((r as { storageVersionHash?: string }).storageVersionHash).toBe(storageVersionHash(group!, version!, r.kind));
        }
      }
    expect(apiResourceList('', 'v1')!.resources.find((r) => r.name === 'pods')).toMatchObject({ storageVersionHash: 'xPOwRZ+Yhw8=' });
    for (const item of [...aggregatedDiscovery('api').items, ...aggregatedDiscovery('apis').items])
      for (const r of item.versions.flatMap((v) => v.resources)) expect(r.singularResource).not.toBe('');
  });
});
