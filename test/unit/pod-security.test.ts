import { describe, expect, it } from 'vitest';
import { evaluatePod, violationMessage, type PodSpecLike } from '../../shared/pod-security/checks';
import { LATEST, policyToEvaluate, type Level, type LevelVersion } from '../../shared/pod-security/policy';
import { podWarnings } from '../../shared/registry/plugins/pod-security';
import type { KubeObject } from '../../shared/resources';

const at = (level: Level, minor?: number): LevelVersion => ({ level, version: minor === undefined ? LATEST : { latest: false, minor } });

/** A pod that passes restricted; each row changes one thing. */
const restrictedContainer = { name: 'c', image: 'busybox', securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] }, runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } } };
const spec = (over: Record<string, unknown> = {}, container: Record<string, unknown> = {}): PodSpecLike => ({
  containers: [{ ...restrictedContainer, ...container, securityContext: { ...restrictedContainer.securityContext, ...((container.securityContext as object) ?? {}) } }],
  ...over,
});
const sc = (securityContext: Record<string, unknown>) => ({ securityContext });

const message = (lv: LevelVersion, s: PodSpecLike, annotations: Record<string, string> = {}) => {
  const v = evaluatePod(lv, { annotations }, s);
  return v.length ? violationMessage(lv, v) : 'allowed';
};

