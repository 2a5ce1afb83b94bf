/**
 * Watch: `GET <collection>?watch=true` (and the older `GET <object>?watch=true`), served as a
 * stream of newline-delimited JSON WatchEvents (`{"type":...,"object":...}`) over the api
 * function's response-streaming Function URL.
 *
 * A watch is a loop over the change log (store.changesSince): every change after the start
 * version, in log order, none missed, none twice (see the design note in shared/store/store.ts),
 * each passed through the watch's selectors the way the Kubernetes watch cache does it.
 *
 * Cost: one DynamoDB Query (strongly consistent, on the resource type's log partition) per poll
 * per open watch: about 10 per second while the log is quiet, each reading nothing (0.5 RCU),
 * and a read of the new entries when there are some. An open watch also keeps its Lambda
 * invocation running (up to MAX_WATCH_SECONDS), which is why node agents long-poll SQS instead.
 * A watch from a resourceVersion whose selector can move objects in or out of the selection (a
 * label selector, a field selector on a mutable field) also lists the collection once at the
 * start, to know what the watcher holds (see translate). On AWS a client that goes away is not
 * always noticed at once; the watch then runs until its timeout, so informers should (and
 * client-go does) ask for a timeoutSeconds.
 */
import { Readable } from 'node:stream';
import { z } from 'zod';
import { badRequest, StatusError, type Status } from '../../shared/errors';
import { apiVersionOf, type KubeObject, type ResourceType } from '../../shared/resources';
import {
  matchesFields,
  matchesLabels,
  parseFieldSelector,
  parseLabelSelector,
  type FieldRequirement,
  type LabelRequirement,
} from '../../shared/selectors';
import { isBestEffort } from '../../shared/store/best-effort';
import { codecBool } from '../../shared/query';
import type { ChangeEvent, ObjectStore } from '../../shared/store/store';
import type { ApiRequest } from './request';
import type { RestContext, Target } from './rest';
import { includeObjectOf, toTable, wantsTable } from './table';

/** A Lambda invocation lasts at most 900 s; a watch ends before that, with room to spare. */
export const MAX_WATCH_SECONDS = 840;
/** Wait after a read of the log that found us caught up. */
const POLL_IDLE_MS = 100;
/** Log entries per Query; a full page is followed by the next read at once. */
const PAGE_SIZE = 500;
const BOOKMARK_EVERY_MS = 10_000;
/** How long a watch from a version the store has not reached yet waits for it (as Kubernetes' watch cache). */
const TOO_LARGE_WAIT_MS = 3_000;
/** The annotation on the bookmark that ends the initial events of a sendInitialEvents watch. */
export const INITIAL_EVENTS_END = 'k8s.io/initial-events-end';

export type ObjectEventType = 'ADDED' | 'MODIFIED' | 'DELETED';

/** A bookmark's object: only the kind and the version the watcher has seen everything up to. */
export interface BookmarkObject {
  kind: string;
  apiVersion: string;
  metadata: { resourceVersion: string; annotations?: Record<string, string> };
}

/** One event on the wire, as Kubernetes' metav1.WatchEvent. */
export type WatchEvent =
  | { type: ObjectEventType; object: KubeObject }
  | { type: 'BOOKMARK'; object: BookmarkObject }
  | { type: 'ERROR'; object: Status };

// ---------------------------------------------------------------------------------------------
// Filtering and translation: pure.

/** Label and field selectors of a watch, plus its scope (namespace, name). */
export interface WatchFilter {
  /** Whether the object, in this state, is one the watcher asked for. */
  matches(obj: KubeObject): boolean;
  /**
   * Whether an update can move an object into or out of the selection. False when the
   * selection depends only on immutable fields (namespace, name): then an object matches
   * before an update exactly when it matches after it.
   */
  readonly membershipCanChange: boolean;
  /**
   * Whether the object could ever have been in the selection: false when what rules it out
   * cannot change (another namespace, another name). Such objects are never sent, whatever
   * the watch knows of them.
   */
  inScope(obj: KubeObject): boolean;
}

const IMMUTABLE_FIELDS = new Set(['metadata.name', 'metadata.namespace']);

