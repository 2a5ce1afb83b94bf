import { execFileSync } from 'node:child_process';
import { beforeAll, describe, expect, it } from 'vitest';
import { Api, eventually, uniqueName } from '../helpers/api';

/* Issue #5: securityContext applied to real containers, and refused where the node says no. */
const IMAGE = 'stratus-test/busybox:1.36';
let api: Api;

beforeAll(() => {
  api = Api.forTenant('default');
});

const logsOf = (containerID: string) => execFileSync('docker', ['logs', containerID.replace('docker://', '')], { encoding: 'utf8' });

describe('securityContext', () => {
  it('runs as the given user, with a read-only root and no capabilities', async () => {
    // Prepare
    const name = uniqueName('secure');
    const script = 'id -u; id -g; touch /probe 2>/dev/null && echo writable || echo read-only; grep CapEff /proc/self/status; sleep 3600';
    // Act
    await api.post('/api/v1/namespaces/default/pods', {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name },
      spec: {
        terminationGracePeriodSeconds: 1,
        securityContext: { runAsUser: 1000, runAsGroup: 3000 },
        containers: [
          {
            name: 'main',
            image: IMAGE,
            command: ['sh', '-c', script],
            securityContext: { runAsUser: 65534, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } },
          },
        ],
      },
    });
    // Assess
    const pod = await eventually(async () => {
      const r = await api.get(`/api/v1/namespaces/default/pods/${name}`);
      return r.body.status?.phase === 'Running' ? r.body : undefined;
    }, 60_000, 'pod Running');
    const output = await eventually(async () => {
      const out = logsOf(pod.status.containerStatuses[0].containerID);
      return out.includes('CapEff') ? out : undefined;
    }, 20_000, 'container output');
    const lines = output.trim().split('\n');
    expect(lines[0]).toBe('65534');
    expect(lines[1]).toBe('3000');
    expect(lines[2]).toBe('read-only');
    expect(lines[3]).toMatch(/^CapEff:\s+0+$/);
    await api.delete(`/api/v1/namespaces/default/pods/${name}?gracePeriodSeconds=0`);
  });

  it('refuses a privileged container on a node that does not allow it', async () => {
    const name = uniqueName('privileged');
    await api.post('/api/v1/namespaces/default/pods', {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name },
      spec: { containers: [{ name: 'main', image: IMAGE, command: ['sleep', '3600'], securityContext: { privileged: true } }] },
    });
    const waiting = await eventually(async () => {
      const r = await api.get(`/api/v1/namespaces/default/pods/${name}`);
      const w = r.body.status?.containerStatuses?.[0]?.state?.waiting;
      return w?.reason === 'CreateContainerConfigError' ? w : undefined;
    }, 60_000, 'CreateContainerConfigError');
    expect(waiting.message).toMatch(/does not allow privileged containers/);
    await api.delete(`/api/v1/namespaces/default/pods/${name}?gracePeriodSeconds=0`);
  });
});
