/**
 * How long to wait before reading again after `failures` failed reads in a row (1 or more): 1 s,
 * then twice as long each time, never longer than `maxMs` (the period a successful read is
 * repeated at), so a passing failure is over in a second or two and a lasting one costs little.
 */
export function retryDelayMs(failures: number, maxMs: number, firstMs = 1000): number {
  return Math.min(maxMs, firstMs * 2 ** Math.max(0, failures - 1));
}

/** The HTTP codes a read may be repeated after: the API was busy (429) or briefly unreachable (5xx). */
const TRANSIENT_CODES = new Set([429, 500, 502, 503, 504]);

/**
 * Whether a failed read may succeed if repeated: fetch's own failure (a TypeError: the connection
 * was reset, or the network changed under the browser) or a busy/unavailable answer. A 4xx such as
 * 401 or 403 is the answer and is never repeated.
 */
export function isTransient(err: unknown): boolean {
  if (err instanceof TypeError) return true;
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'number' && TRANSIENT_CODES.has(code);
}

/**
 * `read`, again after a transient failure (isTransient), up to `attempts` times in all, waiting
 * retryDelayMs between them (1 s, 2 s, 4 s...). The last failure, or the first one that is not
 * transient, is thrown.
 */
export async function withRetries<T>(read: () => Promise<T>, attempts: number, sleep: (ms: number) => Promise<void> = (ms) => new Promise((r) => setTimeout(r, ms))): Promise<T> {
  for (let failures = 1; ; failures++) {
    try {
      return await read();
    } catch (err) {
      if (failures >= attempts || !isTransient(err)) throw err;
      await sleep(retryDelayMs(failures, 8000));
    }
  }
}
