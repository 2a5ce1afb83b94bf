/**
 * An api instance of the local runtime that stops gives back the long-running slots of the
 * streams it still serves (functions/api/handler.ts shutdown, infra/local/runtime.ts), instead of
 * leaving them to expire (SLOT_TTL_MS, 2 minutes): else a restarted `npm start` of a cluster at its
 * cap refuses watches until then. Ctrl-C signals every process of the group, the instances too.
 */
import { randomBytes } from 'node:crypto';
import { request } from 'node:https';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { QueryCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { startHttpInstances } from '../../infra/local/http-instances';
import { installAwsLambdaGlobals } from '../../infra/local/runtime';
import { createTenantTokens, makeCertificates } from '../../infra/local/stack';
import { wiring } from '../../infra/wiring';
import { setClusterRateLimits } from '../../shared/clusters';
import { loadConfig, type Config } from '../../shared/config';
import { longRunningPk } from '../../shared/long-running';
import { createDocumentClient } from '../../shared/store/dynamo';

let config: Config;
let doc: DynamoDBDocumentClient;
let tls: { key: string; cert: string; caCert: string };

beforeAll(async () => {
  Object.assign(process.env, inject('stack').env);
  config = loadConfig();
  doc = createDocumentClient(config);
  tls = await makeCertificates();
});

async function cluster() {
  const tenant = `lrs${randomBytes(4).toString('hex')}`;
  const { adminToken } = await createTenantTokens(doc, config, tenant);
  await setClusterRateLimits({ doc, config }, tenant, { longRunningLimit: 5, userLongRunningLimit: 5 });
  return { tenant, admin: adminToken };
}

/** The slot items held in `tenant` (its cluster's and its users'). */
async function slotItems(tenant: string): Promise<string[]> {
  const out = await doc.send(
    new QueryCommand({ TableName: config.changesTable, KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': longRunningPk(tenant) }, ConsistentRead: true }),
  );
  return (out.Items ?? []).map((i) => String(i.sk));
}

/** One api instance of the local runtime, as the stack starts them. */
async function apiInstance(logs: string[]) {
  const api = wiring.find((w) => w.name === 'api')!;
  return startHttpInstances({ wiring: api, count: 1, port: 0, tls, log: (s) => logs.push(s), envFor: (p) => ({ STRATUS_API_URL: `https://127.0.0.1:${p}` }) });
}

/** Opens a watch through the instance; resolves once it is streaming (status 200). */
function openWatch(port: number, tenant: string, token: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = request(
      `https://127.0.0.1:${port}/clusters/${tenant}/api/v1/namespaces/default/configmaps?watch=true&timeoutSeconds=600`,
      { ca: tls.caCert, agent: false, headers: { authorization: `Bearer ${token}` } },
      (res) => {
        res.on('error', () => undefined);
        res.resume();
        if (res.statusCode === 200) resolve();
        else reject(new Error(`watch: ${res.statusCode}`));
      },
    );
    req.on('error', (e) => reject(e));
    req.end();
  });
}

describe('an api instance that stops gives back its long-running slots', () => {
  it.each([
    ['its runtime stops it', false],
    ['Ctrl-C reaches it before its runtime stops it', true],
  ])('%s', async (_what, interrupted) => {
    // Prepare: two watches open through one instance, each holding a slot of its user and its cluster
    const { tenant, admin } = await cluster();
    const logs: string[] = [];
    const instances = await apiInstance(logs);
    await openWatch(instances.port, tenant, admin);
    await openWatch(instances.port, tenant, admin);
    expect(await slotItems(tenant)).toHaveLength(4);
    // Act
    if (interrupted) for (const pid of instances.pids()) process.kill(pid, 'SIGINT');
    await instances.close();
    // Assess: nothing left to expire
    expect(await slotItems(tenant), logs.join('\n')).toEqual([]);
  });
});

describe('the api module\'s shutdown hook (what the local runtime calls after its invocations drained)', () => {
  it('frees the slots of streams whose close was never seen', async () => {
    // Prepare: a slot taken in this process's api deps, its stream never closed
    installAwsLambdaGlobals(); // the handler module builds its middy chain at import
    const { getDeps, shutdown } = await import('../../functions/api/handler');
    const { tenant } = await cluster();
    const decision = await getDeps().slots!.acquire(tenant, 'alice', { cluster: 5, user: 5 });
    expect(decision.allowed).toBe(true);
    expect(await slotItems(tenant)).toHaveLength(2);
    // Act
    await shutdown();
    // Assess
    expect(await slotItems(tenant)).toEqual([]);
  });
});
