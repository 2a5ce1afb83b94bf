import type { StatusCause } from '../errors';
import type { KubeObject, ResourceType } from '../resources';
import { dns1123SubdomainProblem } from '../schemas/meta';
import { IngressClassSchema, IngressSchema, type IngressBackend, type IngressRule } from '../schemas/ingress';
import { ingressClasses, ingresses } from '../printers/ingress';
import { identity } from './common';

/*
 * networking.k8s.io/v1 Ingress and IngressClass (issue #15, API only: no controller serves them
 * yet), with Kubernetes' validation (pkg/apis/networking/validation) in its words. An Ingress
 * without a class gets the default one (shared/registry/plugins/default-ingress-class.ts).
 */

const PATH_TYPES = ['Exact', 'ImplementationSpecific', 'Prefix'];
const required = (field: string, why?: string): StatusCause => ({ reason: 'FieldValueRequired', message: why ? `Required value: ${why}` : 'Required value', field });
const invalidValue = (field: string, value: unknown, why: string): StatusCause => ({ reason: 'FieldValueInvalid', message: `Invalid value: ${JSON.stringify(value)}: ${why}`, field });

function validateBackend(b: IngressBackend, at: string): StatusCause[] {
  if (b.service && b.resource) return [invalidValue(at, 'resource', 'cannot set both resource and service backends')];
  if (!b.service && !b.resource) return [required(at, 'one of `service` or `resource` must be specified')];
  const causes: StatusCause[] = [];
  if (b.service) {
    const port = b.service.port;
    if (!port || (port.name === undefined && port.number === undefined)) causes.push(required(`${at}.service.port`, 'port name or number is required'));
    else if (port.name !== undefined && port.number !== undefined) causes.push(invalidValue(`${at}.service.port`, port, 'cannot set both port name & port number'));
    else if (port.number !== undefined && (port.number < 1 || port.number > 65535)) causes.push({ reason: 'FieldValueInvalid', message: `Invalid value: ${port.number}: must be between 1 and 65535, inclusive`, field: `${at}.service.port.number` });
  }
  return causes;
}

function validateIngress(o: KubeObject): StatusCause[] {
  const spec = (o.spec ?? {}) as { defaultBackend?: IngressBackend; rules?: IngressRule[]; ingressClassName?: string };
  const causes: StatusCause[] = [];
  if (!spec.defaultBackend && (spec.rules ?? []).length === 0) causes.push(invalidValue('spec.rules', [], 'either `defaultBackend` or `rules` must be specified'));
  if (spec.defaultBackend) causes.push(...validateBackend(spec.defaultBackend, 'spec.defaultBackend'));
  if (spec.ingressClassName) {
    const problem = dns1123SubdomainProblem(spec.ingressClassName);
    if (problem) causes.push(invalidValue('spec.ingressClassName', spec.ingressClassName, problem));
  }
  (spec.rules ?? []).forEach((r, i) => {
    const at = `spec.rules[${i}]`;
    if (r.host) {
      const host = r.host.startsWith('*.') ? r.host.slice(2) : r.host;
      const problem = dns1123SubdomainProblem(host);
      if (problem) causes.push(invalidValue(`${at}.host`, r.host, problem));
    }
    if (!r.http) return;
    if (r.http.paths.length === 0) causes.push(required(`${at}.http.paths`));
    r.http.paths.forEach((p, j) => {
      const path = `${at}.http.paths[${j}]`;
      if (!p.pathType) causes.push(required(`${path}.pathType`, 'pathType must be specified'));
      else if (!PATH_TYPES.includes(p.pathType))
        causes.push({ reason: 'FieldValueNotSupported', message: `Unsupported value: ${JSON.stringify(p.pathType)}: supported values: ${PATH_TYPES.map((t) => JSON.stringify(t)).join(', ')}`, field: `${path}.pathType` });
      else if ((p.pathType === 'Exact' || p.pathType === 'Prefix') && !(p.path ?? '').startsWith('/')) causes.push(invalidValue(`${path}.path`, p.path ?? '', 'must be an absolute path'));
      causes.push(...validateBackend(p.backend, `${path}.backend`));
    });
  });
  return causes;
}

function validateIngressClass(o: KubeObject, old?: KubeObject): StatusCause[] {
  const controller = ((o.spec ?? {}) as { controller?: string }).controller;
  if (!controller) return [required('spec.controller')];
  const before = ((old?.spec ?? {}) as { controller?: string }).controller;
  if (old && before !== controller) return [invalidValue('spec.controller', controller, 'field is immutable')];
  return [];
}

export const ingressTypes: readonly ResourceType[] = [
  {
    group: 'networking.k8s.io',
    version: 'v1',
    resource: 'ingresses',
    table: ingresses,
    kind: 'Ingress',
    singular: 'ingress',
    namespaced: true,
    shortNames: ['ing'],
    subresources: ['status'],
    schema: IngressSchema,
    validate: validateIngress,
    applyDefaults: identity,
    prepareForCreate: (o) => ({ ...o, status: { loadBalancer: {} } }),
    nameIsLabel: false,
  },
  {
    group: 'networking.k8s.io',
    version: 'v1',
    resource: 'ingressclasses',
    table: ingressClasses,
    kind: 'IngressClass',
    singular: 'ingressclass',
    namespaced: false,
    shortNames: [],
    subresources: [],
    schema: IngressClassSchema,
    validate: validateIngressClass,
    applyDefaults: identity,
    nameIsLabel: false,
  },
];
