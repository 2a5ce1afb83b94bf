import { execFileSync } from 'node:child_process';
import { beforeAll, describe, expect, it } from 'vitest';
import { writeFileSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { Api, eventually, uniqueName } from '../helpers/api';
import { hostPathDir, privilegedNamespace } from '../helpers/pods';

/*
 * Issue #5: securityContext applied to real containers; issue #16: what the node refuses (the
 * run's node has no --allow-privileged and allows host paths only under host-paths/).
 */
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

  // The API admits these in a namespace labelled privileged; the run's node (no --allow-privileged)
  // still refuses them: nothing is created, the containers wait Blocked, the pod says why.
  it.each([
    ['a privileged container', { containers: [{ name: 'main', image: IMAGE, command: ['sleep', '3600'], securityContext: { privileged: true } }] }, /^pod with UID "[^"]+" specified privileged container, but is disallowed/],
    ['host networking', { hostNetwork: true, containers: [{ name: 'main', image: IMAGE, command: ['sleep', '3600'] }] }, /^pod with UID "[^"]+" specified host networking, but is disallowed/],
    ['the host PID namespace', { hostPID: true, containers: [{ name: 'main', image: IMAGE, command: ['sleep', '3600'] }] }, /specified host PID, but is disallowed/],
    ['a hostPort', { containers: [{ name: 'main', image: IMAGE, command: ['sleep', '3600'], ports: [{ containerPort: 80, hostPort: 18080 }] }] }, /specified hostPort 18080 in container "main", but host ports are disallowed on this shared node/],
    ['SYS_ADMIN', { containers: [{ name: 'main', image: IMAGE, command: ['sleep', '3600'], securityContext: { capabilities: { add: ['SYS_ADMIN'] } } }] }, /specified capabilities SYS_ADMIN in container "main", beyond the runtime's default set/],
    ['the Docker socket', { volumes: [{ name: 'sock', hostPath: { path: '/var/run/docker.sock' } }], containers: [{ name: 'main', image: IMAGE, command: ['sleep', '3600'], volumeMounts: [{ name: 'sock', mountPath: '/sock' }] }] }, /hostPath volume "sock", but is disallowed: host path \/var\/run\/docker.sock is never mounted/],
    ['the host\'s root', { volumes: [{ name: 'root', hostPath: { path: '/' } }], containers: [{ name: 'main', image: IMAGE, command: ['sleep', '3600'], volumeMounts: [{ name: 'root', mountPath: '/host' }] }] }, /host path \/ is never mounted/],
    ['/etc', { volumes: [{ name: 'etc', hostPath: { path: '/etc' } }], containers: [{ name: 'main', image: IMAGE, command: ['sleep', '3600'], volumeMounts: [{ name: 'etc', mountPath: '/host-etc' }] }] }, /host path \/etc is never mounted/],
  ])('the node refuses %s', async (_what, spec, message) => {
    // Prepare
    const ns = await privilegedNamespace(api, 'node-refusals');
    const name = uniqueName('refused');
    // Act
    const created = await api.post(`${ns}/pods`, { apiVersion: 'v1', kind: 'Pod', metadata: { name }, spec: { terminationGracePeriodSeconds: 1, ...spec } });
    expect(created.status, created.text).toBe(201);
    const pod = await eventually(async () => {
      const r = await api.get(`${ns}/pods/${name}`);
      return r.body.status?.containerStatuses?.[0]?.state?.waiting?.reason === 'Blocked' ? r.body : undefined;
    }, 60_000, 'the container Blocked');
    const events = await eventually(async () => {
      const r = await api.get(`${ns}/events?fieldSelector=involvedObject.name=${name}`);
      const found = (r.body.items ?? []).filter((e: { reason: string }) => e.reason === 'Forbidden');
      return found.length ? found : undefined;
    }, 30_000, 'the Forbidden event');
    // Assess
    expect(pod.status.phase).toBe('Pending');
    expect(pod.status.reason).toBe('Forbidden');
    expect(pod.status.message).toMatch(message);
    expect(pod.status.containerStatuses[0].state.waiting.message).toMatch(message);
    expect(events[0].type).toBe('Warning');
    expect(events[0].message).toMatch(message);
    expect(execFileSync('docker', ['ps', '-aq', '--filter', `label=io.stratus.pod.uid=${pod.metadata.uid}`], { encoding: 'utf8' }).trim()).toBe('');
    await api.delete(`${ns}/pods/${name}?gracePeriodSeconds=0`);
  });

  it('mounts a host directory the node allows, in a namespace labelled privileged', async () => {
    // Prepare
    const ns = await privilegedNamespace(api, 'node-refusals');
    const dir = hostPathDir('allowed-');
    writeFileSync(join(dir, 'hello'), 'from the host\n');
    const name = uniqueName('hostpath-ok');
    // Act
    const created = await api.post(`${ns}/pods`, {
      metadata: { name },
      spec: { terminationGracePeriodSeconds: 1, volumes: [{ name: 'd', hostPath: { path: dir, type: 'Directory' } }], containers: [{ name: 'main', image: IMAGE, command: ['sh', '-c', 'cat /d/hello; sleep 3600'], volumeMounts: [{ name: 'd', mountPath: '/d' }] }] },
    });
    expect(created.status, created.text).toBe(201);
    const pod = await eventually(async () => {
      const r = await api.get(`${ns}/pods/${name}`);
      return r.body.status?.phase === 'Running' ? r.body : undefined;
    }, 60_000, 'pod Running');
    // Assess
    expect(await eventually(async () => logsOf(pod.status.containerStatuses[0].containerID) || undefined, 20_000, 'output')).toBe('from the host\n');
    await api.delete(`${ns}/pods/${name}?gracePeriodSeconds=0`);
  });

  it('a symlink in an allowed directory does not lead out of it', async () => {
    // Prepare: the allowed directory holds a link to /etc
    const ns = await privilegedNamespace(api, 'node-refusals');
    const dir = hostPathDir('link-');
    symlinkSync('/etc', join(dir, 'etc'));
    const name = uniqueName('hostpath-link');
    // Act
    const created = await api.post(`${ns}/pods`, {
      metadata: { name },
      spec: { terminationGracePeriodSeconds: 1, volumes: [{ name: 'd', hostPath: { path: join(dir, 'etc') } }], containers: [{ name: 'main', image: IMAGE, command: ['sleep', '3600'], volumeMounts: [{ name: 'd', mountPath: '/d' }] }] },
    });
    expect(created.status, created.text).toBe(201);
    const events = await eventually(async () => {
      const r = await api.get(`${ns}/events?fieldSelector=involvedObject.name=${name}`);
      const found = (r.body.items ?? []).filter((e: { reason: string }) => e.reason === 'FailedMount');
      return found.length ? found : undefined;
    }, 60_000, 'the FailedMount event');
    // Assess
    expect(events[0].message).toMatch(/host path \/etc is never mounted/);
    expect((await api.get(`${ns}/pods/${name}`)).body.status?.containerStatuses?.[0]?.state?.running).toBeUndefined();
    await api.delete(`${ns}/pods/${name}?gracePeriodSeconds=0`);
  });
});