export function makeFilter(
  rt: ResourceType,
  scope: { namespace?: string; name?: string },
  labels: readonly LabelRequirement[],
  fields: readonly FieldRequirement[],
): WatchFilter {
  const immutableFields = fields.filter((f) => IMMUTABLE_FIELDS.has(f.field));
  const inScope = (o: KubeObject) =>
    (scope.namespace === undefined || o.metadata.namespace === scope.namespace) &&
    (scope.name === undefined || o.metadata.name === scope.name) &&
    matchesFields(rt, immutableFields, o);
  return {
    matches: (o) => inScope(o) && matchesLabels(labels, o.metadata.labels) && matchesFields(rt, fields, o),
    membershipCanChange: labels.length > 0 || fields.some((f) => !IMMUTABLE_FIELDS.has(f.field)),
    inScope,
  };
}

/**
 * What the watcher holds of one object: whether it has it (as far as this watch has told it)
 * and the version of the state it has seen.
 */
export interface Held {
  readonly holds: boolean;
  readonly resourceVersion: number;
}

export type Translation =
  /** The change is already reflected in what the watcher holds (it came from a newer list). */
  | { readonly kind: 'skip' }
  | { readonly kind: 'apply'; readonly event?: { type: ObjectEventType; object: KubeObject }; readonly held: Held };

/**
 * Turns one change-log entry into the event this watcher must see, as the Kubernetes watch cache
 * does: matches now and held before → MODIFIED; matches now but not held → ADDED; held before
 * but no longer matches (or deleted) → DELETED; neither → nothing.
 *
 * `held` is what the watcher holds of this object, when the watch knows it. When it does not
 * (the object's first change since a watch started from a bare resourceVersion), "held before"
 * is derived from the change itself: an ADDED object was not there; a DELETED entry carries the
 * last state, which is what a watcher holds if it matched; for a MODIFIED entry the previous
 * state is not in the log, so when the selection could have changed the watcher is told
 * DELETED if the object no longer matches (a delete of an object a cache does not hold is a
 * no-op, a missed delete would leave it stale) and MODIFIED if it does.
 *
 * For DELETED-because-no-longer-matching Kubernetes sends the previous state; the log holds only
 * the new one, which is what is sent (with the change's version); clients key deletes by
 * namespace and name.
 */
export function translate(change: ChangeEvent, filter: WatchFilter, held: Held | undefined): Translation {
  if (held && change.resourceVersion <= held.resourceVersion) return { kind: 'skip' };
  const now = change.type !== 'DELETED' && filter.matches(change.object);
  let before: boolean | undefined = held?.holds;
  if (before === undefined) {
    // Never in scope (another namespace, say): the watcher cannot hold it.
    if (change.type === 'ADDED' || !filter.inScope(change.object)) before = false;
    else if (change.type === 'DELETED') before = filter.matches(change.object);
    else if (!filter.membershipCanChange) before = now;
  }
  const next: Held = { holds: now, resourceVersion: change.resourceVersion };
  const object = change.object;
  if (before === undefined) return { kind: 'apply', event: { type: now ? 'MODIFIED' : 'DELETED', object }, held: next };
  if (now) return { kind: 'apply', event: { type: before ? 'MODIFIED' : 'ADDED', object }, held: next };
  if (before) return { kind: 'apply', event: { type: 'DELETED', object }, held: next };
  return { kind: 'apply', held: next };
}

export const objectKey = (o: KubeObject) => `${o.metadata.namespace ?? ''}/${o.metadata.name ?? ''}`;

// ---------------------------------------------------------------------------------------------
// Query parameters: validated in Kubernetes' own words before the stream starts.

/** Where the watch starts, from resourceVersion, resourceVersionMatch and sendInitialEvents. */
export type WatchStart =
  /** Synthetic ADDED events for the current state (a list), then every change after it. */
  | { readonly from: 'initial'; readonly notOlderThan?: number; readonly endBookmark: boolean }
  /** Every change after the current version, no initial state. */
  | { readonly from: 'now' }
  /** Every change after exactly this version. */
  | { readonly from: 'after'; readonly version: number };

export interface WatchPlan {
  readonly start: WatchStart;
  readonly labels: LabelRequirement[];
  readonly fields: FieldRequirement[];
  readonly allowWatchBookmarks: boolean;
  readonly timeoutSeconds: number;
}

