import { randomInt } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Api, uniqueName } from '../helpers/api';

/*
 * ClusterIP and NodePort allocation through the API against the local stack: one allocation item
 * per value (conditional writes), so concurrent creates never share a value; values go back on
 * delete, on a failed create and on a type change; taken or out-of-range values get Kubernetes'
 * 422s. Values asked for explicitly are random, so reruns against one store do not collide.
 */
let api: Api;
let ns: string;
const base = () => `/api/v1/namespaces/${ns}/services`;
const randomIp = () => `10.${100 + randomInt(10)}.${randomInt(256)}.${1 + randomInt(250)}`;
const service = (name: string, spec: Record<string, unknown>) => ({ apiVersion: 'v1', kind: 'Service', metadata: { name }, spec: { ports: [{ port: 80 }], selector: { app: name }, ...spec } });
const message = (r: { body: { message?: string } }) => r.body.message;

beforeAll(async () => {
  api = Api.forTenant();
  ns = uniqueName('svc-alloc');
  expect((await api.post('/api/v1/namespaces', { metadata: { name: ns } })).status).toBe(201);
});

afterAll(async () => {
  await api.delete(`/api/v1/namespaces/${ns}`);
});

describe('ClusterIP allocation', () => {
  it('gives 50 concurrent creates 50 distinct addresses of the range, never 10.96.0.1', async () => {
    // Act
    const replies = await Promise.all(Array.from({ length: 50 }, (_, i) => api.post(base(), service(`c${i}`, {}))));
    // Assess
    expect(replies.map((r) => r.status)).toEqual(replies.map(() => 201));
    const ips = replies.map((r) => r.body.spec.clusterIP as string);
    expect(new Set(ips).size).toBe(50);
    for (const r of replies) expect(r.body.spec.clusterIPs).toEqual([r.body.spec.clusterIP]);
    for (const ip of ips) {
      const [a, b] = ip.split('.').map(Number);
      expect(a).toBe(10);
      expect(b).toBeGreaterThanOrEqual(96);
      expect(b).toBeLessThanOrEqual(111);
      expect(ip).not.toBe('10.96.0.1');
    }
  });

  it('refuses an address already allocated, and one out of range, in Kubernetes words', async () => {
    // Prepare
    const ip = randomIp();
    expect((await api.post(base(), service('taken-a', { clusterIP: ip }))).status).toBe(201);
    // Act
    const taken = await api.post(base(), service('taken-b', { clusterIP: ip }));
    const outside = await api.post(base(), service('outside', { clusterIP: '192.168.7.7' }));
    // Assess
    expect(taken.status).toBe(422);
    expect(taken.body.reason).toBe('Invalid');
    expect(message(taken)).toBe(`Service "taken-b" is invalid: spec.clusterIPs: Invalid value: []string{"${ip}"}: failed to allocate IP ${ip}: provided IP is already allocated`);
    expect(outside.status).toBe(422);
    expect(message(outside)).toBe('Service "outside" is invalid: spec.clusterIPs: Invalid value: []string{"192.168.7.7"}: failed to allocate IP 192.168.7.7: the provided IP (192.168.7.7) is not in the valid range. The range of valid IPs is 10.96.0.0/12');
  });

  it('gives the address back on delete', async () => {
    // Prepare
    const ip = randomIp();
    expect((await api.post(base(), service('freed-a', { clusterIP: ip }))).status).toBe(201);
    expect((await api.delete(`${base()}/freed-a`)).status).toBe(200);
    // Act
    const again = await api.post(base(), service('freed-b', { clusterIP: ip }));
    // Assess
    expect(again.status).toBe(201);
    expect(again.body.spec.clusterIP).toBe(ip);
  });

  it('gives back what a failed create claimed, and never what the existing object holds', async () => {
    // Prepare
    const held = randomIp();
    const claimed = randomIp();
    expect((await api.post(base(), service('dup', { clusterIP: held }))).status).toBe(201);
    // Act
    const sameName = await api.post(base(), service('dup', { clusterIP: claimed }));
    const sameNameSameIp = await api.post(base(), service('dup', { clusterIP: held }));
    const other = await api.post(base(), service('dup-other', { clusterIP: claimed }));
    const stolen = await api.post(base(), service('dup-thief', { clusterIP: held }));
    // Assess
    expect(sameName.status).toBe(409);
    expect(sameNameSameIp.status).toBe(422);
    expect(other.status).toBe(201);
    expect(stolen.status).toBe(422);
  });

  it('keeps the address over an update that leaves it out, and refuses to change it', async () => {
    // Prepare
    const created = await api.post(base(), service('keep', {}));
    const ip = created.body.spec.clusterIP as string;
    const { clusterIP: _ip, clusterIPs: _ips, ...specWithout } = created.body.spec as Record<string, unknown>;
    // Act
    const put = await api.put(`${base()}/keep`, { ...created.body, spec: specWithout });
    const changed = await api.patch(`${base()}/keep`, { spec: { clusterIP: randomIp(), clusterIPs: null } });
    // Assess
    expect(put.status).toBe(200);
    expect(put.body.spec.clusterIP).toBe(ip);
    expect(changed.status).toBe(422);
    expect(message(changed)).toContain('spec.clusterIPs[0]: Invalid value: []string{');
    expect(message(changed)).toContain('may not change once set');
  });

  it('claims nothing on a dry run, nor for headless and ExternalName Services', async () => {
    // Prepare
    const ip = randomIp();
    // Act
    const dry = await api.post(`${base()}?dryRun=All`, service('dry', { clusterIP: ip }));
    const headless = await api.post(base(), service('headless', { clusterIP: 'None', ports: [] }));
    const external = await api.post(base(), { apiVersion: 'v1', kind: 'Service', metadata: { name: 'ext' }, spec: { type: 'ExternalName', externalName: 'db.example.com' } });
    const after = await api.post(base(), service('after-dry', { clusterIP: ip }));
    // Assess
    expect(dry.status).toBe(201);
    expect(dry.body.spec.clusterIP).toBe(ip);
    expect(headless.status).toBe(201);
    expect(headless.body.spec.clusterIP).toBe('None');
    expect(external.status).toBe(201);
    expect(external.body.spec.clusterIP).toBeUndefined();
    expect(after.status).toBe(201);
  });
});

