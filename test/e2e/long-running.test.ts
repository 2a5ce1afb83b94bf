/**
 * The cap on open long-running requests through the real API (HTTPS, the local Function URL):
 * a cluster created with a cap of 2 holds two watches; the third is answered 429 TooManyRequests
 * with Retry-After and Kubernetes' Status, which kubectl prints; closing a watch frees its slot;
 * the operator sets the caps at creation and reads them back.
 */
import { execFile, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import type { ClientRequest, IncomingMessage } from 'node:http';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import { writeKubeconfigFile } from '../../infra/local/kubeconfig';
import { createToken } from '../../shared/auth/tokens';
import { loadConfig } from '../../shared/config';
import { longRunningPk, slotPrefix } from '../../shared/long-running';
import { createDocumentClient } from '../../shared/store/dynamo';
import { Api, eventually, uniqueName } from '../helpers/api';
import { clusterName, createCluster, operatorApi } from '../helpers/operator';
import { allRunning, createPod, waitForPod } from '../helpers/pods';

const stack = inject('stack');
const operator = operatorApi;
const repoRoot = join(import.meta.dirname, '..', '..');

function stratus(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [join(repoRoot, 'bin/stratus.mjs'), ...args, '--state-dir', stack.stateDir], { encoding: 'utf8', timeout: 60_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }),
    );
  });
}

interface OpenWatch {
  readonly status: number;
  readonly headers: IncomingMessage['headers'];
  /** The body when refused (the Status); empty while a watch is open. */
  readonly text: string;
  close(): void;
}

/** Opens a watch and answers once its response starts (a refusal: once its body is read); close() ends it. */
function openWatch(api: Api, path: string): Promise<OpenWatch> {
  return new Promise((resolve, reject) => {
    const req: ClientRequest = request(new URL(`${api.base}${path}`), { ca: api.ca, headers: { authorization: `Bearer ${api.token}`, accept: 'application/json' } }, (res) => {
      const close = () => {
        res.destroy();
        req.destroy();
      };
      if (res.statusCode === 200) return resolve({ status: 200, headers: res.headers, text: '', close });
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString('utf8'), close }));
    });
    req.on('error', (e: Error) => ((e as NodeJS.ErrnoException).code === 'ECONNRESET' ? undefined : reject(e)));
    req.end();
  });
}

const opened: OpenWatch[] = [];
const children: ChildProcessWithoutNullStreams[] = [];
afterEach(() => {
  for (const w of opened.splice(0)) w.close();
  for (const c of children.splice(0)) c.kill();
});

