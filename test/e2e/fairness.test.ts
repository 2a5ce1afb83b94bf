/**
 * Fairness through the real API (HTTPS, the local Function URL): a cluster's flood beyond its
 * rate limit gets 429 TooManyRequests with Retry-After and a Kubernetes Status; another cluster is
 * unaffected; watches are never limited; limits are set at creation and changed by the operator;
 * kubectl, which retries 429s by itself, still succeeds under light limiting.
 *
 * No timed assertions: the counts are such that any split of the requests over one-second windows
 * gives the same verdicts (a limited watch would fail at almost every one of them).
 */
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import { writeKubeconfigFile } from '../../infra/local/kubeconfig';
import { Api, eventually, type Reply } from '../helpers/api';
import { clusterName, createCluster, operatorApi } from '../helpers/operator';
import { TOO_MANY_REQUESTS_STATUS } from '../helpers/statuses';
import { kubectl } from '../helpers/kubectl';

const stack = inject('stack');
const operator = operatorApi;

/** Opens a watch and answers its status code as soon as the response starts (then closes it). */
function watchStatus(api: Api, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(new URL(`${api.base}${path}`), { ca: api.ca, headers: { authorization: `Bearer ${api.token}`, accept: 'application/json' } }, (res) => {
      resolve(res.statusCode ?? 0);
      res.destroy();
      req.destroy();
    });
    req.on('error', (e) => ((e as NodeJS.ErrnoException).code === 'ECONNRESET' ? undefined : reject(e)));
    req.end();
  });
}

const flood = (api: Api, n: number): Promise<Reply[]> => Promise.all(Array.from({ length: n }, () => api.get('/api/v1/namespaces/default/configmaps')));