// A `*bool` of ListOptions as Kubernetes' parameter codec reads it (shared/query.ts): absent is
// undefined, `0` and `false` in any case false, anything else (the empty string too) true.
const optionalBool = () =>
  z
    .string()
    .optional()
    .transform((v) => (v === undefined ? undefined : codecBool(v)));

/** The watch parameters of a list request's query string. */
export const WatchQuerySchema = z.object({
  resourceVersion: z.string().optional(),
  resourceVersionMatch: z.string().optional(),
  sendInitialEvents: optionalBool(),
  allowWatchBookmarks: optionalBool(),
  timeoutSeconds: z
    .string()
    .optional()
    .transform((v, ctx) => {
      if (v === undefined || v === '') return undefined;
      if (!/^-?\d+$/.test(v)) {
        ctx.addIssue({ code: 'custom', message: `invalid value for timeoutSeconds: strconv.ParseInt: parsing "${v}": invalid syntax` });
        return z.NEVER;
      }
      return Number(v);
    }),
  labelSelector: z.string().optional(),
  fieldSelector: z.string().optional(),
  continue: z.string().optional(),
});

function listOptionsInvalid(causes: { field: string; message: string; reason: string }[]): StatusError {
  return new StatusError(
    422,
    'Invalid',
    `ListOptions.meta.k8s.io "" is invalid: ${causes.map((c) => `${c.field}: ${c.message}`).join(', ')}`,
    { group: 'meta.k8s.io', kind: 'ListOptions', causes },
  );
}

/**
 * Reads the watch parameters. 400 BadRequest for values that do not parse, 422 Invalid (on
 * ListOptions.meta.k8s.io) for combinations Kubernetes forbids, as its validateWatchOptions does.
 * `random` picks the default timeout (tests pass a fixed one).
 */
export function parseWatchQuery(rt: ResourceType, query: URLSearchParams, random: () => number = Math.random): WatchPlan {
  const raw: Record<string, string> = {};
  for (const key of Object.keys(WatchQuerySchema.shape)) {
    const v = query.get(key);
    if (v !== null) raw[key] = v;
  }
  const parsed = WatchQuerySchema.safeParse(raw);
  if (!parsed.success) throw badRequest(parsed.error.issues.map((i) => i.message).join('; '));
  const q = parsed.data;

  const causes: { field: string; message: string; reason: string }[] = [];
  const match = q.resourceVersionMatch ?? '';
  if (q.sendInitialEvents !== undefined && match !== 'NotOlderThan')
    causes.push({ field: 'resourceVersionMatch', reason: 'FieldValueForbidden', message: 'Forbidden: sendInitialEvents requires setting resourceVersionMatch to NotOlderThan' });
  if (match) {
    if (q.sendInitialEvents === undefined)
      causes.push({ field: 'resourceVersionMatch', reason: 'FieldValueForbidden', message: 'Forbidden: resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided' });
    if (match !== 'NotOlderThan')
      causes.push({ field: 'resourceVersionMatch', reason: 'FieldValueNotSupported', message: `Unsupported value: "${match}": supported values: "NotOlderThan"` });
    if (q.continue)
      causes.push({ field: 'resourceVersionMatch', reason: 'FieldValueForbidden', message: 'Forbidden: resourceVersionMatch is forbidden when continue is provided' });
  }
  if (causes.length) throw listOptionsInvalid(causes);
  if (q.continue) throw badRequest('a watch cannot be continued: continue is only valid for list');

  const rvText = q.resourceVersion ?? '';
  if (rvText !== '' && !/^\d+$/.test(rvText)) throw badRequest(`invalid resource version: ${JSON.stringify(rvText)}`);
  const rv = rvText === '' ? 0 : Number(rvText);

  let start: WatchStart;
  const bookmarks = q.allowWatchBookmarks ?? false;
  if (q.sendInitialEvents === true) start = { from: 'initial', ...(rv > 0 ? { notOlderThan: rv } : {}), endBookmark: bookmarks };
  else if (q.sendInitialEvents === false) start = rv > 0 ? { from: 'after', version: rv } : { from: 'now' };
  // The classic watch: unset or "0" means "the current state, then changes"; X means "after X".
  else start = rv > 0 ? { from: 'after', version: rv } : { from: 'initial', endBookmark: false };

  // Kubernetes spreads unset timeouts between its minimum request timeout and twice that, so
  // re-watches do not all arrive at once; here between half the cap and the cap.
  const requested = q.timeoutSeconds && q.timeoutSeconds > 0 ? q.timeoutSeconds : Math.round(MAX_WATCH_SECONDS * (0.5 + random() / 2));
  return {
    start,
    labels: parseLabelSelector(q.labelSelector ?? ''),
    fields: parseFieldSelector(rt, q.fieldSelector ?? ''),
    allowWatchBookmarks: bookmarks,
    timeoutSeconds: Math.min(requested, MAX_WATCH_SECONDS),
  };
}

