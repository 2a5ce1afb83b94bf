/**
 * The kubelet relay on AWS (docs/exec.md, "every API → agent call through the outbound relay"):
 * the Lambda behind the three routes of an API Gateway WebSocket API. Locally the API Gateway
 * emulator (infra/local/apigw-websocket.ts) builds the same events and serves the same
 * `@connections` API, so this is the code the local stack runs too.
 *
 *  - `$connect` (`?side=api|node&tenant=T&session=S`, `Authorization: Bearer ...`): the side is
 *    authorized (authorizeRelaySide: a refusal is the handshake's HTTP status) and claimed once
 *    (claimRelaySide, storing its connection id in the session item); a connection item maps the
 *    connection id back to its session for the routes that follow, whose events carry no query.
 *  - `$default`: `ready` marks the side ready (one conditional update returning the item): the
 *    update that finds both sides ready posts `paired` to both. Any other message is data: it is
 *    posted as it is to the peer's connection (PostToConnection). The relay reads none of it: it
 *    is base64 of TLS records (shared/relay/frames.ts).
 *  - `$disconnect`: the session item is deleted and the peer's connection closed (DeleteConnection).
 */
import type { APIGatewayProxyStructuredResultV2, APIGatewayProxyWebsocketEventV2 } from 'aws-lambda';
import { STATUS_CODES } from 'node:http';
import { ApiGatewayManagementApiClient, DeleteConnectionCommand, PostToConnectionCommand } from '@aws-sdk/client-apigatewaymanagementapi';
import { GetCommand, PutCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { loadConfig, type Config } from '../../shared/config';
import { lookupToken, type Identity } from '../../shared/auth/tokens';
import { createDocumentClient } from '../../shared/store/dynamo';
import { RELAY_READY } from '../../shared/relay/frames';
import {
  authorizeRelaySide,
  claimRelaySide,
  closeRelaySession,
  parseRelaySession,
  readRelaySession,
  relaySessionKey,
  RELAY_CONNECTION_MAX_SECONDS,
  RELAY_PAIRED,
  type RelayCredential,
  type RelaySide,
} from '../../shared/relay/session';

/** The `$connect` event: the WebSocket event plus the upgrade request's headers and query string. */
export interface RelayEvent extends APIGatewayProxyWebsocketEventV2 {
  readonly headers?: Record<string, string | undefined>;
}

export type RelayResult = APIGatewayProxyStructuredResultV2;

export interface RelayDeps {
  readonly doc: DynamoDBDocumentClient;
  readonly config: Config;
  /** The `@connections` client for an endpoint (`https://DOMAIN/STAGE` on AWS). */
  readonly management: (endpoint: string) => Pick<ApiGatewayManagementApiClient, 'send'>;
  /** The `@connections` endpoint. @default `https://${domainName}/${stage}` of the event */
  readonly endpoint?: string;
  /** A node side's bearer token → its identity. @default lookupToken */
  readonly lookup?: (token: string) => Promise<Identity | undefined>;
  readonly now?: () => number;
  readonly log?: (line: string) => void;
}

/** What a connection is: the item `$connect` writes under the connection id. */
interface Connection {
  readonly tenant: string;
  readonly session: string;
  readonly side: RelaySide;
  /** The peer's connection id, once known (cached only). */
  peer?: string;
}

export const relayConnectionKey = (connectionId: string) => ({ pk: `~relay-connection#${connectionId}`, sk: 'connection' });

const SESSION = /^[0-9a-f]{32}$/;
const CACHE_MAX = 10_000;
const other = (side: RelaySide): RelaySide => (side === 'api' ? 'node' : 'api');

function refusal(status: number, message: string): RelayResult {
  const reason = STATUS_CODES[status]?.replace(/ /g, '') ?? 'Error';
  return {
    statusCode: status,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code: status }),
  };
}

const header = (event: RelayEvent, name: string): string | undefined => {
  for (const [k, v] of Object.entries(event.headers ?? {})) if (k.toLowerCase() === name) return v;
  return undefined;
};

