import type { StatusCause } from '../errors';
import type { KubeObject, ResourceType } from '../resources';
import { portNameProblem } from '../services/validation';
import { NetworkPolicySchema, type IPBlock, type NetworkPolicyPeer, type NetworkPolicyPort, type NetworkPolicySpec } from '../schemas/network-policy';
import { networkPolicies } from '../printers/network-policy';
import { labelSelectorProblems } from '../validation/label-selector';
import { isStrictSubset, parseCidr } from '../validation/cidr';

/*
 * networking.k8s.io/v1 NetworkPolicy (issue #15): Kubernetes' defaults (pkg/apis/networking/v1
 * defaults.go) and validation (pkg/apis/networking/validation) in its words. Every node agent
 * enforces them in nftables (node-agent/network/network-policy.ts; docs/networking.md).
 */

const PROTOCOLS = ['TCP', 'UDP', 'SCTP'];
const POLICY_TYPES = ['Ingress', 'Egress'];
const CIDR_MESSAGE = 'must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)';

const invalid = (field: string, value: unknown, why: string): StatusCause => ({
  reason: 'FieldValueInvalid',
  message: `Invalid value: ${typeof value === 'string' ? JSON.stringify(value) : String(value)}: ${why}`,
  field,
});
const notSupported = (field: string, value: string, supported: readonly string[]): StatusCause => ({
  reason: 'FieldValueNotSupported',
  message: `Unsupported value: ${JSON.stringify(value)}: supported values: ${supported.map((s) => JSON.stringify(s)).join(', ')}`,
  field,
});

/** SetDefaults_NetworkPolicy and SetDefaults_NetworkPolicyPort: policyTypes from the rules present, protocol TCP. */
export function defaultNetworkPolicy(o: KubeObject): KubeObject {
  const spec = { ...((o.spec ?? {}) as NetworkPolicySpec) };
  spec.podSelector ??= {};
  const withProtocol = (ports: NetworkPolicyPort[] | null | undefined) => ports?.map((p) => ({ ...p, protocol: p.protocol ?? 'TCP' }));
  if (spec.ingress) spec.ingress = spec.ingress.map((r) => (r.ports ? { ...r, ports: withProtocol(r.ports) } : r));
  if (spec.egress) spec.egress = spec.egress.map((r) => (r.ports ? { ...r, ports: withProtocol(r.ports) } : r));
  if (!spec.policyTypes || spec.policyTypes.length === 0) spec.policyTypes = (spec.egress ?? []).length > 0 ? ['Ingress', 'Egress'] : ['Ingress'];
  return { ...o, spec };
}

/** ValidateNetworkPolicyPort. */
function portProblems(port: NetworkPolicyPort, at: string): StatusCause[] {
  const causes: StatusCause[] = [];
  if (port.protocol !== undefined && !PROTOCOLS.includes(port.protocol)) causes.push(notSupported(`${at}.protocol`, port.protocol, PROTOCOLS));
  const p = port.port;
  const end = port.endPort ?? undefined;
  if (p === undefined || p === null) {
    if (end !== undefined) causes.push(invalid(`${at}.endPort`, end, 'may not be specified when `port` is not specified'));
  } else if (typeof p === 'number') {
    if (p < 1 || p > 65535) causes.push(invalid(`${at}.port`, p, 'must be between 1 and 65535, inclusive'));
    if (end !== undefined) {
      if (end < p) causes.push(invalid(`${at}.endPort`, p, 'must be greater than or equal to `port`'));
      if (end < 1 || end > 65535) causes.push(invalid(`${at}.endPort`, end, 'must be between 1 and 65535, inclusive'));
    }
  } else {
    if (end !== undefined) causes.push(invalid(`${at}.endPort`, end, 'may not be specified when `port` is non-numeric'));
    const problem = portNameProblem(p);
    if (problem) causes.push(invalid(`${at}.port`, p, problem));
  }
  return causes;
}

