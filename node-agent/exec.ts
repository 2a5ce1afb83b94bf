/**
 * `kubectl exec` (and `kubectl attach`) on the agent: the kubelet's exec and attach endpoints, as
 * WebSockets speaking Kubernetes' channel protocol (v5.channel.k8s.io, v4.channel.k8s.io), mapped
 * onto `docker exec` (`docker attach`).
 *
 * The channel protocol: every WebSocket message starts with one byte naming its stream (a text
 * message: one character, see decodeFrame), the rest is payload.
 *   0 stdin  (client → us)      1 stdout, 2 stderr (us → client)
 *   3 error  (us → client): one JSON `Status` at the end: Success, or Failure with reason
 *            NonZeroExitCode and details.causes [{reason: ExitCode, message: "<code>"}], from
 *            which kubectl takes its own exit code
 *   4 resize (client → us): {"Width":80,"Height":24}, for a tty
 *   255 close (v5 only, client → us): [255, stream], here stdin's EOF (`kubectl exec -i` with a
 *            finite stdin); v4 has no way to say it, so there stdin ends with the connection.
 * After the Status we close the WebSocket (1000): kubectl reads its streams until the close.
 *
 * This file holds the framing (pure, unit-tested), the Docker side (DockerExecutor) and the
 * session that joins a WebSocket to an exec (serveExecSession). kubelet-server.ts routes the
 * upgrade here; the API's broker (functions/api/exec.ts) authorizes the user before that.
 */
import type Docker from 'dockerode';
import { PassThrough, Writable, type Duplex, type Readable } from 'node:stream';
import type WebSocket from 'ws';
import { LABELS, listRunningPodContainers } from './docker-runtime';
import { sleep } from '../shared/sleep';
import { errorMessage, silentLogger, type Logger } from './log';
import type { ContainerRef } from './runtime';
import { queryBool } from '../shared/query';

// ---------------------------------------------------------------------------------------------
// The channel protocol (pure).

/** The subprotocols we speak, best first. Older ones (v1–v3, base64) are not served. */
export const EXEC_PROTOCOLS = ['v5.channel.k8s.io', 'v4.channel.k8s.io'] as const;
export type ExecProtocol = (typeof EXEC_PROTOCOLS)[number];

export const CHANNEL = { stdin: 0, stdout: 1, stderr: 2, error: 3, resize: 4, close: 255 } as const;

/** The subprotocol to answer with: ours that the client offered, v5 first; undefined if none. */
export function chooseProtocol(offered: Iterable<string>): ExecProtocol | undefined {
  const set = new Set([...offered].map((p) => p.trim()));
  return EXEC_PROTOCOLS.find((p) => set.has(p));
}

/** One message: the channel byte, then the payload. */
export function encodeFrame(channel: number, payload: Buffer | string = Buffer.alloc(0)): Buffer {
  const data = typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload;
  const out = Buffer.allocUnsafe(data.length + 1);
  out[0] = channel;
  data.copy(out, 1);
  return out;
}

/**
 * A message's channel and payload, for binary and text WebSocket messages alike; undefined for
 * a message that names no channel (empty, or text whose first character is past U+00FF).
 *
 * Binary: the first byte is the channel. Text (the official Python client sends stdin and
 * resize so under v4.channel.k8s.io): the first character is the channel as a code point
 * (U+0000 stdin, U+0004 resize), the rest is the payload as UTF-8. kube-apiserver reads both
 * kinds as bytes; for channels 0–127 a code point is that very byte, and reading a code point
 * also takes U+00FF (two bytes in UTF-8) as channel 255. The digit '0' is the base64 protocol
 * (base64.channel.k8s.io), which is not served: it decodes as channel 48, which nothing reads.
 */
export function decodeFrame(message: Buffer, isBinary = true): { channel: number; payload: Buffer } | undefined {
  if (message.length === 0) return undefined;
  if (isBinary || message[0]! < 0x80) return { channel: message[0]!, payload: message.subarray(1) };
  // A two-byte UTF-8 sequence 110xxxxx 10yyyyyy is U+0080..U+07FF; channels end at U+00FF.
  const second = message[1];
  if (message.length < 2 || (message[0]! & 0xe0) !== 0xc0 || second === undefined || (second & 0xc0) !== 0x80) return undefined;
  const codePoint = ((message[0]! & 0x1f) << 6) | (second & 0x3f);
  return codePoint <= 0xff ? { channel: codePoint, payload: message.subarray(2) } : undefined;
}

