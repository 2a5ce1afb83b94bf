import { isIPv4 } from 'node:net';
import type { StatusCause } from '../errors';
import type { KubeObject } from '../resources';
import type { ServicePort, ServiceSpec } from '../schemas/service';
import { dns1123LabelProblem, dns1123SubdomainProblem } from '../schemas/meta';
import { qualifiedNameProblems } from '../label-selector';
import { parseAnyCidr } from './ip';

/*
 * core/v1 Service defaults and validation as Kubernetes' (pkg/apis/core/v1/defaults.go
 * SetDefaults_Service, the service storage's IP family defaulting, pkg/apis/core/validation
 * ValidateService / ValidateServiceUpdate), with its field paths and words. Stratus serves
 * single-stack IPv4 clusters.
 */

export const DEFAULT_CLIENT_IP_TIMEOUT = 10800;
const MAX_CLIENT_IP_TIMEOUT = 86400;
/** The legacy form of spec.loadBalancerSourceRanges (comma-separated CIDRs), read when the field is empty. */
export const SOURCE_RANGES_ANNOTATION = 'service.beta.kubernetes.io/load-balancer-source-ranges';
const CIDR_MESSAGE = 'must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)';
const TYPES = ['ClusterIP', 'ExternalName', 'LoadBalancer', 'NodePort'];
const PROTOCOLS = ['SCTP', 'TCP', 'UDP'];

export const specOf = (o: KubeObject | undefined): ServiceSpec => (o?.spec ?? {}) as ServiceSpec;
export const isHeadless = (spec: ServiceSpec) => spec.clusterIP === 'None';
/** Types that get a ClusterIP (all but ExternalName). */
export const needsClusterIP = (spec: ServiceSpec) => spec.type !== 'ExternalName';
/** Types whose ports get NodePorts: NodePort, and LoadBalancer unless allocateLoadBalancerNodePorts is false. */
export const needsNodePorts = (spec: ServiceSpec) => spec.type === 'NodePort' || (spec.type === 'LoadBalancer' && spec.allocateLoadBalancerNodePorts !== false);
/**
 * Types whose ports may hold NodePorts (the service storage's needsNodePort): NodePort and
 * LoadBalancer, allocateLoadBalancerNodePorts aside. With it false, no NodePort is allocated,
 * but one asked for is, and turning it off keeps those held (Kubernetes: "the user must
 * explicitly remove the nodePorts entry").
 */
export const mayHoldNodePorts = (spec: ServiceSpec) => spec.type === 'NodePort' || spec.type === 'LoadBalancer';
/** service.NeedsHealthCheck: a LoadBalancer with externalTrafficPolicy Local gets a healthCheckNodePort. */
export const needsHealthCheck = (spec: ServiceSpec) => spec.type === 'LoadBalancer' && spec.externalTrafficPolicy === 'Local';
/** service.ExternallyAccessible: NodePort, LoadBalancer, or ClusterIP with external IPs. */
const externallyAccessible = (spec: ServiceSpec) => spec.type === 'NodePort' || spec.type === 'LoadBalancer' || (spec.type === 'ClusterIP' && (spec.externalIPs ?? []).length > 0);

/** SetDefaults_Service plus the IP family and clusterIPs defaulting of the service storage. */
export function defaultService(o: KubeObject): KubeObject {
  const spec: ServiceSpec = { ...specOf(o) };
  spec.type ||= 'ClusterIP';
  spec.sessionAffinity ||= 'None';
  if (spec.sessionAffinity === 'None') delete spec.sessionAffinityConfig;
  if (spec.sessionAffinity === 'ClientIP' && spec.sessionAffinityConfig?.clientIP?.timeoutSeconds === undefined)
    spec.sessionAffinityConfig = { clientIP: { timeoutSeconds: DEFAULT_CLIENT_IP_TIMEOUT } };
  if (spec.ports)
    spec.ports = spec.ports.map((p) => ({ ...p, protocol: p.protocol || 'TCP', targetPort: p.targetPort === undefined || p.targetPort === 0 || p.targetPort === '' ? p.port : p.targetPort }));
  if (externallyAccessible(spec)) spec.externalTrafficPolicy ||= 'Cluster';
  if (spec.type !== 'ExternalName') spec.internalTrafficPolicy ||= 'Cluster';
  if (spec.type === 'LoadBalancer') spec.allocateLoadBalancerNodePorts ??= true;
  if (needsClusterIP(spec)) {
    // clusterIP and clusterIPs mirror each other (clusterIPs[0] is clusterIP).
    if (spec.clusterIP && !spec.clusterIPs?.length) spec.clusterIPs = [spec.clusterIP];
    else if (!spec.clusterIP && spec.clusterIPs?.length) spec.clusterIP = spec.clusterIPs[0];
    if (isHeadless(spec) && Object.keys(spec.selector ?? {}).length === 0) {
      // Headless without a selector: Kubernetes asks for every family the cluster has.
      spec.ipFamilyPolicy ||= 'RequireDualStack';
    } else spec.ipFamilyPolicy ||= 'SingleStack';
    if (!spec.ipFamilies?.length) spec.ipFamilies = ['IPv4'];
  }
  return { ...o, spec };
}