/** ValidateIPBlock. */
function ipBlockProblems(b: IPBlock, at: string): StatusCause[] {
  if (!b.cidr) return [{ reason: 'FieldValueRequired', message: 'Required value', field: `${at}.cidr` }];
  const cidr = parseCidr(b.cidr);
  if (!cidr) return [invalid(`${at}.cidr`, b.cidr, CIDR_MESSAGE)];
  const causes: StatusCause[] = [];
  (b.except ?? []).forEach((e, i) => {
    const except = parseCidr(e);
    if (!except) causes.push(invalid(`${at}.except[${i}]`, e, CIDR_MESSAGE));
    else if (!isStrictSubset(except, cidr)) causes.push(invalid(`${at}.except[${i}]`, e, 'must be a strict subset of `cidr`'));
  });
  return causes;
}

/** ValidateNetworkPolicyPeer: one kind of peer, or a pod and a namespace selector together. */
function peerProblems(peer: NetworkPolicyPeer, at: string): StatusCause[] {
  const causes: StatusCause[] = [];
  let peers = 0;
  if (peer.podSelector) {
    peers++;
    causes.push(...labelSelectorProblems(peer.podSelector, `${at}.podSelector`));
  }
  if (peer.namespaceSelector) {
    peers++;
    causes.push(...labelSelectorProblems(peer.namespaceSelector, `${at}.namespaceSelector`));
  }
  if (peer.ipBlock) {
    peers++;
    causes.push(...ipBlockProblems(peer.ipBlock, `${at}.ipBlock`));
  }
  if (peers === 0) causes.push({ reason: 'FieldValueRequired', message: 'Required value: must specify a peer', field: at });
  else if (peers > 1 && peer.ipBlock) causes.push({ reason: 'FieldValueForbidden', message: 'Forbidden: may not specify both ipBlock and another peer', field: at });
  return causes;
}

/** ValidateNetworkPolicySpec. */
export function validateNetworkPolicy(o: KubeObject): StatusCause[] {
  const spec = (o.spec ?? {}) as NetworkPolicySpec;
  const causes = labelSelectorProblems(spec.podSelector, 'spec.podSelector');
  (spec.ingress ?? []).forEach((r, i) => {
    (r.ports ?? []).forEach((p, j) => causes.push(...portProblems(p, `spec.ingress[${i}].ports[${j}]`)));
    (r.from ?? []).forEach((p, j) => causes.push(...peerProblems(p, `spec.ingress[${i}].from[${j}]`)));
  });
  (spec.egress ?? []).forEach((r, i) => {
    (r.ports ?? []).forEach((p, j) => causes.push(...portProblems(p, `spec.egress[${i}].ports[${j}]`)));
    (r.to ?? []).forEach((p, j) => causes.push(...peerProblems(p, `spec.egress[${i}].to[${j}]`)));
  });
  const types = spec.policyTypes ?? [];
  if (types.length > POLICY_TYPES.length) {
    // Go's field.Invalid prints the slice (&spec.PolicyTypes, dereferenced) with %#v.
    const value = `[]networking.PolicyType{${types.map((t) => JSON.stringify(t)).join(', ')}}`;
    causes.push({ reason: 'FieldValueInvalid', message: `Invalid value: ${value}: may not specify more than two policyTypes`, field: 'spec.policyTypes' });
    return causes;
  }
  types.forEach((t, i) => {
    if (!POLICY_TYPES.includes(t)) causes.push(notSupported(`spec.policyTypes[${i}]`, t, POLICY_TYPES));
  });
  return causes;
}

export const networkPolicyTypes: readonly ResourceType[] = [
  {
    group: 'networking.k8s.io',
    version: 'v1',
    resource: 'networkpolicies',
    kind: 'NetworkPolicy',
    singular: 'networkpolicy',
    namespaced: true,
    shortNames: ['netpol'],
    subresources: [],
    schema: NetworkPolicySchema,
    validate: validateNetworkPolicy,
    applyDefaults: defaultNetworkPolicy,
    table: networkPolicies,
    nameIsLabel: false,
  },
];