describe('NodePort allocation', () => {
  it('gives 20 concurrent NodePort Services distinct ports of 30000-32767', async () => {
    // Act
    const replies = await Promise.all(Array.from({ length: 20 }, (_, i) => api.post(base(), service(`np${i}`, { type: 'NodePort', ports: [{ port: 80, name: 'a' }, { port: 443, name: 'b' }] }))));
    // Assess
    expect(replies.map((r) => r.status)).toEqual(replies.map(() => 201));
    const ports = replies.flatMap((r) => (r.body.spec.ports as { nodePort: number }[]).map((p) => p.nodePort));
    expect(new Set(ports).size).toBe(40);
    for (const p of ports) {
      expect(p).toBeGreaterThanOrEqual(30000);
      expect(p).toBeLessThanOrEqual(32767);
    }
  });

  it('refuses a port already allocated and one out of range, in Kubernetes words', async () => {
    // Prepare: a port the allocator picked (one picked at random here may be another file's)
    const a = await api.post(base(), service('np-a', { type: 'NodePort', ports: [{ port: 80 }] }));
    expect(a.status).toBe(201);
    const port = a.body.spec.ports[0].nodePort as number;
    // Act
    const taken = await api.post(base(), service('np-b', { type: 'NodePort', ports: [{ port: 80, nodePort: port }] }));
    const outside = await api.post(base(), service('np-c', { type: 'NodePort', ports: [{ port: 80, nodePort: 8080 }] }));
    // Assess
    expect(taken.status).toBe(422);
    expect(message(taken)).toBe(`Service "np-b" is invalid: spec.ports[0].nodePort: Invalid value: ${port}: provided port is already allocated`);
    expect(outside.status).toBe(422);
    expect(message(outside)).toBe('Service "np-c" is invalid: spec.ports[0].nodePort: Invalid value: 8080: provided port is not in the valid range. The range of valid ports is 30000-32767');
  });

  it('gives the port back when the type changes to ClusterIP, and on delete', async () => {
    // Prepare: ports the allocator picked (a port picked here at random could be held by another
    // file's Service of this cluster meanwhile)
    const created = await api.post(base(), service('np-change', { type: 'NodePort', ports: [{ port: 80 }] }));
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const gone = await api.post(base(), service('np-gone', { type: 'NodePort', ports: [{ port: 80 }] }));
    // (a CI-like run once had a 422 here: the answer's Status says which field)
    expect(gone.status, JSON.stringify(gone.body)).toBe(201);
    const first = created.body.spec.ports[0].nodePort as number;
    const second = gone.body.spec.ports[0].nodePort as number;
    // Act
    const changed = await api.patch(`${base()}/np-change`, { spec: { type: 'ClusterIP' } });
    expect((await api.delete(`${base()}/np-gone`)).status).toBe(200);
    const reuseFirst = await api.post(base(), service('np-reuse1', { type: 'NodePort', ports: [{ port: 80, nodePort: first }] }));
    const reuseSecond = await api.post(base(), service('np-reuse2', { type: 'NodePort', ports: [{ port: 80, nodePort: second }] }));
    // Assess
    expect(changed.status).toBe(200);
    expect(changed.body.spec.ports[0].nodePort).toBeUndefined();
    expect(changed.body.spec.clusterIP).toBe(created.body.spec.clusterIP);
    expect(reuseFirst.status, JSON.stringify(reuseFirst.body)).toBe(201);
    expect(reuseSecond.status, JSON.stringify(reuseSecond.body)).toBe(201);
  });

  it('keeps NodePorts over an update that leaves them out (kubectl apply)', async () => {
    // Prepare
    const created = await api.post(base(), service('np-keep', { type: 'LoadBalancer' }));
    const nodePort = created.body.spec.ports[0].nodePort as number;
    // Act
    const put = await api.put(`${base()}/np-keep`, { ...created.body, spec: { ...created.body.spec, ports: [{ port: 80 }] } });
    // Assess
    expect(created.status).toBe(201);
    expect(nodePort).toBeGreaterThanOrEqual(30000);
    expect(put.status).toBe(200);
    expect(put.body.spec.ports[0].nodePort).toBe(nodePort);
    expect(put.body.status).toEqual({ loadBalancer: {} });
  });
});