/** The terminal size of a resize message (TerminalSize in client-go), or undefined if malformed. */
export function parseResize(payload: Buffer): { width: number; height: number } | undefined {
  try {
    const v = JSON.parse(payload.toString('utf8')) as { Width?: unknown; Height?: unknown };
    const ok = (n: unknown): n is number => typeof n === 'number' && Number.isInteger(n) && n >= 0 && n <= 0xffff;
    return ok(v.Width) && ok(v.Height) ? { width: v.Width, height: v.Height } : undefined;
  } catch {
    return undefined;
  }
}

/** The Status that ends a session: Success, or the exit code as kubectl reads it. */
export function exitStatus(exitCode: number, command: readonly string[]): Record<string, unknown> {
  if (exitCode === 0) return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success' };
  return {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    // The kubelet's words (pkg/kubelet/cri/streaming/remotecommand).
    message: `command terminated with non-zero exit code: error executing command [${command.join(' ')}], exit code ${exitCode}`,
    reason: 'NonZeroExitCode',
    details: { causes: [{ reason: 'ExitCode', message: String(exitCode) }] },
  };
}

/**
 * A Status for a session that failed for another reason than the command's exit code, as
 * kube-apiserver words it (NewInternalError): kubectl prints "error: " and the message.
 */
export function failureStatus(cause: string): Record<string, unknown> {
  return {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message: `Internal error occurred: ${cause}`,
    reason: 'InternalError',
    details: { causes: [{ message: cause }] },
    code: 500,
  };
}

/** Ends an accepted session with only a Status (no command ran). */
export function failSession(ws: WebSocket, cause: string): Promise<void> {
  ws.on('error', () => undefined);
  return new Promise((resolve) => {
    ws.send(encodeFrame(CHANNEL.error, JSON.stringify(failureStatus(cause))), { binary: true }, () => {
      ws.close(1000);
      resolve();
    });
  });
}

/** PodExecOptions as the kubelet reads them from the query. */
export interface ExecOptions {
  readonly command: readonly string[];
  readonly stdin: boolean;
  readonly stdout: boolean;
  readonly stderr: boolean;
  readonly tty: boolean;
}


/**
 * The exec options of a query string, or the problem in Kubernetes' words. For attach
 * (PodAttachOptions) there is no command: `attach` true.
 */
export function parseExecOptions(query: URLSearchParams, attach = false): { ok: true; options: ExecOptions } | { ok: false; message: string } {
  const command = attach ? [] : query.getAll('command');
  if (!attach && (command.length === 0 || command[0] === '')) return { ok: false, message: 'you must specify at least 1 command' };
  const tty = queryBool(query, 'tty');
  const options: ExecOptions = {
    command,
    stdin: queryBool(query, 'stdin'),
    stdout: queryBool(query, 'stdout'),
    // A tty merges stderr into stdout (the kubelet drops stderr too).
    stderr: queryBool(query, 'stderr') && !tty,
    tty,
  };
  if (!options.stdin && !options.stdout && !options.stderr) return { ok: false, message: 'you must specify at least 1 of stdin, stdout, stderr' };
  return { ok: true, options };
}

// ---------------------------------------------------------------------------------------------
// The runtime side.

/**
 * A command started in a container. stdout/stderr end when the command's output does; wait()
 * then resolves with its exit code (rejects if it could not be run or its code not learnt).
 */
export interface ExecProcess {
  /** Present when the exec takes stdin; end() closes the command's stdin. */
  readonly stdin?: Writable;
  readonly stdout?: Readable;
  readonly stderr?: Readable;
  /** Resizes the tty (ignored without one). */
  resize(width: number, height: number): void;
  wait(): Promise<number>;
  /** The client went away: stop relaying (the command itself may run on, as with the kubelet). */
  destroy(): void;
}

export type PrepareExecResult = { readonly ok: true; start(): ExecProcess } | { readonly ok: false; readonly message: string };

/**
 * Where a kubelet runs commands in containers. prepareExec checks that the container runs and
 * readies the command (ok: false says why not, in the kubelet's words); start() then runs it.
 * prepareAttach does the same for the container's own process (`kubectl attach`; options.command
 * is empty): its session ends when that process does, with Success, as the kubelet's does.
 */
export interface ContainerExecutor {
  prepareExec(ref: ContainerRef, options: ExecOptions): Promise<PrepareExecResult>;
  prepareAttach(ref: ContainerRef, options: ExecOptions): Promise<PrepareExecResult>;
}

export interface DockerExecutorOptions {
  readonly docker: Docker;
  readonly nodeName: string;
  readonly tenant: string;
  readonly log?: Logger;
}