const isGone = (e: unknown) => (e as Error).name === 'GoneException' || (e as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 410;

/** The relay's handler over `deps` (one per process: it caches each connection's session and peer). */
export function relayHandler(deps: RelayDeps): (event: RelayEvent) => Promise<RelayResult> {
  const { doc, config } = deps;
  const now = deps.now ?? Date.now;
  const log = deps.log ?? (() => undefined);
  const lookup = deps.lookup ?? ((token: string) => lookupToken(doc, config, token));
  const connections = new Map<string, Connection>();
  const clients = new Map<string, Pick<ApiGatewayManagementApiClient, 'send'>>();

  const client = (event: RelayEvent) => {
    const endpoint = deps.endpoint ?? `https://${event.requestContext.domainName}/${event.requestContext.stage}`;
    let c = clients.get(endpoint);
    if (!c) clients.set(endpoint, (c = deps.management(endpoint)));
    return c;
  };
  const remember = (id: string, c: Connection) => {
    if (connections.size >= CACHE_MAX) connections.delete(connections.keys().next().value!);
    connections.set(id, c);
  };
  const connection = async (id: string): Promise<Connection | undefined> => {
    const cached = connections.get(id);
    if (cached) return cached;
    const out = await doc.send(new GetCommand({ TableName: config.changesTable, Key: relayConnectionKey(id), ConsistentRead: true }));
    const item = out.Item as Record<string, unknown> | undefined;
    if (!item || typeof item.tenant !== 'string' || typeof item.session !== 'string' || (item.side !== 'api' && item.side !== 'node')) return undefined;
    const c: Connection = { tenant: item.tenant, session: item.session, side: item.side as RelaySide };
    remember(id, c);
    return c;
  };
  const post = (event: RelayEvent, to: string, data: string) => client(event).send(new PostToConnectionCommand({ ConnectionId: to, Data: Buffer.from(data, 'utf8') }));
  const hangUp = (event: RelayEvent, id: string) =>
    client(event)
      .send(new DeleteConnectionCommand({ ConnectionId: id }))
      .then(
        () => undefined,
        (e: unknown) => (isGone(e) ? undefined : log(`kubelet relay: closing connection ${id} failed: ${(e as Error).message}`)),
      );

  async function onConnect(event: RelayEvent): Promise<RelayResult> {
    const q = event.queryStringParameters ?? {};
    const side = q.side === 'api' || q.side === 'node' ? q.side : undefined;
    const tenant = q.tenant ?? '';
    const session = q.session ?? '';
    if (!side || !tenant || !SESSION.test(session)) return refusal(404, 'not a relay session URL');
    const token = /^Bearer (\S+)$/i.exec(header(event, 'authorization') ?? '')?.[1];
    const cred: RelayCredential = side === 'api' ? { side, apiKey: token } : { side, identity: token ? await lookup(token) : undefined };
    const item = await readRelaySession(doc, config, tenant, session);
    const admission = authorizeRelaySide(item, tenant, cred, now());
    if (!admission.ok) {
      log(`kubelet relay: ${side} side of session ${session.slice(0, 8)}… refused (${admission.status}): ${admission.message}`);
      return refusal(admission.status, admission.message);
    }
    const id = event.requestContext.connectionId;
    if (!(await claimRelaySide(doc, config, tenant, session, side, id, now()))) return refusal(409, `the ${side} side of this relay session is taken`);
    await doc.send(
      new PutCommand({
        TableName: config.changesTable,
        Item: { ...relayConnectionKey(id), tenant, session, side, ttl: Math.ceil(now() / 1000) + RELAY_CONNECTION_MAX_SECONDS + 300 },
      }),
    );
    remember(id, { tenant, session, side });
    return { statusCode: 200 };
  }

  async function onReady(event: RelayEvent, id: string, c: Connection): Promise<void> {
    let attributes: Record<string, unknown> | undefined;
    try {
      const out = await doc.send(
        new UpdateCommand({
          TableName: config.changesTable,
          Key: relaySessionKey(c.tenant, c.session),
          // The session lasts as long as its connections may: its TTL moves past their 2 hours.
          UpdateExpression: `SET ${c.side}Ready = :t, #ttl = :ttl`,
          ConditionExpression: `attribute_exists(pk) AND ${c.side}Conn = :c`,
          ExpressionAttributeNames: { '#ttl': 'ttl' },
          ExpressionAttributeValues: { ':t': true, ':c': id, ':ttl': Math.ceil(now() / 1000) + RELAY_CONNECTION_MAX_SECONDS + 300 },
          ReturnValues: 'ALL_NEW',
        }),
      );
      attributes = out.Attributes;
    } catch (e) {
      if ((e as Error).name !== 'ConditionalCheckFailedException') throw e;
    }
    const item = parseRelaySession(attributes);
    // The session ended (or is not this connection's): nothing to pair.
    if (!item) return hangUp(event, id);
    // DynamoDB applies the two sides' updates one after the other: only the later sees both.
    if (!(item.apiReady && item.nodeReady && item.apiConn && item.nodeConn)) return;
    try {
      await Promise.all([post(event, item.apiConn, RELAY_PAIRED), post(event, item.nodeConn, RELAY_PAIRED)]);
    } catch (e) {
      if (!isGone(e)) throw e;
      // One side left meanwhile: the session is over for the other too.
      await Promise.all([hangUp(event, item.apiConn), hangUp(event, item.nodeConn)]);
    }
  }

  async function onData(event: RelayEvent, id: string, c: Connection, body: string): Promise<void> {
    if (!c.peer) {
      const item = await readRelaySession(doc, config, c.tenant, c.session);
      const peer = item?.[`${other(c.side)}Conn`];
      // Data before both sides are paired, or after the session ended.
      if (!item || item[`${c.side}Conn`] !== id || !item.apiReady || !item.nodeReady || !peer) return hangUp(event, id);
      c.peer = peer;
    }
    try {
      await post(event, c.peer, body);
    } catch (e) {
      if (!isGone(e)) throw e;
      // The peer is gone: so is the session.
      await hangUp(event, id);
    }
  }

  async function onDisconnect(event: RelayEvent, id: string): Promise<void> {
    const c = await connection(id);
    connections.delete(id);
    if (!c) return;
    const item = await readRelaySession(doc, config, c.tenant, c.session);
    if (!item || item[`${c.side}Conn`] !== id) return;
    await closeRelaySession(doc, config, c.tenant, c.session);
    const peer = item[`${other(c.side)}Conn`];
    if (peer) await hangUp(event, peer);
  }

  return async (event) => {
    const id = event.requestContext.connectionId;
    switch (event.requestContext.routeKey) {
      case '$connect':
        return onConnect(event);
      case '$disconnect':
        await onDisconnect(event, id);
        return { statusCode: 200 };
      default: {
        const c = await connection(id);
        if (!c) {
          await hangUp(event, id);
          return { statusCode: 200 };
        }
        // API Gateway refuses binary frames, so a body is text; an encoded one would not be ours.
        const body = event.isBase64Encoded ? '' : (event.body ?? '');
        if (body === RELAY_READY) await onReady(event, id, c);
        else await onData(event, id, c, body);
        return { statusCode: 200 };
      }
    }
  };
}

let deployed: ((event: RelayEvent) => Promise<RelayResult>) | undefined;

/** The Lambda entry (infra/wiring.ts, the `kubelet-relay` row). */
export const handler = (event: RelayEvent): Promise<RelayResult> => {
  if (!deployed) {
    const config = loadConfig();
    deployed = relayHandler({
      doc: createDocumentClient(config),
      config,
      management: (endpoint) => new ApiGatewayManagementApiClient({ region: config.region, endpoint }),
      ...(process.env.STRATUS_RELAY_MANAGEMENT_ENDPOINT ? { endpoint: process.env.STRATUS_RELAY_MANAGEMENT_ENDPOINT } : {}),
      log: (line) => console.log(line),
    });
  }
  return deployed(event);
};
