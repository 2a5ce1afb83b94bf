/**
 * Cluster lifecycle through the operator API and `npx stratus cluster ...`: a new cluster works
 * through kubectl at once; only the operator credential manages clusters and it reaches none;
 * names are DNS labels; deleting a cluster leaves no item it owned in either table (a full scan)
 * and no queue of its nodes; join tokens are short-lived.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateQueueCommand, GetQueueUrlCommand } from '@aws-sdk/client-sqs';
import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import { describe, expect, inject, it } from 'vitest';
import { createJoinToken, JOIN_TOKEN_FORMAT } from '../../shared/auth/join-tokens';
import { loadConfig, nodeDeadLetterQueueName, nodeQueueName } from '../../shared/config';
import { createSqsClient } from '../../shared/queue';
import { createDocumentClient } from '../../shared/store/dynamo';
import { Api, eventually, uniqueName } from '../helpers/api';
import { kubectl } from '../helpers/kubectl';

const stack = inject('stack');
const repoRoot = join(import.meta.dirname, '..', '..');
const operatorToken = () => readFileSync(join(stack.stateDir, 'operator-token'), 'utf8').trim();
const operator = () => new Api(stack.apiUrl, operatorToken(), stack.caCert);
const clusterName = (p: string) => uniqueName(p).replace(/[^a-z0-9-]/g, '').slice(0, 40);

function stratus(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [join(repoRoot, 'bin/stratus.mjs'), ...args, '--state-dir', stack.stateDir], { encoding: 'utf8', timeout: 60_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }),
    );
  });
}

/** Every item of both tables that names `cluster` in a key or as a token's tenant. */
async function itemsOf(cluster: string): Promise<string[]> {
  const config = loadConfig();
  const doc = createDocumentClient(config);
  const found: string[] = [];
  try {
    for (const table of [config.objectsTable, config.changesTable]) {
      let start: Record<string, unknown> | undefined;
      do {
        const page = await doc.send(new ScanCommand({ TableName: table, ExclusiveStartKey: start, ConsistentRead: true }));
        for (const item of page.Items ?? []) {
          const pk = String(item.pk);
          const sk = String(item.sk);
          if (pk.startsWith(`${cluster}#`) || item.tenant === cluster || sk === cluster || String(item.nodeKey ?? '').startsWith(`${cluster}#`)) found.push(`${table} ${pk} ${sk}`);
        }
        start = page.LastEvaluatedKey;
      } while (start);
    }
  } finally {
    doc.destroy();
  }
  return found;
}