/** How long to wait, after the output ended, for Docker to record the exit code. */
const EXIT_CODE_WAIT_MS = 5_000;

/** docker exec (and attach) in the pod's running container. */
export class DockerExecutor implements ContainerExecutor {
  private readonly log: Logger;

  constructor(private readonly opts: DockerExecutorOptions) {
    this.log = opts.log ?? silentLogger;
  }

  /** The latest running attempt of the container, found by the labels DockerRuntime puts on it. */
  private async findRunning(ref: ContainerRef): Promise<Docker.ContainerInfo | undefined> {
    const list = await listRunningPodContainers(this.opts.docker, this.opts, ref);
    return list.sort((a, b) => Number(b.Labels?.[LABELS.attempt] ?? 0) - Number(a.Labels?.[LABELS.attempt] ?? 0))[0];
  }

  async prepareExec(ref: ContainerRef, options: ExecOptions): Promise<PrepareExecResult> {
    const docker = this.opts.docker;
    const running = await this.findRunning(ref);
    // The kubelet's words when the container is not (or no longer) running.
    const notFound = { ok: false, message: `container not found ("${ref.container}")` } as const;
    if (!running) return notFound;
    let exec: Docker.Exec;
    try {
      exec = await docker.getContainer(running.Id).exec({
        Cmd: [...options.command],
        AttachStdin: options.stdin,
        AttachStdout: options.stdout,
        AttachStderr: options.stderr,
        Tty: options.tty,
      });
    } catch (e) {
      // 409: it stopped in between; 404: it is gone.
      const code = (e as { statusCode?: number }).statusCode;
      if (code === 409 || code === 404) return notFound;
      throw e;
    }
    return {
      ok: true,
      start: () =>
        this.start(options, {
          open: async () => (await exec.start({ hijack: true, stdin: options.stdin, Tty: options.tty })) as Duplex,
          resize: (w, h) => exec.resize({ w, h }),
          exitCode: async () => {
            // The stream may end a moment before Docker records the exit code.
            const deadline = Date.now() + EXIT_CODE_WAIT_MS;
            for (;;) {
              const info = await exec.inspect();
              if (!info.Running && info.ExitCode !== null && info.ExitCode !== undefined) return info.ExitCode;
              if (Date.now() > deadline) throw new Error('the command ended its output but Docker reports no exit code');
              await sleep(25);
            }
          },
        }),
    };
  }

  async prepareAttach(ref: ContainerRef, options: ExecOptions): Promise<PrepareExecResult> {
    const running = await this.findRunning(ref);
    const notFound = { ok: false, message: `container not found ("${ref.container}")` } as const;
    if (!running) return notFound;
    const container = this.opts.docker.getContainer(running.Id);
    // The container's own terminal settings decide the stream's shape, not the request's:
    // a tty container's output is raw, any other's multiplexed; stdin only if it keeps one open.
    let Config: Docker.ContainerInspectInfo['Config'];
    try {
      ({ Config } = await container.inspect());
    } catch (e) {
      // Removed in between.
      if ((e as { statusCode?: number }).statusCode === 404) return notFound;
      throw e;
    }
    const effective: ExecOptions = { ...options, tty: Config.Tty, stdin: options.stdin && Config.OpenStdin, stderr: options.stderr && !Config.Tty };
    return {
      ok: true,
      start: () =>
        this.start(effective, {
          open: async () =>
            (await container.attach({ stream: true, hijack: true, stdin: effective.stdin, stdout: effective.stdout, stderr: effective.stderr })) as unknown as Duplex,
          resize: (w, h) => container.resize({ w, h }),
          // The kubelet ends an attach with Success, whatever the process's exit code.
          exitCode: async () => 0,
        }),
    };
  }

