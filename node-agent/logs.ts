/**
 * Container logs as the kubelet serves them (GET /containerLogs/{namespace}/{pod}/{container}):
 * the query's options, parsed with zod at the boundary, and the demultiplexing of Docker's log
 * stream. Pure except for the stream plumbing.
 *
 * Docker multiplexes stdout and stderr of a container without a TTY into frames: an 8-byte
 * header (stream type, 3 zero bytes, big-endian payload length) then the payload. The kubelet
 * (CRI) interleaves both streams in one log, so we do too, in arrival order.
 */
import { Transform, type TransformCallback } from 'node:stream';
import { z } from 'zod';
import { codecBool } from '../shared/query';

/** PodLogOptions (core/v1) as the kubelet reads them. */
export interface LogOptions {
  readonly follow: boolean;
  readonly previous: boolean;
  readonly timestamps: boolean;
  readonly tailLines?: number;
  readonly sinceSeconds?: number;
  /** RFC 3339. */
  readonly sinceTime?: string;
  readonly limitBytes?: number;
}

// Kubernetes' parameter codec (shared/query.ts): absent, `0`, `false` (any case) false; else true.
const bool = z
  .string()
  .optional()
  .transform((v) => codecBool(v));
const int = (min: number) =>
  z
    .string()
    .regex(/^-?\d+$/, 'must be an integer')
    .transform(Number)
    .pipe(z.number().int().min(min))
    .optional();

const LogQuerySchema = z.object({
  follow: bool,
  previous: bool,
  timestamps: bool,
  tailLines: int(0),
  sinceSeconds: int(1),
  sinceTime: z
    .string()
    .refine((s) => !Number.isNaN(Date.parse(s)), 'must be an RFC 3339 time')
    .optional(),
  limitBytes: int(1),
});

/**
 * The log options of a query string, or the problem in Kubernetes' words (validation of
 * PodLogOptions: negative values, both since forms).
 */
export function parseLogOptions(query: URLSearchParams): { ok: true; options: LogOptions } | { ok: false; message: string } {
  const raw: Record<string, string> = {};
  for (const k of LogQuerySchema.keyof().options) {
    const v = query.get(k);
    if (v !== null) raw[k] = v;
  }
  const parsed = LogQuerySchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return { ok: false, message: `${String(issue?.path[0] ?? 'query')}: Invalid value: ${issue?.message ?? 'malformed'}` };
  }
  const o = parsed.data;
  if (o.sinceSeconds !== undefined && o.sinceTime !== undefined) {
    return { ok: false, message: 'at most one of `sinceTime` or `sinceSeconds` may be specified' };
  }
  return {
    ok: true,
    options: {
      follow: o.follow,
      previous: o.previous,
      timestamps: o.timestamps,
      ...(o.tailLines !== undefined ? { tailLines: o.tailLines } : {}),
      ...(o.sinceSeconds !== undefined ? { sinceSeconds: o.sinceSeconds } : {}),
      ...(o.sinceTime !== undefined ? { sinceTime: o.sinceTime } : {}),
      ...(o.limitBytes !== undefined ? { limitBytes: o.limitBytes } : {}),
    },
  };
}

/** Docker's `since` (Unix seconds, fractional) for the options, relative to `now`. */
export function dockerSince(o: LogOptions, now: Date): number | undefined {
  if (o.sinceSeconds !== undefined) return now.getTime() / 1000 - o.sinceSeconds;
  if (o.sinceTime !== undefined) return Date.parse(o.sinceTime) / 1000;
  return undefined;
}

/**
 * Turns Docker's multiplexed frames into the payload bytes (stdout and stderr interleaved),
 * whatever the chunking; stops after `limitBytes` (then ends the stream, as the kubelet does).
 */
export class DockerLogDemuxer extends Transform {
  private pending: Buffer = Buffer.alloc(0);
  private sent = 0;

  /** raw: the container has a tty, so Docker's log stream is its terminal's bytes, unframed. */
  constructor(
    private readonly limitBytes?: number,
    private readonly raw = false,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    if (this.limitReached()) return cb(); // already ended: drop the rest
    if (this.raw) {
      this.emitPayload(chunk);
      if (this.limitReached()) this.push(null);
      return cb();
    }
    this.pending = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    while (this.pending.length >= 8) {
      const size = this.pending.readUInt32BE(4);
      if (this.pending.length < 8 + size) break;
      const type = this.pending[0];
      const payload = this.pending.subarray(8, 8 + size);
      this.pending = this.pending.subarray(8 + size);
      // 0 stdin (never in logs), 1 stdout, 2 stderr.
      if (type === 1 || type === 2) this.emitPayload(payload);
      if (this.limitReached()) {
        this.push(null);
        return cb();
      }
    }
    cb();
  }

  private emitPayload(payload: Buffer): void {
    if (this.limitBytes === undefined) {
      this.push(payload);
      return;
    }
    const room = this.limitBytes - this.sent;
    const part = payload.length > room ? payload.subarray(0, room) : payload;
    this.sent += part.length;
    if (part.length) this.push(part);
  }

  private limitReached(): boolean {
    return this.limitBytes !== undefined && this.sent >= this.limitBytes;
  }
}