describe('cluster lifecycle', () => {
  it('stratus cluster create makes a cluster kubectl can use at once, listed with its level', async () => {
    const name = clusterName('life');
    const kubeconfig = join(mkdtempSync(join(tmpdir(), 'stratus-cluster-')), 'kubeconfig');
    const created = await stratus(['cluster', 'create', name, '--kubeconfig', kubeconfig, '--pod-security', 'restricted']);
    expect(created.stderr).toBe('');
    expect(created.code).toBe(0);
    const ns = await kubectl(['get', 'namespaces', '-o', 'name'], { env: { KUBECONFIG: kubeconfig } });
    expect(ns.stdout.trim().split('\n').sort()).toEqual(['namespace/default', 'namespace/kube-node-lease', 'namespace/kube-public', 'namespace/kube-system']);
    const list = await stratus(['cluster', 'list']);
    expect(list.stdout).toMatch(new RegExp(`^${name}\\s+restricted\\s+`, 'm'));
    expect(list.stdout).toMatch(/^default\s+baseline\s+/m);
    // A fresh kubeconfig (new admin token) works as well.
    const again = await stratus(['cluster', 'kubeconfig', name]);
    expect(again.stdout).toContain(`/clusters/${name}`);
    const duplicate = await stratus(['cluster', 'create', name]);
    expect(duplicate.code).toBe(1);
    expect(duplicate.stderr).toContain(`clusters.stratus.io "${name}" already exists`);
  });

  it('stratus secrets rotate-key and prune-keys on one cluster: a new data key, the old one pruned once unused, the cluster still reads its Secrets', async () => {
    // Prepare: a cluster with one Secret
    const name = clusterName('keys');
    const kubeconfig = join(mkdtempSync(join(tmpdir(), 'stratus-cluster-')), 'kubeconfig');
    expect((await stratus(['cluster', 'create', name, '--kubeconfig', kubeconfig])).code).toBe(0);
    const env = { env: { KUBECONFIG: kubeconfig } };
    expect((await kubectl(['create', 'secret', 'generic', 'kept', '--from-literal=v=before-rotation'], env)).code).toBe(0);
    // Act: a new data key for this cluster only, then prune with no grace
    const rotated = await stratus(['secrets', 'rotate-key', '--data-key', '--cluster', name]);
    const pruned = await stratus(['secrets', 'prune-keys', '--grace', '0', '--cluster', name]);
    // Assess
    // Nothing on stderr: these commands make AWS SDK clients, whose Node 20 support notice the CLI
    // turns off (bin/stratus.mjs)
    expect(rotated.stderr).toBe('');
    expect(rotated.code).toBe(0);
    expect(rotated.stdout).toContain(`clusters: ${name}\n`);
    expect(rotated.stdout).toMatch(/^1 new data keys; 1 Secrets and \d+ key items re-encrypted$/m);
    expect(pruned.stderr).toBe('');
    expect(pruned.code).toBe(0);
    expect(pruned.stdout).toMatch(new RegExp(`^clusters: ${name}\\npruned: .+$`, 'm'));
    // The Secret's change-log entry still names the old key, so the old key may be kept; either
    // way every Secret of the cluster still reads, and a new one is written under the new key.
    const read = await kubectl(['get', 'secret', 'kept', '-o', 'jsonpath={.data.v}'], env);
    expect(Buffer.from(read.stdout, 'base64').toString()).toBe('before-rotation');
    expect((await kubectl(['create', 'secret', 'generic', 'after', '--from-literal=v=after'], env)).code).toBe(0);
    const after = await kubectl(['get', 'secret', 'after', '-o', 'jsonpath={.data.v}'], env);
    expect(Buffer.from(after.stdout, 'base64').toString()).toBe('after');
    expect((await operator().send('DELETE', `/stratus/v1/clusters/${name}`)).status).toBe(200);
    // Four CLI runs (each loading tsx) and kubectl: 12 s alone, over a minute on a loaded machine
  }, 180_000);

  it.each([
    ['upper case', 'Team-A'],
    ['underscore', 'team_a'],
    ['leading dash', '-team'],
    ['dot', 'team.a'],
    ['64 characters', 'a'.repeat(64)],
  ])('refuses a name that is no DNS label (%s) with 422', async (_case, name) => {
    const res = await operator().send('POST', '/stratus/v1/clusters', { metadata: { name } });
    expect(res.status).toBe(422);
    expect(res.body.reason).toBe('Invalid');
    expect(res.body.details.causes[0].field).toBe('metadata.name');
  });

  it('refuses an unknown pod security level with 422', async () => {
    const res = await operator().send('POST', '/stratus/v1/clusters', { metadata: { name: clusterName('psl') }, spec: { podSecurity: 'lax' } });
    expect(res.status).toBe(422);
    expect(res.body.details.causes[0].field).toBe('spec.podSecurity');
  });

  it('only the operator credential manages clusters, and it reaches no cluster', async () => {
    const asAdmin = await new Api(stack.apiUrl, stack.adminToken, stack.caCert).send('GET', '/stratus/v1/clusters');
    expect(asAdmin.status).toBe(403);
    const asNode = await new Api(stack.apiUrl, stack.nodeToken, stack.caCert).send('POST', '/stratus/v1/clusters', { metadata: { name: clusterName('node') } });
    expect(asNode.status).toBe(403);
    const anonymous = await new Api(stack.apiUrl, undefined, stack.caCert).send('GET', '/stratus/v1/clusters');
    expect(anonymous.status).toBe(401);
    for (const path of ['/clusters/default/api/v1/namespaces', '/api/v1/namespaces', '/clusters/default/api/v1/secrets']) {
      expect([path, (await operator().send('GET', path)).status]).toEqual([path, 403]);
    }
  });

  it('deleting a cluster removes every item and queue it owned, and its tokens stop working', async () => {
    const name = clusterName('gone');
    const created = await operator().send('POST', '/stratus/v1/clusters', { metadata: { name } });
    expect(created.status).toBe(201);
    const admin = new Api(`${stack.apiUrl}/clusters/${name}`, created.body.credentials.token, stack.caCert);
    expect((await admin.send('POST', '/api/v1/namespaces', { metadata: { name: 'apps' } })).status).toBe(201);
    expect((await admin.send('POST', '/api/v1/namespaces/apps/configmaps', { metadata: { name: 'c' }, data: { a: 'b' } })).status).toBe(201);
    expect((await admin.send('POST', '/api/v1/namespaces/apps/secrets', { metadata: { name: 's' }, stringData: { a: 'b' } })).status).toBe(201);
    expect((await admin.send('POST', '/api/v1/nodes', { metadata: { name: 'n1' } })).status).toBe(201);
    const join = await operator().send('POST', `/stratus/v1/clusters/${name}/join-tokens`);
    expect(join.status).toBe(201);
    const config = loadConfig();
    const sqs = createSqsClient(config);
    const queues = [nodeQueueName(config.queuePrefix, name, 'n1'), nodeDeadLetterQueueName(config.queuePrefix, name, 'n1')];
    for (const QueueName of queues) await sqs.send(new CreateQueueCommand({ QueueName }));
    expect((await itemsOf(name)).length).toBeGreaterThan(10);

    const deleted = await stratus(['cluster', 'delete', name]);
    expect(deleted.stderr).toBe('');
    expect(deleted.code).toBe(0);

    // Nothing is left. A controller lease taken for a stream record that was already in flight
    // when the delete began is let go when that reconcile ends (seconds): wait that long, no longer.
    const left = await eventually(async () => {
      const items = await itemsOf(name);
      return items.length === 0 || items.some((i) => !i.includes(`${name}#~controllers`)) ? items : undefined;
    }, 15_000, 'in-flight controller leases let go');
    expect(left).toEqual([]);
    for (const QueueName of queues) await expect(sqs.send(new GetQueueUrlCommand({ QueueName }))).rejects.toThrow();
    sqs.destroy();
    // Its admin token is gone; an api instance that saw it may trust it for its token cache's 10 s.
    await eventually(async () => ((await admin.send('GET', '/api/v1/namespaces')).status === 401 ? true : undefined), 20_000, 'the deleted cluster\'s token refused');
    expect((await operator().send('GET', `/stratus/v1/clusters/${name}`)).status).toBe(404);
    expect((await operator().send('DELETE', `/stratus/v1/clusters/${name}`)).status).toBe(404);
    // Other clusters are untouched.
    expect((await Api.forTenant().send('GET', '/api/v1/namespaces/default')).status).toBe(200);
  });

  it('join tokens are bootstrap-token shaped, authenticate in their cluster only, and expire', async () => {
    const name = clusterName('join');
    expect((await operator().send('POST', '/stratus/v1/clusters', { metadata: { name } })).status).toBe(201);
    const minted = await stratus(['cluster', 'join-token', name]);
    const token = minted.stdout.split('\n')[0]!;
    expect(token).toMatch(JOIN_TOKEN_FORMAT);
    expect((await new Api(`${stack.apiUrl}/clusters/${name}`, token, stack.caCert).send('GET', '/version')).status).toBe(200);
    expect((await new Api(`${stack.apiUrl}/clusters/default`, token, stack.caCert).send('GET', '/version')).status).toBe(401);
    const config = loadConfig();
    const doc = createDocumentClient(config);
    const expired = await createJoinToken(doc, config, name, -1);
    doc.destroy();
    expect((await new Api(`${stack.apiUrl}/clusters/${name}`, expired.token, stack.caCert).send('GET', '/version')).status).toBe(401);
    expect((await operator().send('POST', '/stratus/v1/clusters/no-such-cluster/join-tokens')).status).toBe(404);
  });

  it("a join token cached by the api is refused from its end, not the cache's (10 s)", async () => {
    const name = clusterName('joinend');
    expect((await operator().send('POST', '/stratus/v1/clusters', { metadata: { name } })).status).toBe(201);
    const config = loadConfig();
    const doc = createDocumentClient(config);
    const short = await createJoinToken(doc, config, name, 3);
    doc.destroy();
    const api = new Api(`${stack.apiUrl}/clusters/${name}`, short.token, stack.caCert);
    expect((await api.send('GET', '/version')).status).toBe(200);
    // Past its end (well within the cache's 10 s): unknown.
    await new Promise((r) => setTimeout(r, Math.max(0, Date.parse(short.expiresAt) - Date.now()) + 200));
    expect((await api.send('GET', '/version')).status).toBe(401);
  });
});
