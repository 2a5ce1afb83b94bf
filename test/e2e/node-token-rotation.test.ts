/**
 * Issue #16: node credentials expire and rotate (shared/auth/node-credentials.ts).
 *
 * A real agent joins a cluster of this test's own asking for a 20 s token: it renews at 80%, keeps
 * working with the new token, and the old one is refused after the grace. Through the API: a node
 * renews only its own credential; an expired token is 401; a token stored before expiry existed
 * gets one at its first use; the operator's `stratus cluster revoke-node` ends every credential of
 * one node and no other's.
 */
import { execFile, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { issueNodeToken, NODE_TOKEN_LIFETIME_SECONDS, NODES_GROUP } from '../../shared/auth/node-credentials';
import { createNodeToken } from '../../shared/auth/node-identity';
import { hashToken, putToken } from '../../shared/auth/tokens';
import { loadConfig } from '../../shared/config';
import { createDocumentClient } from '../../shared/store/dynamo';
import { removeNodeContainers, startNodeAgent } from '../helpers/agent';
import { Api, eventually } from '../helpers/api';
import { createTestCluster, type TestCluster } from '../helpers/clusters';

const stack = inject('stack');
const repoRoot = join(import.meta.dirname, '..', '..');
const config = () => loadConfig();
let store: { doc: ReturnType<typeof createDocumentClient>; config: ReturnType<typeof loadConfig> };
const deps = () => store;
let cluster: TestCluster;
const as = (token: string) => Api.forTenant(cluster.tenant, token);
/** The status of a read of the cluster's nodes with `token`. */
const statusWith = async (token: string) => (await as(token).get('/api/v1/nodes')).status;

function stratus(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [join(repoRoot, 'bin/stratus.mjs'), ...args, '--state-dir', stack.stateDir], { encoding: 'utf8', timeout: 60_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }),
    );
  });
}

beforeAll(async () => {
  cluster = await createTestCluster('nodetok');
  store = { doc: createDocumentClient(config()), config: config() };
}, 60_000);

afterAll(() => store?.doc.destroy());

describe('an agent renews its own credential', () => {
  const node = `tokrot-${process.pid}`;
  let agent: ChildProcess | undefined;
  const tokenFile = () => join(stack.stateDir, 'agent-root', node, 'identity', 'token');
  const readToken = () => (existsSync(tokenFile()) ? readFileSync(tokenFile(), 'utf8').trim() || undefined : undefined);

  afterAll(async () => {
    if (agent && agent.exitCode === null) {
      agent.kill('SIGTERM');
      await new Promise((r) => agent!.once('exit', r));
    }
    removeNodeContainers(node);
    await cluster.api.send('DELETE', `/api/v1/nodes/${node}`);
    rmSync(join(stack.stateDir, 'agent-root', node), { recursive: true, force: true });
  });

  it('at 80% of a 20 s life, keeps working with the new token, and the old one is refused after the grace', async () => {
    // Arrange: an agent asking for 20 s tokens (renewed at 16 s; grace 1 s)
    agent = startNodeAgent(node, { tenant: cluster.tenant, joinToken: cluster.joinToken, taint: { key: 'stratus.test/tokrot', value: 'x', effect: 'NoSchedule' }, args: ['--token-lifetime-seconds', '20'] });
    const first = await eventually(async () => readToken(), 60_000, 'the joined identity');
    const expiry = JSON.parse(readFileSync(join(stack.stateDir, 'agent-root', node, 'identity', 'token-expiry'), 'utf8')) as { expiresAt: string };
    expect(Date.parse(expiry.expiresAt) - Date.now()).toBeLessThanOrEqual(20_000);
    // Act: wait for two renewals
    const second = await eventually(async () => (readToken() !== first ? readToken() : undefined), 60_000, 'a renewed token');
    const third = await eventually(async () => (readToken() !== second ? readToken() : undefined), 60_000, 'a second renewal');
    // Assert: the replaced tokens are refused (401, after the grace and the API's 10 s token cache); the current one works
    await eventually(async () => ((await statusWith(first)) === 401 ? true : undefined), 40_000, 'the first token refused');
    await eventually(async () => ((await statusWith(second!)) === 401 ? true : undefined), 40_000, 'the second token refused');
    const current = readToken()!;
    expect(await statusWith(current)).toBe(200);
    expect([third, readToken()]).toContain(current);
    // ...and the agent still works with what it holds: its Lease is renewed after the second renewal
    const renewedAt = () => cluster.api.get(`/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/${node}`).then((r) => (r.status === 200 ? Date.parse(r.body.spec.renewTime) : 0));
    const since = Date.now() - 1000;
    await eventually(async () => ((await renewedAt()) > since ? true : undefined), 40_000, 'a Lease renewal with the renewed token');
    expect(agent.exitCode).toBeNull();
  }, 240_000);

  it('an identity kept before tokens expired (a token with no expiry, no token-expiry file) is renewed at the next start, for 30 days', async () => {
    // Arrange: the agent stopped, its identity without token-expiry (as kept before this change)
    if (agent && agent.exitCode === null) {
      agent.kill('SIGTERM');
      await new Promise((r) => agent!.once('exit', r));
    }
    const expiryFile = join(stack.stateDir, 'agent-root', node, 'identity', 'token-expiry');
    rmSync(expiryFile, { force: true });
    const kept = `st_legacy${process.pid}${Date.now()}`;
    await putToken(deps().doc, config(), kept, { tenant: cluster.tenant, user: `system:node:${node}`, groups: [NODES_GROUP, 'system:authenticated'] });
    writeFileSync(tokenFile(), `${kept}\n`, { mode: 0o600 });
    // Act: start it again (default lifetime; a join token that does not work, so only a renewal can give it a new token)
    agent = startNodeAgent(node, { tenant: cluster.tenant, joinToken: 'aaaaaa.bbbbbbbbbbbbbbbb', taint: { key: 'stratus.test/tokrot', value: 'x', effect: 'NoSchedule' } });
    // Assert: a new token with a 30-day expiry is kept; the new one works
    const renewed = await eventually(async () => (readToken() !== kept && existsSync(expiryFile) ? readToken() : undefined), 60_000, 'a renewal at start');
    const left = Date.parse((JSON.parse(readFileSync(expiryFile, 'utf8')) as { expiresAt: string }).expiresAt) - Date.now();
    expect(left).toBeGreaterThan((NODE_TOKEN_LIFETIME_SECONDS - 120) * 1000);
    expect(await statusWith(renewed!)).toBe(200);
  }, 120_000);
});