const required = (field: string): StatusCause => ({ reason: 'FieldValueRequired', message: 'Required value', field });
const invalidValue = (field: string, value: unknown, why: string): StatusCause => ({ reason: 'FieldValueInvalid', message: `Invalid value: ${goValue(value)}: ${why}`, field });
const unsupported = (field: string, value: string, supported: readonly string[]): StatusCause => ({
  reason: 'FieldValueNotSupported',
  message: `Unsupported value: ${JSON.stringify(value)}: supported values: ${supported.map((s) => JSON.stringify(s)).join(', ')}`,
  field,
});
const forbidden = (field: string, why: string): StatusCause => ({ reason: 'FieldValueForbidden', message: `Forbidden: ${why}`, field });

/** How Go's field.Invalid prints a value: strings quoted, numbers bare, string slices as `[]string{"a"}`. */
export function goValue(v: unknown): string {
  if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return `[]string{${v.map((x) => JSON.stringify(x)).join(', ')}}`;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return JSON.stringify(v);
}

/** validation.IsValidPortName (IANA_SVC_NAME): at most 15 characters, [a-z0-9-], a letter, no '--' nor '-' at either end. */
export function portNameProblem(name: string): string | undefined {
  if (name.length > 15) return 'must be no more than 15 characters';
  if (!/^[-a-z0-9]+$/.test(name)) return "must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)";
  if (name.includes('--')) return "must not contain consecutive hyphens";
  if (!/[a-z]/.test(name)) return "must contain at least one letter (a-z)";
  if (name.startsWith('-') || name.endsWith('-')) return "must not begin or end with a hyphen";
  return undefined;
}

const portRange = (field: string, n: number): StatusCause[] => (n < 1 || n > 65535 ? [invalidValue(field, n, 'must be between 1 and 65535, inclusive')] : []);

function validatePorts(spec: ServiceSpec): StatusCause[] {
  const causes: StatusCause[] = [];
  const ports = spec.ports ?? [];
  if (ports.length === 0 && !isHeadless(spec) && spec.type !== 'ExternalName') causes.push(required('spec.ports'));
  const names = new Set<string>();
  const keys = new Set<string>();
  ports.forEach((p: ServicePort, i) => {
    const at = `spec.ports[${i}]`;
    if (ports.length > 1 && !p.name) causes.push(required(`${at}.name`));
    if (p.name) {
      const problem = dns1123LabelProblem(p.name);
      if (problem) causes.push(invalidValue(`${at}.name`, p.name, problem));
      else if (names.has(p.name)) causes.push({ reason: 'FieldValueDuplicate', message: `Duplicate value: ${JSON.stringify(p.name)}`, field: `${at}.name` });
      names.add(p.name);
    }
    causes.push(...portRange(`${at}.port`, p.port));
    if (!p.protocol) causes.push(required(`${at}.protocol`));
    else if (!PROTOCOLS.includes(p.protocol)) causes.push(unsupported(`${at}.protocol`, p.protocol, PROTOCOLS));
    if (typeof p.targetPort === 'number') causes.push(...portRange(`${at}.targetPort`, p.targetPort));
    else if (typeof p.targetPort === 'string') {
      const problem = portNameProblem(p.targetPort);
      if (problem) causes.push(invalidValue(`${at}.targetPort`, p.targetPort, problem));
    }
    if (p.nodePort !== undefined && p.nodePort !== 0) {
      if (spec.type === 'ClusterIP' || spec.type === 'ExternalName') causes.push(forbidden(`${at}.nodePort`, `may not be used when \`type\` is '${spec.type}'`));
      else causes.push(...portRange(`${at}.nodePort`, p.nodePort));
    }
    const key = `${p.port}/${p.protocol}`;
    if (keys.has(key)) causes.push({ reason: 'FieldValueDuplicate', message: `Duplicate value: ${JSON.stringify({ port: p.port, protocol: p.protocol })}`, field: at });
    keys.add(key);
  });
  return causes;
}

