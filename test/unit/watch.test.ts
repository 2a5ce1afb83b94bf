import { describe, expect, it } from 'vitest';
import {
  INITIAL_EVENTS_END,
  makeFilter,
  parseWatchQuery,
  translate,
  WatchBody,
  watchEvents,
  type Held,
  type WatchClock,
  type WatchEvent,
  type WatchPlan,
  type WatchSource,
} from '../../functions/api/watch';
import { StatusError } from '../../shared/errors';
import { resourceByName, type KubeObject } from '../../shared/resources';
import { parseFieldSelector, parseLabelSelector } from '../../shared/selectors';
import type { ChangeEvent, ListOptions, ListResult, WatchEventType } from '../../shared/store/store';

const pods = resourceByName('pods');

const pod = (name: string, rv: number, labels: Record<string, string> = {}, namespace = 'ns'): KubeObject => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, namespace, labels, resourceVersion: String(rv) },
});

const change = (type: WatchEventType, obj: KubeObject): ChangeEvent => ({ type, resourceVersion: Number(obj.metadata.resourceVersion), object: obj });

const selecting = (labels: string, fields = '') =>
  makeFilter(pods, { namespace: 'ns' }, parseLabelSelector(labels), parseFieldSelector(pods, fields));

describe('translate (one change-log entry → the event a watcher sees)', () => {
  const app = selecting('app=web');
  const held = (holds: boolean, resourceVersion = 1): Held => ({ holds, resourceVersion });

  it.each([
    // [what, change type, labels now, held before, expected event]
    ['starts matching', 'MODIFIED', { app: 'web' }, held(false), 'ADDED'],
    ['keeps matching', 'MODIFIED', { app: 'web' }, held(true), 'MODIFIED'],
    ['stops matching', 'MODIFIED', { app: 'db' }, held(true), 'DELETED'],
    ['never matches', 'MODIFIED', { app: 'db' }, held(false), undefined],
    ['created matching', 'ADDED', { app: 'web' }, undefined, 'ADDED'],
    ['created not matching', 'ADDED', { app: 'db' }, undefined, undefined],
    ['deleted while held', 'DELETED', { app: 'web' }, held(true), 'DELETED'],
    ['deleted, never held', 'DELETED', { app: 'db' }, held(false), undefined],
    ['deleted, unknown, matched', 'DELETED', { app: 'web' }, undefined, 'DELETED'],
    ['deleted, unknown, did not match', 'DELETED', { app: 'db' }, undefined, undefined],
    ['modified, unknown, matches', 'MODIFIED', { app: 'web' }, undefined, 'MODIFIED'],
    ['modified, unknown, does not match: a safe delete', 'MODIFIED', { app: 'db' }, undefined, 'DELETED'],
  ] as const)('%s', (_what, type, labels, before, expected) => {
    // Prepare
    const c = change(type, pod('a', 5, labels));
    // Act
    const t = translate(c, app, before);
    // Assess
    expect(t.kind).toBe('apply');
    if (t.kind !== 'apply') return;
    expect(t.event?.type).toBe(expected);
    expect(t.held).toEqual({ holds: type !== 'DELETED' && labels.app === 'web', resourceVersion: 5 });
  });

  it('skips a change the watcher already has (it came from a newer list)', () => {
    // Prepare + Act
    const t = translate(change('MODIFIED', pod('a', 5, { app: 'web' })), app, held(true, 7));
    // Assess
    expect(t).toEqual({ kind: 'skip' });
  });

  it('a selection on the name alone cannot change: unknown objects that do not match stay silent', () => {
    // Prepare
    const byName = selecting('', 'metadata.name=a');
    // Act
    const other = translate(change('MODIFIED', pod('b', 5)), byName, undefined);
    const mine = translate(change('MODIFIED', pod('a', 6)), byName, undefined);
    // Assess
    expect(byName.membershipCanChange).toBe(false);
    expect(other.kind === 'apply' && other.event).toBeFalsy();
    expect(mine.kind === 'apply' && mine.event?.type).toBe('MODIFIED');
  });

  it('objects of another namespace never match a namespaced watch', () => {
    // Prepare + Act
    const t = translate(change('ADDED', pod('a', 5, { app: 'web' }, 'other')), app, undefined);
    // Assess
    expect(t.kind === 'apply' && t.event).toBeFalsy();
  });

  it.each(['MODIFIED', 'DELETED'] as const)(
    'an unknown object of another namespace (%s, its first change since a bare version) stays silent under a label selector',
    (type) => {
      // Prepare: the watch knows nothing of it; its labels do not match either
      const c = change(type, pod('elsewhere', 9, { app: 'db' }, 'other'));
      // Act
      const t = translate(c, app, undefined);
      // Assess: never a DELETED for an object the watcher could not have had
      expect(t.kind === 'apply' && t.event).toBeFalsy();
    },
  );
});

