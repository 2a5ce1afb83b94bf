import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, uniqueName } from '../helpers/api';
import { kubectl } from '../helpers/kubectl';

/*
 * Issue #16, ResourceQuota and LimitRange through the real kubectl: `kubectl create quota` (a
 * protobuf body), `get quota` columns (REQUEST/LIMIT as `pods: 1/2`), `get limits`, LimitRange
 * defaults visible in the created pod, refusals in Kubernetes' words, `describe quota/limits`.
 * Pods are never scheduled (a nodeSelector no node has), so nothing runs.
 */
let ns: string;

async function ok(args: string[], input?: string): Promise<string> {
  const r = await kubectl(['-n', ns, ...args], { input });
  expect(r.code, `kubectl ${args.join(' ')}: ${r.stderr}`).toBe(0);
  return r.stdout;
}

const podYaml = (name: string, resources = '') => `apiVersion: v1
kind: Pod
metadata:
  name: ${name}
spec:
  nodeSelector:
    stratus.test/none: "x"
  containers:
  - name: c
    image: stratus-test/busybox:1.36
    command: ["sleep", "3600"]
${resources}`;

const limitRangeYaml = `apiVersion: v1
kind: LimitRange
metadata:
  name: cpu-bounds
spec:
  limits:
  - type: Container
    default:
      cpu: 500m
    defaultRequest:
      cpu: 250m
    max:
      cpu: "1"
`;

/** `kubectl get quota q` once its row shows `want` in REQUEST and LIMIT (the controller fills status in). */
const quotaRow = (want: RegExp) =>
  eventually(async () => {
    const out = await ok(['get', 'quota', 'q']);
    return want.test(out) ? out : undefined;
  }, 60_000, `quota row ${String(want)}`);

beforeAll(async () => {
  ns = uniqueName('quota-e2e');
  expect((await kubectl(['create', 'namespace', ns])).code).toBe(0);
});

afterAll(async () => {
  await kubectl(['delete', 'namespace', ns, '--wait=false']);
});

describe('ResourceQuota and LimitRange through kubectl', () => {
  it('create quota, LimitRange defaults, get/describe, and refusals in Kubernetes words', async () => {
    // Prepare
    expect(await ok(['create', 'quota', 'q', '--hard=pods=2,limits.cpu=2'])).toContain('resourcequota/q created');
    expect(await ok(['create', '-f', '-'], limitRangeYaml)).toContain('limitrange/cpu-bounds created');
    // Assess: the columns, before any pod
    const empty = await quotaRow(/pods: 0\/2\s+limits\.cpu: 0\/2/);
    expect(empty.split('\n')[0]).toMatch(/^NAME\s+AGE\s+REQUEST\s+LIMIT$/);
    const limits = await ok(['get', 'limits']);
    expect(limits.split('\n')[0]).toMatch(/^NAME\s+CREATED AT$/);
    expect(limits).toMatch(/cpu-bounds\s+\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ/);

    // Act: a pod stating nothing gets the LimitRange's defaults
    expect(await ok(['create', '-f', '-'], podYaml('p1'))).toContain('pod/p1 created');
    // Assess
    expect(JSON.parse(await ok(['get', 'pod', 'p1', '-o', 'jsonpath={.spec.containers[0].resources}']))).toEqual({ limits: { cpu: '500m' }, requests: { cpu: '250m' } });
    expect(await ok(['get', 'pod', 'p1', '-o', "jsonpath={.metadata.annotations['kubernetes\\.io/limit-ranger']}"])).toBe('LimitRanger plugin set: cpu request for container c; cpu limit for container c');
    await quotaRow(/pods: 1\/2\s+limits\.cpu: 500m\/2/);

    // Act: over the LimitRange's max
    const big = await kubectl(['-n', ns, 'create', '-f', '-'], { input: podYaml('big', '    resources:\n      limits:\n        cpu: "2"\n') });
    // Assess
    expect(big.code).not.toBe(0);
    expect(big.stderr).toContain('Error from server (Forbidden): error when creating "STDIN": pods "big" is forbidden: maximum cpu usage per Container is 1, but limit is 2');

    // Act: fill the quota, then one more
    expect(await ok(['create', '-f', '-'], podYaml('p2'))).toContain('pod/p2 created');
    const p3 = await kubectl(['-n', ns, 'create', '-f', '-'], { input: podYaml('p3') });
    // Assess
    expect(p3.code).not.toBe(0);
    expect(p3.stderr).toContain('Error from server (Forbidden): error when creating "STDIN": pods "p3" is forbidden: exceeded quota: q, requested: pods=1, used: pods=2, limited: pods=2');
    expect(await ok(['get', 'quota', 'q'])).toMatch(/q\s+\S+\s+pods: 2\/2\s+limits\.cpu: 1\/2/);

    // Assess: describe reads well
    const dq = await ok(['describe', 'quota', 'q']);
    expect(dq).toMatch(/Name:\s+q/);
    expect(dq).toMatch(/Resource\s+Used\s+Hard/);
    expect(dq).toMatch(/limits\.cpu\s+1\s+2/);
    expect(dq).toMatch(/pods\s+2\s+2/);
    const dl = await ok(['describe', 'limits', 'cpu-bounds']);
    expect(dl).toMatch(/Type\s+Resource\s+Min\s+Max\s+Default Request\s+Default Limit\s+Max Limit\/Request Ratio/);
    expect(dl).toMatch(/Container\s+cpu\s+-\s+1\s+250m\s+500m\s+-/);

    // Act: a deleted pod gives its share back
    expect(await ok(['delete', 'pod', 'p2'])).toContain('pod "p2" deleted');
    // Assess
    await quotaRow(/pods: 1\/2\s+limits\.cpu: 500m\/2/);
  });
  it('an update is charged too: kubectl patch of a Service to NodePort past services.nodeports is refused in Kubernetes words', async () => {
    // Prepare
    expect(await ok(['create', 'quota', 'np', '--hard=services.nodeports=1'])).toContain('resourcequota/np created');
    for (const n of ['web', 'api']) expect(await ok(['create', 'service', 'clusterip', n, '--tcp=80:80'])).toContain(`service/${n} created`);
    // Act
    expect(await ok(['patch', 'service', 'web', '-p', '{"spec":{"type":"NodePort"}}'])).toContain('service/web patched');
    const second = await kubectl(['-n', ns, 'patch', 'service', 'api', '-p', '{"spec":{"type":"NodePort"}}']);
    // Assess
    expect(second.code).not.toBe(0);
    expect(second.stderr).toContain('Error from server (Forbidden): services "api" is forbidden: exceeded quota: np, requested: services.nodeports=1, used: services.nodeports=1, limited: services.nodeports=1');
    expect(await ok(['get', 'service', 'api', '-o', 'jsonpath={.spec.type}'])).toBe('ClusterIP');
    // Act: web back to ClusterIP frees its node port (the quota controller), then api may take it
    expect(await ok(['patch', 'service', 'web', '-p', '{"spec":{"type":"ClusterIP"}}'])).toContain('service/web patched');
    await eventually(async () => (/services\.nodeports: 0\/1/.test(await ok(['get', 'quota', 'np'])) ? true : undefined), 60_000, 'node port released');
    expect(await ok(['patch', 'service', 'api', '-p', '{"spec":{"type":"NodePort"}}'])).toContain('service/api patched');
    expect(await ok(['get', 'quota', 'np'])).toMatch(/services\.nodeports: 1\/1/);
  });
});
