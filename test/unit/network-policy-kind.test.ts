import { describe, expect, it } from 'vitest';
import { validateObject } from '../../shared/registry/decode';
import { resourceByName, type KubeObject } from '../../shared/resources';
import type { StatusError } from '../../shared/errors';
import { networkPolicies } from '../../shared/printers/network-policy';
import { formatLabelSelector } from '../../shared/validation/label-selector';

/*
 * networking.k8s.io/v1 NetworkPolicy's strategy (shared/kinds/network-policy.ts): Kubernetes'
 * defaults, each validation cause in its words, and the `kubectl get` columns.
 */

const rt = resourceByName('networkpolicies');
const np = (spec: Record<string, unknown>): KubeObject => ({ apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'p', namespace: 'default' }, spec });

function causesOf(spec: Record<string, unknown>): { field?: string; message?: string; reason?: string }[] {
  try {
    validateObject(rt, rt.applyDefaults(np(spec)));
    return [];
  } catch (e) {
    return ((e as StatusError).details?.causes ?? []) as { field?: string; message?: string; reason?: string }[];
  }
}

describe('NetworkPolicy defaults', () => {
  it.each([
    ['no rules', {}, ['Ingress']],
    ['ingress rules only', { ingress: [{}] }, ['Ingress']],
    ['egress rules', { egress: [{}] }, ['Ingress', 'Egress']],
    ['an empty egress list', { egress: [] }, ['Ingress']],
    ['policyTypes given', { policyTypes: ['Egress'], egress: [{}] }, ['Egress']],
  ])('policyTypes for %s', (_what, spec, want) => {
    expect((rt.applyDefaults(np(spec)).spec as { policyTypes: string[] }).policyTypes).toEqual(want);
  });

  it('ports get protocol TCP; an absent podSelector is the empty one', () => {
    const spec = rt.applyDefaults(np({ ingress: [{ ports: [{ port: 80 }, { port: 53, protocol: 'UDP' }] }], egress: [{ ports: [{ port: 'dns' }] }] })).spec as Record<string, unknown>;
    expect(spec).toMatchObject({ podSelector: {}, ingress: [{ ports: [{ port: 80, protocol: 'TCP' }, { port: 53, protocol: 'UDP' }] }], egress: [{ ports: [{ port: 'dns', protocol: 'TCP' }] }] });
  });
});

