import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Api, eventually, uniqueName } from '../helpers/api';
import { kubectl } from '../helpers/kubectl';

/*
 * Issue #15 (API side) through the real kubectl: the `kubernetes` Service of every cluster,
 * `kubectl get svc,ep,endpointslices` columns, `kubectl create service`, `kubectl expose`, and
 * endpoint addresses Kubernetes refuses.
 */
let api: Api;
let ns: string;

async function ok(args: string[], input?: string): Promise<string> {
  const r = await kubectl(args, { input });
  expect(r.code, `kubectl ${args.join(' ')}: ${r.stderr}`).toBe(0);
  return r.stdout;
}
/** kubectl's table as rows of cells (columns split on runs of 2+ spaces). */
const rows = (out: string) =>
  out
    .trim()
    .split('\n')
    .map((l) => l.trim().split(/\s{2,}/));

beforeAll(async () => {
  api = Api.forTenant();
  ns = uniqueName('svc-e2e');
  await ok(['create', 'namespace', ns]);
});

afterAll(async () => {
  await kubectl(['delete', 'namespace', ns, '--wait=false']);
});

describe('the kubernetes Service', { timeout: 60_000 }, () => {
  it('exists in default with 10.96.0.1:443 (https), Endpoints and an EndpointSlice to the API', async () => {
    // Act
    const svc = await api.get('/api/v1/namespaces/default/services/kubernetes');
    const ep = await api.get('/api/v1/namespaces/default/endpoints/kubernetes');
    const slice = await api.get('/apis/discovery.k8s.io/v1/namespaces/default/endpointslices/kubernetes');
    const table = rows(await ok(['get', 'svc', 'kubernetes', '-n', 'default']));
    // Assess
    expect(svc.status).toBe(200);
    expect(svc.body.spec).toMatchObject({ type: 'ClusterIP', clusterIP: '10.96.0.1', clusterIPs: ['10.96.0.1'], ports: [{ name: 'https', port: 443, protocol: 'TCP' }], ipFamilies: ['IPv4'], ipFamilyPolicy: 'SingleStack' });
    expect(svc.body.spec.selector).toBeUndefined();
    const port = svc.body.spec.ports[0].targetPort as number;
    expect(ep.status).toBe(200);
    expect(ep.body.subsets[0].ports).toEqual([{ name: 'https', port, protocol: 'TCP' }]);
    expect(ep.body.subsets[0].addresses).toHaveLength(1);
    expect(slice.status).toBe(200);
    expect(slice.body.metadata.labels['kubernetes.io/service-name']).toBe('kubernetes');
    expect(slice.body.endpoints[0].addresses).toEqual([ep.body.subsets[0].addresses[0].ip]);
    expect(table[0]).toEqual(['NAME', 'TYPE', 'CLUSTER-IP', 'EXTERNAL-IP', 'PORT(S)', 'AGE']);
    expect(table[1]!.slice(0, 5)).toEqual(['kubernetes', 'ClusterIP', '10.96.0.1', '<none>', '443/TCP']);
  });

  it('holds 10.96.0.1: no other Service can ask for it', async () => {
    // Act
    const r = await kubectl(['create', 'service', 'clusterip', 'wants-first', '-n', ns, '--tcp=80:8080', '--clusterip=10.96.0.1']);
    // Assess
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('Service "wants-first" is invalid: spec.clusterIPs: Invalid value: []string{"10.96.0.1"}: failed to allocate IP 10.96.0.1: provided IP is already allocated');
  });
});

