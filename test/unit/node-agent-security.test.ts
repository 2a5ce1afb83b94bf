import { describe, expect, it } from 'vitest';
import { ContainerConfigError } from '../../node-agent/env';
import { securityOptions } from '../../node-agent/security';

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
