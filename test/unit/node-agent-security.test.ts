import { describe, expect, it } from 'vitest';
import { ContainerConfigError } from '../../node-agent/env';
import { hostPathRefusal, nodeRefusal, securityOptions } from '../../node-agent/security';

describe('securityContext → Docker', () => {
  it('container settings win over the pod, and map to Docker options', () => {
    // Act
    const o = securityOptions(
      { runAsUser: 1000, runAsGroup: 2000, supplementalGroups: [3000] },
      { runAsUser: 65534, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'], add: ['net_bind_service'] } },
      'c',
      false,
    );
    // Assess
    expect(o).toEqual({
      User: '65534:2000',
      HostConfig: { ReadonlyRootfs: true, CapAdd: ['CAP_NET_BIND_SERVICE'], CapDrop: ['ALL'], SecurityOpt: ['no-new-privileges'], GroupAdd: ['3000'] },
    });
  });

  it('sets nothing without a securityContext', () => {
    expect(securityOptions(undefined, undefined, 'c', false)).toEqual({ HostConfig: {} });
  });

  it.each([
    ['privileged on a node that does not allow it', {}, { privileged: true }, false, /does not allow privileged/],
    ['runAsNonRoot with root', { runAsNonRoot: true, runAsUser: 0 }, {}, false, /image will run as root/],
    ['runAsNonRoot with no user', {}, { runAsNonRoot: true }, false, /cannot verify user is non-root/],
  ])('refuses %s with CreateContainerConfigError', (_what, pod, container, allow, message) => {
    expect(() => securityOptions(pod, container, 'c', allow)).toThrow(ContainerConfigError);
    expect(() => securityOptions(pod, container, 'c', allow)).toThrow(message);
  });

  it('allows privileged where the node allows it', () => {
    expect(securityOptions({}, { privileged: true }, 'c', true).HostConfig.Privileged).toBe(true);
  });
});

describe('what a node refuses to run (unless --allow-privileged)', () => {
  const strict = { allowPrivileged: false, hostPathAllow: ['/srv/pod-data'], hostPathDeny: ['/var/lib/stratus/node-1'] };
  const pod = (spec: Record<string, unknown>) => ({ metadata: { uid: 'u1' }, spec: { containers: [{ name: 'c', image: 'x' }], ...spec } });
  const container = (extra: Record<string, unknown>) => ({ containers: [{ name: 'c', image: 'x', ...extra }] });
  it.each([
    ['a plain pod', pod({}), undefined],
    ['a privileged container', pod(container({ securityContext: { privileged: true } })), /^pod with UID "u1" specified privileged container, but is disallowed/],
    ['a privileged init container', pod({ initContainers: [{ name: 'i', image: 'x', securityContext: { privileged: true } }] }), /specified privileged init container, but is disallowed/],
    ['hostNetwork', pod({ hostNetwork: true }), /^pod with UID "u1" specified host networking, but is disallowed/],
    ['hostPID', pod({ hostPID: true }), /specified host PID, but is disallowed/],
    ['hostIPC', pod({ hostIPC: true }), /specified host IPC, but is disallowed/],
    ['a hostPort', pod(container({ ports: [{ containerPort: 80, hostPort: 8080 }] })), /specified hostPort 8080 in container "c", but host ports are disallowed on this shared node/],
    ['a capability beyond Docker\'s default set', pod(container({ securityContext: { capabilities: { add: ['NET_BIND_SERVICE', 'sys_admin'] } } })), /specified capabilities SYS_ADMIN in container "c", beyond the runtime's default set/],
    ['a default capability', pod(container({ securityContext: { capabilities: { add: ['NET_RAW', 'CAP_CHOWN'] } } })), undefined],
    ['the Docker socket', pod({ volumes: [{ name: 'sock', hostPath: { path: '/var/run/docker.sock' } }] }), /hostPath volume "sock", but is disallowed: host path \/var\/run\/docker.sock is never mounted/],
    ['/', pod({ volumes: [{ name: 'root', hostPath: { path: '/' } }] }), /host path \/ is never mounted/],
    ['/etc by a detour', pod({ volumes: [{ name: 'etc', hostPath: { path: '/srv/pod-data/../../etc' } }] }), /host path \/etc is never mounted/],
    ['/var, which holds /var/run', pod({ volumes: [{ name: 'var', hostPath: { path: '/var' } }] }), /host path \/var is never mounted on this node \(it is or holds \/var\/run\)/],
    ['/proc', pod({ volumes: [{ name: 'p', hostPath: { path: '/proc/1' } }] }), /host path \/proc\/1 is never mounted/],
    ['the node\'s own state', pod({ volumes: [{ name: 's', hostPath: { path: '/var/lib/stratus/node-1/pods' } }] }), /never mounted/],
    ['a path outside the allowlist', pod({ volumes: [{ name: 'h', hostPath: { path: '/home/user' } }] }), /host path \/home\/user is outside this node's allowed host paths \(\/srv\/pod-data; node agent --host-path-allow\)/],
    ['a path inside the allowlist', pod({ volumes: [{ name: 'd', hostPath: { path: '/srv/pod-data/app' } }] }), undefined],
  ])('%s', (_what, p, refusal) => {
    // Act
    const why = nodeRefusal(p, strict);
    // Assess
    if (refusal === undefined) expect(why).toBeUndefined();
    else expect(why).toMatch(refusal);
    expect(nodeRefusal(p, { allowPrivileged: true })).toBeUndefined();
  });

  it('never allows the Docker socket or / even inside an allowed directory', () => {
    expect(hostPathRefusal('/var/run/docker.sock', { allowPrivileged: false, hostPathAllow: ['/var/run'] })).toMatch(/never mounted/);
    expect(hostPathRefusal('/', { allowPrivileged: false, hostPathAllow: ['/'] })).toMatch(/never mounted/);
    expect(hostPathRefusal('/data/docker.sock', { allowPrivileged: false, hostPathAllow: ['/data'] })).toMatch(/container runtime socket/);
  });
});