describe('Pod Security Standards checks: one row per check, at each level', () => {
  // [what, spec, annotations, baseline's verdict, restricted's verdict]; privileged allows all.
  const rows: [string, PodSpecLike, Record<string, string>, string, string][] = [
    ['a restricted pod', spec(), {}, 'allowed', 'allowed'],
    ['host namespaces', spec({ hostNetwork: true, hostPID: true, hostIPC: true }), {}, 'host namespaces (hostNetwork=true, hostPID=true, hostIPC=true)', 'host namespaces (hostNetwork=true, hostPID=true, hostIPC=true)'],
    ['privileged', spec({}, sc({ privileged: true })), {}, 'privileged (container "c" must not set securityContext.privileged=true)', 'privileged (container "c" must not set securityContext.privileged=true)'],
    ['non-default capabilities', spec({}, sc({ capabilities: { drop: ['ALL'], add: ['SYS_ADMIN', 'NET_RAW', 'CHOWN'] } })), {},
      'non-default capabilities (container "c" must not include "NET_RAW", "SYS_ADMIN" in securityContext.capabilities.add)',
      'unrestricted capabilities (container "c" must not include "CHOWN", "NET_RAW", "SYS_ADMIN" in securityContext.capabilities.add)'],
    ['capabilities not dropped', spec({}, sc({ capabilities: { add: ['NET_BIND_SERVICE'] } })), {}, 'allowed', 'unrestricted capabilities (container "c" must set securityContext.capabilities.drop=["ALL"])'],
    ['hostPath volumes', spec({ volumes: [{ name: 'host', hostPath: { path: '/' } }] }), {}, 'hostPath volumes (volume "host")', 'restricted volume types (volume "host" uses restricted volume type "hostPath")'],
    ['other volume types', spec({ volumes: [{ name: 'a', nfs: { server: 's', path: '/' } }, { name: 'b', emptyDir: {} }, { name: 'g', gitRepo: { repository: 'r' } }] }), {},
      'allowed', 'restricted volume types (volumes "a", "g" use restricted volume types "gitRepo", "nfs")'],
    ['hostPorts', spec({}, { ports: [{ containerPort: 80, hostPort: 8080 }, { containerPort: 81, hostPort: 80 }] }), {}, 'hostPort (container "c" uses hostPorts 80, 8080)', 'hostPort (container "c" uses hostPorts 80, 8080)'],
    ['AppArmor unconfined', spec({}, sc({ appArmorProfile: { type: 'Unconfined' } })), {}, 'forbidden AppArmor profile (container "c" must not set AppArmor profile type to "Unconfined")', 'forbidden AppArmor profile (container "c" must not set AppArmor profile type to "Unconfined")'],
    ['AppArmor annotation', spec(), { 'container.apparmor.security.beta.kubernetes.io/c': 'unconfined' }, 'forbidden AppArmor profile (annotation must not set AppArmor profile type to "container.apparmor.security.beta.kubernetes.io/c="unconfined"")', 'forbidden AppArmor profile (annotation must not set AppArmor profile type to "container.apparmor.security.beta.kubernetes.io/c="unconfined"")'],
    ['SELinux', spec({ securityContext: { seLinuxOptions: { type: 'spc_t', user: 'u' } } }), {}, 'seLinuxOptions (pod set forbidden securityContext.seLinuxOptions: type "spc_t"; user may not be set)', 'seLinuxOptions (pod set forbidden securityContext.seLinuxOptions: type "spc_t"; user may not be set)'],
    ['/proc mount', spec({}, sc({ procMount: 'Unmasked' })), {}, 'procMount (container "c" must not set securityContext.procMount to "Unmasked")', 'procMount (container "c" must not set securityContext.procMount to "Unmasked")'],
    ['seccomp unconfined', spec({}, sc({ seccompProfile: { type: 'Unconfined' } })), {}, 'seccompProfile (container "c" must not set securityContext.seccompProfile.type to "Unconfined")', 'seccompProfile (container "c" must not set securityContext.seccompProfile.type to "Unconfined")'],
    ['seccomp unset', { containers: [{ name: 'c', image: 'x', securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] }, runAsNonRoot: true } }] }, {},
      'allowed', 'seccompProfile (pod or container "c" must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost")'],
    ['sysctls', spec({ securityContext: { sysctls: [{ name: 'kernel.msgmax', value: '1' }, { name: 'net.ipv4.tcp_rmem', value: '1' }] } }), {}, 'forbidden sysctls (kernel.msgmax)', 'forbidden sysctls (kernel.msgmax)'],
    ['hostProcess', spec({ securityContext: { windowsOptions: { hostProcess: true } } }), {}, 'hostProcess (pod must not set securityContext.windowsOptions.hostProcess=true)', 'hostProcess (pod must not set securityContext.windowsOptions.hostProcess=true)'],
    ['privilege escalation', spec({}, sc({ allowPrivilegeEscalation: true })), {}, 'allowed', 'allowPrivilegeEscalation != false (container "c" must set securityContext.allowPrivilegeEscalation=false)'],
    ['runAsNonRoot=false', spec({}, sc({ runAsNonRoot: false })), {}, 'allowed', 'runAsNonRoot != true (container "c" must not set securityContext.runAsNonRoot=false)'],
    ['runAsUser=0', spec({ securityContext: { runAsUser: 0 } }), {}, 'allowed', 'runAsUser=0 (pod must not set runAsUser=0)'],
  ];
  it.each(rows)('%s', (_what, s, annotations, baseline, restricted) => {
    const expected = (lv: LevelVersion, detail: string) => (detail === 'allowed' ? 'allowed' : `violates PodSecurity "${lv.level}:latest": ${detail}`);
    expect(message(at('privileged'), s, annotations)).toBe('allowed');
    expect(message(at('baseline'), s, annotations)).toBe(expected(at('baseline'), baseline));
    expect(message(at('restricted'), s, annotations)).toBe(expected(at('restricted'), restricted));
  });

  it('a plain pod: allowed at baseline, and restricted names every missing setting in order', () => {
    const plain = { containers: [{ name: 'nginx', image: 'nginx' }] };
    expect(message(at('baseline'), plain)).toBe('allowed');
    expect(message(at('restricted'), plain)).toBe(
      'violates PodSecurity "restricted:latest": allowPrivilegeEscalation != false (container "nginx" must set securityContext.allowPrivilegeEscalation=false), unrestricted capabilities (container "nginx" must set securityContext.capabilities.drop=["ALL"]), runAsNonRoot != true (pod or container "nginx" must set securityContext.runAsNonRoot=true), seccompProfile (pod or container "nginx" must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost")',
    );
  });

  it('the issue\'s example, with reasons in Kubernetes\' order and pluralized', () => {
    const s = { hostNetwork: true, containers: [{ name: 'c', image: 'x', securityContext: { privileged: true } }, { name: 'd', image: 'x', securityContext: { privileged: true } }] };
    expect(message(at('baseline'), s)).toBe('violates PodSecurity "baseline:latest": host namespaces (hostNetwork=true), privileged (containers "c", "d" must not set securityContext.privileged=true)');
  });

  it('versions: checks newer than the version are not applied', () => {
    const rootUser = spec({ securityContext: { runAsUser: 0 } });
    expect(message(at('restricted', 22), rootUser)).toBe('allowed'); // runAsUser=0 is checked from v1.23
    expect(message(at('restricted', 23), rootUser)).toContain('runAsUser=0');
    const rmem = spec({ securityContext: { sysctls: [{ name: 'net.ipv4.tcp_rmem', value: '1' }] } });
    expect(message(at('baseline', 31), rmem)).toBe('violates PodSecurity "baseline:v1.31": forbidden sysctls (net.ipv4.tcp_rmem)');
    expect(message(at('baseline', 32), rmem)).toBe('allowed');
  });
});

