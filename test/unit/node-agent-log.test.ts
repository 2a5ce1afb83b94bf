import type { SQSClient } from '@aws-sdk/client-sqs';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { KubeletServer, requestIdOf } from '../../node-agent/kubelet-server';
import { agentLogger, withCurrentLogKeys, withLogKeys, type AgentLoggerOptions, type Logger } from '../../node-agent/log';
import { PlacementQueue } from '../../node-agent/placement-queue';
import type { ContainerLogSource } from '../../node-agent/runtime';
import { kubeletCall, testNodeTls } from '../helpers/kubelet-tls';

/*
 * The node agent's logs (node-agent/log.ts): Powertools JSON lines with service node-agent, the
 * node and tenant, on stderr; the keys of the unit of work (placement message, kubelet request)
 * on every line logged within it.
 */

type Line = Record<string, unknown>;

/** An agent logger whose lines are collected, parsed. */
function captured(o: Partial<AgentLoggerOptions> = {}): { log: Logger; lines: Line[] } {
  const lines: Line[] = [];
  const sink = { write: (chunk: string) => lines.push(...chunk.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Line)) };
  return { log: agentLogger({ node: 'node-1', tenant: 'acme', sink, ...o }), lines };
}

afterEach(() => vi.restoreAllMocks());

describe('agentLogger', () => {
  it('writes one JSON line per entry with level, message, timestamp, service, node, tenant and the fields', () => {
    // Prepare
    const { log, lines } = captured();
    // Act
    log.info('pod status updated', { pod: 'default/web', phase: 'Running' });
    log.warn('lease renewal failed', { error: 'timeout' });
    log.error('node agent failed to start', { error: new Error('boom') });
    // Assess
    expect(lines.map((l) => [l.level, l.message, l.service, l.node, l.tenant])).toEqual([
      ['INFO', 'pod status updated', 'node-agent', 'node-1', 'acme'],
      ['WARN', 'lease renewal failed', 'node-agent', 'node-1', 'acme'],
      ['ERROR', 'node agent failed to start', 'node-agent', 'node-1', 'acme'],
    ]);
    expect(lines[0]).toMatchObject({ pod: 'default/web', phase: 'Running' });
    expect(Number.isNaN(Date.parse(String(lines[0]!.timestamp)))).toBe(false);
    expect(lines[2]!.error).toMatchObject({ name: 'Error', message: 'boom' });
  });

  it('writes every level to stderr by default, nothing to stdout', () => {
    // Prepare
    const out: string[] = [];
    const err: string[] = [];
    vi.spyOn(process.stdout, 'write').mockImplementation((c: unknown) => (out.push(String(c)), true));
    vi.spyOn(process.stderr, 'write').mockImplementation((c: unknown) => (err.push(String(c)), true));
    const log = agentLogger({ node: 'node-1', tenant: 'acme' });
    // Act
    log.info('kubelet endpoint listening', { port: 10250 });
    log.warn('w');
    log.error('e');
    vi.restoreAllMocks();
    // Assess
    expect(out).toEqual([]);
    expect(err.map((l) => (JSON.parse(l) as Line).message)).toEqual(['kubelet endpoint listening', 'w', 'e']);
  });

  it.each([
    { level: 'warn' as const, written: ['WARN', 'ERROR'] },
    { level: 'error' as const, written: ['ERROR'] },
    { level: 'info' as const, written: ['INFO', 'WARN', 'ERROR'] },
    { level: 'silent' as const, written: [] },
  ])('at level $level writes $written', ({ level, written }) => {
    // Prepare
    const { log, lines } = captured({ logLevel: level });
    // Act
    log.info('i');
    log.warn('w');
    log.error('e');
    // Assess
    expect(lines.map((l) => l.level)).toEqual(written);
  });

  it('takes the level from POWERTOOLS_LOG_LEVEL when none is given', () => {
    // Prepare
    vi.stubEnv('POWERTOOLS_LOG_LEVEL', 'ERROR');
    try {
      const { log, lines } = captured();
      // Act
      log.warn('w');
      log.error('e');
      // Assess
      expect(lines.map((l) => l.message)).toEqual(['e']);
    } finally {
      vi.unstubAllEnvs();
    }
  });
});