describe('kubectl and Services', { timeout: 120_000 }, () => {
  it('create service clusterip / nodeport, then get svc with Kubernetes columns (wide too)', async () => {
    // Act
    await ok(['create', 'service', 'clusterip', 'web', '-n', ns, '--tcp=80:8080', '--tcp=443:8443']);
    await ok(['create', 'service', 'nodeport', 'np', '-n', ns, '--tcp=80:8080', '--node-port=30999']);
    await ok(['create', 'service', 'clusterip', 'headless', '-n', ns, '--clusterip=None']);
    await ok(['create', 'service', 'externalname', 'ext', '-n', ns, '--external-name=db.example.com']);
    const table = rows(await ok(['get', 'svc', '-n', ns, '-o', 'wide']));
    // Assess
    expect(table[0]).toEqual(['NAME', 'TYPE', 'CLUSTER-IP', 'EXTERNAL-IP', 'PORT(S)', 'AGE', 'SELECTOR']);
    const byName = Object.fromEntries(table.slice(1).map((r) => [r[0], r]));
    expect(byName.web!.slice(1, 2)).toEqual(['ClusterIP']);
    expect(byName.web![2]).toMatch(/^10\.(9[6-9]|10[0-9]|11[01])\.\d+\.\d+$/);
    expect(byName.web!.slice(3, 5)).toEqual(['<none>', '80/TCP,443/TCP']);
    expect(byName.web![6]).toBe('app=web');
    expect(byName.np!.slice(3, 5)).toEqual(['<none>', '80:30999/TCP']);
    expect(byName.headless!.slice(1, 3)).toEqual(['ClusterIP', 'None']);
    expect(byName.ext!.slice(1, 4)).toEqual(['ExternalName', '<none>', 'db.example.com']);
  });

  it('expose deployment and pod make Services with their selectors and ports', async () => {
    // Prepare
    await ok(['create', 'deployment', 'dep', '-n', ns, '--image=stratus-test/busybox:1.36', '--port=8080', '--replicas=0']);
    await ok(['run', 'solo', '-n', ns, '--image=stratus-test/busybox:1.36', '--port=9090', '--labels=run=solo', '--overrides={"spec":{"nodeSelector":{"stratus.test/nowhere":"true"}}}']);
    // Act
    await ok(['expose', 'deployment', 'dep', '-n', ns, '--port=80', '--target-port=8080']);
    await ok(['expose', 'pod', 'solo', '-n', ns, '--port=90', '--type=NodePort']);
    const dep = await api.get(`/api/v1/namespaces/${ns}/services/dep`);
    const solo = await api.get(`/api/v1/namespaces/${ns}/services/solo`);
    // Assess
    expect(dep.body.spec).toMatchObject({ selector: { app: 'dep' }, ports: [{ port: 80, targetPort: 8080, protocol: 'TCP' }], type: 'ClusterIP' });
    expect(solo.body.spec).toMatchObject({ selector: { run: 'solo' }, ports: [{ port: 90, targetPort: 90, protocol: 'TCP' }], type: 'NodePort' });
    expect(solo.body.spec.ports[0].nodePort).toBeGreaterThanOrEqual(30000);
  });

  it('get ep and endpointslices print Kubernetes columns; loopback and link-local endpoints are refused', async () => {
    // Prepare
    const manifest = `apiVersion: v1
kind: Endpoints
metadata:
  name: manual
subsets:
- addresses: [{ip: 10.1.2.3}, {ip: 10.1.2.4}]
  ports: [{port: 80}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: manual-1
  labels: {kubernetes.io/service-name: manual}
addressType: IPv4
ports: [{port: 80, name: http}]
endpoints:
- addresses: [10.1.2.3]
`;
    const bad = `apiVersion: v1
kind: Endpoints
metadata:
  name: sneaky
subsets:
- addresses: [{ip: 127.0.0.1}, {ip: 169.254.169.254}]
  ports: [{port: 8000}]
`;
    // Act
    await ok(['apply', '-n', ns, '-f', '-'], manifest);
    const ep = rows(await ok(['get', 'ep', 'manual', '-n', ns]));
    const slices = rows(await ok(['get', 'endpointslices', 'manual-1', '-n', ns]));
    const refused = await kubectl(['apply', '-n', ns, '-f', '-'], { input: bad });
    // Assess
    expect(ep[0]).toEqual(['NAME', 'ENDPOINTS', 'AGE']);
    expect(ep[1]!.slice(0, 2)).toEqual(['manual', '10.1.2.3:80,10.1.2.4:80']);
    expect(slices[0]).toEqual(['NAME', 'ADDRESSTYPE', 'PORTS', 'ENDPOINTS', 'AGE']);
    expect(slices[1]!.slice(0, 4)).toEqual(['manual-1', 'IPv4', '80', '10.1.2.3']);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain('subsets[0].addresses[0].ip: Invalid value: "127.0.0.1": may not be in the loopback range (127.0.0.0/8, ::1/128)');
    expect(refused.stderr).toContain('subsets[0].addresses[1].ip: Invalid value: "169.254.169.254": may not be in the link-local range (169.254.0.0/16, fe80::/10)');
  });
});

