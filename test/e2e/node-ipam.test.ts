import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import { createTenantTokens } from '../../infra/local/stack';
import { loadConfig } from '../../shared/config';
import { createDocumentClient } from '../../shared/store/dynamo';
import { DEFAULT_POD_CIDR_POOL, indexOfCidr, parsePool, POD_CIDRS_PK } from '../../shared/store/pod-cidrs';
import { Api, uniqueName } from '../helpers/api';

/*
 * Node IPAM (issue #15): every Node gets one /24 of the deployment-wide pool at create, never the
 * same as any other Node's, whichever cluster it belongs to; the client cannot choose it, cannot
 * change it, and it goes back to the pool when the Node goes. Each test has tenants of its own
 * (Nodes without agents in the shared tenant would draw its pods).
 */
const config = () => loadConfig();
const tenantName = (p: string) => uniqueName(p).replace(/[^a-z0-9-]/g, '').slice(0, 40);
const pool = () => {
  const p = parsePool(config().podCidrPool ?? DEFAULT_POD_CIDR_POOL);
  if (typeof p === 'string') throw new Error(p);
  return p;
};

async function tenantApi(prefix: string): Promise<Api> {
  const tenant = tenantName(prefix);
  const { adminToken } = await createTenantTokens(createDocumentClient(config()), config(), tenant);
  return Api.forTenant(tenant, adminToken);
}

const node = (name: string, spec: Record<string, unknown> = {}) => ({ apiVersion: 'v1', kind: 'Node', metadata: { name }, spec });

async function allocations(): Promise<Map<string, string>> {
  const doc = createDocumentClient(config());
  const out = new Map<string, string>();
  let start: Record<string, unknown> | undefined;
  do {
    const page = await doc.send(new QueryCommand({ TableName: config().objectsTable, KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': POD_CIDRS_PK }, ExclusiveStartKey: start, ConsistentRead: true }));
    for (const i of page.Items ?? []) out.set(String(i.sk), String(i.owner));
    start = page.LastEvaluatedKey;
  } while (start);
  return out;
}

describe('node IPAM', { timeout: 120_000 }, () => {
  it('parallel registrations in two clusters get distinct /24s of the pool', async () => {
    // Prepare
    const [a, b] = await Promise.all([tenantApi('ipam-a'), tenantApi('ipam-b')]);
    const names = Array.from({ length: 6 }, (_, i) => `n${i}`);
    // Act: twelve creates at once, six per cluster, with the same node names in both
    const replies = await Promise.all([...names.map((n) => a.post('/api/v1/nodes', node(n))), ...names.map((n) => b.post('/api/v1/nodes', node(n)))]);
    // Assess
    for (const r of replies) expect(r.status, r.text).toBe(201);
    const cidrs = replies.map((r) => (r.body as { spec: { podCIDR: string } }).spec.podCIDR);
    expect(new Set(cidrs).size).toBe(12);
    for (const r of replies) {
      const spec = (r.body as { spec: { podCIDR: string; podCIDRs: string[] } }).spec;
      expect(indexOfCidr(pool(), spec.podCIDR), spec.podCIDR).toBeDefined();
      expect(spec.podCIDRs).toEqual([spec.podCIDR]);
    }
    // and a GET answers the same range
    const got = await a.get('/api/v1/nodes/n0');
    expect((got.body as { spec: { podCIDR: string } }).spec.podCIDR).toBe(cidrs[0]);
  });

  it('a CIDR the client sends is replaced by one from the pool (no aiming at another cluster\'s range)', async () => {
    // Prepare: a node of one cluster holds a range
    const [a, b] = await Promise.all([tenantApi('ipam-own'), tenantApi('ipam-thief')]);
    const victim = await a.post('/api/v1/nodes', node('victim'));
    const taken = (victim.body as { spec: { podCIDR: string } }).spec.podCIDR;
    // Act: another cluster asks for that very range
    const r = await b.post('/api/v1/nodes', node('thief', { podCIDR: taken, podCIDRs: [taken] }));
    // Assess
    expect(r.status, r.text).toBe(201);
    expect((r.body as { spec: { podCIDR: string } }).spec.podCIDR).not.toBe(taken);
  });

  it('podCIDR cannot be changed once set (422, Kubernetes\' words)', async () => {
    // Prepare
    const a = await tenantApi('ipam-immutable');
    const created = await a.post('/api/v1/nodes', node('fixed'));
    const cidr = (created.body as { spec: { podCIDR: string } }).spec.podCIDR;
    // Act
    const r = await a.patch('/api/v1/nodes/fixed', { spec: { podCIDR: '10.255.255.0/24', podCIDRs: ['10.255.255.0/24'] } });
    // Assess
    expect(r.status, r.text).toBe(422);
    expect(r.body.reason).toBe('Invalid');
    expect(r.body.message).toContain('spec.podCIDR: Forbidden: node updates may not change podCIDR except from "" to valid');
    expect(((await a.get('/api/v1/nodes/fixed')).body as { spec: { podCIDR: string } }).spec.podCIDR).toBe(cidr);
    // other updates of the node still go through
    expect((await a.patch('/api/v1/nodes/fixed', { metadata: { labels: { x: 'y' } } })).status).toBe(200);
  });

  it('a deleted Node gives its range back; a dry-run create takes none', async () => {
    // Prepare
    const a = await tenantApi('ipam-release');
    const created = await a.post('/api/v1/nodes', node('gone'));
    const cidr = (created.body as { spec: { podCIDR: string } }).spec.podCIDR;
    expect((await allocations()).get(cidr)).toBe(`${a.base.split('/clusters/')[1]}/gone`);
    const before = (await allocations()).size;
    const dry = await a.post('/api/v1/nodes?dryRun=All', node('dry'));
    expect(dry.status, dry.text).toBe(201);
    expect((await allocations()).size).toBe(before);
    // Act
    const del = await a.send('DELETE', '/api/v1/nodes/gone');
    // Assess
    expect(del.status, del.text).toBe(200);
    expect((await allocations()).has(cidr)).toBe(false);
  });
});
