/**
 * The cap on open long-running requests is shared by every instance of the api function: two
 * handler instances in this process (each with its own deps and its own LongRunningSlots, as two
 * Lambda instances have) serve one cluster's watches against DynamoDB Local and together admit
 * exactly the cluster's cap, and each user's. A slot of an instance that died (never closed,
 * never renewed) stops counting once it has expired: the instances' clocks say when.
 */
import { randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { serve, type ApiDeps } from '../../functions/api/router';
import type { ApiRequest } from '../../functions/api/request';
import { createTenantTokens } from '../../infra/local/stack';
import { createToken } from '../../shared/auth/tokens';
import { setClusterRateLimits } from '../../shared/clusters';
import { loadConfig, type Config } from '../../shared/config';
import { isStatusError, type StatusError } from '../../shared/errors';
import { LongRunningSlots, SLOT_TTL_MS } from '../../shared/long-running';
import { createDocumentClient } from '../../shared/store/dynamo';
import { ObjectStore } from '../../shared/store/store';

let config: Config;
let doc: DynamoDBDocumentClient;

beforeAll(() => {
  Object.assign(process.env, inject('stack').env);
  config = loadConfig();
  doc = createDocumentClient(config);
});

/** One api function instance: its own clients and slots; `clock` its time, `renewMs` how often it renews. */
const instance = (clock: () => number = Date.now, opts: { renewMs?: number; config?: Config } = {}): ApiDeps & { slots: LongRunningSlots } => ({
  config,
  doc,
  store: new ObjectStore(doc, config),
  slots: new LongRunningSlots(doc, opts.config ?? config, { now: clock, renewMs: opts.renewMs }),
});

const watchOf = (tenant: string, token: string, path: string): ApiRequest => ({
  method: 'GET',
  path,
  cluster: tenant,
  query: new URLSearchParams('watch=true&timeoutSeconds=600'),
  headers: { authorization: `Bearer ${token}` },
});

/** The watch's body (an open stream, 200) or the refusal serve() threw. */
async function open(deps: ApiDeps, req: ApiRequest): Promise<Readable | StatusError> {
  try {
    const res = await serve(req, deps);
    expect(res.statusCode).toBe(200);
    return (res as { body: Readable }).body;
  } catch (e) {
    if (isStatusError(e)) return e;
    throw e;
  }
}

const isOpen = (r: Readable | StatusError): r is Readable => !isStatusError(r);

/** Closes watches as a client going away does, and waits for their slots' deletes. */
async function close(instances: (ApiDeps & { slots: LongRunningSlots })[], ...bodies: (Readable | StatusError)[]): Promise<void> {
  for (const b of bodies) if (isOpen(b)) b.destroy();
  await new Promise((r) => setImmediate(r));
  await Promise.all(instances.map((i) => i.slots.settled()));
}

async function cluster(limits: { longRunningLimit: number; userLongRunningLimit: number }) {
  const tenant = `lr${randomBytes(4).toString('hex')}`;
  const { adminToken } = await createTenantTokens(doc, config, tenant);
  await setClusterRateLimits({ doc, config }, tenant, limits);
  const bob = await createToken(doc, config, { tenant, user: 'bob', groups: ['system:masters', 'system:authenticated'] });
  return { tenant, admin: adminToken, bob };
}

describe('the cap on open long-running requests across api function instances', () => {
  it('watches opened through two instances count against one cluster cap and one cap per user; closing one frees its slot', async () => {
    const { tenant, admin, bob } = await cluster({ longRunningLimit: 3, userLongRunningLimit: 2 });
    const [a, b] = [instance(), instance()];
    const path = '/api/v1/namespaces/default/configmaps';
    const w1 = await open(a, watchOf(tenant, admin, path));
    const w2 = await open(b, watchOf(tenant, admin, path));
    expect([isOpen(w1), isOpen(w2)]).toEqual([true, true]);
    // The admin's third, through either instance: over the user's cap of 2.
    const refused = await open(a, watchOf(tenant, admin, '/api/v1/namespaces'));
    expect(isOpen(refused)).toBe(false);
    const status = (refused as StatusError).toStatus();
    expect(status).toMatchObject({ code: 429, reason: 'TooManyRequests', message: 'Too many requests, please try again later.', details: { retryAfterSeconds: 1 } });
    // Another user still has the cluster's third slot, then the cluster is full for everyone.
    const w3 = await open(b, watchOf(tenant, bob, path));
    expect(isOpen(w3)).toBe(true);
    const full = await open(a, watchOf(tenant, bob, path));
    expect(isOpen(full) ? 200 : full.code).toBe(429);
    expect(a.slots.open + b.slots.open).toBe(3);
    // The admin's first watch closes (through instance a): a slot is free, whichever instance asks.
    await close([a, b], w1);
    expect(a.slots.open).toBe(0);
    const w4 = await open(b, watchOf(tenant, admin, path));
    expect(isOpen(w4)).toBe(true);
    expect(isOpen(await open(a, watchOf(tenant, bob, path)))).toBe(false);
    await close([a, b], w2, w3, w4);
    expect(a.slots.open + b.slots.open).toBe(0);
    // Everything closed: the whole cap again.
    const again = await Promise.all([open(a, watchOf(tenant, admin, path)), open(b, watchOf(tenant, bob, path)), open(a, watchOf(tenant, bob, path))]);
    expect(again.every(isOpen)).toBe(true);
    await close([a, b], ...again);
  });

  it('concurrent opens through two instances never exceed the cap', async () => {
    const { tenant, admin, bob } = await cluster({ longRunningLimit: 4, userLongRunningLimit: 0 });
    const [a, b] = [instance(), instance()];
    const all = await Promise.all(Array.from({ length: 12 }, (_, i) => open(i % 2 ? a : b, watchOf(tenant, i % 3 ? admin : bob, '/api/v1/namespaces/default/configmaps'))));
    expect(all.filter(isOpen)).toHaveLength(4);
    expect(all.filter((r) => !isOpen(r)).every((r) => (r as StatusError).code === 429)).toBe(true);
    await close([a, b], ...all);
  });

  it("a dead instance's slots stop counting once expired, without any close", async () => {
    const { tenant, admin } = await cluster({ longRunningLimit: 2, userLongRunningLimit: 0 });
    let t = Date.now();
    const clock = () => t;
    // The dead one: it never renews (as a crashed or frozen Lambda instance) and never closes.
    const dead = instance(clock, { renewMs: 24 * 3600_000 });
    const live = instance(clock);
    const path = '/api/v1/namespaces/default/configmaps';
    const held = [await open(dead, watchOf(tenant, admin, path)), await open(dead, watchOf(tenant, admin, path))];
    expect(held.every(isOpen)).toBe(true);
    expect(isOpen(await open(live, watchOf(tenant, admin, path)))).toBe(false);
    // Just before expiry they still count; past it they do not.
    t += SLOT_TTL_MS - 1000;
    expect(isOpen(await open(live, watchOf(tenant, admin, path)))).toBe(false);
    t += 2000;
    const taken = [await open(live, watchOf(tenant, admin, path)), await open(live, watchOf(tenant, admin, path))];
    expect(taken.every(isOpen)).toBe(true);
    expect(isOpen(await open(live, watchOf(tenant, admin, path)))).toBe(false);
    // The dead instance's late close deletes nothing of the slots the live one took over.
    await close([dead], ...held);
    expect(isOpen(await open(live, watchOf(tenant, admin, path)))).toBe(false);
    await close([live], ...taken);
  });

  it("nodes are exempt: a full cluster still serves its node agents' watches", async () => {
    const { tenant, admin } = await cluster({ longRunningLimit: 1, userLongRunningLimit: 1 });
    const node = await createToken(doc, config, { tenant, user: 'system:node:n1', groups: ['system:nodes', 'system:authenticated'] });
    const a = instance();
    const w = await open(a, watchOf(tenant, admin, '/api/v1/services'));
    expect(isOpen(w)).toBe(true);
    expect(isOpen(await open(a, watchOf(tenant, admin, '/api/v1/services')))).toBe(false);
    const nodeWatches = await Promise.all([open(a, watchOf(tenant, node, '/api/v1/services')), open(a, watchOf(tenant, node, '/api/v1/services'))]);
    expect(nodeWatches.every(isOpen)).toBe(true);
    await close([a], w, ...nodeWatches);
  });

  it('a failing counter lets watches through (the cap must not take the API down)', async () => {
    const { tenant, admin } = await cluster({ longRunningLimit: 1, userLongRunningLimit: 1 });
    const broken = instance(Date.now, { config: { ...config, changesTable: 'stratus-no-such-table' } });
    const opened = await Promise.all([open(broken, watchOf(tenant, admin, '/api/v1/namespaces')), open(broken, watchOf(tenant, admin, '/api/v1/namespaces'))]);
    expect(opened.every(isOpen)).toBe(true);
    await close([broken], ...opened);
  });

  it('a cap of 0 is no cap, and bad watch parameters cost no slot', async () => {
    const { tenant, admin } = await cluster({ longRunningLimit: 0, userLongRunningLimit: 0 });
    const a = instance();
    const opened = await Promise.all(Array.from({ length: 5 }, () => open(a, watchOf(tenant, admin, '/api/v1/namespaces'))));
    expect(opened.every(isOpen)).toBe(true);
    expect(a.slots.requests).toBeLessThanOrEqual(1); // the cluster's caps read once, nothing written
    await close([a], ...opened);
    const capped = await cluster({ longRunningLimit: 1, userLongRunningLimit: 1 });
    const bad = await open(a, { ...watchOf(capped.tenant, capped.admin, '/api/v1/namespaces'), query: new URLSearchParams('watch=true&timeoutSeconds=soon') });
    expect(isOpen(bad) ? 200 : bad.code).toBe(400);
    const ok = await open(a, watchOf(capped.tenant, capped.admin, '/api/v1/namespaces'));
    expect(isOpen(ok)).toBe(true);
    await close([a], ok);
  });
});
