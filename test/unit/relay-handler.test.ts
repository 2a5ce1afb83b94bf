import { DeleteConnectionCommand, PostToConnectionCommand } from '@aws-sdk/client-apigatewaymanagementapi';
import { describe, expect, it } from 'vitest';
import { relayConnectionKey, relayHandler, type RelayEvent } from '../../functions/relay/handler';
import type { Identity } from '../../shared/auth/tokens';
import { loadConfig } from '../../shared/config';
import { openRelaySession, readRelaySession } from '../../shared/relay/session';
import { memoryDoc } from '../helpers/relay-memory-doc';

/*
 * The kubelet relay's Lambda (functions/relay/handler.ts) over API Gateway WebSocket events:
 * which `$connect`s it refuses and with what status, what a claim stores, the `ready`/`paired`
 * handshake, copying a message to the peer, and what a `$disconnect` ends. The DynamoDB calls run
 * against an in-memory table; the `@connections` calls are recorded.
 */
const config = loadConfig({});
const NOW = 1_000_000;
const NODE_TOKEN = 'node-n1';
const identities: Record<string, Identity> = {
  [NODE_TOKEN]: { tenant: 't1', user: 'system:node:n1', groups: ['system:nodes', 'system:authenticated'] },
  'node-n2': { tenant: 't1', user: 'system:node:n2', groups: ['system:nodes', 'system:authenticated'] },
  'user-u': { tenant: 't1', user: 'system:node:n1', groups: ['system:authenticated'] },
};

interface Call {
  readonly op: 'post' | 'delete';
  readonly id: string;
  readonly data?: string;
}

function setup(opts: { gone?: Set<string> } = {}) {
  const doc = memoryDoc();
  const calls: Call[] = [];
  const endpoints: string[] = [];
  const handler = relayHandler({
    doc,
    config,
    now: () => NOW,
    lookup: async (token) => identities[token],
    management: (endpoint) => {
      endpoints.push(endpoint);
      return {
        send: (async (cmd: PostToConnectionCommand | DeleteConnectionCommand) => {
          const id = cmd.input.ConnectionId!;
          if (opts.gone?.has(id)) throw Object.assign(new Error('gone'), { name: 'GoneException' });
          if (cmd instanceof PostToConnectionCommand) calls.push({ op: 'post', id, data: Buffer.from(cmd.input.Data as Uint8Array).toString() });
          else calls.push({ op: 'delete', id });
          return {};
        }) as never,
      };
    },
  });
  const context = (routeKey: string, connectionId: string) =>
    ({
      routeKey,
      eventType: routeKey === '$connect' ? 'CONNECT' : routeKey === '$disconnect' ? 'DISCONNECT' : 'MESSAGE',
      connectionId,
      domainName: 'abc.execute-api.eu-west-1.amazonaws.com',
      stage: 'relay',
    }) as RelayEvent['requestContext'];
  const connect = (connectionId: string, query: Record<string, string>, authorization?: string) =>
    handler({ requestContext: context('$connect', connectionId), queryStringParameters: query, headers: authorization ? { Authorization: authorization } : {}, isBase64Encoded: false });
  const message = (connectionId: string, body: string) => handler({ requestContext: context('$default', connectionId), body, isBase64Encoded: false });
  const disconnect = (connectionId: string) => handler({ requestContext: context('$disconnect', connectionId), isBase64Encoded: false });
  return { doc, calls, endpoints, connect, message, disconnect };
}

const q = (side: string, session: string, tenant = 't1') => ({ side, tenant, session });

