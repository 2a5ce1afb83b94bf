import { Writable } from 'node:stream';
import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import { describe, expect, it, vi } from 'vitest';

// The handler module builds its middy chain at import, which needs the Lambda runtime's globals.
vi.hoisted(() => {
  (globalThis as Record<string, unknown>).awslambda = {
    streamifyResponse: (f: unknown) => f,
    HttpResponseStream: { from: (stream: unknown) => stream },
  };
});

// The invocation's end (which may write a cost flush) is observed: when it starts, when it settles.
const order: string[] = [];
let release: () => void = () => undefined;
vi.mock('../../shared/cost/meter', async (original) => ({
  ...(await original<typeof import('../../shared/cost/meter')>()),
  startInvocation: () => ({
    run: <T>(fn: () => Promise<T>) => fn(),
    end: () => {
      order.push('end started');
      return new Promise<void>((r) => {
        release = () => {
          order.push('end settled');
          r();
        };
      });
    },
  }),
}));
import { handler } from '../../functions/api/handler';

// BENCHMARKS.md "Slow GET tail": a due cost flush once held one response a minute for up to 1.5 s.
describe('the api handler ends its metered invocation after the response', () => {
  it('the client has the whole response before the end starts, and the handler waits for the end', async () => {
    const event = {
      rawPath: '/healthz',
      rawQueryString: '',
      headers: {},
      requestContext: { requestId: 'r1', http: { method: 'GET', sourceIp: '127.0.0.1', userAgent: 't' } },
      isBase64Encoded: false,
    } as unknown as APIGatewayProxyEventV2;
    const body: Buffer[] = [];
    const stream = new Writable({
      write(chunk: Buffer, _enc, cb) {
        body.push(chunk);
        cb();
      },
      final(cb) {
        order.push('response ended');
        cb();
      },
    });
    let returned = false;
    const done = (handler as unknown as (e: unknown, s: Writable, c: Context) => Promise<void>)(event, stream, { memoryLimitInMB: '512' } as Context).then(() => {
      returned = true;
      order.push('handler returned');
    });
    await vi.waitFor(() => expect(order).toContain('end started'));
    expect(order).toEqual(['response ended', 'end started']);
    expect(Buffer.concat(body).toString()).toBe('ok');
    await new Promise((r) => setTimeout(r, 20));
    expect(returned).toBe(false);
    release();
    await done;
    expect(order).toEqual(['response ended', 'end started', 'end settled', 'handler returned']);
  });
});
