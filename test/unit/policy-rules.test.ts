import { describe, expect, it } from 'vitest';
import { buildSnapshot } from '../../node-agent/network/api-cluster-view';
import { buildPolicyRuleset, diffPolicyRulesets, fullPolicyScript } from '../../node-agent/network/policy-rules';

/* NetworkPolicy rule generation (node-agent/network/policy-rules.ts): pure table tests. */

const node = { nodeName: 'n1', bridge: 'stratus-0a8000', dnsAddress: '10.128.0.1' };
const pod = (ns: string, name: string, ip: string, labels: Record<string, string>, nodeName = 'n1', ports: unknown[] = []) => ({
  metadata: { namespace: ns, name, labels },
  spec: { nodeName, containers: [{ name: 'c', ports }] },
  status: { phase: 'Running', podIP: ip },
});
const np = (name: string, spec: Record<string, unknown>, ns = 'default') => ({ metadata: { namespace: ns, name }, spec });
const PODS = [
  pod('default', 'web', '10.128.0.2', { app: 'web' }, 'n1', [{ name: 'http', containerPort: 8080 }]),
  pod('default', 'client', '10.128.0.3', { app: 'client' }),
  pod('other', 'remote', '10.128.1.2', { app: 'client' }, 'n2'),
];
const NAMESPACES = [{ metadata: { name: 'default' } }, { metadata: { name: 'other', labels: { team: 'x' } } }];
const rs = (policies: unknown[], pods: unknown[] = PODS) =>
  buildPolicyRuleset(buildSnapshot({ services: { items: [] }, endpointSlices: { items: [] }, pods: { items: pods }, networkPolicies: { items: policies }, namespaces: { items: NAMESPACES } }), node);
const rulesOf = (r: ReturnType<typeof rs>) => [...r.chains].filter(([c]) => !c.endsWith('_policies')).flatMap(([, rules]) => rules);
const elems = (r: ReturnType<typeof rs>, prefix: string) => [...r.sets].filter(([n]) => n.startsWith(prefix)).flatMap(([, s]) => [...s.elements]).sort();

describe('buildPolicyRuleset', () => {
  it('no policy: nothing isolated', () => {
    const r = rs([]);
    expect(elems(r, 'ingress_isolated')).toEqual([]);
    expect(r.chains.get('ingress_policies')).toEqual([]);
  });

  it.each([
    ['default deny ingress', np('deny', { podSelector: {}, policyTypes: ['Ingress'] }), [], ['10.128.0.2', '10.128.0.3'], []],
    ['allow from a pod selector', np('a', { podSelector: { matchLabels: { app: 'web' } }, ingress: [{ from: [{ podSelector: { matchLabels: { app: 'client' } } }] }] }), ['ip saddr @ir-* accept'], ['10.128.0.2'], ['10.128.0.3']],
    ['allow from a namespace selector', np('a', { podSelector: { matchLabels: { app: 'web' } }, ingress: [{ from: [{ namespaceSelector: { matchLabels: { team: 'x' } } }] }] }), ['ip saddr @ir-* accept'], ['10.128.0.2'], ['10.128.1.2']],
    ['metadata.name label', np('a', { podSelector: { matchLabels: { app: 'web' } }, ingress: [{ from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'default' } } }] }] }), ['ip saddr @ir-* accept'], ['10.128.0.2'], ['10.128.0.2', '10.128.0.3']],
    ['ipBlock with except', np('a', { podSelector: { matchLabels: { app: 'web' } }, ingress: [{ from: [{ ipBlock: { cidr: '10.0.0.1/8', except: ['10.128.0.0/24'] } }] }] }), ['ip saddr 10.0.0.0/8 ip saddr != { 10.128.0.0/24 } accept'], ['10.128.0.2'], []],
    ['ports: number, range, protocol only', np('a', { podSelector: { matchLabels: { app: 'web' } }, ingress: [{ ports: [{ port: 80, protocol: 'TCP' }, { port: 8000, endPort: 9000, protocol: 'TCP' }, { protocol: 'UDP' }] }] }), ['meta l4proto . th dport { tcp . 80, tcp . 8000-9000, udp . 0-65535 } accept'], ['10.128.0.2'], []],
  ])('%s', (_what, policy, rules, isolated, peers) => {
    const r = rs([policy]);
    expect(rulesOf(r).map((x) => x.replace(/@ir-[0-9a-f]+-\d+/, '@ir-*'))).toEqual(rules);
    expect(elems(r, 'ingress_isolated')).toEqual(isolated);
    expect(elems(r, 'ir-')).toEqual(peers);
  });

  it('named ports resolve against the target pod (ingress) and any peer (egress); DNS is the kube-dns peer', () => {
    const r = rs([
      np('a', { podSelector: { matchLabels: { app: 'web' } }, ingress: [{ ports: [{ port: 'http', protocol: 'TCP' }] }] }),
      np('dns', { podSelector: {}, policyTypes: ['Egress'], egress: [{ to: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'kube-system' } }, podSelector: { matchLabels: { 'k8s-app': 'kube-dns' } } }], ports: [{ port: 53, protocol: 'UDP' }, { port: 'dns-tcp', protocol: 'TCP' }] }] }),
    ]);
    expect(elems(r, 'in-')).toEqual(['10.128.0.2 . tcp . 8080']);
    expect(elems(r, 'er-')).toEqual(['10.128.0.1']);
    expect(elems(r, 'en-')).toEqual(['10.128.0.1 . tcp . 53']);
    expect(elems(r, 'egress_isolated')).toEqual(['10.128.0.2', '10.128.0.3']);
  });

  it('a policy selecting no pod of this node adds nothing; hostNetwork and finished pods are never peers', () => {
    expect(rulesOf(rs([np('a', { podSelector: {} }, 'other')]))).toEqual([]);
    const finished = { ...pod('default', 'done', '10.128.0.9', { app: 'client' }), status: { phase: 'Succeeded', podIP: '10.128.0.9' } };
    const r = rs([np('a', { podSelector: { matchLabels: { app: 'web' } }, ingress: [{ from: [{ podSelector: {} }] }] })], [...PODS, finished]);
    expect(elems(r, 'ir-')).toEqual(['10.128.0.2', '10.128.0.3']);
  });
});

describe('diffPolicyRulesets', () => {
  it('is empty between equal rulesets; a new pod is one element; removing the policy removes its chains and sets', () => {
    const policy = np('a', { podSelector: { matchLabels: { app: 'web' } }, ingress: [{ from: [{ podSelector: { matchLabels: { app: 'client' } } }] }] });
    const a = rs([policy]);
    expect(diffPolicyRulesets('t', a, rs([policy]))).toEqual([]);
    const b = rs([policy], [...PODS, pod('default', 'c2', '10.128.0.4', { app: 'client' })]);
    expect(diffPolicyRulesets('t', a, b)).toEqual([expect.stringMatching(/^add element ip t ir-[0-9a-f]+-0 \{ 10\.128\.0\.4 \}$/)]);
    const gone = diffPolicyRulesets('t', a, rs([]));
    expect(gone.some((c) => c.startsWith('delete chain ip t ip-'))).toBe(true);
    expect(gone.some((c) => c.startsWith('delete set ip t ir-'))).toBe(true);
    expect(gone).toContain('flush chain ip t ingress_policies');
    expect(gone.some((c) => c.startsWith('delete element ip t ingress_isolated'))).toBe(true);
    expect(fullPolicyScript('t', a)[0]).toMatch(/^add set ip t it-/);
  });
});