  /** Joins the streams of an exec or attach (open) to an ExecProcess. */
  private start(
    options: ExecOptions,
    how: { open(): Promise<Duplex>; resize(width: number, height: number): Promise<unknown>; exitCode(): Promise<number> },
  ): ExecProcess {
    const docker = this.opts.docker;
    const stdin = options.stdin ? new PassThrough() : undefined;
    const stdout = options.stdout ? new PassThrough() : undefined;
    const stderr = options.stderr ? new PassThrough() : undefined;
    let socket: Duplex | undefined;
    let destroyed = false;
    const log = this.log;

    const started = (async () => {
      const s = await how.open();
      socket = s;
      if (destroyed) s.destroy();
      return s;
    })();

    const run = async (): Promise<number> => {
      const s = await started;
      // stdin ends → half-close the hijacked connection: Docker closes the command's stdin
      // (dockerode asks for `Upgrade: tcp`, which is what allows the half-close).
      if (stdin) stdin.pipe(s);
      const discard = new Writable({ write: (_c, _e, cb) => cb() });
      if (options.tty) s.pipe(stdout ?? discard, { end: false });
      // Without a tty Docker multiplexes both streams in 8-byte-header frames.
      else docker.modem.demuxStream(s, stdout ?? discard, stderr ?? discard);
      await new Promise<void>((resolve, reject) => {
        s.once('end', resolve);
        s.once('close', resolve);
        s.once('error', (e) => (destroyed ? resolve() : reject(e)));
      });
      stdout?.end();
      stderr?.end();
      if (destroyed) return -1;
      return how.exitCode();
    };
    const result = run();
    // Handled by wait(); a session torn down early may never ask.
    result.catch(() => undefined);

    return {
      stdin,
      stdout,
      stderr,
      resize(width, height) {
        if (!options.tty) return;
        started
          .then(() => how.resize(width, height))
          .catch((e: unknown) => log.warn('exec resize failed', { error: errorMessage(e) }));
      },
      wait: () => result,
      destroy() {
        destroyed = true;
        socket?.destroy();
        stdin?.destroy();
        stdout?.destroy();
        stderr?.destroy();
      },
    };
  }
}

// ---------------------------------------------------------------------------------------------
// The session: one WebSocket joined to one ExecProcess.

/** Pause the command's output while this much is queued on the WebSocket (backpressure). */
const HIGH_WATER_BYTES = 1 << 20;

/**
 * Relays between an accepted WebSocket (already speaking `protocol`) and an exec: stdin, resize
 * and (v5) close-stdin messages in; stdout and stderr out; then the Status on the error channel
 * and a normal close. Resolves when the session is over. Never throws.
 */
export async function serveExecSession(
  ws: WebSocket,
  proc: ExecProcess,
  o: { readonly protocol: string; readonly command: readonly string[]; readonly log?: Logger },
): Promise<void> {
  const log = o.log ?? silentLogger;
  let closed = false;
  ws.on('close', () => {
    closed = true;
    proc.destroy();
  });
  ws.on('error', (e) => log.warn('exec websocket failed', { error: errorMessage(e) }));

  ws.on('message', (data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean) => {
    const buf = Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
    // Text messages too: clients such as the Python one send stdin and resize as text (decodeFrame).
    const frame = decodeFrame(buf, isBinary);
    if (!frame) return;
    switch (frame.channel) {
      case CHANNEL.stdin: {
        const stdin = proc.stdin;
        if (!stdin || stdin.writableEnded || !frame.payload.length) break;
        // Backpressure: stop reading the client while the command does not keep up.
        if (!stdin.write(frame.payload) && !ws.isPaused) {
          ws.pause();
          stdin.once('drain', () => ws.resume());
        }
        break;
      }
      case CHANNEL.resize: {
        const size = parseResize(frame.payload);
        if (size) proc.resize(size.width, size.height);
        break;
      }
      case CHANNEL.close:
        // v5: the client closed one of its streams; only stdin is the client's to close.
        if (o.protocol === 'v5.channel.k8s.io' && frame.payload[0] === CHANNEL.stdin) proc.stdin?.end();
        break;
      default:
        break;
    }
  });

  const relay = (stream: Readable | undefined, channel: number) =>
    new Promise<void>((resolve) => {
      if (!stream) return resolve();
      stream.on('data', (chunk: Buffer) => {
        if (closed) return;
        ws.send(encodeFrame(channel, chunk), { binary: true }, () => {
          if (stream.isPaused() && ws.bufferedAmount < HIGH_WATER_BYTES / 2) stream.resume();
        });
        if (ws.bufferedAmount > HIGH_WATER_BYTES) stream.pause();
      });
      stream.once('end', resolve);
      stream.once('close', resolve);
      stream.once('error', () => resolve());
    });

  let status: Record<string, unknown>;
  try {
    await Promise.all([relay(proc.stdout, CHANNEL.stdout), relay(proc.stderr, CHANNEL.stderr)]);
    const code = await proc.wait();
    status = exitStatus(code, o.command);
  } catch (e) {
    log.warn('exec failed', { command: o.command, error: errorMessage(e) });
    status = failureStatus(`error executing command in container: ${errorMessage(e)}`);
  }
  if (closed) return;
  await new Promise<void>((resolve) => ws.send(encodeFrame(CHANNEL.error, JSON.stringify(status)), { binary: true }, () => resolve()));
  ws.close(1000);
}