describe('namespace labels → policy', () => {
  it.each([
    ['no labels, cluster baseline', {}, 'baseline', ['baseline:latest', 'baseline:latest', 'baseline:latest'], []],
    ['enforce privileged silences warn and audit', { 'pod-security.kubernetes.io/enforce': 'privileged' }, 'baseline', ['privileged:latest', 'privileged:latest', 'privileged:latest'], []],
    ['each mode its own', { 'pod-security.kubernetes.io/enforce': 'baseline', 'pod-security.kubernetes.io/enforce-version': 'v1.25', 'pod-security.kubernetes.io/warn': 'restricted' }, 'privileged', ['baseline:v1.25', 'baseline:v1.25', 'restricted:v1.25'], []],
    ['a bad enforce level enforces restricted', { 'pod-security.kubernetes.io/enforce': 'strict' }, 'baseline', ['restricted:latest', 'restricted:latest', 'restricted:latest'], ['metadata.labels[pod-security.kubernetes.io/enforce]: Invalid value: "strict": must be one of privileged, baseline, restricted']],
    ['a bad version means latest', { 'pod-security.kubernetes.io/enforce-version': '1.25' }, 'baseline', ['baseline:latest', 'baseline:latest', 'baseline:latest'], ['metadata.labels[pod-security.kubernetes.io/enforce-version]: Invalid value: "1.25": must be "latest" or "v1.x"']],
  ])('%s', (_what, labels, level, expected, errors) => {
    const { policy, errors: errs } = policyToEvaluate(labels as Record<string, string>, level as Level);
    const s = (lv: LevelVersion) => `${lv.level}:${lv.version.latest ? 'latest' : `v1.${lv.version.minor}`}`;
    expect([s(policy.enforce), s(policy.audit), s(policy.warn)]).toEqual(expected);
    expect(errs.map((e) => `${e.field}: ${e.message}`)).toEqual(errors);
  });
});

describe('warnings when a namespace gets a stricter enforce level', () => {
  const pod = (name: string, s: PodSpecLike, owner?: string): KubeObject => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name, ...(owner ? { ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: owner, uid: owner, controller: true }] } : {}) }, spec: s });
  it('groups pods by reasons under the first name, after the summary', () => {
    // Prepare
    const plain = { containers: [{ name: 'c', image: 'x' }] };
    const pods = [pod('web-b', plain, 'rs'), pod('web-a', plain, 'rs'), pod('web-c', plain, 'rs'), pod('host', { ...plain, hostNetwork: true }), pod('ok', spec())];
    // Act
    const warnings = podWarnings('team', at('restricted'), pods);
    // Assess
    expect(warnings).toEqual([
      'existing pods in namespace "team" violate the new PodSecurity enforce level "restricted:latest"',
      'host: host namespaces, allowPrivilegeEscalation != false, unrestricted capabilities, runAsNonRoot != true, seccompProfile',
      'web-a (and 2 other pods): allowPrivilegeEscalation != false, unrestricted capabilities, runAsNonRoot != true, seccompProfile',
    ]);
  });

  it('says so when it checked only some of the pods', () => {
    const plain = { containers: [{ name: 'c', image: 'x', securityContext: { privileged: true } }] };
    expect(podWarnings('n', at('baseline'), [pod('a', plain), pod('b', plain)], 1)[0]).toBe('new PodSecurity enforce level only checked against the first 1 of 2 existing pods');
  });
});
