/**
 * Audit: one audit.k8s.io/v1 Event per API request, as kube-apiserver's audit log writes them
 * (what Falco, SIEMs and `jq` recipes for Kubernetes audit logs read).
 *
 * Policy (fixed, the safe default): level Metadata for every resource request, every
 * non-resource request that is not a GET (discovery, openapi and version reads are not logged),
 * and every refused request (401, 403, 429) whatever its path. Metadata never holds a request or
 * response body, so no Secret value (nor a last-applied annotation copying one) reaches the log.
 * Stage ResponseComplete, or ResponseStarted for a streamed answer (watch, logs) that may stay
 * open for minutes.
 *
 * Where events go: locally a JSON-lines file (STRATUS_AUDIT_LOG, `.stratus/audit.log` under
 * `npm start`), rotated by size (STRATUS_AUDIT_LOG_MAX_BYTES, 10 MiB, 3 old files kept); on AWS
 * one stdout line per event, `{"auditEvent": {...}}`, into the api function's CloudWatch log
 * group (query with Logs Insights `filter ispresent(auditEvent.auditID)`; docs/security.md).
 */
import { appendFileSync, existsSync, renameSync, statSync } from 'node:fs';
import { randomUUID } from 'node:crypto';

export interface AuditUser {
  readonly username: string;
  readonly uid?: string;
  readonly groups?: readonly string[];
  readonly extra?: Readonly<Record<string, readonly string[]>>;
}

export interface AuditObjectRef {
  readonly resource?: string;
  readonly namespace?: string;
  readonly name?: string;
  readonly apiGroup?: string;
  readonly apiVersion?: string;
  readonly subresource?: string;
}

/** What the pipeline learns about a request as it goes (filled by functions/api/router.ts). */
export interface AuditContext {
  readonly auditID: string;
  readonly received: Date;
  cluster?: string;
  user?: AuditUser;
  impersonatedUser?: AuditUser;
  verb?: string;
  objectRef?: AuditObjectRef;
  /** Authorization's decision and reason (the authorization.k8s.io annotations). */
  decision?: 'allow' | 'forbid';
  reason?: string;
  /** A resource request (vs a non-resource path such as /version). */
  resourceRequest?: boolean;
}

export interface AuditEvent {
  readonly kind: 'Event';
  readonly apiVersion: 'audit.k8s.io/v1';
  readonly level: 'Metadata';
  readonly auditID: string;
  readonly stage: 'ResponseStarted' | 'ResponseComplete';
  readonly requestURI: string;
  readonly verb: string;
  readonly user: AuditUser;
  readonly impersonatedUser?: AuditUser;
  readonly sourceIPs: readonly string[];
  readonly userAgent?: string;
  readonly objectRef?: AuditObjectRef;
  readonly responseStatus: { readonly metadata: Record<string, never>; readonly code: number; readonly status?: string; readonly reason?: string; readonly message?: string };
  readonly requestReceivedTimestamp: string;
  readonly stageTimestamp: string;
  readonly annotations: Readonly<Record<string, string>>;
}

export const newAuditContext = (auditID: string = randomUUID(), received = new Date()): AuditContext => ({ auditID, received });

/** The verb of a request that never reached routing (kube-apiserver's: lower-cased method, or the resource verb). */
const methodVerb = (method: string): string => ({ GET: 'get', POST: 'create', PUT: 'update', PATCH: 'patch', DELETE: 'delete' })[method] ?? method.toLowerCase();

const ANONYMOUS: AuditUser = { username: 'system:anonymous', groups: ['system:unauthenticated'] };

/** Microsecond-precision RFC 3339, as Kubernetes' audit timestamps (MicroTime). */
const microTime = (d: Date) => d.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');

export interface AuditRequest {
  readonly method: string;
  /** The path as the client sent it (with /clusters/NAME) and its query. */
  readonly requestURI: string;
  readonly sourceIP?: string;
  readonly userAgent?: string;
}

/** Whether the fixed policy logs this request (see the file's header). */
export function shouldAudit(ctx: AuditContext, method: string, code: number): boolean {
  if (code === 401 || code === 403 || code === 429) return true;
  if (ctx.resourceRequest) return true;
  return method !== 'GET' && method !== 'HEAD' && ctx.user !== undefined;
}

/** The event for a request and its answer. */
export function auditEvent(
  ctx: AuditContext,
  req: AuditRequest,
  res: { readonly code: number; readonly reason?: string; readonly message?: string; readonly streamed?: boolean },
  now = new Date(),
): AuditEvent {
  const annotations: Record<string, string> = {};
  if (ctx.decision) annotations['authorization.k8s.io/decision'] = ctx.decision;
  if (ctx.reason) annotations['authorization.k8s.io/reason'] = ctx.reason;
  if (ctx.cluster) annotations['stratus.io/cluster'] = ctx.cluster;
  const failed = res.code >= 400;
  return {
    kind: 'Event',
    apiVersion: 'audit.k8s.io/v1',
    level: 'Metadata',
    auditID: ctx.auditID,
    stage: res.streamed ? 'ResponseStarted' : 'ResponseComplete',
    requestURI: req.requestURI,
    verb: ctx.verb ?? methodVerb(req.method),
    user: ctx.user ?? ANONYMOUS,
    ...(ctx.impersonatedUser ? { impersonatedUser: ctx.impersonatedUser } : {}),
    sourceIPs: req.sourceIP ? [req.sourceIP] : [],
    ...(req.userAgent ? { userAgent: req.userAgent } : {}),
    ...(ctx.objectRef ? { objectRef: ctx.objectRef } : {}),
    responseStatus: {
      metadata: {},
      code: res.code,
      ...(failed ? { status: 'Failure' } : {}),
      ...(failed && res.reason ? { reason: res.reason } : {}),
      ...(failed && res.message ? { message: res.message } : {}),
    },
    requestReceivedTimestamp: microTime(ctx.received),
    stageTimestamp: microTime(now),
    annotations,
  };
}