function validateAddresses(spec: ServiceSpec): StatusCause[] {
  const causes: StatusCause[] = [];
  const ips = spec.clusterIPs ?? [];
  if (spec.type === 'ExternalName') {
    if (ips.length > 0 || spec.clusterIP) causes.push(forbidden('spec.clusterIPs', 'may not be set for ExternalName services'));
    if (spec.ipFamilyPolicy) causes.push(forbidden('spec.ipFamilyPolicy', 'may not be set for ExternalName services'));
    if (spec.ipFamilies?.length) causes.push(forbidden('spec.ipFamilies', 'may not be set for ExternalName services'));
    return causes;
  }
  if (spec.clusterIP && ips.length > 0 && ips[0] !== spec.clusterIP) causes.push(invalidValue('spec.clusterIPs', ips, 'first value must match `clusterIP`'));
  if (ips.length > 1) causes.push(invalidValue('spec.clusterIPs', ips, 'may only hold up to 1 values as this cluster is not configured for dual-stack services'));
  ips.forEach((ip, i) => {
    if (ip === 'None') {
      if (i > 0 || ips.length > 1) causes.push(invalidValue(`spec.clusterIPs[${i}]`, ip, "must be empty when the first element is 'None'"));
      if (spec.type === 'NodePort' || spec.type === 'LoadBalancer') causes.push(invalidValue(`spec.clusterIPs[${i}]`, ip, `may not be set to 'None' for ${spec.type} services`));
    } else if (!isIPv4(ip)) causes.push(invalidValue(`spec.clusterIPs[${i}]`, ip, 'must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)'));
  });
  (spec.ipFamilies ?? []).forEach((f, i) => {
    if (f !== 'IPv4' && f !== 'IPv6') causes.push(unsupported(`spec.ipFamilies[${i}]`, f, ['IPv4', 'IPv6']));
    else if (f !== 'IPv4') causes.push(invalidValue(`spec.ipFamilies[${i}]`, f, 'not configured on this cluster'));
  });
  const policy = spec.ipFamilyPolicy;
  if (policy && !['PreferDualStack', 'RequireDualStack', 'SingleStack'].includes(policy)) causes.push(unsupported('spec.ipFamilyPolicy', policy, ['PreferDualStack', 'RequireDualStack', 'SingleStack']));
  else if (policy === 'RequireDualStack' && !(isHeadless(spec) && Object.keys(spec.selector ?? {}).length === 0))
    causes.push(invalidValue('spec.ipFamilyPolicy', policy, 'this cluster is not configured for dual-stack services'));
  (spec.externalIPs ?? []).forEach((ip, i) => {
    if (!isIPv4(ip)) causes.push(invalidValue(`spec.externalIPs[${i}]`, ip, 'must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)'));
  });
  return causes;
}