describe('parseWatchQuery', () => {
  const parse = (q: string) => parseWatchQuery(pods, new URLSearchParams(q), () => 1);

  it('maps resourceVersion, resourceVersionMatch and sendInitialEvents to where the watch starts', () => {
    // Prepare + Act + Assess
    expect(parse('').start).toEqual({ from: 'initial', endBookmark: false });
    expect(parse('resourceVersion=0').start).toEqual({ from: 'initial', endBookmark: false });
    expect(parse('resourceVersion=42').start).toEqual({ from: 'after', version: 42 });
    expect(parse('sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true').start).toEqual({ from: 'initial', endBookmark: true });
    expect(parse('sendInitialEvents=true&resourceVersionMatch=NotOlderThan&resourceVersion=9').start).toEqual({ from: 'initial', notOlderThan: 9, endBookmark: false });
    expect(parse('sendInitialEvents=false&resourceVersionMatch=NotOlderThan').start).toEqual({ from: 'now' });
    expect(parse('sendInitialEvents=false&resourceVersionMatch=NotOlderThan&resourceVersion=9').start).toEqual({ from: 'after', version: 9 });
  });

  it('honours timeoutSeconds up to the cap; unset means the cap (spread by the random source)', () => {
    // Prepare + Act + Assess
    expect(parse('timeoutSeconds=5').timeoutSeconds).toBe(5);
    expect(parse('timeoutSeconds=100000').timeoutSeconds).toBe(840);
    expect(parse('').timeoutSeconds).toBe(840);
    expect(parseWatchQuery(pods, new URLSearchParams(''), () => 0).timeoutSeconds).toBe(420);
  });

  it.each([
    ['resourceVersionMatch=NotOlderThan', 422, 'ListOptions.meta.k8s.io "" is invalid: resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided'],
    ['sendInitialEvents=true', 422, 'ListOptions.meta.k8s.io "" is invalid: resourceVersionMatch: Forbidden: sendInitialEvents requires setting resourceVersionMatch to NotOlderThan'],
    ['sendInitialEvents=true&resourceVersionMatch=Exact', 422, 'resourceVersionMatch: Unsupported value: "Exact": supported values: "NotOlderThan"'],
    ['resourceVersion=abc', 400, 'invalid resource version: "abc"'],
    ['timeoutSeconds=soon', 400, 'strconv.ParseInt: parsing "soon": invalid syntax'],
    ['labelSelector=a%20in%20', 400, 'unable to parse requirement'],
    ['fieldSelector=spec.nope=1', 400, 'field label not supported: spec.nope'],
  ])('%s → %i', (q, code, message) => {
    // Prepare + Act
    let err: unknown;
    try {
      parse(q);
    } catch (e) {
      err = e;
    }
    // Assess
    expect(err).toBeInstanceOf(StatusError);
    expect((err as StatusError).code).toBe(code);
    expect((err as StatusError).message).toContain(message);
  });
});

/** An in-memory change log and object table, as the store keeps them (pure unit; no DynamoDB). */
class FakeSource implements WatchSource {
  log: ChangeEvent[] = [];
  objects = new Map<string, KubeObject>();
  /** Versions whose log entries "expired" (TTL). */
  expired = new Set<number>();
  /** Called before each changesSince, to interleave writes with the watch. */
  onPoll?: (count: number) => void;
  polls = 0;

  write(type: WatchEventType, name: string, labels: Record<string, string> = {}): KubeObject {
    const obj = pod(name, this.log.length + 1, labels);
    this.log.push(change(type, obj));
    if (type === 'DELETED') this.objects.delete(name);
    else this.objects.set(name, obj);
    return obj;
  }

  async currentVersion(): Promise<number> {
    return this.log.length;
  }

  async list(_tenant: string, _rt: unknown, opts: ListOptions = {}): Promise<ListResult> {
    const items = [...this.objects.values()].filter((o) => opts.namespace === undefined || o.metadata.namespace === opts.namespace);
    return { items, resourceVersion: this.log.length };
  }