describe('the cap on open long-running requests', () => {
  it('a third watch over a cap of 2 gets 429 TooManyRequests with Retry-After; closing one frees its slot', async () => {
    const { api } = await createCluster('cap', { longRunningLimit: 2, userLongRunningLimit: 0 });
    const path = '/api/v1/namespaces/default/configmaps?watch=true&timeoutSeconds=120';
    const held = [await openWatch(api, path), await openWatch(api, path)];
    opened.push(...held);
    expect(held.map((w) => w.status)).toEqual([200, 200]);
    const third = await openWatch(api, path);
    expect(third.status).toBe(429);
    expect(third.headers['retry-after']).toBe('1');
    expect(JSON.parse(third.text)).toMatchObject({ kind: 'Status', status: 'Failure', reason: 'TooManyRequests', code: 429, message: 'Too many requests, please try again later.' });
    // A plain request is not held back by the cap.
    expect((await api.get('/api/v1/namespaces/default/configmaps')).status).toBe(200);
    // The client goes away: its slot is freed (when the server sees the close).
    held[0]!.close();
    const next = await eventually(async () => {
      const w = await openWatch(api, path);
      if (w.status === 200) return w;
      w.close();
      return undefined;
    }, 30_000, 'a slot freed by the closed watch');
    opened.push(next);
  });

  it('the operator sets the caps at creation and reads them back; invalid ones are refused', async () => {
    const { name } = await createCluster('caps', { longRunningLimit: 5, userLongRunningLimit: 3 });
    const got = await operator().get(`/stratus/v1/clusters/${name}`);
    expect(got.body.spec).toMatchObject({ longRunningLimit: 5, userLongRunningLimit: 3 });
    const listed = await operator().get('/stratus/v1/clusters');
    expect(listed.body.items.find((c: { metadata: { name: string } }) => c.metadata.name === name).spec).toMatchObject({ longRunningLimit: 5, userLongRunningLimit: 3 });
    const patched = await operator().patch(`/stratus/v1/clusters/${name}`, { spec: { userLongRunningLimit: 4 } });
    expect(patched.status, patched.text).toBe(200);
    expect(patched.body.spec).toMatchObject({ longRunningLimit: 5, userLongRunningLimit: 4 });
    const bad = await operator().patch(`/stratus/v1/clusters/${name}`, { spec: { longRunningLimit: -1 } });
    expect(bad.status).toBe(422);
    expect(bad.body.details.causes).toEqual([expect.objectContaining({ field: 'spec.longRunningLimit', reason: 'FieldValueInvalid' })]);
  });

  it('stratus cluster create --long-running-limit sets the caps, cluster list shows them, set-limits changes them', async () => {
    const name = clusterName('cli');
    const kubeconfig = join(mkdtempSync(join(tmpdir(), 'stratus-longrun-')), 'kubeconfig');
    const created = await stratus(['cluster', 'create', name, '--kubeconfig', kubeconfig, '--long-running-limit', '3', '--user-long-running-limit', '2']);
    expect(created.code, created.stderr).toBe(0);
    expect(created.stdout).toContain('open long-running requests: 3 per cluster, 2 per user');
    const list = await stratus(['cluster', 'list']);
    expect(list.stdout).toMatch(/^NAME\s+POD-SECURITY\s+RATE-LIMIT\s+USER-RATE-LIMIT\s+LONG-RUNNING-LIMIT\s+USER-LONG-RUNNING-LIMIT\s+CREATED$/m);
    expect(list.stdout).toMatch(new RegExp(`^${name}\\s+baseline\\s+\\d+\\s+\\d+\\s+3\\s+2\\s+`, 'm'));
    const set = await stratus(['cluster', 'set-limits', name, '--user-long-running-limit', '0']);
    expect(set.code, set.stderr).toBe(0);
    expect(set.stdout).toContain('open long-running requests: 3 per cluster, no cap per user');
    const bad = await stratus(['cluster', 'set-limits', name, '--long-running-limit', '-1']);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain('a whole number of open long-running requests (0: no cap)');
  });

  it('kubectl: two `get -w` hold the cap of 2, a third prints the 429', async () => {
    const { name, token } = await createCluster('kubectl', { longRunningLimit: 2, userLongRunningLimit: 2 });
    const dir = mkdtempSync(join(tmpdir(), 'stratus-longrun-'));
    const kubeconfig = join(dir, 'kubeconfig');
    await writeKubeconfigFile(kubeconfig, { apiUrl: stack.apiUrl, caCert: stack.caCert, tenant: name, token });
    const env = { ...process.env, KUBECONFIG: kubeconfig, HOME: dir, KUBECACHEDIR: join(dir, 'cache') };
    const run = (args: string[]) => {
      const child = spawn('kubectl', args, { env });
      children.push(child);
      const io = { out: '', err: '', code: undefined as number | undefined, child };
      child.stdout.on('data', (c: Buffer) => (io.out += c.toString()));
      child.stderr.on('data', (c: Buffer) => (io.err += c.toString()));
      child.on('close', (code) => (io.code = code ?? -1));
      return io;
    };
    const holders = [run(['get', 'configmaps', '-w', '-v=6']), run(['get', 'configmaps', '-w', '-v=6'])];
    for (const h of holders) await eventually(async () => (/watch=true.* 200 OK/.test(h.err) ? true : undefined), 60_000, `kubectl get -w to start watching: ${h.err}`);
    const third = run(['get', 'configmaps', '-w']);
    // client-go retries a 429 after its Retry-After, up to 10 times, then kubectl prints it.
    await eventually(async () => (third.code !== undefined ? true : undefined), 90_000, 'the third kubectl to give up');
    expect(third.code).not.toBe(0);
    expect(third.err).toContain('Error from server (TooManyRequests): Too many requests, please try again later.');
    for (const h of holders) expect(h.code).toBeUndefined();
  }, 150_000);
});