function validatePolicies(spec: ServiceSpec): StatusCause[] {
  const causes: StatusCause[] = [];
  const affinity = spec.sessionAffinity ?? 'None';
  if (!['ClientIP', 'None'].includes(affinity)) causes.push(unsupported('spec.sessionAffinity', affinity, ['ClientIP', 'None']));
  if (affinity === 'ClientIP') {
    const timeout = spec.sessionAffinityConfig?.clientIP?.timeoutSeconds;
    if (timeout !== undefined && (timeout <= 0 || timeout > MAX_CLIENT_IP_TIMEOUT))
      causes.push(invalidValue('spec.sessionAffinityConfig.clientIP.timeoutSeconds', timeout, `must be greater than 0 and less than ${MAX_CLIENT_IP_TIMEOUT}`));
  } else if (spec.sessionAffinityConfig) causes.push(forbidden('spec.sessionAffinityConfig', `must not be set when session affinity is ${affinity}`));
  const external = spec.externalTrafficPolicy;
  if (external) {
    if (!externallyAccessible(spec)) causes.push(invalidValue('spec.externalTrafficPolicy', external, "may only be set for externally-accessible services"));
    else if (!['Cluster', 'Local'].includes(external)) causes.push(unsupported('spec.externalTrafficPolicy', external, ['Cluster', 'Local']));
  } else if (externallyAccessible(spec)) causes.push(required('spec.externalTrafficPolicy'));
  const internal = spec.internalTrafficPolicy;
  if (internal && !['Cluster', 'Local'].includes(internal)) causes.push(unsupported('spec.internalTrafficPolicy', internal, ['Cluster', 'Local']));
  if (spec.type !== 'LoadBalancer') {
    if (spec.allocateLoadBalancerNodePorts !== undefined) causes.push(forbidden('spec.allocateLoadBalancerNodePorts', 'may only be used when `type` is \'LoadBalancer\''));
    if (spec.loadBalancerClass !== undefined) causes.push(forbidden('spec.loadBalancerClass', 'may only be used when `type` is \'LoadBalancer\''));
  } else if (spec.loadBalancerClass !== undefined) {
    for (const msg of qualifiedNameProblems(spec.loadBalancerClass)) causes.push(invalidValue('spec.loadBalancerClass', spec.loadBalancerClass, msg));
  }
  // validateServiceExternalTrafficPolicy: healthCheckNodePort only with LoadBalancer + Local (its
  // absence there is filled by the allocator, which runs before validation in Kubernetes).
  const hc = spec.healthCheckNodePort;
  if (hc !== undefined && hc !== 0) {
    if (!needsHealthCheck(spec)) causes.push(invalidValue('spec.healthCheckNodePort', hc, "may only be set when `type` is 'LoadBalancer' and `externalTrafficPolicy` is 'Local'"));
    else causes.push(...portRange('spec.healthCheckNodePort', hc));
  }
  return causes;
}

/**
 * ValidateService's source ranges: spec.loadBalancerSourceRanges (its field path capitalised, as
 * Kubernetes writes it), else the annotation; only for LoadBalancer Services, each a CIDR
 * (space-padding tolerated, a historical accident Kubernetes keeps).
 */
function validateSourceRanges(o: KubeObject, spec: ServiceSpec): StatusCause[] {
  const causes: StatusCause[] = [];
  const onlyLb = "may only be used when `type` is 'LoadBalancer'";
  const ranges = spec.loadBalancerSourceRanges ?? [];
  const annotation = o.metadata.annotations?.[SOURCE_RANGES_ANNOTATION];
  if (ranges.length > 0) {
    const field = 'spec.LoadBalancerSourceRanges';
    if (spec.type !== 'LoadBalancer') causes.push(forbidden(field, onlyLb));
    ranges.forEach((raw, i) => {
      const value = raw.trim();
      if (!parseAnyCidr(value)) causes.push(invalidValue(`${field}[${i}]`, value, CIDR_MESSAGE));
    });
  } else if (annotation !== undefined) {
    const field = `metadata.annotations[${SOURCE_RANGES_ANNOTATION}]`;
    if (spec.type !== 'LoadBalancer') causes.push(forbidden(field, onlyLb));
    const val = annotation.trim();
    if (val !== '')
      for (const raw of val.split(',')) {
        const value = raw.trim();
        if (!parseAnyCidr(value)) causes.push(invalidValue(field, value, CIDR_MESSAGE));
      }
  }
  return causes;
}

