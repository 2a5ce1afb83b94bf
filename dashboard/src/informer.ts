/**
 * Lists that stay live, as client-go's informers do: LIST once, then WATCH from the list's
 * resourceVersion (`watch=1&resourceVersion=...&allowWatchBookmarks=true`, read as JSON lines
 * from a streamed fetch). When the watch ends the informer re-watches from the last version it
 * saw; when the server answers 410 Gone (the version is too old) it lists again. No polling.
 *
 * HTTP/1.1 gives a page 6 connections per origin: at most MAX_WATCHES watches are open at once
 * (a queue hands out the slots), so actions and log streams always find a free connection.
 * Informers are shared by key: two views of the same list use one watch.
 */
import { useEffect, useState } from 'preact/hooks';
import { ApiError, getJson, readLines, request, type KubeList, type KubeObject } from './api';

export const MAX_WATCHES = 3;

let open = 0;
const waiting: (() => void)[] = [];
async function acquireWatchSlot(): Promise<void> {
  if (open < MAX_WATCHES) {
    open++;
    return;
  }
  await new Promise<void>((resolve) => waiting.push(resolve));
}
function releaseWatchSlot(): void {
  const next = waiting.shift();
  if (next) next();
  else open--;
}

export interface ListState {
  readonly items: readonly KubeObject[];
  readonly loaded: boolean;
  readonly error?: string;
}

const keyOf = (o: KubeObject) => `${o.metadata.namespace ?? ''}/${o.metadata.name}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

class Informer {
  private readonly items = new Map<string, KubeObject>();
  private readonly listeners = new Set<(s: ListState) => void>();
  private state: ListState = { items: [], loaded: false };
  private readonly abort = new AbortController();
  refs = 0;

  constructor(
    private readonly path: string,
    private readonly query: string,
  ) {
    void this.run();
  }

  subscribe(f: (s: ListState) => void): () => void {
    this.listeners.add(f);
    f(this.state);
    return () => this.listeners.delete(f);
  }

  stop(): void {
    this.abort.abort();
  }

  private publish(error?: string): void {
    const items = [...this.items.values()].sort((a, b) => keyOf(a).localeCompare(keyOf(b)));
    this.state = { items, loaded: true, error };
    for (const f of this.listeners) f(this.state);
  }

  private url(extra: string): string {
    const q = [this.query, extra].filter(Boolean).join('&');
    return q ? `${this.path}?${q}` : this.path;
  }

  private async run(): Promise<void> {
    const signal = this.abort.signal;
    let rv: string | undefined;
    let failures = 0;
    while (!signal.aborted) {
      try {
        if (rv === undefined) {
          const list = await getJson<KubeList>(this.url(''), signal);
          this.items.clear();
          for (const o of list.items) this.items.set(keyOf(o), o);
          rv = list.metadata.resourceVersion ?? '';
          this.publish();
        }
        rv = await this.watch(rv, signal);
        failures = 0;
      } catch (err) {
        if (signal.aborted) return;
        if (err instanceof ApiError && err.code === 410) {
          rv = undefined;
          continue;
        }
        this.publish(err instanceof Error ? err.message : String(err));
        // Forbidden or gone for good: stay with the message; otherwise back off and list again.
        if (err instanceof ApiError && (err.code === 403 || err.code === 404 || err.code === 401)) return;
        rv = undefined;
        await sleep(Math.min(30_000, 1000 * 2 ** failures++));
      }
    }
  }

  /** One watch from `rv`; resolves to the last version seen when the server ends it. */
  private async watch(rv: string, signal: AbortSignal): Promise<string> {
    await acquireWatchSlot();
    try {
      if (signal.aborted) return rv;
      const res = await request('GET', this.url(`watch=1&allowWatchBookmarks=true&resourceVersion=${encodeURIComponent(rv)}`), { signal });
      let gone: ApiError | undefined;
      await readLines(res, (line) => {
        if (!line.trim() || gone) return;
        const ev = JSON.parse(line) as { type: string; object: KubeObject & { code?: number; message?: string } };
        if (ev.type === 'ERROR') {
          gone = new ApiError(ev.object.code ?? 500, ev.object.message ?? 'watch error');
          return;
        }
        const v = ev.object.metadata?.resourceVersion;
        if (v) rv = v;
        if (ev.type === 'BOOKMARK') return;
        if (ev.type === 'DELETED') this.items.delete(keyOf(ev.object));
        else this.items.set(keyOf(ev.object), ev.object);
        this.publish();
      });
      if (gone) throw gone;
      return rv;
    } finally {
      releaseWatchSlot();
    }
  }
}

const informers = new Map<string, Informer>();

/**
 * The live list of `path` (an API collection path, e.g. `/api/v1/namespaces/ns/pods`) with an
 * optional query (`fieldSelector=...`). Undefined path: nothing (an empty, loaded list).
 */
export function useList(path: string | undefined, query = ''): ListState {
  const [state, setState] = useState<ListState>({ items: [], loaded: false });
  useEffect(() => {
    if (!path) {
      setState({ items: [], loaded: true });
      return;
    }
    const key = `${path}?${query}`;
    let inf = informers.get(key);
    if (!inf) {
      inf = new Informer(path, query);
      informers.set(key, inf);
    }
    const informer = inf;
    informer.refs++;
    const unsubscribe = informer.subscribe(setState);
    return () => {
      unsubscribe();
      if (--informer.refs === 0) {
        informer.stop();
        informers.delete(key);
      }
    };
  }, [path, query]);
  return state;
}

/** Stops every informer (sign-out). */
export function stopAll(): void {
  for (const inf of informers.values()) inf.stop();
  informers.clear();
}
