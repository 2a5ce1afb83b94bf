import https from 'node:https';
import { Readable } from 'node:stream';
import { PutCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { makeCertificates } from '../../infra/local/stack';
import { startKubeletRelay, type KubeletRelay } from '../../infra/local/kubelet-relay';
import { checkNodeIdentity, type KubeletTls } from '../../shared/auth/kubelet-client';
import { hashToken, type Identity } from '../../shared/auth/tokens';
import { loadConfig } from '../../shared/config';
import { relayAgent } from '../../shared/relay/api-side';
import {
  authorizeRelaySide,
  openRelaySession,
  RELAY_FRAME_BYTES,
  RelaySessionMessageSchema,
  type RelayCredential,
  type RelaySessionItem,
} from '../../shared/relay/session';
import { decodeDataMessage, encodeDataMessages, RELAY_CHUNK_BYTES, relaySideUrl, Reorder } from '../../shared/relay/frames';
import { KubeletRelayClient } from '../../node-agent/kubelet-relay';
import { KubeletServer } from '../../node-agent/kubelet-server';
import type { Logger } from '../../node-agent/log';
import { testNodeTls, type TestNodeTls } from '../helpers/kubelet-tls';
import { memoryDoc } from '../helpers/relay-memory-doc';

/*
 * The kubelet relay (docs/exec.md): who may take which side of a session (a pure table), frame
 * splitting, and the whole path in one process: the API side's https.Agent, the relay emulator
 * and the agent's relay client feeding its kubelet server, over an in-memory stand-in for the two
 * DynamoDB items the relay reads (the session, the node's token). The TLS inside is the real
 * mutual TLS of the direct path.
 */
const NOW = 1_000_000;
const item: RelaySessionItem = { tenant: 't1', session: 'a'.repeat(32), node: 'n1', apiKeyHash: hashToken('key'), expiresAtMs: NOW + 60_000 };
const node = (tenant: string, name: string): Identity => ({ tenant, user: `system:node:${name}`, groups: ['system:nodes', 'system:authenticated'] });

describe('authorizeRelaySide', () => {
  const cases: [string, RelaySessionItem | undefined, string, RelayCredential, number, number | 'ok'][] = [
    ['the node the session names', item, 't1', { side: 'node', identity: node('t1', 'n1') }, NOW, 'ok'],
    ['another node of the cluster', item, 't1', { side: 'node', identity: node('t1', 'n2') }, NOW, 403],
    ['the same node name in another cluster', item, 't1', { side: 'node', identity: node('t2', 'n1') }, NOW, 403],
    ['a user named like the node but not in system:nodes', item, 't1', { side: 'node', identity: { tenant: 't1', user: 'system:node:n1', groups: [] } }, NOW, 403],
    ['no credential', item, 't1', { side: 'node', identity: undefined }, NOW, 401],
    ['a session through another cluster', item, 't2', { side: 'node', identity: node('t2', 'n1') }, NOW, 404],
    ['an unknown session', undefined, 't1', { side: 'node', identity: node('t1', 'n1') }, NOW, 404],
    ['an expired session', item, 't1', { side: 'node', identity: node('t1', 'n1') }, NOW + 60_000, 410],
    ['a node side taken already (replay)', { ...item, nodeClaimed: true }, 't1', { side: 'node', identity: node('t1', 'n1') }, NOW, 409],
    ['the API side with its key', item, 't1', { side: 'api', apiKey: 'key' }, NOW, 'ok'],
    ['the API side with another key', item, 't1', { side: 'api', apiKey: 'other' }, NOW, 401],
    ['the API side without a key', item, 't1', { side: 'api', apiKey: undefined }, NOW, 401],
    ['the API side taken already', { ...item, apiClaimed: true }, 't1', { side: 'api', apiKey: 'key' }, NOW, 409],
  ];
  it.each(cases)('%s', (_what, it_, tenant, cred, now, want) => {
    const got = authorizeRelaySide(it_, tenant, cred, now);
    expect(got.ok ? 'ok' : got.status).toBe(want);
  });
});

describe('relay frames and messages', () => {
  it('cuts bytes into numbered base64 text messages of at most 32 KB, losing nothing', () => {
    const data = Buffer.from(Array.from({ length: RELAY_CHUNK_BYTES * 2 + 5 }, (_, i) => i % 256));
    const messages = encodeDataMessages(data, 7);
    expect(messages).toHaveLength(3);
    for (const m of messages) expect(Buffer.byteLength(m)).toBeLessThanOrEqual(RELAY_FRAME_BYTES);
    const decoded = messages.map((m) => decodeDataMessage(m)!);
    expect(decoded.map((d) => d.seq)).toEqual([7, 8, 9]);
    expect(Buffer.concat(decoded.map((d) => d.bytes)).equals(data)).toBe(true);
    expect(encodeDataMessages(Buffer.from('ab'), 0)).toEqual(['d0,YWI=']);
    expect(encodeDataMessages(Buffer.alloc(0), 0)).toEqual([]);
  });

  it.each([['ready'], ['paired'], ['d1'], ['dx,YWI='], ['d1,not base64!'], ['']])('%j is not a data message', (text) => {
    expect(decodeDataMessage(text)).toBeUndefined();
  });

  it('puts pieces that arrive out of order back in order, and refuses a repeat', () => {
    const r = new Reorder();
    const b = (s: string) => Buffer.from(s);
    expect(r.accept(1, b('b'))).toEqual([]);
    expect(r.accept(2, b('c'))).toEqual([]);
    expect(r.accept(0, b('a')).map(String)).toEqual(['a', 'b', 'c']);
    expect(r.accept(3, b('d')).map(String)).toEqual(['d']);
    expect(() => r.accept(2, b('c'))).toThrow(/repeated/);
  });

  it("puts side, cluster and session in the stage URL's query (a WebSocket API routes no paths)", () => {
    expect(relaySideUrl('wss://abc.execute-api.eu-west-1.amazonaws.com/relay', 'node', 't1', 'f'.repeat(32))).toBe(
      `wss://abc.execute-api.eu-west-1.amazonaws.com/relay?side=node&tenant=t1&session=${'f'.repeat(32)}`,
    );
  });

  it('the queue message names a 128-bit hex session and nothing else the node would dial', () => {
    expect(RelaySessionMessageSchema.safeParse({ kind: 'relay', tenant: 't', session: 'f'.repeat(32) }).success).toBe(true);
    expect(RelaySessionMessageSchema.safeParse({ kind: 'relay', tenant: 't', session: 'short' }).success).toBe(false);
    // Where the relay is comes from the agent's own configuration, never from a message.
    expect(RelaySessionMessageSchema.parse({ kind: 'relay', tenant: 't', session: 'f'.repeat(32), url: 'wss://evil' })).not.toHaveProperty('url');
  });
});

const quiet: Logger = { info: () => undefined, warn: () => undefined, error: () => undefined } as unknown as Logger;

describe('one call through the relay, end to end in one process', () => {
  const config = loadConfig({});
  const doc = memoryDoc();
  let relay: KubeletRelay;
  let node: TestNodeTls;
  let kubelet: KubeletServer;
  let client: KubeletRelayClient;
  let relayCa: string;
  const nodeToken = 'st_node-n1';
  const otherToken = 'st_node-n2';

  beforeAll(async () => {
    const certs = await makeCertificates({ dns: ['localhost'], ips: ['127.0.0.1'] });
    relayCa = certs.caCert;
    relay = await startKubeletRelay({ doc, config, tls: { key: certs.key, cert: certs.cert }, log: () => undefined });
    for (const [token, name] of [[nodeToken, 'n1'], [otherToken, 'n2']] as const) {
      await doc.send(new PutCommand({ TableName: config.objectsTable, Item: { pk: `token#${hashToken(token)}`, sk: 'token', tenant: 't1', user: `system:node:${name}`, groups: ['system:nodes'] } }));
    }
    node = await testNodeTls('n1', 't1');
    kubelet = new KubeletServer({
      logs: { containerLogs: async () => ({ ok: true, stream: Readable.from([Buffer.from('line 1\n'), Buffer.alloc(100_000, 'y')]) }) },
      tls: node.server,
      log: quiet,
    });
    client = new KubeletRelayClient({ url: relay.url, tenant: 't1', token: () => nodeToken, ca: relayCa, server: kubelet, log: quiet });
  });
  afterAll(async () => {
    client.close();
    await kubelet.close();
    await relay.close();
  });

  const apiTls = (): KubeletTls => ({ ca: node.pki.nodeCaCert, cert: node.pki.apiClientCert, key: node.pki.apiClientKey, rejectUnauthorized: true, checkServerIdentity: checkNodeIdentity('n1') });
  const get = (agent: https.Agent, tls: KubeletTls, path: string) =>
    new Promise<{ status: number; text: string }>((resolve, reject) => {
      https
        .get(`https://n1:10250${path}`, { ...tls, agent }, (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (d: string) => (text += d));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
        })
        .on('error', reject);
    });

  it('a log read goes through: the kubelet server gets the API certificate over the relayed TLS', async () => {
    const tls = apiTls();
    const agent = relayAgent({ doc, config, tenant: 't1', node: 'n1', url: relay.url, kubeletTls: tls, ca: relayCa, notify: (m) => client.serve(m) });
    const res = await get(agent, tls, '/containerLogs/default/p/main');
    expect(res.status).toBe(200);
    expect(res.text.startsWith('line 1\n')).toBe(true);
    expect(res.text.length).toBe(7 + 100_000);
  });

  it('a node that is not the one the session names cannot pick it up, and the call fails', async () => {
    const tls = apiTls();
    const impostor = new KubeletRelayClient({ url: relay.url, tenant: 't1', token: () => otherToken, ca: relayCa, server: kubelet, log: quiet });
    let refused: unknown;
    const agent = relayAgent({
      doc,
      config,
      tenant: 't1',
      node: 'n1',
      url: relay.url,
      kubeletTls: tls,
      ca: relayCa,
      notify: async (m) => void impostor.serve(m).catch((e: unknown) => (refused = e)),
    });
    await expect(get(agent, tls, '/healthz')).rejects.toThrow(/did not pick up the relay session/);
    expect(String(refused)).toMatch(/refused the node side of the session: 403/);
  }, 20_000);

  it("the API side checks the serving certificate's node name: a session to n2 answered by n1 fails TLS", async () => {
    // n1's kubelet answers (its client holds a valid credential of... n1, so the session must name n1 for the relay):
    // the API dials a session addressed to n1 but expects node n2's certificate.
    const tls = { ...apiTls(), checkServerIdentity: checkNodeIdentity('n2') };
    const agent = relayAgent({ doc, config, tenant: 't1', node: 'n1', url: relay.url, kubeletTls: tls, ca: relayCa, notify: (m) => client.serve(m) });
    await expect(get(agent, tls, '/healthz')).rejects.toThrow(/names "system:node:n1", not system:node:n2/);
  });

  it('the relay admits nobody without a session', async () => {
    const status = await new Promise<number>((resolve) => {
      const ws = new WebSocket(relaySideUrl(relay.url, 'node', 't1', '0'.repeat(32)), { ca: relayCa, headers: { authorization: `Bearer ${nodeToken}` } });
      ws.on('error', () => undefined);
      ws.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
    });
    expect(status).toBe(404);
    const { session } = await openRelaySession(doc, config, 't1', 'n1');
    expect(session).toMatch(/^[0-9a-f]{32}$/);
  });
});
