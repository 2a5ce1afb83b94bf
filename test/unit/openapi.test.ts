import { describe, expect, it } from 'vitest';
import { resourceTypes } from '../../shared/resources';
import { componentName, groupVersionPaths, openApiDocument, openApiIndex } from '../../functions/api/openapi';

type Schema = Record<string, any>;
const core = () => openApiDocument('api/v1')!.doc as Schema;
const schemas = () => core().components.schemas as Record<string, Schema>;

describe('OpenAPI v3', () => {
  it('indexes every group version with a hash, under the cluster prefix the request used', () => {
    // Act
    const index = openApiIndex('/clusters/default');
    // Assess
    expect(Object.keys(index.paths)).toEqual(groupVersionPaths());
    expect(index.paths['api/v1']!.serverRelativeURL).toMatch(/^\/clusters\/default\/openapi\/v3\/api\/v1\?hash=[0-9A-F]{128}$/);
  });

  it('gives every kind a PATCH operation tagged with its GVK and a fieldValidation parameter (what kubectl apply checks)', () => {
    // Create-only kinds (SelfSubjectAccessReview and the like) have no PATCH, as in Kubernetes; kinds with
    // their own read-only storage (metrics.k8s.io) serve get and list only.
    for (const rt of resourceTypes.filter((r) => !r.createOnly && !r.rest)) {
      // Act
      const gv = rt.group ? `apis/${rt.group}/${rt.version}` : `api/${rt.version}`;
      const doc = openApiDocument(gv)!.doc as Schema;
      const patches = Object.values(doc.paths as Record<string, Schema>)
        .map((p) => p.patch)
        .filter((op) => op && op['x-kubernetes-group-version-kind'].kind === rt.kind);
      // Assess
      expect(patches.length, rt.kind).toBeGreaterThan(0);
      expect(patches[0].parameters.map((p: Schema) => `${p.in}:${p.name}`)).toContain('query:fieldValidation');
      expect(doc.components.schemas[componentName(rt.group, rt.version, rt.kind)]['x-kubernetes-group-version-kind']).toEqual([
        { group: rt.group, version: rt.version, kind: rt.kind },
      ]);
    }
  });

  it('has the paths and operations of a namespaced kind and its subresources', () => {
    // Act
    const paths = core().paths as Record<string, Schema>;
    // Assess
    expect(Object.keys(paths['/api/v1/namespaces/{namespace}/pods']!)).toEqual(expect.arrayContaining(['get', 'post', 'delete', 'parameters']));
    expect(Object.keys(paths['/api/v1/namespaces/{namespace}/pods/{name}']!)).toEqual(expect.arrayContaining(['get', 'put', 'patch', 'delete']));
    expect(Object.keys(paths['/api/v1/namespaces/{namespace}/pods/{name}/status']!)).toEqual(expect.arrayContaining(['get', 'put', 'patch']));
    expect(paths['/api/v1/pods']!.get.operationId).toBe('listCoreV1PodForAllNamespaces');
    expect(paths['/api/v1/namespaces/{namespace}/pods']!.post.operationId).toBe('createCoreV1NamespacedPod');
    expect(paths['/api/v1/namespaces/{namespace}/pods']!.post.parameters.map((p: Schema) => p.name)).toEqual(['dryRun', 'fieldManager', 'fieldValidation']);
    expect(paths['/api/v1/namespaces']!.delete).toBeUndefined(); // namespaces have no deletecollection
  });

  it('names components as Kubernetes does and references them with allOf', () => {
    // Act
    const s = schemas();
    // Assess
    const pod = s['io.k8s.api.core.v1.Pod']!;
    expect(pod.properties.metadata.allOf).toEqual([{ $ref: '#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta' }]);
    expect(pod.properties.spec.allOf).toEqual([{ $ref: '#/components/schemas/io.k8s.api.core.v1.PodSpec' }]);
    expect(s['io.k8s.api.core.v1.PodSpec']!.properties.containers.items.allOf).toEqual([{ $ref: '#/components/schemas/io.k8s.api.core.v1.Container' }]);
    expect(s['io.k8s.api.core.v1.PodSpec']!.required).toEqual(undefined);
    expect(s['io.k8s.api.core.v1.EnvVar']!.required).toEqual(['name']);
    expect(s['io.k8s.api.core.v1.NodeSpec']).toBeDefined(); // an inline spec gets <Kind>Spec
  });

  it('marks merge-keyed lists with the patch extensions kubectl apply uses, as shared/patch/merge.ts merges them', () => {
    // Act
    const s = schemas();
    // Assess
    expect(s['io.k8s.api.core.v1.PodSpec']!.properties.containers).toMatchObject({
      'x-kubernetes-patch-merge-key': 'name',
      'x-kubernetes-patch-strategy': 'merge',
      'x-kubernetes-list-type': 'map',
      'x-kubernetes-list-map-keys': ['name'],
    });
    expect(s['io.k8s.api.core.v1.Container']!.properties.ports['x-kubernetes-patch-merge-key']).toBe('containerPort');
    expect(s['io.k8s.api.core.v1.Container']!.properties.command['x-kubernetes-list-type']).toBe('atomic');
    expect(s['io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta']!.properties.finalizers['x-kubernetes-patch-strategy']).toBe('merge');
  });

  it('documents fields for kubectl explain, and describes a quantity by what clients send', () => {
    // Act
    const s = schemas();
    // Assess
    expect(s['io.k8s.api.core.v1.Container']!.description).toMatch(/single application container/);
    expect(s['io.k8s.api.core.v1.Container']!.properties.image.description).toMatch(/Container image name/);
    expect(s['io.k8s.api.core.v1.PodSpec']!.properties.containers.description).toMatch(/List of containers/);
    expect(s['io.k8s.api.core.v1.ResourceRequirements']!.properties.limits.additionalProperties).toEqual({
      $ref: '#/components/schemas/io.k8s.apimachinery.pkg.api.resource.Quantity',
    });
    expect(s['io.k8s.apimachinery.pkg.api.resource.Quantity']!.type).toBe('string');
  });

  it('is undefined for a group version not served', () => {
    expect(openApiDocument('apis/nope.example.com/v1')).toBeUndefined();
  });

  it('is plain JSON (no functions, no cycles) and stable: same hash twice', () => {
    // Act
    const a = JSON.stringify(core());
    // Assess
    expect(JSON.parse(a)).toEqual(core());
    expect(openApiDocument('api/v1')!.hash).toBe(openApiDocument('api/v1')!.hash);
  });
});