  async changesSince(_tenant: string, _rt: unknown, after: number, limit = 500): Promise<ChangeEvent[]> {
    this.onPoll?.(this.polls++);
    // As the store does: changes up to the first expired one; 410 when that is the next one.
    const out: ChangeEvent[] = [];
    for (const c of this.log.filter((c) => c.resourceVersion > after)) {
      if (this.expired.has(c.resourceVersion)) {
        if (out.length === 0) throw new StatusError(410, 'Expired', `too old resource version: ${after} (${c.resourceVersion - 1})`);
        break;
      }
      out.push(c);
      if (out.length >= limit) break;
    }
    return out;
  }
}

/** Time moves only when the watch sleeps. */
function fakeClock(): WatchClock {
  let t = 0;
  return {
    now: () => t,
    sleep: async (ms) => {
      t += ms;
    },
  };
}

function plan(q: string): WatchPlan {
  return parseWatchQuery(pods, new URLSearchParams(q), () => 1);
}

async function collect(source: FakeSource, q: string, scope: { namespace?: string } = { namespace: 'ns' }): Promise<WatchEvent[]> {
  const out: WatchEvent[] = [];
  for await (const e of watchEvents({ source, tenant: 't', rt: pods, ...scope }, plan(q), new AbortController().signal, fakeClock())) out.push(e);
  return out;
}

const summary = (events: WatchEvent[]) =>
  events.map((e) => (e.type === 'ERROR' ? `ERROR ${e.object.code}` : `${e.type} ${(e.object.metadata as { name?: string }).name ?? ''}@${e.object.metadata.resourceVersion}`.trim()));

