/**
 * Per-source-address budgets through the real API (HTTPS, the local Function URL served by its
 * api instances, 2 by default): a brute force of bad tokens, or of join tokens, from one address
 * is refused 429 TooManyRequests with Retry-After once the address has spent its budget, while a
 * good token from that same address keeps working; a token of cluster A at cluster B's URL is
 * 401, and counted as a failed authentication of its address.
 *
 * The suite's own address (127.0.0.1) is exempt (test/global-setup.ts); each test here connects
 * from an address of its own in 127.0.0.0/8 (Linux answers the whole block on loopback), which
 * gets the default budgets (10 failed authentications, 5 failed joins a second per address).
 *
 * No timed assertions: attacks go on in waves until refused (a bounded number of waves, far more
 * failures than any split over one-second windows could admit), and a limiter that never refused
 * fails them.
 */
import { randomInt } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import { Api, uniqueName, type Reply } from '../../helpers/api';
import { TOO_MANY_REQUESTS_STATUS } from '../../helpers/statuses';

const stack = inject('stack');
const INSTANCE = 'x-stratus-local-instance';
const instances = Number(process.env.STRATUS_API_INSTANCES || 2);
const operator = () => new Api(stack.apiUrl, readFileSync(join(stack.stateDir, 'operator-token'), 'utf8').trim(), stack.caCert);

/** A fresh loopback address of this test's own (never 127.0.0.1, which the suite exempts). */
const newSource = (): string => `127.${randomInt(1, 255)}.${randomInt(0, 256)}.${randomInt(1, 255)}`;

/** One request from `source`, on a connection of its own (so the runtime may give it to any instance). */
const from = (source: string, method: string, path: string, token: string | undefined, body?: unknown): Promise<Reply> =>
  new Api(stack.apiUrl, token, stack.caCert, { localAddress: source }).send(method, path, body);

async function createCluster(prefix: string): Promise<{ name: string; token: string; joinToken: string }> {
  const name = uniqueName(prefix).replace(/[^a-z0-9-]/g, '').slice(0, 40);
  const res = await operator().send('POST', '/stratus/v1/clusters', { metadata: { name } });
  expect(res.status, res.text).toBe(201);
  const join = await operator().send('POST', `/stratus/v1/clusters/${name}/join-tokens`);
  expect(join.status, join.text).toBe(201);
  return { name, token: res.body.credentials.token as string, joinToken: (join.body.token ?? join.body.status?.token) as string };
}

/** Waves of `wave()` until one of its answers is a 429 (at most `waves`); every answer given. */
async function untilRefused(wave: () => Promise<Reply[]>, waves = 10): Promise<Reply[]> {
  const all: Reply[] = [];
  for (let i = 0; i < waves; i++) {
    const answers = await wave();
    all.push(...answers);
    if (answers.some((a) => a.status === 429)) break;
  }
  return all;
}

/** Requests with `token` from `source` until every api instance has answered one 200 (it knows the token there). */
async function useOnEveryInstance(source: string, path: string, token: string): Promise<void> {
  const seen = new Set<string>();
  for (let i = 0; i < 40 && seen.size < instances; i++) {
    const answers = await Promise.all(Array.from({ length: 4 }, () => from(source, 'GET', path, token)));
    for (const a of answers) {
      expect(a.status, JSON.stringify(a.body)).toBe(200);
      seen.add(String(a.headers[INSTANCE]).split('/')[0]!);
    }
  }
  expect(seen.size).toBe(instances);
}