describe('$connect: who may take a side', () => {
  const cases: [string, (s: string) => Record<string, string>, string | undefined, number][] = [
    ['the node the session names', (s) => q('node', s), `Bearer ${NODE_TOKEN}`, 200],
    ['another node', (s) => q('node', s), 'Bearer node-n2', 403],
    ['a user named like the node', (s) => q('node', s), 'Bearer user-u', 403],
    ['no credential', (s) => q('node', s), undefined, 401],
    ['an unknown token', (s) => q('node', s), 'Bearer nope', 401],
    ['the session through another cluster', (s) => q('node', s, 't2'), `Bearer ${NODE_TOKEN}`, 404],
    ['an unknown session', () => q('node', 'b'.repeat(32)), `Bearer ${NODE_TOKEN}`, 404],
    ['no side', (s) => ({ tenant: 't1', session: s }), `Bearer ${NODE_TOKEN}`, 404],
    ['a malformed session id', () => q('node', 'x'), `Bearer ${NODE_TOKEN}`, 404],
    ['the API side with its key', (s) => q('api', s), 'Bearer KEY', 200],
    ['the API side with another key', (s) => q('api', s), 'Bearer other', 401],
  ];
  it.each(cases)('%s → %i', async (_what, query, auth, status) => {
    const r = setup();
    const { session, apiKey } = await openRelaySession(r.doc, config, 't1', 'n1', NOW);
    const res = await r.connect('c1', query(session), auth?.replace('KEY', apiKey));
    expect(res.statusCode).toBe(status);
    if (status !== 200) {
      expect(JSON.parse(res.body!)).toMatchObject({ kind: 'Status', status: 'Failure', code: status });
      // A refused side claims nothing.
      expect(await readRelaySession(r.doc, config, 't1', session)).not.toHaveProperty('nodeConn');
    }
  });

  it('an expired session (410); a side taken once only (409), its connection id stored', async () => {
    const r = setup();
    const old = await openRelaySession(r.doc, config, 't1', 'n1', NOW - 61_000);
    expect((await r.connect('c0', q('node', old.session), `Bearer ${NODE_TOKEN}`)).statusCode).toBe(410);
    const { session } = await openRelaySession(r.doc, config, 't1', 'n1', NOW);
    expect((await r.connect('c1', q('node', session), `Bearer ${NODE_TOKEN}`)).statusCode).toBe(200);
    expect((await r.connect('c2', q('node', session), `Bearer ${NODE_TOKEN}`)).statusCode).toBe(409);
    expect(await readRelaySession(r.doc, config, 't1', session)).toMatchObject({ nodeClaimed: true, nodeConn: 'c1' });
    expect(r.doc.items.get(`${config.changesTable}|${relayConnectionKey('c1').pk}|connection`)).toMatchObject({ tenant: 't1', session, side: 'node' });
  });
});

describe('$default and $disconnect', () => {
  async function pairedSession(r: ReturnType<typeof setup>) {
    const { session, apiKey } = await openRelaySession(r.doc, config, 't1', 'n1', NOW);
    expect((await r.connect('api1', q('api', session), `Bearer ${apiKey}`)).statusCode).toBe(200);
    expect((await r.connect('node1', q('node', session), `Bearer ${NODE_TOKEN}`)).statusCode).toBe(200);
    return session;
  }

  it('pairs once both sides said ready: `paired` to each, posted by the second ready only', async () => {
    const r = setup();
    await pairedSession(r);
    await r.message('api1', 'ready');
    expect(r.calls).toEqual([]);
    await r.message('node1', 'ready');
    expect(r.calls).toEqual([
      { op: 'post', id: 'api1', data: 'paired' },
      { op: 'post', id: 'node1', data: 'paired' },
    ]);
    // The management endpoint is the event's own API and stage.
    expect(r.endpoints).toEqual(['https://abc.execute-api.eu-west-1.amazonaws.com/relay']);
  });

  it('copies each message as it is to the peer, both ways', async () => {
    const r = setup();
    await pairedSession(r);
    await r.message('api1', 'ready');
    await r.message('node1', 'ready');
    r.calls.length = 0;
    await r.message('api1', 'd0,AAEC');
    await r.message('node1', 'd0,FhcY');
    await r.message('node1', 'e1');
    expect(r.calls).toEqual([
      { op: 'post', id: 'node1', data: 'd0,AAEC' },
      { op: 'post', id: 'api1', data: 'd0,FhcY' },
      { op: 'post', id: 'api1', data: 'e1' },
    ]);
  });

  it('data before pairing closes the sender and reaches nobody', async () => {
    const r = setup();
    await pairedSession(r);
    await r.message('api1', 'ready');
    await r.message('api1', 'd0,AAEC');
    expect(r.calls).toEqual([{ op: 'delete', id: 'api1' }]);
  });

  it('a message from a connection that is no session side closes it', async () => {
    const r = setup();
    await r.message('stranger', 'd0,AAEC');
    expect(r.calls).toEqual([{ op: 'delete', id: 'stranger' }]);
  });

  it('a side that leaves ends the session: the peer is closed and the item deleted (a replay then finds nothing)', async () => {
    const r = setup();
    const session = await pairedSession(r);
    await r.message('api1', 'ready');
    await r.message('node1', 'ready');
    r.calls.length = 0;
    await r.disconnect('api1');
    expect(r.calls).toEqual([{ op: 'delete', id: 'node1' }]);
    expect(await readRelaySession(r.doc, config, 't1', session)).toBeUndefined();
    // The peer's own $disconnect that follows finds the session gone: nothing more.
    await r.disconnect('node1');
    expect(r.calls).toHaveLength(1);
    expect((await r.connect('c9', q('node', session), `Bearer ${NODE_TOKEN}`)).statusCode).toBe(404);
  });

  it('a peer already gone: the sender is closed too', async () => {
    const r = setup({ gone: new Set(['node1']) });
    await pairedSession(r);
    await r.message('api1', 'ready');
    await r.message('node1', 'ready');
    r.calls.length = 0;
    await r.message('api1', 'd0,AAEC');
    expect(r.calls).toEqual([{ op: 'delete', id: 'api1' }]);
  });
});