describe('renewal through the API', () => {
  it('a node renews its own credential: a new token, the old one valid for the grace', async () => {
    const old = await createNodeToken(deps().doc, config(), cluster.tenant, 'ra');
    const r = await as(old).post('/stratus/v1/node-token', { nodeName: 'ra' });
    expect(r.status, r.text).toBe(201);
    expect(r.body.kind).toBe('NodeToken');
    const fresh = r.body.status.token as string;
    expect(fresh).not.toBe(old);
    const lifetime = Date.parse(r.body.status.expirationTimestamp) - Date.now();
    expect(lifetime).toBeGreaterThan((NODE_TOKEN_LIFETIME_SECONDS - 60) * 1000);
    expect(lifetime).toBeLessThanOrEqual(NODE_TOKEN_LIFETIME_SECONDS * 1000);
    expect(await statusWith(fresh)).toBe(200);
    // The old token's end is now the grace (2 minutes at most), not 30 days.
    const item = await deps().doc.send(new GetCommand({ TableName: config().objectsTable, Key: { pk: `token#${hashToken(old)}`, sk: 'token' }, ConsistentRead: true }));
    expect(Date.parse(String(item.Item?.expiresAt)) - Date.now()).toBeLessThanOrEqual(120_000);
  });

  it('a node cannot renew another node\'s credential, nor a user any (403)', async () => {
    const a = await createNodeToken(deps().doc, config(), cluster.tenant, 'ra');
    const other = await as(a).post('/stratus/v1/node-token', { nodeName: 'rb' });
    expect(other.status).toBe(403);
    expect(other.body.reason).toBe('Forbidden');
    expect(other.body.message).toBe(`node "ra" can only renew its own credential, not node "rb"'s`);
    const admin = await cluster.api.post('/stratus/v1/node-token', { nodeName: 'ra' });
    expect(admin.status).toBe(403);
    expect(admin.body.message).toBe(`User "admin" cannot renew node credentials: only a node renews its own`);
    // The refused node's own token is untouched.
    expect(await statusWith(a)).toBe(200);
  });

  it('an expired node token is refused with 401, for reads and for renewal', async () => {
    const { token } = await issueNodeToken(deps(), cluster.tenant, 'ra', { lifetimeSeconds: NODE_TOKEN_LIFETIME_SECONDS, now: Date.now() - (NODE_TOKEN_LIFETIME_SECONDS + 1) * 1000 });
    const read = await as(token).get('/api/v1/nodes');
    expect(read.status).toBe(401);
    expect(read.body.reason).toBe('Unauthorized');
    expect((await as(token).post('/stratus/v1/node-token', { nodeName: 'ra' })).status).toBe(401);
  });

  it('a lifetime below 10 s is refused with 400', async () => {
    const a = await createNodeToken(deps().doc, config(), cluster.tenant, 'ra');
    expect((await as(a).post('/stratus/v1/node-token', { nodeName: 'ra', expirationSeconds: 5 })).status).toBe(400);
  });

  it('a node token stored before tokens expired gets its 30 days at its first use', async () => {
    const token = `st_legacy${process.pid}${Date.now()}`;
    await putToken(deps().doc, config(), token, { tenant: cluster.tenant, user: 'system:node:legacy', groups: [NODES_GROUP, 'system:authenticated'] });
    expect(await statusWith(token)).toBe(200);
    const item = await deps().doc.send(new GetCommand({ TableName: config().objectsTable, Key: { pk: `token#${hashToken(token)}`, sk: 'token' }, ConsistentRead: true }));
    const left = Date.parse(String(item.Item?.expiresAt)) - Date.now();
    expect(left).toBeGreaterThan((NODE_TOKEN_LIFETIME_SECONDS - 60) * 1000);
    expect(left).toBeLessThanOrEqual(NODE_TOKEN_LIFETIME_SECONDS * 1000);
  });
});

describe('operator revocation', () => {
  it('stratus cluster revoke-node ends every credential of that node and no other\'s', async () => {
    const [a1, a2, b] = await Promise.all([
      createNodeToken(deps().doc, config(), cluster.tenant, 'rv-a'),
      createNodeToken(deps().doc, config(), cluster.tenant, 'rv-a'),
      createNodeToken(deps().doc, config(), cluster.tenant, 'rv-b'),
    ]);
    const r = await stratus(['cluster', 'revoke-node', cluster.tenant, 'rv-a']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`cluster ${cluster.tenant}: 2 credentials of node "rv-a" revoked`);
    // Never used before, so no api instance holds them in its token cache.
    expect(await statusWith(a1)).toBe(401);
    expect(await statusWith(a2)).toBe(401);
    expect(await statusWith(b)).toBe(200);
    const unknown = await stratus(['cluster', 'revoke-node', 'no-such-cluster-x', 'rv-a']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('404');
  });
});
