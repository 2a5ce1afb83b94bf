import { setTimeout as wait } from 'node:timers/promises';

/**
 * The one sleep helper: waits `ms`, or less when `signal` aborts; never rejects (stopping is not
 * an error). Node's timers/promises does the timing and the abort handling.
 */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return wait(ms, undefined, { signal }).catch((err: unknown) => {
    if (!signal?.aborted) throw err;
  });
}
