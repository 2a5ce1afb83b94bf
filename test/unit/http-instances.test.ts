import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { pickInstance } from '../../infra/local/http-instances';
import { DEFAULT_HTTP_INSTANCES, httpInstanceCount } from '../../infra/local/runtime';
import { auditEvent, FileAuditSink, ForwardingAuditSink, newAuditContext } from '../../shared/audit';

describe('pickInstance (which api instance takes a new connection)', () => {
  it.each([
    { open: [0, 0], from: 0, want: 0, why: 'all idle: the round-robin turn' },
    { open: [0, 0], from: 1, want: 1, why: 'all idle: the next turn' },
    { open: [3, 1, 2], from: 0, want: 1, why: 'the fewest open connections' },
    { open: [2, 5, 2], from: 1, want: 2, why: 'equals: the first at or after the turn' },
    { open: [undefined, 9], from: 0, want: 1, why: 'a gone instance is skipped' },
    { open: [undefined, undefined], from: 0, want: -1, why: 'none left' },
    { open: [], from: 0, want: -1, why: 'no instances' },
  ])('$why', ({ open, from, want }) => {
    expect(pickInstance(open, from)).toBe(want);
  });

  it('spreads connections held open at once evenly', () => {
    const open = [0, 0, 0, 0];
    let next = 0;
    for (let k = 0; k < 10; k++) {
      const i = pickInstance(open, next);
      open[i]!++;
      next = (i + 1) % open.length;
    }
    expect(open).toEqual([3, 3, 2, 2]);
  });
});

describe('httpInstanceCount', () => {
  it.each([
    { option: undefined, env: {}, want: DEFAULT_HTTP_INSTANCES },
    { option: undefined, env: { STRATUS_API_INSTANCES: '' }, want: DEFAULT_HTTP_INSTANCES },
    { option: undefined, env: { STRATUS_API_INSTANCES: '4' }, want: 4 },
    { option: undefined, env: { STRATUS_API_INSTANCES: '0' }, want: 0 },
    { option: 1, env: { STRATUS_API_INSTANCES: '4' }, want: 1 },
  ])('option $option, env $env: $want', ({ option, env, want }) => {
    expect(httpInstanceCount(option, env)).toBe(want);
  });

  it.each([{ v: '-1' }, { v: '2.5' }, { v: 'many' }, { v: '65' }])('refuses STRATUS_API_INSTANCES=$v', ({ v }) => {
    expect(() => httpInstanceCount(undefined, { STRATUS_API_INSTANCES: v })).toThrow(/integer from 0 to 64/);
  });
});

describe('audit lines from several instances', () => {
  const event = (name: string) => {
    const ctx = newAuditContext();
    ctx.objectRef = { resource: 'configmaps', namespace: 'default', name, apiVersion: 'v1' };
    return auditEvent(ctx, { method: 'POST', requestURI: `/api/v1/namespaces/default/configmaps/${name}`, sourceIP: '127.0.0.1' }, { code: 201 });
  };

  it('an instance sends the lines of one event-loop turn together, each a whole JSON line', async () => {
    const sent: string[][] = [];
    const sink = new ForwardingAuditSink((lines) => sent.push(lines));
    sink.write(event('a'));
    sink.write(event('b'));
    expect(sent).toEqual([]);
    await new Promise((r) => setImmediate(r));
    expect(sent).toHaveLength(1);
    expect(sent[0]!.map((l) => (JSON.parse(l) as { objectRef: { name: string } }).objectRef.name)).toEqual(['a', 'b']);
    expect(sent[0]!.every((l) => l.endsWith('\n') && !l.slice(0, -1).includes('\n'))).toBe(true);
    sink.write(event('c'));
    sink.flush();
    expect(sent).toHaveLength(2);
  });

  it('the one writer appends forwarded lines as they came, and rotates', () => {
    const path = join(mkdtempSync(join(tmpdir(), 'audit-fwd-')), 'audit.log');
    const sink = new FileAuditSink(path, 600, 3, { buffered: false });
    const lines = ['x', 'y', 'z'].map((n) => `${JSON.stringify(event(n))}\n`);
    for (const l of lines) sink.writeLine(l);
    const kept = [readFileSync(`${path}.1`, 'utf8'), readFileSync(path, 'utf8')].join('');
    expect(kept.split('\n').filter(Boolean).every((l) => JSON.parse(l) !== undefined)).toBe(true);
    expect(readFileSync(path, 'utf8')).toBe(lines[2]);
  });
});
