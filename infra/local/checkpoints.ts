/**
 * Stream consumers' checkpoints kept in a file, so that a restarted local stack resumes each
 * event source mapping after the last record it delivered (as Lambda's mappings do) instead of
 * replaying the whole stream from TRIM_HORIZON. Keyed by consumer (function name) and stream ARN,
 * then shard id. Written atomically (temp file + rename) at most once a second while something
 * changed, and on close().
 */
import { readFileSync, renameSync, writeFileSync } from 'node:fs';

type Saved = Record<string, Record<string, string>>;

export interface CheckpointSource {
  /** The current checkpoint of every shard it knows (undefined: nothing delivered yet). */
  snapshot(): Record<string, string | undefined>;
}

const FLUSH_MS = 1_000;

export class CheckpointFile {
  private readonly saved: Saved;
  private readonly sources = new Map<string, CheckpointSource>();
  private timer: NodeJS.Timeout | undefined;
  private last = '';

  constructor(private readonly path: string) {
    this.saved = CheckpointFile.read(path);
    this.last = JSON.stringify(this.saved);
  }

  private static read(path: string): Saved {
    try {
      const parsed: unknown = JSON.parse(readFileSync(path, 'utf8'));
      if (!parsed || typeof parsed !== 'object') return {};
      const out: Saved = {};
      for (const [key, shards] of Object.entries(parsed as Record<string, unknown>)) {
        if (!shards || typeof shards !== 'object') continue;
        out[key] = Object.fromEntries(Object.entries(shards as Record<string, unknown>).filter((e): e is [string, string] => typeof e[1] === 'string'));
      }
      return out;
    } catch {
      return {}; // absent or unreadable: start from TRIM_HORIZON
    }
  }

  /** What was saved for `consumer` on `streamArn`: shard id → sequence number. */
  initial(consumer: string, streamArn: string): ReadonlyMap<string, string> {
    return new Map(Object.entries(this.saved[`${consumer} ${streamArn}`] ?? {}));
  }

  /** Registers a consumer whose checkpoints are saved from now on. */
  track(consumer: string, streamArn: string, source: CheckpointSource): void {
    this.sources.set(`${consumer} ${streamArn}`, source);
    this.timer ??= setInterval(() => this.flush(), FLUSH_MS).unref();
  }

  /** Writes the current checkpoints if they changed. */
  flush(): void {
    for (const [key, source] of this.sources) {
      const shards = { ...this.saved[key] };
      for (const [shard, seq] of Object.entries(source.snapshot())) if (seq) shards[shard] = seq;
      this.saved[key] = shards;
    }
    const text = JSON.stringify(this.saved);
    if (text === this.last) return;
    const tmp = `${this.path}.${process.pid}.tmp`;
    writeFileSync(tmp, `${text}\n`, { mode: 0o600 });
    renameSync(tmp, this.path);
    this.last = text;
  }

  /** Stops the timer and writes a last time. */
  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.flush();
  }
}
