import { ApiGatewayManagementApiClient, DeleteConnectionCommand, GetConnectionCommand, PostToConnectionCommand } from '@aws-sdk/client-apigatewaymanagementapi';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import type { RelayEvent, RelayResult } from '../../functions/relay/handler';
import { startApiGatewayWebSocket, type ApiGatewayWebSocket } from '../../infra/local/apigw-websocket';
import { makeCertificates } from '../../infra/local/stack';

/*
 * The local API Gateway WebSocket API (infra/local/apigw-websocket.ts) does what API Gateway does
 * and no more: `$connect` events with the upgrade's headers and query (a refusal is the
 * handler's status), one `$default` event per text message, binary frames and frames over 32 KB
 * refused with API Gateway's close codes, `$disconnect` on every close, and the `@connections`
 * API as the real SDK client calls it.
 */
describe('the local API Gateway WebSocket API', () => {
  const events: RelayEvent[] = [];
  let apigw: ApiGatewayWebSocket;
  let ca: string;
  let client: ApiGatewayManagementApiClient;

  beforeAll(async () => {
    const certs = await makeCertificates({ dns: ['localhost'], ips: ['127.0.0.1'] });
    ca = certs.caCert;
    const handler = async (event: RelayEvent): Promise<RelayResult> => {
      events.push(event);
      if (event.requestContext.routeKey === '$connect' && event.queryStringParameters?.refuse) {
        return { statusCode: 403, headers: { 'content-type': 'application/json' }, body: '{"message":"no"}' };
      }
      // An echo through the management API, as the relay posts to a peer.
      if (event.requestContext.routeKey === '$default') {
        await client.send(new PostToConnectionCommand({ ConnectionId: event.requestContext.connectionId, Data: Buffer.from(`echo:${event.body}`) }));
      }
      return { statusCode: 200 };
    };
    apigw = await startApiGatewayWebSocket({ handler, tls: { key: certs.key, cert: certs.cert }, log: () => undefined });
    client = new ApiGatewayManagementApiClient({ region: 'us-east-1', endpoint: apigw.managementEndpoint, credentials: { accessKeyId: 'x', secretAccessKey: 'x' } });
  });
  afterAll(() => apigw.close());

  const dial = (path: string, headers: Record<string, string> = {}) =>
    new Promise<{ ws: WebSocket } | { status: number; body: string }>((resolve, reject) => {
      const ws = new WebSocket(`${apigw.url.replace(/\/local$/, '')}${path}`, { ca, headers, perMessageDeflate: false });
      ws.on('error', reject);
      ws.once('open', () => resolve({ ws }));
      ws.once('unexpected-response', (_req, res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
    });
  const open = async (path = '/local?a=1') => ((await dial(path)) as { ws: WebSocket }).ws;
  const closed = (ws: WebSocket) => new Promise<number>((r) => ws.once('close', (code) => r(code)));
  const lastConnectionId = () => events.filter((e) => e.requestContext.routeKey === '$connect').at(-1)!.requestContext.connectionId;

  it('only the stage path is a WebSocket API (403 elsewhere)', async () => {
    expect(await dial('/other?a=1')).toMatchObject({ status: 403 });
  });

  it('$connect gets the headers, the query string and a connection id; a refusal is its status and body', async () => {
    expect(await dial('/local?refuse=1&x=y', { authorization: 'Bearer t' })).toEqual({ status: 403, body: '{"message":"no"}' });
    const e = events.at(-1)!;
    expect(e.requestContext).toMatchObject({ routeKey: '$connect', eventType: 'CONNECT', stage: 'local', apiId: 'local' });
    expect(e.requestContext.domainName).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(e.requestContext.connectionId).toMatch(/^[\w-]{16}$/);
    expect(e.queryStringParameters).toEqual({ refuse: '1', x: 'y' });
    expect(e.headers?.authorization).toBe('Bearer t');
  });

  it('a text message is one $default event; PostToConnection answers it as a text frame', async () => {
    const ws = await open();
    const got = new Promise<{ text: string; binary: boolean }>((r) => ws.once('message', (d, binary) => r({ text: d.toString(), binary })));
    ws.send('hello');
    expect(await got).toEqual({ text: 'echo:hello', binary: false });
    expect(events.at(-1)).toMatchObject({ body: 'hello', isBase64Encoded: false, requestContext: { routeKey: '$default', eventType: 'MESSAGE' } });
    ws.close();
  });

  it('a binary frame closes the connection with 1003, a frame over 32 KB with 1009; each close is a $disconnect', async () => {
    const a = await open();
    const aId = lastConnectionId();
    const aClosed = closed(a);
    a.send(Buffer.from([1, 2, 3]), { binary: true });
    expect(await aClosed).toBe(1003);
    const b = await open();
    const bClosed = closed(b);
    b.send('x'.repeat(32 * 1024 + 1));
    expect(await bClosed).toBe(1009);
    await expect.poll(() => events.some((e) => e.requestContext.routeKey === '$disconnect' && e.requestContext.connectionId === aId)).toBe(true);
    expect(events.filter((e) => e.requestContext.routeKey === '$default' && e.body?.startsWith('x'))).toEqual([]);
  });

  it('@connections: GetConnection, DeleteConnection (closes the client), GoneException once gone', async () => {
    const ws = await open();
    const id = lastConnectionId();
    const info = await client.send(new GetConnectionCommand({ ConnectionId: id }));
    expect(info.ConnectedAt).toBeInstanceOf(Date);
    expect(info.Identity?.SourceIp).toBe('127.0.0.1');
    const wsClosed = closed(ws);
    await client.send(new DeleteConnectionCommand({ ConnectionId: id }));
    expect(await wsClosed).toBe(1000);
    await expect(client.send(new PostToConnectionCommand({ ConnectionId: id, Data: Buffer.from('late') }))).rejects.toMatchObject({ name: 'GoneException' });
  });
});