describe('per-source budgets', () => {
  it('a brute force of bad tokens from one address gets 429 with Retry-After after its budget; a good token from that address still works', async () => {
    // Prepare
    const { name, token } = await createCluster('srcbf');
    const source = newSource();
    const path = `/clusters/${name}/api/v1/namespaces/default/configmaps`;
    await useOnEveryInstance(source, path, token);
    // Act: 30 guesses at once, wave after wave, each on its own connection (so over the instances)
    const answers = await untilRefused(() => Promise.all(Array.from({ length: 30 }, (_, i) => from(source, 'GET', path, `st_guess-${randomInt(1e9)}-${i}`))));
    const good = await from(source, 'GET', path, token);
    // Assess
    const refused = answers.filter((a) => a.status === 429);
    expect(refused.length, `answers: ${answers.map((a) => a.status).join(',')}`).toBeGreaterThan(0);
    for (const a of answers.filter((x) => x.status !== 429)) {
      expect(a.status).toBe(401);
      expect(a.body.reason).toBe('Unauthorized');
    }
    for (const r of refused) {
      expect(r.headers['retry-after']).toBe('1');
      expect(r.headers['content-type']).toMatch(/^application\/json/);
      expect(r.body).toEqual(TOO_MANY_REQUESTS_STATUS);
    }
    // Both instances served the attack; each refused once it knew the shared budget spent.
    if (instances > 1) expect(new Set(answers.map((a) => String(a.headers[INSTANCE]).split('/')[0])).size).toBeGreaterThan(1);
    expect(good.status, JSON.stringify(good.body)).toBe(200);
    // Another address is not held by this one's budget.
    const other = await from(newSource(), 'GET', path, 'st_one-wrong-guess');
    expect(other.status).toBe(401);
  });

  it('join attempts with bad tokens from one address are limited likewise (429, Retry-After)', async () => {
    // Prepare
    const { name } = await createCluster('srcjoin');
    const source = newSource();
    // Act
    const answers = await untilRefused(() =>
      Promise.all(Array.from({ length: 20 }, (_, i) => from(source, 'POST', `/clusters/${name}/stratus/v1/node-join`, `st_join-guess-${randomInt(1e9)}-${i}`, { nodeName: `n${i}`, csr: 'x' }))),
    );
    // Assess
    const refused = answers.filter((a) => a.status === 429);
    expect(refused.length, `answers: ${answers.map((a) => a.status).join(',')}`).toBeGreaterThan(0);
    expect(answers.filter((a) => a.status !== 429).every((a) => a.status === 401)).toBe(true);
    for (const r of refused) {
      expect(r.headers['retry-after']).toBe('1');
      expect(r.body).toEqual(TOO_MANY_REQUESTS_STATUS);
    }
  });

  it('a valid join token is not counted against its address: a join from an address over its join budget still gets its answer', async () => {
    // Prepare
    const { name, joinToken } = await createCluster('srcjoinok');
    const source = newSource();
    const badJoin = (i: number) => from(source, 'POST', `/clusters/${name}/stratus/v1/node-join`, `st_join-guess-${randomInt(1e9)}-${i}`, { nodeName: `n${i}`, csr: 'x' });
    // The valid token, known to every instance (a bad CSR: 400 after authentication, nothing joined).
    const seen = new Set<string>();
    for (let i = 0; i < 40 && seen.size < instances; i++) {
      for (const a of await Promise.all(Array.from({ length: 4 }, () => from(source, 'POST', `/clusters/${name}/stratus/v1/node-join`, joinToken, { nodeName: 'n', csr: 'not a csr' })))) {
        expect(a.status, JSON.stringify(a.body)).toBe(400);
        seen.add(String(a.headers[INSTANCE]).split('/')[0]!);
      }
    }
    expect(seen.size).toBe(instances);
    // Act
    const answers = await untilRefused(() => Promise.all(Array.from({ length: 20 }, (_, i) => badJoin(i))));
    const valid = await from(source, 'POST', `/clusters/${name}/stratus/v1/node-join`, joinToken, { nodeName: 'n', csr: 'not a csr' });
    // Assess
    expect(answers.some((a) => a.status === 429)).toBe(true);
    expect(valid.status, JSON.stringify(valid.body)).toBe(400);
  });

  it("a token of cluster A at cluster B's URL is 401 (never 403 or 200), and counted as a failed authentication of its address", async () => {
    // Prepare
    const a = await createCluster('srca');
    const b = await createCluster('srcb');
    const source = newSource();
    // Act
    const cross = await from(source, 'GET', `/clusters/${b.name}/api/v1/namespaces/default/configmaps`, a.token);
    const crossSelf = await from(source, 'GET', `/clusters/${b.name}/apis/authorization.k8s.io/v1`, a.token);
    // Waves of cross-cluster requests, then one bad token from the same address: only if the
    // cross-cluster 401s are counted can a single bad token a wave ever be refused.
    const answers: Reply[] = [];
    for (let i = 0; i < 10 && !answers.some((x) => x.status === 429); i++) {
      answers.push(...(await Promise.all(Array.from({ length: 20 }, () => from(source, 'GET', `/clusters/${b.name}/api/v1/namespaces`, a.token)))));
      answers.push(await from(source, 'GET', `/clusters/${b.name}/api/v1/namespaces`, `st_guess-${randomInt(1e9)}`));
    }
    // Assess
    for (const r of [cross, crossSelf]) {
      expect(r.status, JSON.stringify(r.body)).toBe(401);
      expect(r.body).toEqual({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'Unauthorized', reason: 'Unauthorized', code: 401 });
      expect(r.headers['www-authenticate']).toBe('Bearer realm="stratus"');
    }
    expect(answers.filter((x) => x.status !== 429).every((x) => x.status === 401)).toBe(true);
    expect(answers.some((x) => x.status === 429)).toBe(true);
    // and A's token still works at A's URL, from that address too
    expect((await from(source, 'GET', `/clusters/${a.name}/api/v1/namespaces`, a.token)).status).toBe(200);
  });
});
