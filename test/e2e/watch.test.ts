import { spawn } from 'node:child_process';
import type { ClientRequest } from 'node:http';
import { request } from 'node:https';
import { DeleteCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createToken } from '../../shared/auth/tokens';
import { loadConfig } from '../../shared/config';
import { createDocumentClient } from '../../shared/store/dynamo';
import { Api, eventually, uniqueName } from '../helpers/api';

/*
 * Issue #3 part A: watch over the response-streaming api function, as raw HTTPS clients and
 * kubectl use it. Pods here name a scheduler nobody runs, so only these tests write them.
 */
let api: Api;
let ns: string;

const podBody = (name: string, labels: Record<string, string> = {}) => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, labels },
  spec: { schedulerName: 'nobody', containers: [{ name: 'main', image: 'stratus-test/busybox:1.36' }] },
});

interface Event {
  type: string;
  object: any;
}

/** A raw watch: the HTTP response as it streams, split into events line by line. */
class RawWatch {
  readonly events: Event[] = [];
  status = 0;
  headers: Record<string, string | string[] | undefined> = {};
  /** The body, for a response that is not a stream (an error). */
  text = '';
  ended = false;
  private req?: ClientRequest;

  static open(path: string, opts: { token?: string; accept?: string; base?: string } = {}): Promise<RawWatch> {
    const w = new RawWatch();
    const stack = inject('stack');
    const url = new URL(`${opts.base ?? `${stack.apiUrl}/clusters/${stack.tenant}`}${path}`);
    return new Promise((resolve, reject) => {
      w.req = request(
        url,
        { ca: stack.caCert, headers: { authorization: `Bearer ${opts.token ?? stack.adminToken}`, accept: opts.accept ?? 'application/json' } },
        (res) => {
          w.status = res.statusCode ?? 0;
          w.headers = res.headers;
          let buf = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => {
            w.text += chunk;
            buf += chunk;
            let nl: number;
            while ((nl = buf.indexOf('\n')) >= 0) {
              const line = buf.slice(0, nl);
              buf = buf.slice(nl + 1);
              if (line.trim()) w.events.push(JSON.parse(line) as Event);
            }
          });
          res.on('end', () => (w.ended = true));
          res.on('error', () => (w.ended = true));
          resolve(w);
        },
      );
      w.req.on('error', reject);
      w.req.end();
    });
  }

  /** Waits until `n` events arrived (or the stream ended), then returns them. */
  async take(n: number, what = `${n} events`): Promise<Event[]> {
    await eventually(async () => (this.events.length >= n || this.ended ? true : undefined), 30_000, what);
    return this.events.slice(0, n);
  }

  async untilEnded(): Promise<Event[]> {
    await eventually(async () => (this.ended ? true : undefined), 30_000, 'the watch to end');
    return this.events;
  }

  close(): void {
    this.req?.destroy();
  }
}

const objectEvents = (events: Event[]) => events.filter((e) => e.type !== 'BOOKMARK');
const summary = (events: Event[]) => events.map((e) => `${e.type} ${e.object.metadata?.name ?? ''}`.trim());

