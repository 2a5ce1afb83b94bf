import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Api, eventually, uniqueName } from '../helpers/api';
import { kubectl as runKubectl } from '../helpers/kubectl';

/*
 * Issue #17, HorizontalPodAutoscaler end to end: a CPU-burning Deployment of 1 replica, an HPA
 * at 50% of its cpu request, max 3: the controller reads the pods' metrics from the node agent
 * and scales the Deployment through its scale subresource to 3.
 */
const IMAGE = 'stratus-test/busybox:1.36';
const kubectl = (...args: string[]) => runKubectl(args);
let api: Api;
const name = uniqueName('hpa-burn');
const APPS = '/apis/apps/v1/namespaces/default/deployments';

beforeAll(async () => {
  api = Api.forTenant('default');
  const labels = { app: name };
  const r = await api.post(APPS, {
    metadata: { name },
    spec: {
      replicas: 1,
      selector: { matchLabels: labels },
      template: {
        metadata: { labels },
        spec: {
          terminationGracePeriodSeconds: 1,
          // Requests 20m, burns up to its 60m limit: ≈ 300% of its request.
          containers: [{ name: 'burn', image: IMAGE, command: ['sh', '-c', 'while :; do :; done'], resources: { requests: { cpu: '20m' }, limits: { cpu: '60m' } } }],
        },
      },
    },
  });
  expect(r.status, r.text).toBe(201);
});

afterAll(async () => {
  await api.delete(`/apis/autoscaling/v2/namespaces/default/horizontalpodautoscalers/${name}`);
  await api.delete(`${APPS}/${name}`);
});

describe('HorizontalPodAutoscaler', () => {
  it('kubectl autoscale; the Deployment scales from 1 to 3; get hpa shows the targets; events and conditions', async () => {
    const created = await kubectl('autoscale', 'deployment', name, '--cpu-percent=50', '--min=1', '--max=3');
    expect(created.code, created.stderr).toBe(0);
    expect(created.stdout).toBe(`horizontalpodautoscaler.autoscaling/${name} autoscaled\n`);

    await eventually(async () => {
      const d = (await api.get(`${APPS}/${name}`)).body;
      return d.spec.replicas === 3 ? d : undefined;
    }, 150_000, 'the Deployment scaled to 3');

    // The controller writes the scale, then the HPA's status (as Kubernetes' does): the status may land a moment later.
    const hpa = await eventually(async () => {
      const h = (await api.get(`/apis/autoscaling/v2/namespaces/default/horizontalpodautoscalers/${name}`)).body;
      return h.status?.desiredReplicas === 3 ? h : undefined;
    }, 30_000, 'the HPA status says 3');
    expect(hpa.status.desiredReplicas).toBe(3);
    expect(hpa.status.lastScaleTime).toBeDefined();
    expect(hpa.status.currentMetrics[0].resource.name).toBe('cpu');
    const types = Object.fromEntries(hpa.status.conditions.map((c: { type: string; status: string }) => [c.type, c.status]));
    expect(types).toMatchObject({ AbleToScale: 'True', ScalingActive: 'True' });

    const table = await eventually(async () => {
      const r = await kubectl('get', 'hpa', name);
      return /cpu: \d+%\/50%/.test(r.stdout) ? r : undefined;
    }, 30_000, 'TARGETS with a current value');
    const [header, row] = table.stdout.trim().split('\n');
    expect(header!.trim().split(/\s+/)).toEqual(['NAME', 'REFERENCE', 'TARGETS', 'MINPODS', 'MAXPODS', 'REPLICAS', 'AGE']);
    expect(row).toMatch(new RegExp(`^${name}\\s+Deployment/${name}\\s+cpu: \\d+%/50%\\s+1\\s+3\\s+\\d+\\s+\\S+$`));

    const events = await kubectl('get', 'events', '--field-selector', `involvedObject.name=${name},reason=SuccessfulRescale`, '-o', 'jsonpath={.items[*].message}');
    expect(events.stdout).toMatch(/New size: 3; reason: cpu resource utilization \(percentage of request\) above target/);
  });

  it('syncs on its 15 s period, never again off its own status writes', async () => {
    // Both stabilization windows 0: before the fix each sync changed the HPA's state and its own
    // write synced it again at once, without end (dozens of writes in this window).
    const path = `/apis/autoscaling/v2/namespaces/default/horizontalpodautoscalers/${name}`;
    const patched = await api.patch(path, { spec: { behavior: { scaleUp: { stabilizationWindowSeconds: 0 }, scaleDown: { stabilizationWindowSeconds: 0 } } } });
    expect(patched.status, patched.text).toBe(200);
    await new Promise((r) => setTimeout(r, 5_000)); // the spec change's own sync and its write
    const versions = new Set<string>();
    const end = Date.now() + 35_000;
    while (Date.now() < end) {
      versions.add((await api.get(path)).body.metadata.resourceVersion);
      await new Promise((r) => setTimeout(r, 250));
    }
    // At most one write per 15 s tick (3 ticks in 35 s), plus the version it started at.
    expect(versions.size).toBeLessThanOrEqual(4);
  });

  it('served as autoscaling/v1 from the same storage, converted', async () => {
    const v1 = (await api.get(`/apis/autoscaling/v1/namespaces/default/horizontalpodautoscalers/${name}`)).body;
    expect(v1.apiVersion).toBe('autoscaling/v1');
    expect(v1.spec).toMatchObject({ minReplicas: 1, maxReplicas: 3, targetCPUUtilizationPercentage: 50, scaleTargetRef: { kind: 'Deployment', name } });
    expect(v1.spec.metrics).toBeUndefined();
  });

  it('refuses an invalid HPA with 422 in Kubernetes words', async () => {
    const r = await api.post('/apis/autoscaling/v2/namespaces/default/horizontalpodautoscalers', {
      metadata: { name: uniqueName('bad') },
      spec: { scaleTargetRef: { kind: 'Deployment', name: 'x' }, minReplicas: 5, maxReplicas: 2 },
    });
    expect(r.status).toBe(422);
    expect(r.body.details.causes.map((c: { field: string }) => c.field)).toContain('spec.maxReplicas');
  });
});
