import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { functionLogger, withRequestContext } from '../../shared/log';

const context = (awsRequestId: string) => ({ awsRequestId, functionName: 'stratus-controllers', memoryLimitInMB: '512', invokedFunctionArn: 'arn:aws:lambda:eu-west-1:1:function:f', functionVersion: '$LATEST' }) as unknown as Context;

describe('function logs (Powertools)', () => {
  afterEach(() => vi.restoreAllMocks());

  it('are JSON lines with the service, the request id of each invocation, and errors with their message', async () => {
    const lines: string[] = [];
    const capture = (chunk: unknown) => (lines.push(String(chunk)), true);
    vi.spyOn(process.stdout, 'write').mockImplementation(capture);
    vi.spyOn(process.stderr, 'write').mockImplementation(capture);
    const logger = functionLogger('stratus-test');
    const handler = middy(async (event: { n: number }) => {
      logger.info('reconciled', { n: event.n });
      if (event.n === 2) logger.error('reconcile failed', { error: new Error('boom') });
    }).use(withRequestContext(logger));

    await handler({ n: 1 }, context('req-1'));
    await handler({ n: 2 }, context('req-2'));
    vi.restoreAllMocks();

    const got = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(got.map((l) => [l.level, l.message, l.service, l.function_request_id, l.n ?? null])).toEqual([
      ['INFO', 'reconciled', 'stratus-test', 'req-1', 1],
      ['INFO', 'reconciled', 'stratus-test', 'req-2', 2],
      ['ERROR', 'reconcile failed', 'stratus-test', 'req-2', null],
    ]);
    expect(got[2]!.error).toMatchObject({ name: 'Error', message: 'boom' });
  });
});