describe('watchEvents (the poll loop, over an in-memory log)', () => {
  it('from a resourceVersion: every later change in order, then ends at the timeout', async () => {
    // Prepare
    const source = new FakeSource();
    source.write('ADDED', 'a');
    source.onPoll = (n) => {
      if (n === 1) {
        source.write('MODIFIED', 'a');
        source.write('ADDED', 'b');
      }
      if (n === 3) source.write('DELETED', 'a');
    };
    // Act
    const events = await collect(source, 'resourceVersion=1&timeoutSeconds=1');
    // Assess
    expect(summary(events)).toEqual(['MODIFIED a@2', 'ADDED b@3', 'DELETED a@4']);
  });

  it('unset resourceVersion: the current state as ADDED, then changes; a bookmark ends the initial events when asked', async () => {
    // Prepare
    const source = new FakeSource();
    source.write('ADDED', 'a');
    source.write('ADDED', 'b');
    source.onPoll = (n) => n === 0 && source.write('MODIFIED', 'b');
    // Act
    const events = await collect(source, 'sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true&timeoutSeconds=1');
    // Assess
    expect(summary(events)).toEqual(['ADDED a@1', 'ADDED b@2', 'BOOKMARK @2', 'MODIFIED b@3', 'BOOKMARK @3']);
    const end = events[2]!;
    expect(end.type === 'BOOKMARK' && end.object).toEqual({ kind: 'Pod', apiVersion: 'v1', metadata: { resourceVersion: '2', annotations: { [INITIAL_EVENTS_END]: 'true' } } });
  });

  it('without allowWatchBookmarks there are no bookmarks at all', async () => {
    // Prepare
    const source = new FakeSource();
    source.write('ADDED', 'a');
    // Act
    const events = await collect(source, 'timeoutSeconds=15');
    // Assess
    expect(summary(events)).toEqual(['ADDED a@1']);
  });

  it('with allowWatchBookmarks: one every ten seconds and one before the timeout', async () => {
    // Prepare
    const source = new FakeSource();
    source.write('ADDED', 'a');
    // Act
    const events = await collect(source, 'resourceVersion=1&allowWatchBookmarks=true&timeoutSeconds=25');
    // Assess
    expect(summary(events)).toEqual(['BOOKMARK @1', 'BOOKMARK @1', 'BOOKMARK @1']);
  });

  it('a version whose history expired ends with ERROR 410 Expired', async () => {
    // Prepare
    const source = new FakeSource();
    for (let i = 0; i < 4; i++) source.write('ADDED', `p${i}`);
    source.expired = new Set([1, 2]);
    // Act
    const events = await collect(source, 'resourceVersion=1&timeoutSeconds=5');
    // Assess
    expect(summary(events)).toEqual(['ERROR 410']);
    expect(events[0]!.object).toMatchObject({ kind: 'Status', status: 'Failure', reason: 'Expired', code: 410 });
  });

  it('expired history with no later entries at all is also 410, not silence', async () => {
    // Prepare
    const source = new FakeSource();
    source.write('ADDED', 'a');
    source.write('ADDED', 'b');
    source.expired = new Set([1, 2]);
    // Act
    const events = await collect(source, 'resourceVersion=0&sendInitialEvents=false&resourceVersionMatch=NotOlderThan&timeoutSeconds=1');
    const old = await collect(source, 'resourceVersion=1&timeoutSeconds=1');
    // Assess: "now" needs no history; "after 1" does.
    expect(summary(events)).toEqual([]);
    expect(summary(old)).toEqual(['ERROR 410']);
  });

  it('a hole inside a page (an entry expired under the watch) is 410, never a silent skip', async () => {
    // Prepare
    const source = new FakeSource();
    for (let i = 0; i < 4; i++) source.write('ADDED', `p${i}`);
    source.expired = new Set([3]);
    // Act
    const events = await collect(source, 'resourceVersion=1&timeoutSeconds=5');
    // Assess
    expect(summary(events)).toEqual(['ADDED p1@2', 'ERROR 410']);
  });

  it('a version the store has not reached yet: ERROR 504 Too large resource version', async () => {
    // Prepare
    const source = new FakeSource();
    source.write('ADDED', 'a');
    // Act
    const events = await collect(source, 'resourceVersion=99&timeoutSeconds=30');
    // Assess
    expect(events).toHaveLength(1);
    expect(events[0]!.object).toMatchObject({ code: 504, reason: 'Timeout', message: 'Too large resource version: 99, current: 1' });
  });

  it('label selector from a resourceVersion: objects moving in and out of the selection are ADDED and DELETED', async () => {
    // Prepare: a matches when the watch starts, b does not.
    const source = new FakeSource();
    source.write('ADDED', 'a', { app: 'web' });
    source.write('ADDED', 'b', { app: 'db' });
    source.onPoll = (n) => {
      if (n !== 0) return;
      source.write('MODIFIED', 'b', { app: 'db', touched: 'yes' }); // never matches: nothing
      source.write('MODIFIED', 'a', { app: 'db' }); // leaves: DELETED
      source.write('MODIFIED', 'b', { app: 'web' }); // enters: ADDED
      source.write('MODIFIED', 'a', { app: 'web' }); // comes back: ADDED
      source.write('MODIFIED', 'a', { app: 'web', v: '2' }); // stays: MODIFIED
      source.write('DELETED', 'b', { app: 'web' });
    };
    // Act
    const events = await collect(source, 'resourceVersion=2&labelSelector=app%3Dweb&timeoutSeconds=1');
    // Assess
    expect(summary(events)).toEqual(['DELETED a@4', 'ADDED b@5', 'ADDED a@6', 'MODIFIED a@7', 'DELETED b@8']);
  });

  it('an all-namespaces watch sees every namespace; a namespaced one only its own', async () => {
    // Prepare
    const source = new FakeSource();
    source.write('ADDED', 'first');
    source.log.push(change('ADDED', pod('x', 2, {}, 'other')));
    source.log.push(change('ADDED', pod('y', 3, {}, 'ns')));
    // Act
    const everywhere = await collect(source, 'resourceVersion=1&timeoutSeconds=1', {});
    const ns = await collect(source, 'resourceVersion=1&timeoutSeconds=1', { namespace: 'ns' });
    const other = await collect(source, 'resourceVersion=1&timeoutSeconds=1', { namespace: 'other' });
    // Assess
    expect(summary(everywhere)).toEqual(['ADDED x@2', 'ADDED y@3']);
    expect(summary(ns)).toEqual(['ADDED y@3']);
    expect(summary(other)).toEqual(['ADDED x@2']);
  });
});

describe('WatchBody', () => {
  it('streams what the producer yields and aborts the producer when destroyed (the client went away)', async () => {
    // Prepare
    let aborted = false;
    const body = new WatchBody(async function* (signal) {
      signal.addEventListener('abort', () => (aborted = true));
      yield 'one\n';
      await new Promise<void>((r) => signal.addEventListener('abort', () => r()));
    });
    const first = await new Promise<string>((resolve) => body.once('data', (c: Buffer) => resolve(c.toString())));
    // Act
    body.destroy();
    await new Promise((r) => body.once('close', r));
    // Assess
    expect(first).toBe('one\n');
    expect(aborted).toBe(true);
  });
});
