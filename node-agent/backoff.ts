/**
 * Per-key exponential back-off, as the kubelet's flowcontrol.Backoff: the first failure is
 * retried at once, then after 10 s, 20 s, 40 s... capped at 5 min; a key left alone for twice
 * the cap starts over. Used for crash loops (CrashLoopBackOff) and image pulls (ImagePullBackOff).
 */
export interface BackOffOptions {
  /** @default 10_000 */
  readonly initialMs?: number;
  /** @default 300_000 */
  readonly maxMs?: number;
}

interface Entry {
  delayMs: number;
  lastUpdateMs: number;
}

export class BackOff {
  private readonly entries = new Map<string, Entry>();
  private readonly initialMs: number;
  private readonly maxMs: number;

  constructor(opts: BackOffOptions = {}) {
    this.initialMs = opts.initialMs ?? 10_000;
    this.maxMs = opts.maxMs ?? 300_000;
  }

  /** Records one more failure of `key` at `nowMs`, growing its delay. */
  next(key: string, nowMs: number): void {
    const e = this.entries.get(key);
    if (!e || nowMs - e.lastUpdateMs > 2 * this.maxMs) {
      this.entries.set(key, { delayMs: this.initialMs, lastUpdateMs: nowMs });
    } else {
      e.delayMs = Math.min(e.delayMs * 2, this.maxMs);
      e.lastUpdateMs = nowMs;
    }
  }

  /** Whether a retry at `nowMs` is still too early, counting from the failure at `eventMs`. */
  isInBackOff(key: string, eventMs: number, nowMs: number): boolean {
    const e = this.entries.get(key);
    return e !== undefined && nowMs - eventMs < e.delayMs;
  }

  /** The current delay, for messages ("back-off 20s restarting failed container"). */
  delayMs(key: string): number {
    return this.entries.get(key)?.delayMs ?? 0;
  }

  reset(key: string): void {
    this.entries.delete(key);
  }

  /** Forgets every key starting with `prefix` (all keys of a killed pod). */
  resetPrefix(prefix: string): void {
    for (const k of this.entries.keys()) if (k.startsWith(prefix)) this.entries.delete(k);
  }
}