describe('Endpoints and EndpointSlices from real pods', { timeout: 240_000 }, () => {
  interface Ep { subsets?: { addresses?: { ip: string; targetRef?: { name: string } }[]; notReadyAddresses?: unknown[]; ports?: { name?: string; port: number }[] }[] }
  interface Slice { metadata: { name: string; labels?: Record<string, string>; ownerReferences?: { kind: string; name: string }[] }; endpoints: { addresses: string[]; conditions?: { ready?: boolean } }[]; ports?: { name?: string; port?: number }[] }
  const slicesOf = async (service: string): Promise<Slice[]> => (await api.get(`/apis/discovery.k8s.io/v1/namespaces/${ns}/endpointslices?labelSelector=kubernetes.io%2Fservice-name%3D${service}`)).body.items as Slice[];
  const readyAddresses = (ep: Ep) => (ep.subsets ?? []).flatMap((s) => s.addresses ?? []);

  it('follow the pods a Service selects: ready pods, their IPs, the named port resolved; scaling down removes them', async () => {
    // Prepare
    const manifest = `apiVersion: apps/v1
kind: Deployment
metadata: {name: echo}
spec:
  replicas: 2
  selector: {matchLabels: {app: echo}}
  template:
    metadata: {labels: {app: echo}}
    spec:
      containers:
      - name: c
        image: stratus-test/busybox:1.36
        command: [sleep, "3600"]
        ports: [{name: http, containerPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: echo}
spec:
  selector: {app: echo}
  ports: [{name: web, port: 80, targetPort: http}]
`;
    // Act
    await ok(['apply', '-n', ns, '-f', '-'], manifest);
    const ep = await eventually(async () => {
      const r = await api.get(`/api/v1/namespaces/${ns}/endpoints/echo`);
      return r.status === 200 && readyAddresses(r.body as Ep).length === 2 ? (r.body as Ep) : undefined;
    }, 180_000, 'two ready addresses in Endpoints echo');
    const pods = (await api.get(`/api/v1/namespaces/${ns}/pods?labelSelector=app%3Decho`)).body.items as { metadata: { name: string }; status: { podIP: string } }[];
    const slices = await eventually(async () => {
      const list = await slicesOf('echo');
      return list.length === 1 && list[0]!.endpoints.filter((e) => e.conditions?.ready).length === 2 ? list : undefined;
    }, 60_000, 'one EndpointSlice with two ready endpoints');
    // Assess
    expect(readyAddresses(ep).map((a) => a.ip).sort()).toEqual(pods.map((p) => p.status.podIP).sort());
    expect(ep.subsets![0]!.ports).toEqual([{ name: 'web', port: 8080, protocol: 'TCP' }]);
    expect(slices[0]!.metadata.labels).toMatchObject({ 'kubernetes.io/service-name': 'echo', 'endpointslice.kubernetes.io/managed-by': 'endpointslice-controller.k8s.io' });
    expect(slices[0]!.metadata.ownerReferences).toMatchObject([{ kind: 'Service', name: 'echo' }]);
    expect(slices[0]!.ports).toEqual([{ name: 'web', port: 8080, protocol: 'TCP' }]);
    const table = rows(await ok(['get', 'ep', 'echo', '-n', ns]));
    expect(table[1]![1]!.split(',').sort()).toEqual(pods.map((p) => `${p.status.podIP}:8080`).sort());

    // Act: scale down
    await ok(['scale', 'deployment', 'echo', '-n', ns, '--replicas=1']);
    // Assess
    await eventually(async () => {
      const r = await api.get(`/api/v1/namespaces/${ns}/endpoints/echo`);
      return readyAddresses(r.body as Ep).length === 1 ? true : undefined;
    }, 120_000, 'one address left in Endpoints echo');
    await eventually(async () => {
      const list = await slicesOf('echo');
      return list.length === 1 && list[0]!.endpoints.filter((e) => e.conditions?.ready).length === 1 ? true : undefined;
    }, 60_000, 'one ready endpoint left in the slice');
  });

  it('mirror user-written Endpoints of a selector-less Service into an EndpointSlice; the Service gone, so are they', async () => {
    // Prepare
    const manifest = `apiVersion: v1
kind: Service
metadata: {name: external-db}
spec:
  ports: [{port: 5432}]
---
apiVersion: v1
kind: Endpoints
metadata: {name: external-db}
subsets:
- addresses: [{ip: 192.0.2.10}]
  ports: [{port: 5432}]
`;
    // Act
    await ok(['apply', '-n', ns, '-f', '-'], manifest);
    const mirrored = await eventually(async () => {
      const list = await slicesOf('external-db');
      return list.length === 1 ? list[0] : undefined;
    }, 60_000, 'a mirrored EndpointSlice');
    // Assess
    expect(mirrored.metadata.labels?.['endpointslice.kubernetes.io/managed-by']).toBe('endpointslicemirroring-controller.k8s.io');
    expect(mirrored.metadata.ownerReferences).toMatchObject([{ kind: 'Endpoints', name: 'external-db' }]);
    expect(mirrored.endpoints).toEqual([{ addresses: ['192.0.2.10'], conditions: { ready: true } }]);
    expect((await api.get(`/api/v1/namespaces/${ns}/endpoints/external-db`)).body.subsets[0].addresses).toEqual([{ ip: '192.0.2.10' }]);

    // Act: delete the Service
    await ok(['delete', 'service', 'external-db', '-n', ns]);
    // Assess
    await eventually(async () => ((await api.get(`/api/v1/namespaces/${ns}/endpoints/external-db`)).status === 404 ? true : undefined), 60_000, 'Endpoints removed');
    await eventually(async () => ((await slicesOf('external-db')).length === 0 ? true : undefined), 60_000, 'mirrored slice removed');
  });
});

