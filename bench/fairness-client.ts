/**
 * One client of bench/fairness.ts, in a process of its own (as kubectl or a controller on another
 * machine would be: its CPU is not the server's event loop). Driven over the IPC channel:
 *
 *   parent → { kind: 'setup', base, ca, token, path, maxSockets }   (the token never on a command line)
 *   parent → { kind: 'run', seconds, rate, maxInFlight }            open loop at `rate` req/s
 *   child  → { kind: 'result', latencies, errors, sent, admitted, refused, skipped }
 *
 * Requests go over keep-alive connections (at most `maxSockets`), as client-go's do.
 *
 * With `store` in the setup the client is the bench's store probe instead: it reads one item
 * straight from DynamoDB Local (a consistent GetItem, as the api's object read), the store's own
 * latency without any api instance in the way.
 */
import { Agent, request } from 'node:https';
import { GetCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { loadConfig } from '../shared/config';
import { createDocumentClient } from '../shared/store/dynamo';

export interface Setup {
  kind: 'setup';
  base: string;
  ca: string;
  token: string;
  path: string;
  maxSockets: number;
  /** The store probe: the stack's env (its DynamoDB endpoint and tables) and the item's key. */
  store?: { env: Record<string, string>; key: { pk: string; sk: string } };
}
export interface Run {
  kind: 'run';
  seconds: number;
  rate: number;
  maxInFlight: number;
}
export interface ClientResult {
  kind: 'result';
  /** Latency (ms) of each 200 answer. */
  latencies: number[];
  /** When each of those was sent (epoch ms, the same order): where in the server's rate-limit second it fell. */
  sentAt: number[];
  /** When each 200 answer arrived (epoch ms): how the admitted requests spread over the second. */
  admittedAt: number[];
  /** The x-trace-id each of those was sent with (the server's trace, STRATUS_TRACE_REQUESTS). */
  traceIds: string[];
  errors: number;
  /** What the errors were (status codes or error codes), counted. */
  errorKinds: Record<string, number>;
  sent: number;
  admitted: number;
  refused: number;
  /** Requests not sent because `maxInFlight` were outstanding (the open loop's cap). */
  skipped: number;
}

/** A client: its keep-alive connections and what it GETs. */
export interface Client {
  readonly setup: Omit<Setup, 'kind'>;
  readonly agent: Agent;
}

export const makeClient = (setup: Omit<Setup, 'kind'>): Client => ({ setup, agent: new Agent({ keepAlive: true, maxSockets: setup.maxSockets, ca: setup.ca }) });

let storeDoc: { doc: DynamoDBDocumentClient; table: string } | undefined;

/** The store probe's read: 200 when the item is there, 404 when not. */
async function getItem(store: NonNullable<Setup['store']>): Promise<number> {
  if (!storeDoc) {
    Object.assign(process.env, store.env);
    const config = loadConfig(process.env);
    storeDoc = { doc: createDocumentClient(config), table: config.objectsTable };
  }
  const out = await storeDoc.doc.send(new GetCommand({ TableName: storeDoc.table, Key: store.key, ConsistentRead: true }));
  return out.Item ? 200 : 404;
}

let traceSeq = 0;

function get(c: Client, traceId: string): Promise<number> {
  const s = c.setup;
  if (s.store) return getItem(s.store);
  return new Promise((resolve, reject) => {
    const req = request(new URL(s.base + s.path), { method: 'GET', agent: c.agent, headers: { authorization: `Bearer ${s.token}`, accept: 'application/json', 'x-trace-id': traceId } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/** Sends GETs open-loop at `r.rate` req/s for `r.seconds`, then waits for the last answers. */
export async function runClient(c: Client, r: Omit<Run, 'kind'>): Promise<ClientResult> {
  const out: ClientResult = { kind: 'result', latencies: [], sentAt: [], admittedAt: [], traceIds: [], errors: 0, errorKinds: {}, sent: 0, admitted: 0, refused: 0, skipped: 0 };
  const start = performance.now();
  const end = start + r.seconds * 1000;
  const interval = 1000 / r.rate;
  let inFlight = 0;
  const pending = new Set<Promise<void>>();
  // Open loop: request i is due at start + i × interval, whatever the answers do; a late timer
  // sends the overdue ones at once (so the rate holds under a slow event loop).
  for (let i = 0; ; ) {
    const now = performance.now();
    if (now >= end) break;
    while (start + i * interval <= now) {
      i++;
      if (inFlight >= r.maxInFlight) {
        out.skipped++;
        continue;
      }
      inFlight++;
      out.sent++;
      const t0 = performance.now();
      const sentAt = Date.now();
      const traceId = `${process.pid}-${++traceSeq}`;
      const p = get(c, traceId).then(
        (status) => {
          if (status === 200) {
            out.admitted++;
            out.latencies.push(performance.now() - t0);
            out.sentAt.push(sentAt);
            out.traceIds.push(traceId);
            out.admittedAt.push(Date.now());
          } else if (status === 429) out.refused++;
          else {
            out.errors++;
            out.errorKinds[String(status)] = (out.errorKinds[String(status)] ?? 0) + 1;
          }
        },
        (e: NodeJS.ErrnoException) => {
          out.errors++;
          const kind = e.code ?? e.message;
          out.errorKinds[kind] = (out.errorKinds[kind] ?? 0) + 1;
        },
      );
      const tracked = p.finally(() => {
        inFlight--;
        pending.delete(tracked);
      });
      pending.add(tracked);
    }
    await new Promise((res) => setTimeout(res, Math.max(0, start + i * interval - performance.now())));
  }
  await Promise.all([...pending]);
  return out;
}

if (process.send && process.env.STRATUS_BENCH_CLIENT === '1') {
  let client: Client | undefined;
  process.on('message', (m: Setup | Run) => {
    if (m.kind === 'setup') {
      client = makeClient(m);
      process.send!({ kind: 'ready' });
    } else if (m.kind === 'run' && client) {
      void runClient(client, m).then((res) => process.send!(res));
    }
  });
  process.on('disconnect', () => process.exit(0));
}