export interface AuditSink {
  write(event: AuditEvent): void;
}

/**
 * JSON lines appended to `path`, rotated when it would pass `maxBytes`: audit.log → audit.log.1
 * → ... → audit.log.N (the oldest dropped). Created 0600 (events name users and objects).
 *
 * Buffered: the lines written during one turn of the event loop are appended together at its
 * end (setImmediate), with one stat and one append, instead of three file system calls per
 * request (under a flood of refused requests those calls were a tenth of the server's CPU,
 * BENCHMARKS.md "Fairness under a flood"). Order is kept; the process's 'exit' flushes what is
 * left, so an orderly exit loses nothing (a crash may lose the last turn's lines). `buffered:
 * false` appends each line at once, as before.
 */
export class FileAuditSink implements AuditSink {
  private pending: string[] = [];
  private scheduled = false;
  private exitHook = false;

  constructor(
    private readonly path: string,
    private readonly maxBytes = 10 * 1024 * 1024,
    private readonly keep = 3,
    private readonly opts: { buffered?: boolean; onError?: (error: unknown) => void } = {},
  ) {}

  write(event: AuditEvent): void {
    this.writeLine(`${JSON.stringify(event)}\n`);
  }

  /** One event already as its JSON line (ending in a newline): what ForwardingAuditSink sends. */
  writeLine(line: string): void {
    this.pending.push(line);
    if (this.opts.buffered === false) return this.flush();
    if (this.scheduled) return;
    this.scheduled = true;
    if (!this.exitHook) {
      this.exitHook = true;
      process.once('exit', () => this.flushReporting());
    }
    setImmediate(() => this.flushReporting());
  }

  private flushReporting(): void {
    try {
      this.flush();
    } catch (error) {
      if (this.opts.onError) this.opts.onError(error);
      else process.stderr.write(`audit events not written to ${this.path}: ${String(error)}\n`);
    }
  }

  /** Appends the pending lines now, rotating first whenever the next line would pass maxBytes. */
  flush(): void {
    this.scheduled = false;
    const lines = this.pending;
    if (!lines.length) return;
    this.pending = [];
    let size = 0;
    try {
      size = existsSync(this.path) ? statSync(this.path).size : 0;
    } catch {
      // unknown size: no rotation before this batch
    }
    let chunk = '';
    for (const line of lines) {
      const bytes = Buffer.byteLength(line);
      if (size > 0 && size + bytes > this.maxBytes) {
        if (chunk) appendFileSync(this.path, chunk, { mode: 0o600 });
        chunk = '';
        try {
          this.rotate();
          size = 0;
        } catch {
          // A rotation that failed must not lose the event: append to what is there.
        }
      }
      chunk += line;
      size += bytes;
    }
    appendFileSync(this.path, chunk, { mode: 0o600 });
  }

  private rotate(): void {
    for (let i = this.keep - 1; i >= 1; i--) {
      const from = `${this.path}.${i}`;
      if (existsSync(from)) renameSync(from, `${this.path}.${i + 1}`);
    }
    renameSync(this.path, `${this.path}.1`);
  }
}

/**
 * The local runtime's api instances (infra/local/http-instances.ts) share one audit.log: each
 * sends its lines, once per event-loop turn, to the process that forked it, which alone appends
 * and rotates (two processes rotating one file would lose each other's old files).
 */
export class ForwardingAuditSink implements AuditSink {
  private pending: string[] = [];
  private scheduled = false;

  constructor(private readonly send: (lines: string[]) => void) {}

  write(event: AuditEvent): void {
    this.pending.push(`${JSON.stringify(event)}\n`);
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => this.flush());
  }

  /** Sends what is pending now (an instance that stops calls it before it says it stopped). */
  flush(): void {
    this.scheduled = false;
    if (!this.pending.length) return;
    const lines = this.pending;
    this.pending = [];
    this.send(lines);
  }
}

let forwarding: ForwardingAuditSink | undefined;

/** Sends the lines a ForwardingAuditSink of this process still holds. */
export const flushForwardedAudit = (): void => forwarding?.flush();

/** One stdout line per event, for CloudWatch Logs (the api function's log group). */
export class StdoutAuditSink implements AuditSink {
  write(event: AuditEvent): void {
    process.stdout.write(`${JSON.stringify({ auditEvent: event })}\n`);
  }
}

/** The sink the environment asks for: a file (STRATUS_AUDIT_LOG), stdout in Lambda, else none. */
export function auditSinkFromEnv(env: NodeJS.ProcessEnv = process.env, onError?: (error: unknown) => void): AuditSink | undefined {
  if (env.STRATUS_AUDIT_LOG && env.STRATUS_AUDIT_FORWARD === '1' && process.send) {
    const send = process.send.bind(process);
    return (forwarding ??= new ForwardingAuditSink((lines) => send({ type: 'audit', lines })));
  }
  if (env.STRATUS_AUDIT_LOG) return new FileAuditSink(env.STRATUS_AUDIT_LOG, Number(env.STRATUS_AUDIT_LOG_MAX_BYTES ?? 10 * 1024 * 1024), 3, { onError });
  if (env.AWS_LAMBDA_FUNCTION_NAME) return new StdoutAuditSink();
  return undefined;
}