// ---------------------------------------------------------------------------------------------
// The loop.

/** What a watch reads: the store's list, change log and sequence (ObjectStore implements it). */
export type WatchSource = Pick<ObjectStore, 'list' | 'changesSince' | 'currentVersion'>;

export interface WatchTarget {
  readonly source: WatchSource;
  readonly tenant: string;
  readonly rt: ResourceType;
  readonly namespace?: string;
  readonly name?: string;
}

/** Clock and sleep, so the loop can run against a fake in unit tests. */
export interface WatchClock {
  now(): number;
  /** Resolves after `ms`, or at once when `signal` aborts. */
  sleep(ms: number, signal: AbortSignal): Promise<void>;
}

const realClock: WatchClock = {
  now: () => Date.now(),
  sleep: (ms, signal) =>
    new Promise<void>((resolve) => {
      if (signal.aborted) return resolve();
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      signal.addEventListener('abort', done, { once: true });
    }),
};

const bookmark = (rt: ResourceType, version: number, annotations?: Record<string, string>): WatchEvent => ({
  type: 'BOOKMARK',
  object: { kind: rt.kind, apiVersion: apiVersionOf(rt), metadata: { resourceVersion: String(version), ...(annotations ? { annotations } : {}) } },
});

function errorEvent(e: unknown): WatchEvent {
  if (e instanceof StatusError) return { type: 'ERROR', object: e.toStatus() };
  console.error(JSON.stringify({ level: 'error', message: 'watch failed', error: String(e), stack: (e as Error | undefined)?.stack }));
  return { type: 'ERROR', object: new StatusError(500, 'InternalError', 'an internal error occurred while watching').toStatus() };
}

function tooLarge(requested: number, current: number): StatusError {
  return new StatusError(504, 'Timeout', `Too large resource version: ${requested}, current: ${current}`, {
    causes: [{ reason: 'ResourceVersionTooLarge', message: 'Too large resource version' }],
    retryAfterSeconds: 1,
  });
}

/**
 * The start of a watch: waits for the start version to be reached, sends the initial events when
 * asked for them (sendInitialEvents), and says where to follow the log from (undefined: aborted).
 */
async function* begin(
  target: WatchTarget,
  plan: WatchPlan,
  filter: ReturnType<typeof makeFilter>,
  held: Map<string, Held>,
  signal: AbortSignal,
  clock: WatchClock,
): AsyncGenerator<WatchEvent, { cursor: number; current: number; initial: boolean; heldByDefault?: Held } | undefined> {
  const start = plan.start;
  const current = await reachStartVersion(target, start, signal, clock);
  if (current === undefined) return undefined;
  // After the initial events the watcher holds exactly what it was sent: unknown objects are not held.
  if (start.from === 'initial') return { cursor: yield* initialEvents(target, filter, held, start.endBookmark), current, initial: true, heldByDefault: { holds: false, resourceVersion: 0 } };
  return { cursor: start.from === 'now' ? current : start.version, current, initial: false };
}

/**
 * The events of one watch, until `signal` aborts or the plan's timeout passes. Never throws:
 * a failure (410 Expired when the log no longer reaches back to the start, 504 when the start
 * lies in the future, anything else as InternalError) is the last event, of type ERROR.
 */
