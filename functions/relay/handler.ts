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
 *
 * `$connect` spends the per-source budget of failed authentications (shared/rate-limit.ts
 * "Per-source budgets", scope `auth`, the api's own) of the address API Gateway reports
 * (requestContext.identity.sourceIp): a refused side whose credential did not prove itself (see
 * countsAgainstSource) is counted after its refusal; once the shared counter has refused this
 * instance a lease for the address, its later connects of the second are refused 429 from memory,
 * before any token lookup or session read. A node token that authenticated lately in this
 * instance is let through to its lookup as always (a NAT's nodes keep connecting while something
 * behind the same NAT guesses tokens).
 */
import type { APIGatewayProxyStructuredResultV2, APIGatewayProxyWebsocketEventV2 } from 'aws-lambda';
import { STATUS_CODES } from 'node:http';
import { ApiGatewayManagementApiClient, DeleteConnectionCommand, PostToConnectionCommand } from '@aws-sdk/client-apigatewaymanagementapi';
import { GetCommand, PutCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { loadConfig, type Config } from '../../shared/config';
import { hashToken, lookupToken, type Identity } from '../../shared/auth/tokens';
import { RateLimiter, TOO_MANY_REQUESTS_MESSAGE } from '../../shared/rate-limit';
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

/** The `$connect` event: the WebSocket event plus the upgrade request's headers and query string, and the client's address. */
export interface RelayEvent extends APIGatewayProxyWebsocketEventV2 {
  readonly headers?: Record<string, string | undefined>;
  /** API Gateway's identity of the client (a WebSocket event's requestContext carries it; the aws-lambda types omit it). */
  readonly requestContext: APIGatewayProxyWebsocketEventV2['requestContext'] & { readonly identity?: { readonly sourceIp?: string; readonly userAgent?: string } };
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
  /** The per-source budgets (the `auth` scope's counters, shared with the api). @default a RateLimiter over `doc` (STRATUS_SOURCE_* settings) */
  readonly limiter?: RateLimiter;
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

function refusal(status: number, message: string, retryAfterSeconds?: number): RelayResult {
  const reason = STATUS_CODES[status]?.replace(/ /g, '') ?? 'Error';
  const details = retryAfterSeconds === undefined ? {} : { details: { retryAfterSeconds } };
  return {
    statusCode: status,
    headers: { 'content-type': 'application/json', ...(retryAfterSeconds === undefined ? {} : { 'retry-after': String(retryAfterSeconds) }) },
    body: JSON.stringify({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, ...details, code: status }),
  };
}

/** A credential that proved itself: a node token of the URL's cluster (whatever session it asked for), or the session's own API key. */
const isNodeOf = (identity: Identity | undefined, tenant: string): boolean => identity !== undefined && identity.tenant === tenant && identity.groups.includes('system:nodes');

/**
 * Whether a refused `$connect` spends a token of its address's `auth` budget: it did work (a token
 * lookup or a session read: a malformed URL does neither) and its credential did not prove itself.
 * The node side: any refusal unless it presented a node credential of the URL's cluster (a valid
 * token is never counted: a node late for a session that ended, or dialing another node's, is not
 * guessing). The API side: a wrong key (401) or a session that does not exist (404: the api writes
 * its session before it dials, so only a guess finds none).
 */
export function countsAgainstSource(side: RelaySide, status: number, identity: Identity | undefined, tenant: string): boolean {
  if (side === 'api') return status === 401 || status === 404;
  return !isNodeOf(identity, tenant);
}

/** How long a node token that authenticated stays exempt from its address's refusal from memory in this instance (the api's figure). */
const VALID_TTL_MS = 15 * 60_000;

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
  const limiter = deps.limiter ?? new RateLimiter(doc, config, { onError: (e) => log(`kubelet relay: source budget not checked: ${(e as Error).message}`) });
  /** Hashes of node tokens that authenticated lately (never the identity: a hit here verifies nothing). */
  const validTokens = new Map<string, number>();
  /** Notes a lookup's answer: a node of the URL's cluster is remembered, an unknown token forgotten (revoked since). */
  const noteLookup = (token: string, identity: Identity | undefined, tenant: string) => {
    const key = hashToken(token);
    if (!identity) return void validTokens.delete(key);
    if (!isNodeOf(identity, tenant)) return;
    if (validTokens.size >= CACHE_MAX) validTokens.clear();
    validTokens.set(key, now() + VALID_TTL_MS);
  };
  const knownValid = (token: string | undefined): boolean => {
    const until = token === undefined ? undefined : validTokens.get(hashToken(token));
    return until !== undefined && now() < until;
  };
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
    const token = /^Bearer (\S+)$/i.exec(header(event, 'authorization') ?? '')?.[1];
    // An address over its budget: refused before any lookup or read (memory only, no await).
    const source = limiter.someSourceExhaustedNow() ? limiter.sourceOf(event.requestContext.identity?.sourceIp) : undefined;
    const retryAfter = source === undefined ? undefined : limiter.refuseSourceFromMemory('auth', source);
    if (retryAfter !== undefined && !knownValid(token)) return refusal(429, TOO_MANY_REQUESTS_MESSAGE, retryAfter);
    const q = event.queryStringParameters ?? {};
    const side = q.side === 'api' || q.side === 'node' ? q.side : undefined;
    const tenant = q.tenant ?? '';
    const session = q.session ?? '';
    if (!side || !tenant || !SESSION.test(session)) return refusal(404, 'not a relay session URL');
    const identity = side === 'node' && token ? await lookup(token) : undefined;
    if (side === 'node' && token) noteLookup(token, identity, tenant);
    const cred: RelayCredential = side === 'api' ? { side, apiKey: token } : { side, identity };
    const item = await readRelaySession(doc, config, tenant, session);
    const admission = authorizeRelaySide(item, tenant, cred, now());
    if (!admission.ok) {
      log(`kubelet relay: ${side} side of session ${session.slice(0, 8)}… refused (${admission.status}): ${admission.message}`);
      if (countsAgainstSource(side, admission.status, identity, tenant)) await countFailure(event);
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

  /** Spends a token of the address's `auth` budget for a refusal that happened; never throws (the refusal stands). */
  async function countFailure(event: RelayEvent): Promise<void> {
    const source = limiter.sourceOf(event.requestContext.identity?.sourceIp);
    if (source === undefined) return;
    try {
      await limiter.takeSource('auth', source);
    } catch {
      // the limiter fails open (shared/rate-limit.ts)
    }
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