describe('rate limits', () => {
  it('a flood beyond the limit gets 429 TooManyRequests with Retry-After, as Kubernetes answers', async () => {
    const { api } = await createCluster('flood', { rateLimit: 5, userRateLimit: 0 });
    const replies = await flood(api, 40);
    const refused = replies.filter((r) => r.status === 429);
    // 40 at once against 5 a second: whatever windows they fall in, most are refused.
    expect(refused.length).toBeGreaterThan(20);
    expect(replies.filter((r) => r.status !== 429).every((r) => r.status === 200)).toBe(true);
    const r = refused[0]!;
    expect(r.headers['retry-after']).toBe('1');
    expect(r.headers['content-type']).toMatch(/^application\/json/);
    expect(r.body).toEqual(TOO_MANY_REQUESTS_STATUS);
  });

  it('every refusal, including those answered from memory after the first of a second, is the same 429 and is audited', async () => {
    const { name, api } = await createCluster('refusals', { rateLimit: 3, userRateLimit: 0 });
    // Three waves: the later requests of a second are refused from the instance's memory of the
    // exhausted window (functions/api/handler.ts fastRefusal), the first by the shared counter.
    const replies: Reply[] = [];
    for (let wave = 0; wave < 3; wave++) replies.push(...(await flood(api, 30)));
    const refused = replies.filter((r) => r.status === 429);
    expect(refused.length).toBeGreaterThan(60);
    for (const r of refused) {
      expect(r.headers['retry-after']).toBe('1');
      expect(r.body).toEqual(TOO_MANY_REQUESTS_STATUS);
    }
    // One Metadata event per refused request, naming the user and the cluster (as kube-apiserver audits 429s).
    const logs = ['audit.log.1', 'audit.log'].map((f) => join(stack.stateDir, f));
    type Event = { verb: string; user: { username: string }; responseStatus: { code: number; reason?: string }; annotations: Record<string, string>; requestURI: string };
    const events = await eventually(
      async () => {
        const es = logs
          .filter((f) => existsSync(f))
          .flatMap((f) => readFileSync(f, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Event))
          .filter((e) => e.annotations['stratus.io/cluster'] === name && e.responseStatus.code === 429);
        return es.length >= refused.length ? es : undefined;
      },
      10_000,
      'every 429 in the audit log',
    );
    expect(events).toHaveLength(refused.length);
    for (const e of events) expect(e).toMatchObject({ verb: 'get', user: { username: 'admin' }, responseStatus: { code: 429, reason: 'TooManyRequests' }, requestURI: `/clusters/${name}/api/v1/namespaces/default/configmaps` });
  });

  it("requests that fail authentication spend no cluster's budget", async () => {
    const { name, api } = await createCluster('anon', { rateLimit: 2, userRateLimit: 0 });
    const forged = new Api(`${stack.apiUrl}/clusters/${name}`, 'st_not-a-token', stack.caCert);
    // Sent together: were the forged requests counted, the two real ones (within the limit in any
    // split over seconds) would share their second with a spent budget and be refused.
    const [unauthenticated, real] = await Promise.all([flood(forged, 40), flood(api, 2)]);
    expect(unauthenticated.every((r) => r.status === 401)).toBe(true);
    expect(real.map((r) => r.status)).toEqual([200, 200]);
  });

  it('each user has a budget of its own within the cluster', async () => {
    const { api } = await createCluster('users', { rateLimit: 0, userRateLimit: 3 });
    const replies = await flood(api, 30);
    expect(replies.filter((r) => r.status === 429).length).toBeGreaterThan(15);
  });

  it("another cluster's requests are unaffected by a flood", async () => {
    const noisy = await createCluster('noisy', { rateLimit: 5, userRateLimit: 5 });
    const quiet = await createCluster('quiet', { rateLimit: 5, userRateLimit: 5 });
    const [noisyReplies, quietReplies] = await Promise.all([flood(noisy.api, 60), flood(quiet.api, 4)]);
    expect(noisyReplies.filter((r) => r.status === 429).length).toBeGreaterThan(30);
    expect(quietReplies.map((r) => r.status)).toEqual([200, 200, 200, 200]);
  });

  it('watches are not limited, while the same flood refuses plain requests', async () => {
    const { api } = await createCluster('watch', { rateLimit: 1, userRateLimit: 1 });
    const [gets, watches] = await Promise.all([
      flood(api, 20),
      Promise.all(Array.from({ length: 20 }, (_, i) => watchStatus(api, `/api/v1/namespaces/default/configmaps?watch=true&timeoutSeconds=${5 + i}`))),
    ]);
    expect(gets.filter((r) => r.status === 429).length).toBeGreaterThan(10);
    expect(watches.every((s) => s === 200)).toBe(true);
  });

  it('the operator sets limits at creation, reads them back and changes them; invalid ones are refused', async () => {
    const { name } = await createCluster('limits', { rateLimit: 7, userRateLimit: 3 });
    const got = await operator().get(`/stratus/v1/clusters/${name}`);
    expect(got.body.spec).toMatchObject({ rateLimit: 7, userRateLimit: 3 });
    const patched = await operator().patch(`/stratus/v1/clusters/${name}`, { spec: { userRateLimit: 4 } });
    expect(patched.status, patched.text).toBe(200);
    expect(patched.body.spec).toMatchObject({ rateLimit: 7, userRateLimit: 4 });
    const bad = await operator().patch(`/stratus/v1/clusters/${name}`, { spec: { rateLimit: -1 } });
    expect(bad.status).toBe(422);
    expect(bad.body.details.causes).toEqual([expect.objectContaining({ field: 'spec.rateLimit', reason: 'FieldValueInvalid' })]);
    const badCreate = await operator().send('POST', '/stratus/v1/clusters', { metadata: { name: clusterName('bad') }, spec: { rateLimit: 1.5 } });
    expect(badCreate.status).toBe(422);
    expect((await operator().patch('/stratus/v1/clusters/no-such-cluster', { spec: { rateLimit: 1 } })).status).toBe(404);
    // A cluster's own admin cannot change its limits.
    const { api } = await createCluster('self', { rateLimit: 50 });
    const self = await new Api(stack.apiUrl, api.token, stack.caCert).patch(`/stratus/v1/clusters/${name}`, { spec: { rateLimit: 0 } });
    expect(self.status).toBe(403);
  });

  it('kubectl still succeeds under light limiting (it retries 429 after Retry-After)', async () => {
    const { name, token } = await createCluster('kubectl', { rateLimit: 4, userRateLimit: 4 });
    const dir = mkdtempSync(join(tmpdir(), 'stratus-fairness-'));
    const kubeconfig = join(dir, 'kubeconfig');
    await writeKubeconfigFile(kubeconfig, { apiUrl: stack.apiUrl, caCert: stack.caCert, tenant: name, token });
    const env = { KUBECONFIG: kubeconfig, HOME: dir, KUBECACHEDIR: join(dir, 'cache') };
    const runs = await Promise.all(Array.from({ length: 4 }, (_, i) => kubectl(['create', 'configmap', `cm-${i}`, '--from-literal=k=v'], { env, timeoutMs: 90_000 })));
    for (const r of runs) expect(r.code, r.stderr).toBe(0);
    const list = await kubectl(['get', 'configmaps', '-o', 'name'], { env, timeoutMs: 90_000 });
    expect(list.code, list.stderr).toBe(0);
    expect(list.stdout.split('\n').filter((l) => l.startsWith('configmap/cm-')).sort()).toEqual(['configmap/cm-0', 'configmap/cm-1', 'configmap/cm-2', 'configmap/cm-3']);
  }, 120_000);
});