export async function* watchEvents(target: WatchTarget, plan: WatchPlan, signal: AbortSignal, clock: WatchClock = realClock): AsyncGenerator<WatchEvent> {
  if (isBestEffort(target.rt)) {
    yield* bestEffortWatchEvents(target, plan, signal, clock);
    return;
  }
  const { source, tenant, rt } = target;
  const filter = makeFilter(rt, target, plan.labels, plan.fields);
  const deadline = clock.now() + plan.timeoutSeconds * 1000;
  const held = new Map<string, Held>();
  /** Unknown objects are not held (the watcher was given the whole current state) or unknown. */
  let heldByDefault: Held | undefined;
  let cursor: number;
  try {
    const begun = yield* begin(target, plan, filter, held, signal, clock);
    if (!begun) return;
    ({ cursor, heldByDefault } = begun);
    const current = begun.current;
    if (!begun.initial) {
      if (filter.membershipCanChange) {
        // What a watcher that listed at `cursor` holds: objects unchanged since then, as they are.
        // Objects changed since are learnt from their first change (see translate).
        const list = await source.list(tenant, rt, { namespace: target.namespace });
        for (const obj of list.items) {
          const version = Number(obj.metadata.resourceVersion);
          if (version <= cursor) held.set(objectKey(obj), { holds: filter.matches(obj), resourceVersion: version });
        }
      }
      // History from the cursor on must still be there: the store answers 410 Expired if not.
      if (cursor < current) await source.changesSince(tenant, rt, cursor, 1);
    }

    let lastBookmark = clock.now();
    while (!signal.aborted && clock.now() < deadline) {
      const page = await source.changesSince(tenant, rt, cursor, PAGE_SIZE);
      for (const change of page) {
        // In version order from the store, which checks for expired history; versions may skip
        // (reserved, never used), never repeat.
        if (change.resourceVersion <= cursor) continue;
        const key = objectKey(change.object);
        const t = translate(change, filter, held.get(key) ?? heldByDefault);
        cursor = change.resourceVersion;
        if (t.kind === 'skip') continue;
        held.set(key, t.held);
        if (t.event) yield t.event;
        if (signal.aborted) return;
      }
      if (plan.allowWatchBookmarks && clock.now() - lastBookmark >= BOOKMARK_EVERY_MS) {
        yield bookmark(rt, cursor);
        lastBookmark = clock.now();
      }
      if (page.length < PAGE_SIZE) await clock.sleep(Math.min(POLL_IDLE_MS, Math.max(0, deadline - clock.now())), signal);
    }
    // As Kubernetes does shortly before a watch times out: tell the watcher where to resume.
    if (plan.allowWatchBookmarks && !signal.aborted) yield bookmark(rt, cursor);
  } catch (e) {
    if (!signal.aborted) yield errorEvent(e);
  }
}

/**
 * The store's current version once it has reached the version the watch starts from (a client
 * may hold a version newer than what this instance has seen yet); after
 * TOO_LARGE_WAIT_MS the "Too large resource version" error; undefined when the watcher went
 * away meanwhile.
 */
async function reachStartVersion(target: WatchTarget, start: WatchPlan['start'], signal: AbortSignal, clock: WatchClock): Promise<number | undefined> {
  const { source, tenant, rt } = target;
  const wanted = start.from === 'after' ? start.version : start.from === 'initial' ? (start.notOlderThan ?? 0) : 0;
  let current = await source.currentVersion(tenant, rt);
  const waitUntil = clock.now() + TOO_LARGE_WAIT_MS;
  while (wanted > current && clock.now() < waitUntil && !signal.aborted) {
    await clock.sleep(POLL_IDLE_MS, signal);
    current = await source.currentVersion(tenant, rt);
  }
  if (signal.aborted) return undefined;
  if (wanted > current) throw tooLarge(wanted, current);
  return current;
}

/**
 * sendInitialEvents: the current state as ADDED events, then (if asked) the bookmark that ends
 * them; returns the list's version. The list is read unfiltered so that what the watcher holds
 * is known for every object.
 */
async function* initialEvents(
  target: WatchTarget,
  filter: ReturnType<typeof makeFilter>,
  held: Map<string, Held>,
  endBookmark: boolean | undefined,
): AsyncGenerator<WatchEvent, number> {
  const list = await target.source.list(target.tenant, target.rt, { namespace: target.namespace });
  for (const obj of list.items) {
    const holds = filter.matches(obj);
    held.set(objectKey(obj), { holds, resourceVersion: Number(obj.metadata.resourceVersion) });
    if (holds) yield { type: 'ADDED', object: obj };
  }
  if (endBookmark) yield bookmark(target.rt, list.resourceVersion, { [INITIAL_EVENTS_END]: 'true' });
  return list.resourceVersion;
}