describe('withLogKeys', () => {
  it('adds the keys of the unit of work to lines logged within it, across awaits, nested, and not outside', async () => {
    // Prepare
    const { log, lines } = captured();
    // Act
    await withLogKeys({ placementMessageId: 'm-1' }, async () => {
      await new Promise((r) => setTimeout(r, 1));
      log.info('synced');
      await withLogKeys({ syncId: 's-1' }, async () => log.info('inner', { own: true }));
    });
    log.info('after');
    // Assess
    expect(lines.map((l) => [l.message, l.placementMessageId ?? null, l.syncId ?? null])).toEqual([
      ['synced', 'm-1', null],
      ['inner', 'm-1', 's-1'],
      ['after', null, null],
    ]);
    expect(lines[1]!.own).toBe(true);
  });

  it('keeps concurrent units apart', async () => {
    // Prepare
    const { log, lines } = captured();
    const unit = (id: string, delayMs: number) =>
      withLogKeys({ requestId: id }, async () => {
        await new Promise((r) => setTimeout(r, delayMs));
        log.info(`done ${id}`);
      });
    // Act
    await Promise.all([unit('a', 5), unit('b', 1)]);
    // Assess
    expect(lines.map((l) => [l.message, l.requestId])).toEqual([
      ['done b', 'b'],
      ['done a', 'a'],
    ]);
  });

  it('withCurrentLogKeys fixes the keys into a logger used from callbacks outside the unit', async () => {
    // Prepare
    const { log, lines } = captured();
    const fixed = withLogKeys({ requestId: 'r-9' }, () => withCurrentLogKeys(log));
    // Act
    fixed.warn('exec websocket failed');
    // Assess
    expect(lines[0]).toMatchObject({ message: 'exec websocket failed', requestId: 'r-9', node: 'node-1' });
  });
});

describe('requestIdOf', () => {
  const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
  it.each([
    { name: 'a plain id is kept', header: 'req-123_abc.4:5', keep: true },
    { name: 'the first of several is kept', header: ['first', 'second'], keep: true },
    { name: 'no header: a new uuid', header: undefined, keep: false },
    { name: 'empty: a new uuid', header: '', keep: false },
    { name: 'a newline (log injection): a new uuid', header: 'a\n{"level":"ERROR"}', keep: false },
    { name: 'spaces and quotes: a new uuid', header: 'a "b"', keep: false },
    { name: 'longer than 128: a new uuid', header: 'x'.repeat(129), keep: false },
  ])('$name', ({ header, keep }) => {
    const id = requestIdOf(header);
    if (keep) expect(id).toBe(Array.isArray(header) ? header[0] : header);
    else expect(id).toMatch(uuid);
  });
});

describe('units of work carry their id', () => {
  it('every line about a placement message, the handler\'s too, carries its SQS message id', async () => {
    // Prepare: a fake SQS that delivers a good and a malformed message once
    const { log, lines } = captured();
    const abort = new AbortController();
    let received = false;
    const sqs = {
      send: async (cmd: { constructor: { name: string } }) => {
        switch (cmd.constructor.name) {
          case 'CreateQueueCommand':
            return { QueueUrl: 'http://sqs/q' };
          case 'GetQueueAttributesCommand':
            return { Attributes: { QueueArn: 'arn:aws:sqs:r:1:q-dlq' } };
          case 'ReceiveMessageCommand':
            if (received) {
              abort.abort();
              return { Messages: [] };
            }
            received = true;
            return {
              Messages: [
                { MessageId: 'msg-good', ReceiptHandle: 'h1', Body: JSON.stringify({ kind: 'sync', tenant: 'acme', namespace: 'default', name: 'web', uid: 'u1' }) },
                { MessageId: 'msg-bad', ReceiptHandle: 'h2', Body: 'not json' },
              ],
            };
          default:
            return {};
        }
      },
    } as unknown as SQSClient;
    const queue = new PlacementQueue({ sqs, queueName: 'q', deadLetterQueueName: 'q-dlq', log });
    // Act
    await queue.poll(abort.signal, async (msg) => log.info('syncing', { pod: `${msg.namespace}/${msg.name}` }));
    // Assess
    expect(lines.find((l) => l.message === 'syncing')).toMatchObject({ placementMessageId: 'msg-good', pod: 'default/web', node: 'node-1' });
    expect(lines.find((l) => l.message === 'malformed placement message deleted')).toMatchObject({ placementMessageId: 'msg-bad' });
    expect(lines.find((l) => l.message === 'polling placement queue')?.placementMessageId).toBeUndefined();
  });

  it('a kubelet request\'s lines carry its X-Request-Id (or a new id)', async () => {
    // Prepare: a log source that fails, so the server logs the request
    const { log, lines } = captured();
    const logs: ContainerLogSource = {
      containerLogs: async () => {
        log.info('reading container log');
        throw new Error('docker went away');
      },
    };
    const tls = await testNodeTls();
    const server = new KubeletServer({ logs, tls: tls.server, host: '127.0.0.1', log });
    const port = await server.listen();
    try {
      // Act
      const get = (headers: Record<string, string>) => kubeletCall(tls, port, '/containerLogs/default/web/main', { headers });
      expect((await get({ 'x-request-id': 'api-req-7' })).status).toBe(500);
      expect((await get({})).status).toBe(500);
    } finally {
      await server.close();
    }
    // Assess
    const failed = lines.filter((l) => l.message === 'kubelet endpoint request failed');
    expect(lines.filter((l) => l.message === 'reading container log').map((l) => l.requestId)).toEqual(failed.map((l) => l.requestId));
    expect(failed[0]).toMatchObject({ requestId: 'api-req-7', node: 'node-1', service: 'node-agent' });
    expect(failed[1]!.requestId).toMatch(/^[0-9a-f-]{36}$/);
  });
});
