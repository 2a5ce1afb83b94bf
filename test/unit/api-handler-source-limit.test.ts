import { Writable } from 'node:stream';
import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import { describe, expect, it, vi } from 'vitest';

/*
 * The api handler's order of work for a client address over its budget of failed
 * authentications (functions/api/source-limit.ts): the 429 comes before the token is verified or
 * anything is read. The DynamoDB client is a stand-in that records every command (token lookups
 * find nothing; the limiter's counters do the conditional ADD), so "no work" is observable.
 */
const sent: { name: string; pk?: string }[] = [];
const counters = new Map<string, number>();

vi.hoisted(() => {
  (globalThis as Record<string, unknown>).awslambda = {
    streamifyResponse: (f: unknown) => f,
    HttpResponseStream: { from: (stream: unknown) => stream },
  };
  process.env.STRATUS_SOURCE_AUTH_FAILURE_LIMIT = '3';
  process.env.STRATUS_SOURCE_LIMIT_EXEMPT = '';
});

vi.mock('../../shared/store/dynamo', async (original) => ({
  ...(await original<typeof import('../../shared/store/dynamo')>()),
  createDocumentClient: () => ({
    send: async (cmd: { constructor: { name: string }; input: { Key?: { pk: string; sk: string }; ExpressionAttributeValues?: Record<string, number> } }) => {
      await Promise.resolve();
      const pk = cmd.input.Key?.pk;
      sent.push({ name: cmd.constructor.name, pk });
      if (cmd.constructor.name !== 'UpdateCommand' || !pk?.startsWith('~source#')) return {};
      const key = `${pk}|${cmd.input.Key!.sk}`;
      const cur = counters.get(key);
      if (cur !== undefined && cur >= cmd.input.ExpressionAttributeValues![':limit']!) throw Object.assign(new Error('condition'), { name: 'ConditionalCheckFailedException' });
      counters.set(key, (cur ?? 0) + cmd.input.ExpressionAttributeValues![':n']!);
      return { Attributes: { used: counters.get(key) } };
    },
  }),
}));
import { handler } from '../../functions/api/handler';

async function call(sourceIp: string, token: string): Promise<{ status: number; headers: Record<string, string>; body: any }> {
  const event = {
    rawPath: '/clusters/c1/api/v1/namespaces',
    rawQueryString: '',
    headers: { authorization: `Bearer ${token}` },
    requestContext: { requestId: `r-${Math.random()}`, http: { method: 'GET', sourceIp, userAgent: 't' } },
    isBase64Encoded: false,
  } as unknown as APIGatewayProxyEventV2;
  const chunks: Buffer[] = [];
  let prelude: { statusCode: number; headers: Record<string, string> } | undefined;
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      chunks.push(Buffer.from(chunk));
      cb();
    },
  });
  // middy and the fast refusal both call HttpResponseStream.from(stream, prelude) first.
  const from = (globalThis as unknown as { awslambda: { HttpResponseStream: { from: (s: Writable, p: typeof prelude) => Writable } } }).awslambda.HttpResponseStream;
  const keep = from.from;
  from.from = (s, p) => {
    prelude = p;
    return s;
  };
  try {
    await (handler as unknown as (e: unknown, s: Writable, c: Context) => Promise<void>)(event, stream, { memoryLimitInMB: '512' } as Context);
  } finally {
    from.from = keep;
  }
  const text = Buffer.concat(chunks).toString('utf8');
  return { status: prelude?.statusCode ?? 0, headers: prelude?.headers ?? {}, body: text ? JSON.parse(text) : undefined };
}

describe('the api handler and a client address over its budget of failed authentications', () => {
  it('answers 429 with Retry-After before verifying the token or reading anything; another address is verified as before', async () => {
    // Prepare + Act: failures until the shared counter refuses this address (budget 3, leases
    // of 1), then the next one is refused; the sends each call made are recorded (whatever
    // second the calls fall in, the first 429 comes from memory, with no send)
    const source = '198.51.100.23';
    const statuses: number[] = [];
    let refused: Awaited<ReturnType<typeof call>> | undefined;
    let during = -1;
    for (let i = 0; i < 40 && !refused; i++) {
      const before = sent.length;
      const a = await call(source, `st_guess-${i}`);
      statuses.push(a.status);
      if (a.status === 429) {
        refused = a;
        during = sent.length - before;
      }
    }
    const before = sent.length;
    const elsewhere = await call('198.51.100.24', 'st_guess-elsewhere');
    // Assess
    expect(statuses.slice(0, 3)).toEqual([401, 401, 401]);
    expect(statuses.slice(0, -1).every((c) => c === 401)).toBe(true);
    expect(refused?.status).toBe(429);
    expect(refused?.headers['retry-after']).toMatch(/^[1-9]$/);
    expect(refused?.body).toMatchObject({ kind: 'Status', reason: 'TooManyRequests', message: 'Too many requests, please try again later.', code: 429 });
    expect(during).toBe(0);
    expect(sent.some((c) => c.pk === `~source#${source}`)).toBe(true);
    expect(elsewhere.status).toBe(401);
    expect(sent.length).toBeGreaterThan(before);
  });
});