// ---------------------------------------------------------------------------------------------
// Best-effort kinds (Events): a poll of time-ordered entries with a look-back window.

/**
 * How far behind the newest entry a watch of a best-effort kind re-reads (clock versions, µs):
 * an entry whose write lands up to this long after a newer one (writers' clocks apart, a slow
 * PutItem) is still delivered. Later than that, open watches miss it (shared/store/best-effort.ts).
 */
export const BEST_EFFORT_LOOKBACK_US = 5_000_000;
/** Events are not worth polling ten times a second: twice is what `kubectl get events -w` needs. */
const BEST_EFFORT_POLL_MS = 500;
/** How long best-effort entries live (the change log's 1 h); a watch from before that gets 410. */
export const BEST_EFFORT_HISTORY_US = 3_600_000_000;

/**
 * The watch of a best-effort kind. Entries carry clock versions and are not gap-free, so instead
 * of following the log version by version it re-reads the last BEST_EFFORT_LOOKBACK_US each poll
 * and delivers every entry it has not delivered yet (in version order within a poll), through
 * the same translate() as every watch (selectors, held state). A watch from a version X counts
 * what is at most X as seen by the watcher (it came from the list that gave X); a watch from a
 * list it made itself knows exactly what the watcher holds, so entries that land late are sent.
 * The state an update or delete replaced stays readable for a while (best-effort.ts SUPERSEDED_READABLE_S), so a
 * poll that comes after an update still sends the create before it.
 */
async function* bestEffortWatchEvents(target: WatchTarget, plan: WatchPlan, signal: AbortSignal, clock: WatchClock): AsyncGenerator<WatchEvent> {
  const { source, tenant, rt } = target;
  const filter = makeFilter(rt, target, plan.labels, plan.fields);
  const deadline = clock.now() + plan.timeoutSeconds * 1000;
  const held = new Map<string, Held>();
  let heldByDefault: Held | undefined;
  /** Entries delivered (or counted as seen), by `${version}#${namespace}/${name}`. */
  const seen = new Map<string, number>();
  const entryId = (c: ChangeEvent) => `${c.resourceVersion}#${objectKey(c.object)}`;
  let cursor: number;
  try {
    // (For best-effort kinds a version ahead of ours is a writer whose clock runs ahead: wait for ours.)
    const begun = yield* begin(target, plan, filter, held, signal, clock);
    if (!begun) return;
    ({ cursor, heldByDefault } = begun);
    if (!begun.initial) {
      const current = begun.current;
      if (current - cursor > BEST_EFFORT_HISTORY_US) throw new StatusError(410, 'Expired', `too old resource version: ${cursor} (${current - BEST_EFFORT_HISTORY_US})`);
      // What lies at or below the start version the watcher has (it listed there); late ones too.
      for (const c of await source.changesSince(tenant, rt, Math.max(0, cursor - BEST_EFFORT_LOOKBACK_US), PAGE_SIZE))
        if (c.resourceVersion <= cursor) seen.set(entryId(c), c.resourceVersion);
    }

    let lastBookmark = clock.now();
    while (!signal.aborted && clock.now() < deadline) {
      let from = Math.max(0, cursor - BEST_EFFORT_LOOKBACK_US);
      for (;;) {
        const page = await source.changesSince(tenant, rt, from, PAGE_SIZE);
        for (const change of page) {
          const id = entryId(change);
          if (seen.has(id)) continue;
          seen.set(id, change.resourceVersion);
          cursor = Math.max(cursor, change.resourceVersion);
          const key = objectKey(change.object);
          const t = translate(change, filter, held.get(key) ?? heldByDefault);
          if (t.kind === 'skip') continue;
          held.set(key, t.held);
          if (t.event) yield t.event;
          if (signal.aborted) return;
        }
        if (page.length < PAGE_SIZE) break;
        from = page[page.length - 1]!.resourceVersion;
      }
      // Forget what the next look-back no longer reaches.
      for (const [id, version] of seen) if (version < cursor - 2 * BEST_EFFORT_LOOKBACK_US) seen.delete(id);
      if (plan.allowWatchBookmarks && clock.now() - lastBookmark >= BOOKMARK_EVERY_MS) {
        yield bookmark(rt, cursor);
        lastBookmark = clock.now();
      }
      await clock.sleep(Math.min(BEST_EFFORT_POLL_MS, Math.max(0, deadline - clock.now())), signal);
    }
    if (plan.allowWatchBookmarks && !signal.aborted) yield bookmark(rt, cursor);
  } catch (e) {
    if (!signal.aborted) yield errorEvent(e);
  }
}

