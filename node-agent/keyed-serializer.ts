/**
 * Runs jobs one at a time per key (a per-pod mutex), so an SQS message, the periodic resync and
 * a Docker event never sync the same pod concurrently. Jobs for different keys run in parallel.
 *
 * Coalescing: a job asked for while another for the same key is already waiting (not yet
 * started) shares that waiting run instead of queueing a second one. Syncs are level-triggered
 * (they re-read state when they start), so the waiting run covers both requests.
 */
export class KeyedSerializer {
  private readonly running = new Map<string, Promise<void>>();
  private readonly waiting = new Map<string, Promise<void>>();

  run(key: string, job: () => Promise<void>): Promise<void> {
    const queued = this.waiting.get(key);
    if (queued) return queued;
    const before = this.running.get(key);
    if (!before) return this.start(key, job);
    const next = before.then(
      () => {
        this.waiting.delete(key);
        return this.start(key, job);
      },
      () => {
        this.waiting.delete(key);
        return this.start(key, job);
      },
    );
    this.waiting.set(key, next);
    return next;
  }

  /** Resolves when every job started or queued so far has settled. */
  async idle(): Promise<void> {
    while (this.running.size > 0 || this.waiting.size > 0) {
      await Promise.allSettled([...this.running.values(), ...this.waiting.values()]);
    }
  }

  private start(key: string, job: () => Promise<void>): Promise<void> {
    const p: Promise<void> = Promise.resolve()
      .then(job)
      .finally(() => {
        if (this.running.get(key) === p) this.running.delete(key);
      });
    this.running.set(key, p);
    return p;
  }
}
