import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import { Api, eventually, uniqueName } from '../helpers/api';
import { kubectl } from '../helpers/kubectl';
import { allRunning, createPod, waitForPod } from '../helpers/pods';

/*
 * Issue #16, audit: every API request the policy logs becomes an audit.k8s.io/v1 event in the
 * local stack's audit log (shared/audit.ts), through the real kubectl; a Secret's value never
 * reaches it; `stratus audit` reads it.
 */
type AuditEvent = {
  auditID: string;
  verb: string;
  stage: string;
  level: string;
  user: { username: string; groups?: string[] };
  impersonatedUser?: { username: string };
  objectRef?: { resource?: string; namespace?: string; name?: string; apiVersion?: string };
  responseStatus: { code: number; reason?: string };
  annotations: Record<string, string>;
  requestURI: string;
  stageTimestamp: string;
};

const logPath = () => join(inject('stack').stateDir, 'audit.log');
const events = (): AuditEvent[] => (existsSync(logPath()) ? readFileSync(logPath(), 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as AuditEvent) : []);

function stratus(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile('node', ['bin/stratus.mjs', ...args], { env: { ...process.env } }, (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }));
  });
}

describe('audit log', () => {
  const secret = uniqueName('audited');
  const value = `v4lue-${uniqueName('x')}`;

  it('records creates, reads and deletes with who, what and the answer; never a Secret value', async () => {
    expect((await kubectl(['create', 'secret', 'generic', secret, `--from-literal=password=${value}`])).code).toBe(0);
    expect((await kubectl(['get', 'secret', secret, '-o', 'yaml'])).code).toBe(0);
    expect((await kubectl(['apply', '-f', '-'], { input: `apiVersion: v1\nkind: Secret\nmetadata: {name: ${secret}-applied}\nstringData: {token: ${value}}\n` })).code).toBe(0);
    expect((await kubectl(['delete', 'secret', secret, `${secret}-applied`])).code).toBe(0);
    const mine = await eventually(async () => {
      const es = events().filter((e) => e.objectRef?.resource === 'secrets' && e.objectRef.name === secret);
      return es.some((e) => e.verb === 'delete') ? es : undefined;
    }, 10_000, 'the delete in the audit log');
    const create = mine.find((e) => e.verb === 'create')!;
    expect(create).toMatchObject({
      kind: 'Event',
      apiVersion: 'audit.k8s.io/v1',
      level: 'Metadata',
      stage: 'ResponseComplete',
      user: { username: 'admin' },
      objectRef: { resource: 'secrets', namespace: 'default', name: secret, apiVersion: 'v1' },
      responseStatus: { code: 201 },
      annotations: { 'authorization.k8s.io/decision': 'allow', 'stratus.io/cluster': inject('stack').tenant },
    });
    expect(mine.find((e) => e.verb === 'get')?.responseStatus.code).toBe(200);
    expect(mine.find((e) => e.verb === 'delete')?.responseStatus.code).toBe(200);
    // Metadata level: no bodies, so neither the value nor its base64 appears anywhere.
    const text = readFileSync(logPath(), 'utf8');
    expect(text).not.toContain(value);
    expect(text).not.toContain(Buffer.from(value).toString('base64'));
  });

  it('records refused and unauthenticated requests, and impersonation', async () => {
    const who = uniqueName('mallory');
    const refused = await kubectl(['get', 'secrets', '--as', who]);
    expect(refused.code).not.toBe(0);
    const anon = await kubectl(['get', 'pods', '--token', 'not-a-token', '--user', '']);
    expect(anon.code).not.toBe(0);
    const found = await eventually(async () => {
      const es = events();
      const forbid = es.find((e) => e.impersonatedUser?.username === who && e.responseStatus.code === 403);
      const unauth = es.find((e) => e.responseStatus.code === 401 && e.user.username === 'system:anonymous' && e.requestURI.includes('/pods'));
      return forbid && unauth ? { forbid, unauth } : undefined;
    }, 10_000, 'the refused requests in the audit log');
    expect(found.forbid).toMatchObject({ verb: 'list', user: { username: 'admin' }, objectRef: { resource: 'secrets' }, responseStatus: { code: 403, reason: 'Forbidden' }, annotations: { 'authorization.k8s.io/decision': 'forbid' } });
    expect(found.unauth.responseStatus.reason).toBe('Unauthorized');
  });

  it('is not filled with discovery reads', () => {
    // Discovery is non-resource: a read without an objectRef that succeeded would be one (non-resource
    // writes, such as node agents' joins, are audited).
    expect(events().filter((e) => !e.objectRef && e.verb === 'get' && e.responseStatus.code < 400).map((e) => e.requestURI)).toEqual([]);
  });

  it('`stratus audit` prints it, filtered', async () => {
    const out = await stratus(['audit', '--state-dir', inject('stack').stateDir, '--verb', 'delete', '--cluster', inject('stack').tenant]);
    expect(out.stderr).toBe('');
    expect(out.code).toBe(0);
    const lines = out.stdout.trim().split('\n');
    expect(lines.length).toBeGreaterThan(0);
    for (const l of lines) expect(l).toMatch(/Z {2}\d{3} {2}\S+ {2}\S+ .* delete {2}/);
    expect(out.stdout).toContain(`secrets default/${secret}`);
    const json = await stratus(['audit', '--state-dir', inject('stack').stateDir, '--verb', 'delete', '-o', 'json', '--tail', '1']);
    expect((JSON.parse(json.stdout) as AuditEvent).verb).toBe('delete');
  });

  it('an exec upgrade is audited like any other request (create on pods/exec), refused ones with their code', async () => {
    // kubectl exec reads the pod before it upgrades: the upgrade itself, as kubectl then sends it.
    const pod = uniqueName('no-such-pod');
    const res = await Api.forTenant().send('GET', `/api/v1/namespaces/default/pods/${pod}/exec?command=true&stdout=true`, undefined, {
      connection: 'Upgrade',
      upgrade: 'websocket',
      'sec-websocket-version': '13',
      'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==',
      'sec-websocket-protocol': 'v5.channel.k8s.io',
    });
    expect(res.status).toBe(404);
    const mine = await eventually(async () => {
      const es = events().filter((e) => e.objectRef?.name === pod && (e.objectRef as { subresource?: string }).subresource === 'exec');
      return es.length > 0 ? es : undefined;
    });
    for (const e of mine) {
      expect(e.verb).toBe('create');
      expect(e.stage).toBe('ResponseComplete');
      expect(e.user.username).toBe('admin');
      expect(e.responseStatus.code).toBe(404);
      expect(e.annotations['authorization.k8s.io/decision']).toBeUndefined();
    }
  });

  it('a relayed exec that ends is audited twice under one auditID: ResponseStarted 101, then ResponseComplete 101 at its close', async () => {
    // Prepare
    const api = Api.forTenant();
    const pod = uniqueName('audited-exec');
    await createPod(api, '/api/v1/namespaces/default', pod, [{ name: 'main', image: 'stratus-test/busybox:1.36', command: ['sleep', '3600'] }]);
    await waitForPod(api, '/api/v1/namespaces/default', pod, 'running', allRunning);
    // Act
    const ran = await kubectl(['exec', pod, '--', 'sh', '-c', 'sleep 1; echo done']);
    // Assess
    expect(ran.code, ran.stderr).toBe(0);
    expect(ran.stdout.trim()).toBe('done');
    const mine = await eventually(async () => {
      const es = events().filter((e) => e.objectRef?.name === pod && (e.objectRef as { subresource?: string }).subresource === 'exec');
      return es.some((e) => e.stage === 'ResponseComplete') ? es : undefined;
    }, 10_000, 'the exec\'s ResponseComplete in the audit log');
    expect(mine.map((e) => e.stage)).toEqual(['ResponseStarted', 'ResponseComplete']);
    const [started, complete] = mine as [AuditEvent, AuditEvent];
    expect(complete.auditID).toBe(started.auditID);
    for (const e of mine) {
      expect(e.verb).toBe('create');
      expect(e.user.username).toBe('admin');
      expect(e.responseStatus.code).toBe(101);
      expect(e.annotations['authorization.k8s.io/decision']).toBe('allow');
    }
    // Stamped at the close: after the command's second of sleep, not when the stream started.
    expect(Date.parse(complete.stageTimestamp) - Date.parse(started.stageTimestamp)).toBeGreaterThanOrEqual(1000);
    await api.delete(`/api/v1/namespaces/default/pods/${pod}`);
  });
});