// ---------------------------------------------------------------------------------------------
// The response body.

/**
 * A Readable that pulls lines from `produce` as the client reads them (backpressure), ends when
 * `produce` is exhausted, and aborts `produce` (through its signal) as soon as it is destroyed:
 * that is how a client that goes away (the response stream is destroyed, middy's pipeline
 * destroys this body) stops the poll loop.
 */
export class WatchBody extends Readable {
  private readonly abort = new AbortController();
  private events: AsyncIterator<string> | undefined;
  private reading = false;

  constructor(private readonly produce: (signal: AbortSignal) => AsyncIterable<string>) {
    super();
  }

  override _read(): void {
    if (this.reading) return;
    this.reading = true;
    this.events ??= this.produce(this.abort.signal)[Symbol.asyncIterator]();
    void this.pump();
  }

  private async pump(): Promise<void> {
    try {
      for (;;) {
        const next = await this.events!.next();
        if (this.destroyed) return;
        if (next.done) {
          this.push(null);
          return;
        }
        if (!this.push(next.value)) break; // wait for the next _read
      }
    } catch (e) {
      this.destroy(e as Error);
    } finally {
      this.reading = false;
    }
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.abort.abort();
    cb(err);
  }
}

/** The streamed response of a watch: status and headers go out first, then the body. */
export interface WatchResponse {
  readonly statusCode: 200;
  readonly headers: Record<string, string>;
  readonly body: Readable;
}

/**
 * Starts a watch on a collection (or one named object). Parameters are checked before the
 * stream starts, so bad ones come back as a plain Status response. `render` turns an object
 * event's object into what goes on the wire (the object itself, or a Table row).
 */
export function serveWatch(
  target: WatchTarget,
  query: URLSearchParams,
  render: (obj: KubeObject) => unknown = (obj) => obj,
): WatchResponse {
  const plan = parseWatchQuery(target.rt, query);
  const lines = async function* (signal: AbortSignal) {
    // Status and headers leave with the first byte (on AWS as locally: the prelude precedes the
    // first write), and clients wait for them before reading events: send a blank line at once.
    // JSON stream decoders (client-go's framer, line readers) skip it as whitespace.
    yield '\n';
    for await (const event of watchEvents(target, plan, signal)) {
      const object = event.type === 'BOOKMARK' || event.type === 'ERROR' ? event.object : render(event.object);
      yield `${JSON.stringify({ type: event.type, object })}\n`;
    }
  };
  return {
    statusCode: 200,
    headers: { 'content-type': 'application/json', 'cache-control': 'no-cache, private' },
    body: new WatchBody(lines),
  };
}

/**
 * The api's watch verb on a collection or one named object (`GET .../pods/x?watch=true`, the old
 * form of a fieldSelector on metadata.name). When the Accept header asks for a Table (kubectl
 * get -w), each object event carries a one-row Table; as in Kubernetes, only the first one has
 * the column definitions.
 */
export function watchCollection(ctx: RestContext, t: Target, req: ApiRequest): WatchResponse {
  let render: ((obj: KubeObject) => unknown) | undefined;
  if (wantsTable(req.headers.accept)) {
    const includeObject = includeObjectOf(req.query);
    // Worded as the list's Table conversion (table.ts asTable) words it.
    if (!includeObject) throw badRequest(`includeObject must be one of "None", "Metadata", "Object" (got "${req.query.get('includeObject')}")`);
    let first = true;
    render = (obj) => {
      const table = toTable(t.rt, [obj], { wide: true, includeObject });
      table.metadata = { resourceVersion: obj.metadata.resourceVersion };
      if (first) {
        first = false;
        return table;
      }
      return { ...table, columnDefinitions: [] };
    };
  }
  return serveWatch({ source: ctx.store, tenant: ctx.tenant, rt: t.rt, namespace: t.namespace, name: t.name }, req.query, render);
}