describe('NetworkPolicy validation in Kubernetes\' words', () => {
  it('accepts a full policy', () => {
    expect(
      causesOf({
        podSelector: { matchLabels: { app: 'db' }, matchExpressions: [{ key: 'tier', operator: 'In', values: ['a', 'b'] }] },
        ingress: [{ from: [{ podSelector: {} }, { namespaceSelector: { matchLabels: { team: 'x' } }, podSelector: { matchLabels: { a: 'b' } } }, { ipBlock: { cidr: '10.0.0.0/8', except: ['10.1.0.0/16'] } }], ports: [{ port: 5432 }, { port: 'http' }, { port: 8000, endPort: 9000, protocol: 'SCTP' }] }],
        egress: [{ to: [{ ipBlock: { cidr: '2001:db8::/64', except: ['2001:db8::/96'] } }] }],
      }),
    ).toEqual([]);
  });

  it.each([
    ['a peer with nothing', { ingress: [{ from: [{}] }] }, 'spec.ingress[0].from[0]', 'Required value: must specify a peer'],
    ['ipBlock with a selector', { egress: [{ to: [{ ipBlock: { cidr: '10.0.0.0/8' }, podSelector: {} }] }] }, 'spec.egress[0].to[0]', 'Forbidden: may not specify both ipBlock and another peer'],
    ['an empty cidr', { ingress: [{ from: [{ ipBlock: { cidr: '' } }] }] }, 'spec.ingress[0].from[0].ipBlock.cidr', 'Required value'],
    ['a bad cidr', { ingress: [{ from: [{ ipBlock: { cidr: '300.0.0.0/8' } }] }] }, 'spec.ingress[0].from[0].ipBlock.cidr', 'Invalid value: "300.0.0.0/8": must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)'],
    ['an address without a prefix', { ingress: [{ from: [{ ipBlock: { cidr: '10.0.0.1' } }] }] }, 'spec.ingress[0].from[0].ipBlock.cidr', 'Invalid value: "10.0.0.1": must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)'],
    ['an except outside the cidr', { ingress: [{ from: [{ ipBlock: { cidr: '10.0.0.0/24', except: ['192.168.0.0/24'] } }] }] }, 'spec.ingress[0].from[0].ipBlock.except[0]', 'Invalid value: "192.168.0.0/24": must be a strict subset of `cidr`'],
    ['an except equal to the cidr', { ingress: [{ from: [{ ipBlock: { cidr: '10.0.0.0/24', except: ['10.0.0.0/24'] } }] }] }, 'spec.ingress[0].from[0].ipBlock.except[0]', 'Invalid value: "10.0.0.0/24": must be a strict subset of `cidr`'],
    ['a bad except', { ingress: [{ from: [{ ipBlock: { cidr: '10.0.0.0/8', except: ['x'] } }] }] }, 'spec.ingress[0].from[0].ipBlock.except[0]', 'Invalid value: "x": must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)'],
    ['port 0', { ingress: [{ ports: [{ port: 0 }] }] }, 'spec.ingress[0].ports[0].port', 'Invalid value: 0: must be between 1 and 65535, inclusive'],
    ['endPort below port', { ingress: [{ ports: [{ port: 90, endPort: 80 }] }] }, 'spec.ingress[0].ports[0].endPort', 'Invalid value: 90: must be greater than or equal to `port`'],
    ['endPort too high', { ingress: [{ ports: [{ port: 90, endPort: 70000 }] }] }, 'spec.ingress[0].ports[0].endPort', 'Invalid value: 70000: must be between 1 and 65535, inclusive'],
    ['endPort with a named port', { egress: [{ ports: [{ port: 'http', endPort: 90 }] }] }, 'spec.egress[0].ports[0].endPort', 'Invalid value: 90: may not be specified when `port` is non-numeric'],
    ['endPort without a port', { egress: [{ ports: [{ endPort: 90 }] }] }, 'spec.egress[0].ports[0].endPort', 'Invalid value: 90: may not be specified when `port` is not specified'],
    ['a bad port name', { ingress: [{ ports: [{ port: 'a--b' }] }] }, 'spec.ingress[0].ports[0].port', 'Invalid value: "a--b": must not contain consecutive hyphens'],
    ['an unknown protocol', { ingress: [{ ports: [{ port: 80, protocol: 'ICMP' }] }] }, 'spec.ingress[0].ports[0].protocol', 'Unsupported value: "ICMP": supported values: "TCP", "UDP", "SCTP"'],
    ['an unknown policy type', { policyTypes: ['Sideways'] }, 'spec.policyTypes[0]', 'Unsupported value: "Sideways": supported values: "Ingress", "Egress"'],
    ['three policy types', { policyTypes: ['Ingress', 'Egress', 'Ingress'] }, 'spec.policyTypes', 'Invalid value: []networking.PolicyType{"Ingress", "Egress", "Ingress"}: may not specify more than two policyTypes'],
    ['a bad operator', { podSelector: { matchExpressions: [{ key: 'a', operator: 'Is' }] } }, 'spec.podSelector.matchExpressions[0].operator', 'Invalid value: "Is": not a valid selector operator'],
    ['In without values', { podSelector: { matchExpressions: [{ key: 'a', operator: 'In', values: [] }] } }, 'spec.podSelector.matchExpressions[0].values', "Required value: must be specified when `operator` is 'In' or 'NotIn'"],
    ['Exists with values', { ingress: [{ from: [{ namespaceSelector: { matchExpressions: [{ key: 'a', operator: 'Exists', values: ['x'] }] } }] }] }, 'spec.ingress[0].from[0].namespaceSelector.matchExpressions[0].values', "Forbidden: may not be specified when `operator` is 'Exists' or 'DoesNotExist'"],
    ['a bad label key', { podSelector: { matchLabels: { 'a b': 'x' } } }, 'spec.podSelector.matchLabels', 'Invalid value: "a b": name part must consist of alphanumeric characters'],
    ['a bad label value', { ingress: [{ from: [{ podSelector: { matchLabels: { a: '-x' } } }] }] }, 'spec.ingress[0].from[0].podSelector.matchLabels', 'Invalid value: "-x": a valid label must be an empty string'],
  ])('refuses %s', (_what, spec, field, message) => {
    const causes = causesOf(spec);
    expect(causes.map((c) => c.field), JSON.stringify(causes)).toContain(field);
    expect(causes.find((c) => c.field === field)?.message).toContain(message);
  });
});

describe('NetworkPolicy table', () => {
  it('NAME, POD-SELECTOR, AGE as kubectl prints them', () => {
    expect(networkPolicies.columns.map((c) => c.name)).toEqual(['Name', 'Pod-Selector', 'Age']);
    const o = { ...np({ podSelector: { matchLabels: { app: 'web' } } }), metadata: { name: 'p', creationTimestamp: new Date(Date.now() - 90_000).toISOString() } };
    expect(networkPolicies.cells(o, Date.now())).toEqual(['p', 'app=web', '90s']);
  });

  it.each([
    [{}, '<none>'],
    [{ matchLabels: { b: '2', a: '1' } }, 'a=1,b=2'],
    [{ matchLabels: { z: '1' }, matchExpressions: [{ key: 'tier', operator: 'In', values: ['y', 'x'] }, { key: 'a', operator: 'DoesNotExist' }, { key: 'k', operator: 'Exists' }, { key: 'n', operator: 'NotIn', values: ['q'] }] }, '!a,k,n notin (q),tier in (x,y),z=1'],
  ])('pod selector %j prints as %s', (sel, want) => {
    expect(formatLabelSelector(sel)).toBe(want);
  });
});
