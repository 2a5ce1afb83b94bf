/**
 * How long to wait before reading again after `failures` failed reads in a row (1 or more): 1 s,
 * then twice as long each time, never longer than `maxMs` (the period a successful read is
 * repeated at), so a passing failure is over in a second or two and a lasting one costs little.
 */
export function retryDelayMs(failures: number, maxMs: number, firstMs = 1000): number {
  return Math.min(maxMs, firstMs * 2 ** Math.max(0, failures - 1));
}