describe('Ingress and IngressClass through kubectl', { timeout: 60_000 }, () => {
  it('apply, get ingress columns, the default class filled in', async () => {
    // Prepare
    const cls = `apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata:
  name: ${ns}-default
  annotations: {ingressclass.kubernetes.io/is-default-class: "true"}
spec: {controller: stratus.io/ingress}
`;
    const ingress = `apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: site}
spec:
  tls: [{hosts: [a.example.com]}]
  rules:
  - host: a.example.com
    http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}]}
`;
    // Act
    await ok(['apply', '-f', '-'], cls);
    await ok(['apply', '-n', ns, '-f', '-'], ingress);
    const table = rows(await ok(['get', 'ing', 'site', '-n', ns]));
    const bad = await kubectl(['apply', '-n', ns, '-f', '-'], { input: ingress.replace('pathType: Prefix', 'pathType: Regex').replace('name: site', 'name: bad') });
    await ok(['delete', 'ingressclass', `${ns}-default`]);
    // Assess
    expect(table[0]).toEqual(['NAME', 'CLASS', 'HOSTS', 'ADDRESS', 'PORTS', 'AGE']);
    expect(table[1]!.slice(0, 2)).toEqual(['site', `${ns}-default`]);
    expect(table[1]!.slice(2, 4)).toEqual(['a.example.com', '80, 443']);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain('spec.rules[0].http.paths[0].pathType: Unsupported value: "Regex"');
  });

  it('kubectl create ingress (a protobuf body) makes the Ingress its flags describe', async () => {
    // Act
    await ok(['create', 'ingress', 'made', '-n', ns, '--class=nginx', '--rule=b.example.com/api*=api:http,tls=b-cert', '--default-backend=web:80']);
    const got = JSON.parse(await ok(['get', 'ingress', 'made', '-n', ns, '-o', 'json'])) as { spec: Record<string, unknown> };
    // Assess
    expect(got.spec).toEqual({
      ingressClassName: 'nginx',
      defaultBackend: { service: { name: 'web', port: { number: 80 } } },
      tls: [{ hosts: ['b.example.com'], secretName: 'b-cert' }],
      rules: [{ host: 'b.example.com', http: { paths: [{ path: '/api', pathType: 'Prefix', backend: { service: { name: 'api', port: { name: 'http' } } } }] } }],
    });
  });
});
