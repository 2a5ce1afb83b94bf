import { isIPv4, isIPv6 } from 'node:net';
import type { StatusCause } from '../errors';
import type { KubeObject } from '../resources';
import type { EndpointPort, EndpointSubset, SliceEndpoint, SlicePort } from '../schemas/service';
import { dns1123LabelProblem, dns1123SubdomainProblem } from '../schemas/meta';
import { endpointIpProblems } from './ip';

/*
 * core/v1 Endpoints and discovery.k8s.io/v1 EndpointSlice validation as Kubernetes'
 * (ValidateEndpoints, pkg/apis/discovery/validation), with its paths and words. Endpoint
 * addresses may not be unspecified, loopback or link-local (ValidateEndpointIP).
 */

const required = (field: string, why?: string): StatusCause => ({ reason: 'FieldValueRequired', message: why ? `Required value: ${why}` : 'Required value', field });
const invalidValue = (field: string, value: unknown, why: string): StatusCause => ({ reason: 'FieldValueInvalid', message: `Invalid value: ${JSON.stringify(value)}: ${why}`, field });
const unsupported = (field: string, value: string, supported: readonly string[]): StatusCause => ({
  reason: 'FieldValueNotSupported',
  message: `Unsupported value: ${JSON.stringify(value)}: supported values: ${supported.map((s) => JSON.stringify(s)).join(', ')}`,
  field,
});
const tooMany = (field: string, n: number, max: number): StatusCause => ({ reason: 'FieldValueTooMany', message: `Too many: ${n}: must have at most ${max} items`, field });
const PROTOCOLS = ['SCTP', 'TCP', 'UDP'];

function validatePort(p: EndpointPort | SlicePort, at: string, nameRequired: boolean, names: Set<string>): StatusCause[] {
  const causes: StatusCause[] = [];
  if (nameRequired && !p.name) causes.push(required(`${at}.name`));
  if (p.name) {
    const problem = dns1123LabelProblem(p.name);
    if (problem) causes.push(invalidValue(`${at}.name`, p.name, problem));
    else if (names.has(p.name)) causes.push({ reason: 'FieldValueDuplicate', message: `Duplicate value: ${JSON.stringify(p.name)}`, field: `${at}.name` });
    names.add(p.name);
  }
  if (p.port !== undefined && (p.port < 1 || p.port > 65535)) causes.push({ reason: 'FieldValueInvalid', message: `Invalid value: ${p.port}: must be between 1 and 65535, inclusive`, field: `${at}.port` });
  if (!p.protocol) causes.push(required(`${at}.protocol`));
  else if (!PROTOCOLS.includes(p.protocol)) causes.push(unsupported(`${at}.protocol`, p.protocol, PROTOCOLS));
  return causes;
}

/** EndpointSubset defaults: ports' protocol TCP (SetDefaults_Endpoints). */
export function defaultEndpoints(o: KubeObject): KubeObject {
  const subsets = o.subsets as EndpointSubset[] | undefined;
  if (!subsets) return o;
  return { ...o, subsets: subsets.map((ss) => (ss.ports ? { ...ss, ports: ss.ports.map((p) => ({ ...p, protocol: p.protocol || 'TCP' })) } : ss)) };
}

export function validateEndpoints(o: KubeObject): StatusCause[] {
  const causes: StatusCause[] = [];
  ((o.subsets ?? []) as EndpointSubset[]).forEach((ss, i) => {
    const at = `subsets[${i}]`;
    if (!ss.addresses?.length && !ss.notReadyAddresses?.length) causes.push(required(at, 'must specify `addresses` or `notReadyAddresses`'));
    for (const kind of ['addresses', 'notReadyAddresses'] as const)
      (ss[kind] ?? []).forEach((a, j) => {
        const path = `${at}.${kind}[${j}]`;
        for (const problem of endpointIpProblems(a.ip)) causes.push(invalidValue(`${path}.ip`, a.ip, problem));
        if (a.hostname) {
          const problem = dns1123LabelProblem(a.hostname);
          if (problem) causes.push(invalidValue(`${path}.hostname`, a.hostname, problem));
        }
        if (a.nodeName) {
          const problem = dns1123SubdomainProblem(a.nodeName);
          if (problem) causes.push(invalidValue(`${path}.nodeName`, a.nodeName, problem));
        }
      });
    const names = new Set<string>();
    (ss.ports ?? []).forEach((p, j) => causes.push(...validatePort(p, `${at}.ports[${j}]`, (ss.ports ?? []).length > 1, names)));
  });
  return causes;
}

const ADDRESS_TYPES = ['FQDN', 'IPv4', 'IPv6'];
const MAX_ENDPOINTS = 1000;
const MAX_PORTS = 20000;
const MAX_ADDRESSES = 100;

/** EndpointSlice defaults: ports' protocol TCP. */
export function defaultEndpointSlice(o: KubeObject): KubeObject {
  const ports = o.ports as SlicePort[] | undefined;
  return ports ? { ...o, ports: ports.map((p) => ({ ...p, protocol: p.protocol || 'TCP' })) } : o;
}

export function validateEndpointSlice(o: KubeObject, old?: KubeObject): StatusCause[] {
  const causes: StatusCause[] = [];
  const type = String(o.addressType ?? '');
  if (!type) causes.push(required('addressType'));
  else if (!ADDRESS_TYPES.includes(type)) causes.push(unsupported('addressType', type, ADDRESS_TYPES));
  const endpoints = (o.endpoints ?? []) as SliceEndpoint[];
  if (endpoints.length > MAX_ENDPOINTS) causes.push(tooMany('endpoints', endpoints.length, MAX_ENDPOINTS));
  endpoints.forEach((e, i) => {
    const at = `endpoints[${i}].addresses`;
    if (e.addresses.length === 0) causes.push(required(at, 'must contain at least 1 address'));
    else if (e.addresses.length > MAX_ADDRESSES) causes.push(tooMany(at, e.addresses.length, MAX_ADDRESSES));
    e.addresses.forEach((a, j) => {
      const path = `${at}[${j}]`;
      if (type === 'IPv4') {
        if (!isIPv4(a)) causes.push(invalidValue(path, a, 'must be a valid IPv4 address'));
        else for (const problem of endpointIpProblems(a)) causes.push(invalidValue(path, a, problem));
      } else if (type === 'IPv6') {
        if (!isIPv6(a)) causes.push(invalidValue(path, a, 'must be a valid IPv6 address'));
      } else if (type === 'FQDN') {
        const problem = dns1123SubdomainProblem(a);
        if (problem || !a.includes('.')) causes.push(invalidValue(path, a, problem ?? 'should be a domain with at least two segments separated by dots'));
      }
    });
    if (e.hostname) {
      const problem = dns1123LabelProblem(e.hostname);
      if (problem) causes.push(invalidValue(`endpoints[${i}].hostname`, e.hostname, problem));
    }
    if (e.nodeName) {
      const problem = dns1123SubdomainProblem(e.nodeName);
      if (problem) causes.push(invalidValue(`endpoints[${i}].nodeName`, e.nodeName, problem));
    }
  });
  const ports = (o.ports ?? []) as SlicePort[];
  if (ports.length > MAX_PORTS) causes.push(tooMany('ports', ports.length, MAX_PORTS));
  const names = new Set<string>();
  ports.forEach((p, i) => causes.push(...validatePort(p, `ports[${i}]`, false, names)));
  if (old && old.addressType !== o.addressType) causes.push(invalidValue('addressType', o.addressType, 'field is immutable'));
  return causes;
}