/** ValidateService, and on update ValidateServiceUpdate (clusterIPs may not change once set). */
export function validateService(o: KubeObject, old?: KubeObject): StatusCause[] {
  const spec = specOf(o);
  const causes: StatusCause[] = [];
  if (!spec.type || !TYPES.includes(spec.type)) causes.push(spec.type ? unsupported('spec.type', spec.type, TYPES) : required('spec.type'));
  if (spec.type === 'ExternalName') {
    if (!spec.externalName) causes.push(required('spec.externalName'));
    else {
      const name = spec.externalName.endsWith('.') ? spec.externalName.slice(0, -1) : spec.externalName;
      const problem = dns1123SubdomainProblem(name);
      if (problem) causes.push(invalidValue('spec.externalName', spec.externalName, problem));
    }
  }
  causes.push(...validatePorts(spec), ...validateAddresses(spec), ...validatePolicies(spec), ...validateSourceRanges(o, spec));
  for (const [k, v] of Object.entries(spec.selector ?? {})) {
    if (v.length > 63 || !/^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/.test(v))
      causes.push(invalidValue(`spec.selector`, v, "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character"));
    if (!k) causes.push(invalidValue('spec.selector', k, 'name part must be non-empty'));
  }
  if (old) {
    const before = specOf(old);
    const was = before.clusterIPs ?? [];
    const now = spec.clusterIPs ?? [];
    // validateUpgradeDowngradeClusterIPs: a ClusterIP stays, unless the Service becomes or stops being ExternalName.
    if (before.type !== 'ExternalName' && spec.type !== 'ExternalName' && was.length > 0 && (now.length !== was.length || now.some((ip, i) => ip !== was[i])))
      causes.push(invalidValue('spec.clusterIPs[0]', now, 'may not change once set'));
    // validateServiceExternalTrafficFieldsUpdate and validateLoadBalancerClassField.
    if (needsHealthCheck(before) && needsHealthCheck(spec) && (spec.healthCheckNodePort ?? 0) !== (before.healthCheckNodePort ?? 0))
      causes.push(forbidden('spec.healthCheckNodePort', 'field is immutable'));
    if (before.type === 'LoadBalancer' && spec.type === 'LoadBalancer' && spec.loadBalancerClass !== before.loadBalancerClass)
      causes.push(invalidValue('spec.loadBalancerClass', spec.loadBalancerClass ?? null, 'may not change once set'));
  }
  return causes;
}

/**
 * What an update may leave out (Kubernetes' patchAllocatedValues and dropTypeDependentFields):
 * an omitted ClusterIP or NodePort keeps the stored one while the type still needs it; a type
 * change drops the values the new type no longer has, when the client left them as they were.
 */
export function prepareServiceUpdate(o: KubeObject, old: KubeObject): KubeObject {
  const spec: ServiceSpec = { ...specOf(o) };
  const before = specOf(old);
  if (needsClusterIP(before) && needsClusterIP(spec)) {
    if (!spec.clusterIP && !spec.clusterIPs?.length && before.clusterIP) {
      spec.clusterIP = before.clusterIP;
      spec.clusterIPs = before.clusterIPs ?? [before.clusterIP];
    }
  } else if (needsClusterIP(before) && !needsClusterIP(spec) && spec.clusterIP === before.clusterIP) {
    delete spec.clusterIP;
    delete spec.clusterIPs;
    delete spec.ipFamilies;
    delete spec.ipFamilyPolicy;
    delete spec.internalTrafficPolicy;
  }
  if (spec.ports) {
    if (mayHoldNodePorts(before) && mayHoldNodePorts(spec)) {
      spec.ports = spec.ports.map((p) => {
        if (p.nodePort) return p;
        const match = (before.ports ?? []).find((q) => q.nodePort && q.port === p.port && (q.protocol ?? 'TCP') === (p.protocol ?? 'TCP'));
        return match ? { ...p, nodePort: match.nodePort } : p;
      });
    } else if (mayHoldNodePorts(before) && !mayHoldNodePorts(spec)) {
      spec.ports = spec.ports.map((p) => {
        const same = (before.ports ?? []).some((q) => q.nodePort === p.nodePort && q.port === p.port);
        if (!same || !p.nodePort) return p;
        const { nodePort: _dropped, ...rest } = p;
        return rest;
      });
    }
  }
  if (!externallyAccessible(spec) && spec.externalTrafficPolicy === before.externalTrafficPolicy) delete spec.externalTrafficPolicy;
  if (spec.type !== 'LoadBalancer' && before.type === 'LoadBalancer' && spec.allocateLoadBalancerNodePorts === before.allocateLoadBalancerNodePorts) delete spec.allocateLoadBalancerNodePorts;
  if (spec.type !== 'LoadBalancer' && before.type === 'LoadBalancer' && spec.loadBalancerClass === before.loadBalancerClass) delete spec.loadBalancerClass;
  // patchAllocatedValues / dropTypeDependentFields for the health check port.
  if (needsHealthCheck(before) && needsHealthCheck(spec) && !spec.healthCheckNodePort && before.healthCheckNodePort) spec.healthCheckNodePort = before.healthCheckNodePort;
  else if (needsHealthCheck(before) && !needsHealthCheck(spec) && spec.healthCheckNodePort === before.healthCheckNodePort) delete spec.healthCheckNodePort;
  return { ...o, spec };
}
