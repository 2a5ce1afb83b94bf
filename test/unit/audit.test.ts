import { mkdtempSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { auditEvent, FileAuditSink, newAuditContext, shouldAudit, type AuditContext } from '../../shared/audit';

const ctx = (over: Partial<AuditContext> = {}): AuditContext => Object.assign(newAuditContext('id-1', new Date('2026-12-06T01:02:03.456Z')), over);
const alice = { username: 'alice', groups: ['devs', 'system:authenticated'] };

describe('audit policy', () => {
  it.each([
    ['a resource read', ctx({ user: alice, resourceRequest: true }), 'GET', 200, true],
    ['a resource write', ctx({ user: alice, resourceRequest: true }), 'POST', 201, true],
    ['discovery (non-resource GET)', ctx({ user: alice }), 'GET', 200, false],
    ['a non-resource write', ctx({ user: alice }), 'POST', 200, true],
    ['an unauthenticated request', ctx(), 'GET', 401, true],
    ['a refused discovery read', ctx({ user: alice }), 'GET', 403, true],
    ['a throttled request', ctx({ user: alice }), 'GET', 429, true],
    ['an unauthenticated non-resource GET that is not refused (health)', ctx(), 'GET', 200, false],
  ] as const)('%s → logged: %s', (_case, c, method, code, want) => {
    expect(shouldAudit(c, method, code)).toBe(want);
  });
});

describe('audit events', () => {
  it('carries what Kubernetes audit events carry, at level Metadata', () => {
    const e = auditEvent(
      ctx({ user: alice, cluster: 'team-a', verb: 'create', resourceRequest: true, decision: 'allow', objectRef: { resource: 'secrets', namespace: 'apps', name: 's', apiGroup: '', apiVersion: 'v1' } }),
      { method: 'POST', requestURI: '/clusters/team-a/api/v1/namespaces/apps/secrets?fieldManager=kubectl-create', sourceIP: '127.0.0.1', userAgent: 'kubectl/v1.32.0' },
      { code: 201 },
      new Date('2026-12-06T01:02:03.500Z'),
    );
    expect(e).toEqual({
      kind: 'Event',
      apiVersion: 'audit.k8s.io/v1',
      level: 'Metadata',
      auditID: 'id-1',
      stage: 'ResponseComplete',
      requestURI: '/clusters/team-a/api/v1/namespaces/apps/secrets?fieldManager=kubectl-create',
      verb: 'create',
      user: alice,
      sourceIPs: ['127.0.0.1'],
      userAgent: 'kubectl/v1.32.0',
      objectRef: { resource: 'secrets', namespace: 'apps', name: 's', apiGroup: '', apiVersion: 'v1' },
      responseStatus: { metadata: {}, code: 201 },
      requestReceivedTimestamp: '2026-12-06T01:02:03.456000Z',
      stageTimestamp: '2026-12-06T01:02:03.500000Z',
      annotations: { 'authorization.k8s.io/decision': 'allow', 'stratus.io/cluster': 'team-a' },
    });
  });

  it('records failures, refusals with their reason, impersonation and anonymous callers', () => {
    const refused = auditEvent(
      ctx({ user: alice, impersonatedUser: { username: 'bob' }, verb: 'delete', resourceRequest: true, decision: 'forbid', reason: 'pods "x" is forbidden' }),
      { method: 'DELETE', requestURI: '/api/v1/namespaces/default/pods/x' },
      { code: 403, reason: 'Forbidden', message: 'pods "x" is forbidden' },
    );
    expect(refused.impersonatedUser).toEqual({ username: 'bob' });
    expect(refused.responseStatus).toEqual({ metadata: {}, code: 403, status: 'Failure', reason: 'Forbidden', message: 'pods "x" is forbidden' });
    expect(refused.annotations['authorization.k8s.io/decision']).toBe('forbid');
    const anonymous = auditEvent(ctx(), { method: 'GET', requestURI: '/api/v1/secrets' }, { code: 401, reason: 'Unauthorized', message: 'Unauthorized' });
    expect(anonymous.user).toEqual({ username: 'system:anonymous', groups: ['system:unauthenticated'] });
    expect(anonymous.verb).toBe('get');
    expect(auditEvent(ctx({ user: alice, verb: 'watch' }), { method: 'GET', requestURI: '/api/v1/pods?watch=1' }, { code: 200, streamed: true }).stage).toBe('ResponseStarted');
  });
});

describe('the audit log file', () => {
  const event = (i: number) => auditEvent(ctx({ user: alice, verb: 'get', resourceRequest: true }), { method: 'GET', requestURI: `/api/v1/pods/${i}` }, { code: 200 });

  it.each([
    ['line by line', false],
    ['buffered, one batch', true],
  ] as const)('appends JSON lines (mode 0600) and rotates by size, keeping 3 old files (%s)', (_case, buffered) => {
    const dir = mkdtempSync(join(tmpdir(), 'audit-'));
    const path = join(dir, 'audit.log');
    const sink = new FileAuditSink(path, 2000, 3, { buffered });
    for (let i = 0; i < 40; i++) sink.write(event(i));
    if (buffered) sink.flush();
    expect(readdirSync(dir).sort()).toEqual(['audit.log', 'audit.log.1', 'audit.log.2', 'audit.log.3']);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    for (const f of readdirSync(dir)) expect(statSync(join(dir, f)).size).toBeLessThanOrEqual(2000);
    const last = readFileSync(path, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { requestURI: string });
    expect(last.at(-1)!.requestURI).toBe('/api/v1/pods/39');
    // Nothing between the oldest kept and the newest is missing: the files hold consecutive events.
    const all = ['audit.log.3', 'audit.log.2', 'audit.log.1', 'audit.log'].flatMap((f) => readFileSync(join(dir, f), 'utf8').trim().split('\n').map((l) => Number((JSON.parse(l) as { requestURI: string }).requestURI.split('/').pop())));
    expect(all).toEqual(Array.from({ length: all.length }, (_, i) => 40 - all.length + i));
  });

  it('buffered: the lines of one turn of the event loop are appended, in order, at its end', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'audit-'));
    const path = join(dir, 'audit.log');
    const sink = new FileAuditSink(path);
    for (let i = 0; i < 5; i++) sink.write(event(i));
    expect(readdirSync(dir)).toEqual([]);
    await new Promise((r) => setImmediate(r));
    sink.write(event(5));
    await new Promise((r) => setImmediate(r));
    const uris = readFileSync(path, 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as { requestURI: string }).requestURI);
    expect(uris).toEqual([0, 1, 2, 3, 4, 5].map((i) => `/api/v1/pods/${i}`));
    expect(statSync(path).mode & 0o777).toBe(0o600);
  });
});