describe('exec and log follows hold a slot while open', () => {
  const IMAGE = 'stratus-test/busybox:1.36';
  const NS = '/api/v1/namespaces/default';

  /** The live slots of `user` in the default cluster, as the api's instances see them. */
  async function slotsOf(user: string): Promise<number> {
    const config = loadConfig(stack.env);
    const out = await createDocumentClient(config).send(
      new QueryCommand({
        TableName: config.changesTable,
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
        ExpressionAttributeValues: { ':pk': longRunningPk('default'), ':prefix': slotPrefix('user', user), ':now': Date.now() },
        FilterExpression: '#exp > :now',
        ExpressionAttributeNames: { '#exp': 'exp' },
        ConsistentRead: true,
      }),
    );
    return out.Items?.length ?? 0;
  }

  it('kubectl exec -i and kubectl logs -f each hold one slot of their user until they end', async () => {
    // A user of its own in the default cluster (whose other users' streams come and go meanwhile).
    const user = uniqueName('lr-user');
    const config = loadConfig(stack.env);
    const token = await createToken(createDocumentClient(config), config, { tenant: 'default', user, groups: ['system:masters', 'system:authenticated'] });
    const dir = mkdtempSync(join(tmpdir(), 'stratus-longrun-'));
    const kubeconfig = join(dir, 'kubeconfig');
    await writeKubeconfigFile(kubeconfig, { apiUrl: stack.apiUrl, caCert: stack.caCert, tenant: 'default', token });
    const env = { ...process.env, KUBECONFIG: kubeconfig, HOME: dir, KUBECACHEDIR: join(dir, 'cache') };
    const api = Api.forTenant('default');
    const name = uniqueName('lr-pod');
    await createPod(api, NS, name, [{ name: 'main', image: IMAGE, command: ['sh', '-c', 'echo ready; sleep 3600'] }]);
    await waitForPod(api, NS, name, 'running', allRunning);
    expect(await slotsOf(user)).toBe(0);

    // exec: holds while its stdin is open, frees when the session ends.
    const exec = spawn('kubectl', ['exec', '-i', name, '--', 'cat'], { env });
    children.push(exec);
    let echoed = '';
    exec.stdout.on('data', (c: Buffer) => (echoed += c.toString()));
    exec.stdin.write('hello\n');
    await eventually(async () => (echoed.includes('hello') ? true : undefined), 60_000, 'the exec session to echo');
    expect(await slotsOf(user)).toBe(1);
    exec.stdin.end();
    await eventually(async () => ((await slotsOf(user)) === 0 ? true : undefined), 30_000, "the exec session's slot freed");

    // logs -f: holds while it follows, frees when kubectl goes away.
    const follow = spawn('kubectl', ['logs', '-f', name], { env });
    children.push(follow);
    let followed = '';
    follow.stdout.on('data', (c: Buffer) => (followed += c.toString()));
    await eventually(async () => (followed.includes('ready') ? true : undefined), 60_000, 'kubectl logs -f to print');
    expect(await slotsOf(user)).toBe(1);
    follow.kill();
    await eventually(async () => ((await slotsOf(user)) === 0 ? true : undefined), 30_000, "the log follow's slot freed");
    await api.delete(`${NS}/pods/${name}`);
  }, 180_000);
});
