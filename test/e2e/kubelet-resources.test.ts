import { execFileSync } from 'node:child_process';
import { beforeAll, describe, expect, it } from 'vitest';
import { Api, eventually, uniqueName } from '../helpers/api';
import { kubectl as runKubectl } from '../helpers/kubectl';

/*
 * Issue #5, cpu requests and limits on the real container, as the kubelet sets them: a limit of
 * 500m is a CFS quota of 50000 µs per 100000 µs period, a request of 250m is 256 cpu shares
 * (cgroup v2: cpu.max "50000 100000", cpu.weight 10). Checked on the container's cgroup as the
 * container itself sees it (printed to its log, read with kubectl logs) and with docker inspect.
 * (The memory limit is covered by the OOMKilled test in kubelet-probes.test.ts.)
 */
const IMAGE = 'stratus-test/busybox:1.36';
const NS = '/api/v1/namespaces/default';
let api: Api;
type Json = any;

const kubectl = (...args: string[]) => runKubectl(args);

/** Prints the container's cpu cgroup settings, v1 or v2, as `key value` lines. */
const PRINT_CPU_CGROUP = [
  'if [ -f /sys/fs/cgroup/cpu.max ]; then',
  '  echo "max $(cat /sys/fs/cgroup/cpu.max)"; echo "weight $(cat /sys/fs/cgroup/cpu.weight)";',
  'else',
  '  d=/sys/fs/cgroup/cpu; [ -f $d/cpu.shares ] || d=/sys/fs/cgroup/cpu,cpuacct;',
  '  echo "quota $(cat $d/cpu.cfs_quota_us)"; echo "period $(cat $d/cpu.cfs_period_us)"; echo "shares $(cat $d/cpu.shares)";',
  'fi; echo done; sleep 3600',
].join('\n');

beforeAll(() => {
  api = Api.forTenant('default');
});

describe('cpu requests and limits', () => {
  it('limits.cpu 500m and requests.cpu 250m become a 50000/100000 CFS quota and 256 shares on the container', async () => {
    // Prepare
    const name = uniqueName('cpu');
    const r = await api.post(`${NS}/pods`, {
      metadata: { name },
      spec: {
        terminationGracePeriodSeconds: 1,
        containers: [{ name: 'main', image: IMAGE, command: ['sh', '-c', PRINT_CPU_CGROUP], resources: { requests: { cpu: '250m' }, limits: { cpu: '500m' } } }],
      },
    });
    expect(r.status, r.text).toBe(201);
    // Act
    const pod = await eventually(async () => {
      const p = (await api.get(`${NS}/pods/${name}`)).body;
      return p?.status?.containerStatuses?.[0]?.state?.running ? p : undefined;
    }, 60_000, 'the pod running');
    const logs = await eventually(async () => {
      const l = await kubectl('logs', name);
      return l.stdout.includes('done') ? l.stdout : undefined;
    }, 30_000, 'the cgroup settings in the log');
    const id = String(pod.status.containerStatuses[0].containerID).replace('docker://', '');
    const host = JSON.parse(execFileSync('docker', ['inspect', '--format', '{{json .HostConfig}}', id], { encoding: 'utf8' })) as Json;
    await kubectl('delete', 'pod', name, '--wait=false');
    // Assess
    const seen = Object.fromEntries(
      logs
        .trim()
        .split('\n')
        .filter((l) => l !== 'done')
        .map((l) => [l.slice(0, l.indexOf(' ')), l.slice(l.indexOf(' ') + 1)]),
    );
    if ('max' in seen) expect(seen).toEqual({ max: '50000 100000', weight: '10' });
    else expect(seen).toEqual({ quota: '50000', period: '100000', shares: '256' });
    // Docker's NanoCpus is its spelling of the same quota: 0.5 cpu per (default) 100 ms period.
    const quotaPer100ms = host.CpuQuota && host.CpuPeriod ? (host.CpuQuota * 100_000) / host.CpuPeriod : (host.NanoCpus * 100_000) / 1e9;
    expect(quotaPer100ms).toBe(50_000);
    expect(host.CpuShares).toBe(256);
    expect(pod.status.qosClass).toBe('Burstable');
  });

  it('a request above its limit is Invalid (422) in Kubernetes\' words, through kubectl', async () => {
    // Prepare
    const name = uniqueName('cpu-over');
    const manifest = JSON.stringify({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name },
      spec: { containers: [{ name: 'main', image: IMAGE, resources: { requests: { cpu: '2' }, limits: { cpu: '500m' } } }] },
    });
    // Act
    const created = await runKubectl(['create', '-f', '-'], { input: manifest });
    const after = await api.get(`${NS}/pods/${name}`);
    // Assess
    expect(created.code).not.toBe(0);
    expect(created.stderr).toContain('is invalid');
    expect(created.stderr).toContain('spec.containers[0].resources.requests[cpu]: Invalid value: "2": must be less than or equal to cpu limit of 500m');
    expect(after.status).toBe(404);
  });

  it('a cpu quantity that is not a quantity is refused (400) before anything runs', async () => {
    // Act
    const name = uniqueName('cpu-bad');
    const r = await api.post(`${NS}/pods`, { metadata: { name }, spec: { containers: [{ name: 'main', image: IMAGE, resources: { limits: { cpu: 'half' } } }] } });
    const after = await api.get(`${NS}/pods/${name}`);
    // Assess
    expect(r.status).toBe(400);
    expect(r.body).toMatchObject({ kind: 'Status', reason: 'BadRequest' });
    expect(r.body.message).toContain("quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'");
    expect(after.status).toBe(404);
  });
});
