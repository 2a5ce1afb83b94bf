import { describe, expect, it } from 'vitest';
import { resourceByName, type KubeObject } from '../../../shared/resources';
import { ingressClasses, ingresses, ingressHosts } from '../../../shared/printers/ingress';
import { DefaultIngressClass } from '../../../shared/registry/plugins/default-ingress-class';
import type { RegistryContext } from '../../../shared/registry/context';
import type { ObjectStore } from '../../../shared/store/store';

const NOW = Date.parse('2026-01-01T12:00:00Z');
const ing = (spec: Record<string, unknown>, status: Record<string, unknown> = {}): KubeObject => ({ metadata: { name: 'web', namespace: 'ns', creationTimestamp: '2026-01-01T11:55:00Z' }, spec, status });
const backend = { service: { name: 'web', port: { number: 80 } } };
const rule = (host?: string) => ({ ...(host ? { host } : {}), http: { paths: [{ path: '/', pathType: 'Prefix', backend }] } });
const causes = (o: KubeObject, old?: KubeObject, resource = 'ingresses') => resourceByName(resource).validate(o, old).map((c) => `${c.field}: ${c.message}`);

describe('Ingress columns', () => {
  it.each([
    ['no hosts', [rule()], '*'],
    ['three', [rule('a.com'), rule('b.com'), rule('c.com')], 'a.com,b.com,c.com'],
    ['five', [rule('a.com'), rule('b.com'), rule('c.com'), rule('d.com'), rule('e.com')], 'a.com,b.com,c.com + 2 more...'],
  ])('hosts: %s', (_n, rules, want) => {
    // Assess
    expect(ingressHosts(rules)).toBe(want);
  });

  it('NAME CLASS HOSTS ADDRESS PORTS AGE; IngressClass NAME CONTROLLER PARAMETERS AGE', () => {
    // Act
    const cells = ingresses.cells(ing({ ingressClassName: 'stratus', rules: [rule('a.com')], tls: [{ hosts: ['a.com'] }] }, { loadBalancer: { ingress: [{ ip: '192.168.1.2' }] } }), NOW);
    const plain = ingresses.cells(ing({ rules: [rule()] }), NOW);
    const cls = ingressClasses.cells({ metadata: { name: 'x', creationTimestamp: '2026-01-01T11:55:00Z' }, spec: { controller: 'k8s.io/x', parameters: { apiGroup: 'k8s.example.com', kind: 'P', name: 'p' } } }, NOW);
    // Assess
    expect(ingresses.columns.map((c) => c.name)).toEqual(['Name', 'Class', 'Hosts', 'Address', 'Ports', 'Age']);
    expect(cells).toEqual(['web', 'stratus', 'a.com', '192.168.1.2', '80, 443', '5m']);
    expect(plain).toEqual(['web', '<none>', '*', '', '80', '5m']);
    expect(ingressClasses.columns.map((c) => c.name)).toEqual(['Name', 'Controller', 'Parameters', 'Age']);
    expect(cls).toEqual(['x', 'k8s.io/x', 'P.k8s.example.com/p', '5m']);
  });
});

describe('Ingress and IngressClass validation', () => {
  it.each([
    ['valid', { rules: [rule('a.example.com'), rule('*.example.com')] }, []],
    ['nothing to route', {}, ['spec.rules: Invalid value: []: either `defaultBackend` or `rules` must be specified']],
    ['pathType required', { rules: [{ http: { paths: [{ path: '/', backend }] } }] }, ['spec.rules[0].http.paths[0].pathType: Required value: pathType must be specified']],
    ['relative Prefix path', { rules: [{ http: { paths: [{ path: 'x', pathType: 'Prefix', backend }] } }] }, ['spec.rules[0].http.paths[0].path: Invalid value: "x": must be an absolute path']],
    ['unsupported pathType', { rules: [{ http: { paths: [{ path: '/', pathType: 'Regex', backend }] } }] }, ['spec.rules[0].http.paths[0].pathType: Unsupported value: "Regex": supported values: "Exact", "ImplementationSpecific", "Prefix"']],
    ['backend port missing', { defaultBackend: { service: { name: 'web' } } }, ['spec.defaultBackend.service.port: Required value: port name or number is required']],
  ])('%s', (_n, spec, want) => {
    // Assess
    expect(causes(ing(spec))).toEqual(want);
  });

  it('an IngressClass needs a controller, which may not change', () => {
    // Prepare
    const cls = (controller?: string): KubeObject => ({ metadata: { name: 'c' }, spec: controller ? { controller } : {} });
    // Assess
    expect(causes(cls(), undefined, 'ingressclasses')).toEqual(['spec.controller: Required value']);
    expect(causes(cls('b'), cls('a'), 'ingressclasses')).toEqual(['spec.controller: Invalid value: "b": field is immutable']);
    expect(resourceByName('ingresses').shortNames).toEqual(['ing']);
  });
});

describe('DefaultIngressClass admission', () => {
  const classes = [
    { metadata: { name: 'old', creationTimestamp: '2026-01-01T00:00:00Z', annotations: { 'ingressclass.kubernetes.io/is-default-class': 'true' } } },
    { metadata: { name: 'new', creationTimestamp: '2026-01-02T00:00:00Z', annotations: { 'ingressclass.kubernetes.io/is-default-class': 'true' } } },
    { metadata: { name: 'other', creationTimestamp: '2026-01-03T00:00:00Z' } },
  ];
  const ctx = { tenant: 't', store: { list: async (_t: string, _rt: unknown, o: { filter: (x: KubeObject) => boolean }) => ({ items: classes.filter((c) => o.filter(c as KubeObject)) }) } as unknown as ObjectStore } as RegistryContext;
  const admit = (object: KubeObject, operation: 'CREATE' | 'UPDATE' = 'CREATE') => DefaultIngressClass.admit!({ operation, rt: resourceByName('ingresses'), object, dryRun: false }, ctx);

  it.each([
    ['no class: the newest default', ing({ rules: [rule()] }), 'new'],
    ['a class given stays', ing({ ingressClassName: 'mine', rules: [rule()] }), undefined],
    ['the legacy annotation stays', { ...ing({ rules: [rule()] }), metadata: { name: 'w', annotations: { 'kubernetes.io/ingress.class': 'nginx' } } }, undefined],
  ])('%s', async (_n, object, want) => {
    // Act
    const out = await admit(object);
    // Assess
    expect((out?.spec as { ingressClassName?: string } | undefined)?.ingressClassName).toBe(want);
  });

  it('leaves updates alone', async () => {
    // Assess
    expect(await admit(ing({ rules: [rule()] }), 'UPDATE')).toBeUndefined();
  });
});