beforeAll(async () => {
  api = Api.forTenant('default');
  ns = uniqueName('watch');
  expect((await api.post('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } })).status).toBe(201);
});

afterAll(async () => {
  await api.delete(`/api/v1/namespaces/${ns}`);
});

describe('watch over HTTPS', () => {
  it('from a list resourceVersion sees ADDED, MODIFIED, DELETED of a pod, in order, as JSON lines', async () => {
    // Prepare
    const list = await api.get(`/api/v1/namespaces/${ns}/pods`);
    const w = await RawWatch.open(`/api/v1/namespaces/${ns}/pods?watch=true&resourceVersion=${list.body.metadata.resourceVersion}`);
    const name = uniqueName('w');
    try {
      // Act
      const created = await api.post(`/api/v1/namespaces/${ns}/pods`, podBody(name));
      const patched = await api.patch(`/api/v1/namespaces/${ns}/pods/${name}`, { metadata: { labels: { step: '1' } } });
      const deleted = await api.delete(`/api/v1/namespaces/${ns}/pods/${name}`);
      const events = await w.take(3);
      // Assess
      expect(w.status).toBe(200);
      expect(w.headers['content-type']).toBe('application/json');
      expect(summary(events)).toEqual([`ADDED ${name}`, `MODIFIED ${name}`, `DELETED ${name}`]);
      expect(events.map((e) => e.object.metadata.resourceVersion)).toEqual([
        created.body.metadata.resourceVersion,
        patched.body.metadata.resourceVersion,
        deleted.body.metadata.resourceVersion,
      ]);
      expect(events[1]!.object.metadata.labels).toEqual({ step: '1' });
      expect(events[0]!.object).toMatchObject({ apiVersion: 'v1', kind: 'Pod' });
    } finally {
      w.close();
    }
  });

  it('without resourceVersion starts with the current state as ADDED, then changes; all namespaces and one object work too', async () => {
    // Prepare
    const existing = uniqueName('old');
    await api.post(`/api/v1/namespaces/${ns}/pods`, podBody(existing));
    const w = await RawWatch.open(`/api/v1/namespaces/${ns}/pods?watch=1`);
    const all = await RawWatch.open(`/api/v1/pods?watch=true&fieldSelector=metadata.namespace%3D${ns},metadata.name%3D${existing}`);
    const one = await RawWatch.open(`/api/v1/namespaces/${ns}/pods/${existing}?watch=true`);
    try {
      await w.take(1);
      await all.take(1);
      await one.take(1);
      // Act
      await api.patch(`/api/v1/namespaces/${ns}/pods/${existing}`, { metadata: { labels: { again: 'yes' } } });
      // Assess
      expect(summary(await w.take(2))).toEqual([`ADDED ${existing}`, `MODIFIED ${existing}`]);
      expect(summary(await all.take(2))).toEqual([`ADDED ${existing}`, `MODIFIED ${existing}`]);
      expect(summary(await one.take(2))).toEqual([`ADDED ${existing}`, `MODIFIED ${existing}`]);
    } finally {
      w.close();
      all.close();
      one.close();
      await api.delete(`/api/v1/namespaces/${ns}/pods/${existing}`);
    }
  });

  it('a cluster-scoped collection (namespaces) can be watched', async () => {
    // Prepare
    const list = await api.get('/api/v1/namespaces');
    const w = await RawWatch.open(`/api/v1/namespaces?watch=true&resourceVersion=${list.body.metadata.resourceVersion}&labelSelector=watch-test%3D${ns}`);
    const name = uniqueName('wns');
    try {
      // Act
      await api.post('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels: { 'watch-test': ns } } });
      await api.delete(`/api/v1/namespaces/${name}`);
      // Assess: deleting an empty namespace marks it Terminating, then removes it.
      const events = await w.take(3);
      expect(summary(events)).toEqual([`ADDED ${name}`, `MODIFIED ${name}`, `DELETED ${name}`]);
      expect(events[1]!.object.status.phase).toBe('Terminating');
    } finally {
      w.close();
    }
  });

  it('asked for as=Table (kubectl get -w), each event carries a one-row Table; only the first has the columns', async () => {
    // Prepare
    const list = await api.get(`/api/v1/namespaces/${ns}/pods`);
    const w = await RawWatch.open(`/api/v1/namespaces/${ns}/pods?watch=true&resourceVersion=${list.body.metadata.resourceVersion}`, {
      accept: 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json',
    });
    const name = uniqueName('tw');
    try {
      // Act
      await api.post(`/api/v1/namespaces/${ns}/pods`, podBody(name));
      await api.delete(`/api/v1/namespaces/${ns}/pods/${name}`);
      const [added, deleted] = await w.take(2);
      // Assess
      expect(added).toMatchObject({ type: 'ADDED', object: { kind: 'Table', apiVersion: 'meta.k8s.io/v1' } });
      expect(added!.object.columnDefinitions.map((c: { name: string }) => c.name).slice(0, 4)).toEqual(['Name', 'Ready', 'Status', 'Restarts']);
      expect(added!.object.rows).toHaveLength(1);
      expect(added!.object.rows[0].cells.slice(0, 3)).toEqual([name, '0/1', 'Pending']);
      expect(added!.object.rows[0].object).toMatchObject({ kind: 'PartialObjectMetadata', metadata: { name } });
      expect(deleted).toMatchObject({ type: 'DELETED', object: { kind: 'Table', columnDefinitions: [] } });
      expect(deleted!.object.rows[0].cells[0]).toBe(name);
    } finally {
      w.close();
    }
  });

  it('ends by itself after timeoutSeconds', async () => {
    // Prepare + Act
    const w = await RawWatch.open(`/api/v1/namespaces/${ns}/pods?watch=true&timeoutSeconds=1`);
    // Assess
    const events = await w.untilEnded();
    expect(w.status).toBe(200);
    expect(events).toEqual([]);
  });
});

describe('watch from a version the log no longer reaches', () => {
  it('gets an ERROR event with a 410 Expired Status, then the stream ends', async () => {
    // Prepare: a tenant of its own whose oldest config map log entries expire (as TTL does).
    const config = loadConfig();
    const doc = createDocumentClient(config);
    const tenant = uniqueName('expired').replace(/[^a-z0-9-]/g, '');
    const token = await createToken(doc, config, { tenant, user: 'alice', groups: ['system:masters'] });
    const other = Api.forTenant(tenant, token);
    const created: string[] = [];
    for (let i = 0; i < 4; i++) {
      const r = await other.post('/api/v1/namespaces/default/configmaps', { metadata: { name: `cm-${i}` }, data: { i: String(i) } });
      expect(r.status).toBe(201);
      created.push(r.body.metadata.resourceVersion);
    }
    const first = Number(created[0]);
    const kept = Number(created[1]);
    // The cluster's own ConfigMaps (kube-root-ca.crt in each system namespace) may take versions
    // between the test's, so what is removed and aged is chosen by version, not by count.
    const log = await doc.send(new QueryCommand({ TableName: config.changesTable, KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': `${tenant}#configmaps` }, ProjectionExpression: 'sk' }));
    const versions = (log.Items ?? []).map((i) => String(i.sk));
    for (const sk of versions.filter((v) => Number(v) <= kept)) {
      await doc.send(new DeleteCommand({ TableName: config.changesTable, Key: { pk: `${tenant}#configmaps`, sk } }));
    }
    // The entries left were written a minute ago (as they would be, long before TTL deletes the
    // older ones): a gap before a fresh entry could be a write in flight, which readers wait for.
    for (const sk of versions.filter((v) => Number(v) > kept)) {
      await doc.send(
        new UpdateCommand({
          TableName: config.changesTable,
          Key: { pk: `${tenant}#configmaps`, sk },
          UpdateExpression: 'SET #ttl = #ttl - :minute',
          ExpressionAttributeNames: { '#ttl': 'ttl' },
          ExpressionAttributeValues: { ':minute': 60 },
        }),
      );
    }
    // Act
    const w = await RawWatch.open(`/api/v1/namespaces/default/configmaps?watch=true&resourceVersion=${first}`, {
      token,
      base: `${inject('stack').apiUrl}/clusters/${tenant}`,
    });
    const events = await w.untilEnded();
    // Assess
    expect(w.status).toBe(200);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      type: 'ERROR',
      object: { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'Expired', code: 410 },
    });
    expect(events[0]!.object.message).toMatch(/^too old resource version: \d+ \(\d+\)$/);
    // A version still in the log works as ever.
    const fine = await RawWatch.open(`/api/v1/namespaces/default/configmaps?watch=true&resourceVersion=${kept}&timeoutSeconds=1`, {
      token,
      base: `${inject('stack').apiUrl}/clusters/${tenant}`,
    });
    expect(summary(await fine.untilEnded()).filter((e) => e.includes(' cm-'))).toEqual(['ADDED cm-2', 'ADDED cm-3']);
  });
});

describe('bookmarks', () => {
  it('come only with allowWatchBookmarks: before the timeout, and at the end of initial events', async () => {
    // Prepare
    const name = uniqueName('bm');
    const created = await api.post(`/api/v1/namespaces/${ns}/pods`, podBody(name));
    const rv = created.body.metadata.resourceVersion;
    try {
      // Act
      const without = await RawWatch.open(`/api/v1/namespaces/${ns}/pods?watch=true&resourceVersion=${rv}&timeoutSeconds=1`);
      const withBm = await RawWatch.open(`/api/v1/namespaces/${ns}/pods?watch=true&resourceVersion=${rv}&timeoutSeconds=1&allowWatchBookmarks=true`);
      const initial = await RawWatch.open(
        `/api/v1/namespaces/${ns}/pods?watch=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true&timeoutSeconds=1&fieldSelector=metadata.name%3D${name}`,
      );
      // Assess
      expect(await without.untilEnded()).toEqual([]);
      const marks = await withBm.untilEnded();
      expect(marks.length).toBeGreaterThan(0);
      for (const m of marks) {
        expect(m.type).toBe('BOOKMARK');
        expect(m.object).toEqual({ kind: 'Pod', apiVersion: 'v1', metadata: { resourceVersion: expect.any(String) } });
        expect(Number(m.object.metadata.resourceVersion)).toBeGreaterThanOrEqual(Number(rv));
      }
      const start = await initial.untilEnded();
      expect(summary(start.slice(0, 2))).toEqual([`ADDED ${name}`, 'BOOKMARK']);
      expect(start[1]!.object.metadata.annotations).toEqual({ 'k8s.io/initial-events-end': 'true' });
      expect(Number(start[1]!.object.metadata.resourceVersion)).toBeGreaterThanOrEqual(Number(rv));
    } finally {
      await api.delete(`/api/v1/namespaces/${ns}/pods/${name}`);
    }
  });
});

describe('label selector watch', () => {
  it('delivers an object leaving the selection as DELETED and one entering it as ADDED', async () => {
    // Prepare
    const app = uniqueName('app');
    const a = uniqueName('a');
    const b = uniqueName('b');
    const list = await api.get(`/api/v1/namespaces/${ns}/pods?labelSelector=app%3D${app}`);
    const w = await RawWatch.open(`/api/v1/namespaces/${ns}/pods?watch=true&labelSelector=app%3D${app}&resourceVersion=${list.body.metadata.resourceVersion}`);
    try {
      // Act
      await api.post(`/api/v1/namespaces/${ns}/pods`, podBody(a, { app }));
      await api.post(`/api/v1/namespaces/${ns}/pods`, podBody(b, { app: 'other' }));
      await api.patch(`/api/v1/namespaces/${ns}/pods/${a}`, { metadata: { labels: { app: 'other' } } });
      await api.patch(`/api/v1/namespaces/${ns}/pods/${b}`, { metadata: { labels: { app } } });
      await api.patch(`/api/v1/namespaces/${ns}/pods/${a}`, { metadata: { labels: { app } } });
      await api.patch(`/api/v1/namespaces/${ns}/pods/${a}`, { metadata: { labels: { app, more: 'x' } } });
      await api.delete(`/api/v1/namespaces/${ns}/pods/${a}`);
      await api.delete(`/api/v1/namespaces/${ns}/pods/${b}`);
      // Assess
      const events = objectEvents(await w.take(7));
      expect(summary(events)).toEqual([`ADDED ${a}`, `DELETED ${a}`, `ADDED ${b}`, `ADDED ${a}`, `MODIFIED ${a}`, `DELETED ${a}`, `DELETED ${b}`]);
    } finally {
      w.close();
    }
  });
});

describe('errors before the stream starts are plain Status responses', () => {
  it.each([
    ['no token', 401, 'Unauthorized', '?watch=true', { token: 'nope' }],
    ['a bad label selector', 400, 'BadRequest', '?watch=true&labelSelector=a%20in%20', {}],
    ['a bad resourceVersion', 400, 'BadRequest', '?watch=true&resourceVersion=yesterday', {}],
    ['resourceVersionMatch without sendInitialEvents', 422, 'Invalid', '?watch=true&resourceVersionMatch=NotOlderThan', {}],
  ])('%s → %i %s', async (_what, code, reason, query, opts) => {
    // Prepare + Act
    const w = await RawWatch.open(`/api/v1/namespaces/${ns}/pods${query}`, opts);
    await w.untilEnded();
    // Assess
    expect(w.status).toBe(code);
    expect(JSON.parse(w.text)).toMatchObject({ kind: 'Status', status: 'Failure', code, reason });
  });

  it('an unknown resource is 404', async () => {
    // Prepare + Act
    const w = await RawWatch.open('/api/v1/nothings?watch=true');
    await w.untilEnded();
    // Assess
    expect(w.status).toBe(404);
    expect(JSON.parse(w.text)).toMatchObject({ kind: 'Status', code: 404, reason: 'NotFound' });
  });
});

describe('kubectl get -w', () => {
  it('shows a pod being added, modified and deleted', async () => {
    // Prepare
    const name = uniqueName('kw');
    const stack = inject('stack');
    const empty = uniqueName('kubectl');
    expect((await api.post('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: empty } })).status).toBe(201);
    const kubectl = spawn('kubectl', ['get', 'pods', '-w', '--output-watch-events', '-n', empty, '-v=6'], {
      env: { ...process.env, KUBECONFIG: stack.kubeconfigPath },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    kubectl.stdout.on('data', (c: Buffer) => (out += c.toString()));
    kubectl.stderr.on('data', (c: Buffer) => (err += c.toString()));
    const rows = () => out.split('\n').filter((l) => l.includes(name));
    const until = async (cond: () => boolean, what: string) => {
      try {
        await eventually(async () => (cond() ? true : undefined), 30_000, what);
      } catch (e) {
        throw new Error(`${(e as Error).message}\nkubectl stdout:\n${out}\nkubectl stderr:\n${err}`);
      }
    };
    try {
      // kubectl lists (nothing to print in an empty namespace), then watches; -v=6 logs the
      // watch request once its response has started.
      await until(() => /watch=true 200 OK/.test(err), 'kubectl to start watching');
      // Act
      await api.post(`/api/v1/namespaces/${empty}/pods`, podBody(name));
      await api.patch(`/api/v1/namespaces/${empty}/pods/${name}`, { metadata: { labels: { step: '1' } } });
      await api.delete(`/api/v1/namespaces/${empty}/pods/${name}`);
      // Assess
      await until(() => rows().length >= 3, 'kubectl to show 3 events');
      const events = rows().map((l) => l.trim().split(/\s+/));
      expect(events.map((cols) => [cols[0], cols[1]])).toEqual([
        ['ADDED', name],
        ['MODIFIED', name],
        ['DELETED', name],
      ]);
      // Table rows from the server: READY and STATUS columns as kubectl prints pods.
      expect(events[0]!.slice(2, 4)).toEqual(['0/1', 'Pending']);
      expect(out).toMatch(/EVENT\s+NAME\s+READY\s+STATUS\s+RESTARTS\s+AGE/);
    } finally {
      kubectl.kill('SIGTERM');
      await api.delete(`/api/v1/namespaces/${empty}`);
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Events: best-effort storage (shared/store/best-effort.ts), still listed and watched as Kubernetes does.

const eventBody = (name: string, pod: { name: string; uid?: string }, reason = 'Testing') => ({
  apiVersion: 'v1',
  kind: 'Event',
  metadata: { name },
  involvedObject: { apiVersion: 'v1', kind: 'Pod', name: pod.name, namespace: ns, ...(pod.uid ? { uid: pod.uid } : {}) },
  reason,
  message: `${reason} message for ${pod.name}`,
  type: 'Normal',
  source: { component: 'watch-test' },
  firstTimestamp: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
  lastTimestamp: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
  count: 1,
});

/** Runs kubectl in the background with the stack's kubeconfig; stdout and stderr as they come. */
function kubectlBackground(args: string[]) {
  const child = spawn('kubectl', args, { env: { ...process.env, KUBECONFIG: inject('stack').kubeconfigPath }, stdio: ['ignore', 'pipe', 'pipe'] });
  const io = { out: '', err: '', child };
  child.stdout.on('data', (c: Buffer) => (io.out += c.toString()));
  child.stderr.on('data', (c: Buffer) => (io.err += c.toString()));
  return io;
}

function kubectlOnce(args: string[]): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => {
    const io = kubectlBackground(args);
    io.child.on('close', (code) => resolve({ code: code ?? -1, out: io.out, err: io.err }));
  });
}

describe('events', () => {
  it('a watch from the list version sees an Event recorded, updated and deleted; a selector narrows it', async () => {
    // Prepare
    const list = await api.get(`/api/v1/namespaces/${ns}/events`);
    expect(list.status).toBe(200);
    const rv = list.body.metadata.resourceVersion as string;
    const name = uniqueName('ev');
    const other = uniqueName('ev');
    const w = await RawWatch.open(`/api/v1/namespaces/${ns}/events?watch=true&resourceVersion=${rv}`);
    const narrow = await RawWatch.open(`/api/v1/namespaces/${ns}/events?watch=true&resourceVersion=${rv}&fieldSelector=involvedObject.name%3D${name}-pod`);
    try {
      // Act
      const created = await api.post(`/api/v1/namespaces/${ns}/events`, eventBody(name, { name: `${name}-pod` }));
      expect(created.status).toBe(201);
      await api.post(`/api/v1/namespaces/${ns}/events`, eventBody(other, { name: `${other}-pod` }));
      await w.take(2, 'two ADDED');
      const patched = await api.patch(`/api/v1/namespaces/${ns}/events/${name}`, { count: 2 });
      expect(patched.status).toBe(200);
      expect(patched.body.count).toBe(2);
      await w.take(3, 'the update');
      const deleted = await api.delete(`/api/v1/namespaces/${ns}/events/${name}`);
      expect(deleted.status).toBe(200);
      // Assess
      const events = objectEvents(await w.take(4, 'the delete'));
      expect(summary(events)).toEqual([`ADDED ${name}`, `ADDED ${other}`, `MODIFIED ${name}`, `DELETED ${name}`]);
      expect(events[2]!.object.count).toBe(2);
      // Versions only grow along the watch, and the list from before holds none of them.
      const versions = events.map((e) => BigInt(e.object.metadata.resourceVersion));
      expect([...versions].sort((a, b) => (a < b ? -1 : 1))).toEqual(versions);
      expect(versions[0]! > BigInt(rv)).toBe(true);
      expect(summary(objectEvents(await narrow.take(3)))).toEqual([`ADDED ${name}`, `MODIFIED ${name}`, `DELETED ${name}`]);
      expect((await api.get(`/api/v1/namespaces/${ns}/events/${name}`)).status).toBe(404);
      expect((await api.get(`/api/v1/namespaces/${ns}/events/${other}`)).body.reason).toBe('Testing');
    } finally {
      w.close();
      narrow.close();
    }
  });

  it('kubectl get events -w and kubectl events --watch show an Event as it is recorded', async () => {
    // Prepare
    const space = uniqueName('evw');
    expect((await api.post('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: space } })).status).toBe(201);
    const getW = kubectlBackground(['get', 'events', '-w', '--output-watch-events', '-n', space, '-v=6']);
    const eventsW = kubectlBackground(['events', '--watch', '-n', space, '-v=6']);
    const name = uniqueName('seen');
    const until = async (io: ReturnType<typeof kubectlBackground>, cond: () => boolean, what: string) => {
      try {
        await eventually(async () => (cond() ? true : undefined), 30_000, what);
      } catch (e) {
        throw new Error(`${(e as Error).message}\nkubectl stdout:\n${io.out}\nkubectl stderr:\n${io.err}`);
      }
    };
    try {
      await until(getW, () => /watch=true 200 OK/.test(getW.err), 'kubectl get -w to start watching');
      await until(eventsW, () => /watch=true 200 OK/.test(eventsW.err), 'kubectl events --watch to start watching');
      // Act
      const body = { ...eventBody(name, { name: `${name}-pod` }, 'Watched'), metadata: { name, namespace: space }, involvedObject: { apiVersion: 'v1', kind: 'Pod', name: `${name}-pod`, namespace: space } };
      expect((await api.post(`/api/v1/namespaces/${space}/events`, body)).status).toBe(201);
      // Assess
      await until(getW, () => getW.out.split('\n').some((l) => l.includes('ADDED') && l.includes('Watched')), 'kubectl get events -w to show it');
      await until(eventsW, () => eventsW.out.split('\n').some((l) => l.includes('Watched') && l.toLowerCase().includes(`pod/${name}-pod`)), 'kubectl events --watch to show it');
    } finally {
      getW.child.kill('SIGTERM');
      eventsW.child.kill('SIGTERM');
      await api.delete(`/api/v1/namespaces/${space}`);
    }
  });

  it('kubectl get events lists them and kubectl describe pod shows the pod\'s own', async () => {
    // Prepare
    const podName = uniqueName('described');
    const created = await api.post(`/api/v1/namespaces/${ns}/pods`, podBody(podName));
    expect(created.status).toBe(201);
    const mine = uniqueName('mine');
    const notMine = uniqueName('notmine');
    await api.post(`/api/v1/namespaces/${ns}/events`, eventBody(mine, { name: podName, uid: created.body.metadata.uid }, 'DescribedReason'));
    await api.post(`/api/v1/namespaces/${ns}/events`, eventBody(notMine, { name: `${podName}-other` }, 'OtherReason'));
    try {
      // Act
      const get = await kubectlOnce(['get', 'events', '-n', ns]);
      const describe = await kubectlOnce(['describe', 'pod', podName, '-n', ns]);
      // Assess
      expect(get.code, get.err).toBe(0);
      expect(get.out).toMatch(/LAST SEEN\s+TYPE\s+REASON\s+OBJECT\s+MESSAGE/);
      expect(get.out).toContain('DescribedReason');
      expect(get.out).toContain('OtherReason');
      expect(describe.code, describe.err).toBe(0);
      const section = describe.out.slice(describe.out.indexOf('Events:'));
      expect(section).toContain('DescribedReason');
      expect(section).toContain(`DescribedReason message for ${podName}`);
      expect(section).not.toContain('OtherReason');
    } finally {
      await api.delete(`/api/v1/namespaces/${ns}/pods/${podName}`);
    }
  });
});

// ---------------------------------------------------------------------------------------------
// The pods of one node, served from the byNode index.

describe('list by spec.nodeName', () => {
  it('returns only that node\'s pods, at a version a watch continues from without missing a write', async () => {
    // Prepare: pods bound at creation to a node no agent runs (nobody touches them).
    const nodeName = uniqueName('nonode');
    const here = uniqueName('here');
    const there = uniqueName('there');
    const bound = (name: string, node: string) => ({ ...podBody(name), spec: { ...podBody(name).spec, nodeName: node } });
    expect((await api.post(`/api/v1/namespaces/${ns}/pods`, bound(here, nodeName))).status).toBe(201);
    expect((await api.post(`/api/v1/namespaces/${ns}/pods`, bound(there, `${nodeName}-2`))).status).toBe(201);
    try {
      // Act: list right after the writes (the index may lag), then watch from the list's version.
      const list = await api.get(`/api/v1/pods?fieldSelector=spec.nodeName%3D${nodeName}`);
      expect(list.status).toBe(200);
      const w = await RawWatch.open(`/api/v1/pods?watch=true&resourceVersion=${list.body.metadata.resourceVersion}&fieldSelector=spec.nodeName%3D${nodeName}`);
      try {
        await api.patch(`/api/v1/namespaces/${ns}/pods/${here}`, { metadata: { labels: { after: 'list' } } });
        // Assess: the list holds only this node's pods; list plus watch hold the pod's last state.
        expect(list.body.items.every((p: any) => p.spec.nodeName === nodeName)).toBe(true);
        await eventually(async () => (objectEvents(w.events).some((e) => e.object.metadata.labels?.after === 'list') ? true : undefined), 30_000, 'the label change');
        const seen = [...list.body.items.map((p: any) => p.metadata.name), ...objectEvents(w.events).map((e) => e.object.metadata.name)];
        expect(seen).toContain(here);
        expect(seen).not.toContain(there);
        const last = objectEvents(w.events).at(-1)!;
        expect([last.type, last.object.metadata.name]).toEqual(['MODIFIED', here]);
      } finally {
        w.close();
      }
    } finally {
      await api.delete(`/api/v1/namespaces/${ns}/pods/${here}`);
      await api.delete(`/api/v1/namespaces/${ns}/pods/${there}`);
    }
  });
});
