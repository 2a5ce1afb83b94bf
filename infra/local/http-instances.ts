/**
 * Several instances of one HTTP function, as Lambda runs concurrent requests in separate
 * instances: each instance is a process of its own (infra/local/http-instance-worker.ts, its own
 * event loop, its own module state: caches, cost meter, rate-limit leases), loading the same
 * handler with the same environment. This process keeps the listening socket (the Function URL's
 * port, and the pod-facing listener) and hands each accepted connection, still unread, to the
 * instance with the fewest open connections; TLS, HTTP, the handler and upgrades all run there.
 *
 * What it models and what not: a connection stays with its instance (HTTP/1.1 keep-alive), so
 * an instance serves several connections' requests on one event loop, where Lambda gives each
 * concurrent request an instance of its own; the number of instances is fixed (no scaling, no
 * cold starts, no concurrency limit; an instance that dies is replaced, as Lambda would). The
 * audit log is written by this process alone (the instances forward their lines), so lines stay
 * whole and rotation happens once.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { createServer, type Server as NetServer, type Socket } from 'node:net';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { FileAuditSink } from '../../shared/audit';
import type { FunctionWiring } from '../wiring';

/** How long a stopped instance has to exit by itself before it is killed, ms. */
const EXIT_GRACE_MS = 3000;

/**
 * STRATUS_INSTANCE_CPU_PROF=DIR (read when this module loads, before the stack sets its env): each
 * instance writes a V8 CPU profile there when it stops. A debugging aid for benchmarks.
 */
const CPU_PROF_ARGS = process.env.STRATUS_INSTANCE_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.STRATUS_INSTANCE_CPU_PROF}`] : [];

const here = dirname(fileURLToPath(import.meta.url));
const WORKER_ENTRY = join(here, 'http-instance-worker.ts');
/** How long an instance may take to load its handler. */
const READY_TIMEOUT_MS = 120_000;
/** How long an instance may take to stop (its own drain waits 10 s for in-flight invocations). */
const STOP_TIMEOUT_MS = 20_000;
/** An instance that dies is replaced (as Lambda replaces one), unless this many died in the last minute. */
const MAX_RESTARTS_PER_MINUTE = 5;

/** Messages between this process and an instance. */
export type ToInstance =
  | { type: 'init'; wiring: FunctionWiring; tls: { key: string; cert: string }; instance: number }
  | { type: 'conn' }
  | { type: 'stop' };
export type FromInstance =
  | { type: 'ready'; pid: number }
  | { type: 'failed'; error: string }
  | { type: 'log'; line: string }
  | { type: 'audit'; lines: string[] }
  | { type: 'closed' }
  | { type: 'stopped' };

export interface HttpInstancesOptions {
  readonly wiring: FunctionWiring;
  readonly count: number;
  /** 0 = any free port. */
  readonly port: number;
  readonly tls: { readonly key: string; readonly cert: string };
  readonly log: (s: string) => void;
  /** Another listener whose connections these instances serve too (it must pause on connect). */
  readonly podListener?: NetServer;
  /**
   * Environment the instances get on top of this process's, made once the port is known (the
   * api's own URL, STRATUS_API_URL, is the issuer of its tokens: the stack sets it only after
   * the runtime has started, too late for a process forked before).
   */
  readonly envFor?: (port: number) => Record<string, string>;
}

export interface HttpInstances {
  readonly port: number;
  /** The instances' process ids now (a dead instance is replaced by a new process). */
  pids(): number[];
  close(): Promise<void>;
}

/**
 * Which instance takes the next connection: the one with the fewest open connections; among
 * equals, the first at or after `from` (round robin, so idle instances take turns). -1 if none.
 */
export function pickInstance(open: readonly (number | undefined)[], from: number): number {
  let best = -1;
  for (let k = 0; k < open.length; k++) {
    const i = (from + k) % open.length;
    const n = open[i];
    if (n === undefined) continue; // gone
    if (best < 0 || n < open[best]!) best = i;
  }
  return best;
}

/** The tsx loader, so instances load the TypeScript handlers as this process does. */
function tsxLoader(): string {
  const require = createRequire(import.meta.url);
  return pathToFileURL(resolve(dirname(require.resolve('tsx/package.json')), 'dist/loader.mjs')).href;
}

interface Instance {
  readonly child: ChildProcess;
  readonly index: number;
  pid: number;
  open: number;
  alive: boolean;
  /** Connections handed over whose message is not written yet: closed if the instance dies first. */
  readonly sending: Set<Socket>;
  stopped: Promise<void>;
}

export async function startHttpInstances(o: HttpInstancesOptions): Promise<HttpInstances> {
  const name = o.wiring.name;
  // The one writer of the audit log (the instances forward their lines here).
  const auditPath = process.env.STRATUS_AUDIT_LOG;
  const audit = auditPath
    ? new FileAuditSink(auditPath, Number(process.env.STRATUS_AUDIT_LOG_MAX_BYTES ?? 10 * 1024 * 1024), 3, {
        onError: (e) => o.log(`[${name}] audit events not written to ${auditPath}: ${String(e)}`),
      })
    : undefined;
  let stopping = false;
  const instances: Instance[] = [];
  let extraEnv: Record<string, string> = {};

  const spawn = (index: number): Promise<Instance> => {
    const child = fork(WORKER_ENTRY, [], {
      execArgv: ['--import', tsxLoader(), ...CPU_PROF_ARGS],
      env: { ...process.env, ...extraEnv, STRATUS_AUDIT_FORWARD: '1', STRATUS_LOCAL_INSTANCE: String(index + 1) },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      serialization: 'json',
    });
    let resolveStopped!: () => void;
    const inst: Instance = { child, index, pid: child.pid ?? 0, open: 0, alive: true, sending: new Set(), stopped: new Promise((r) => (resolveStopped = r)) };
    return new Promise<Instance>((resolveReady, reject) => {
      let ready = false;
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`${name} instance ${index + 1} did not load its handler in ${READY_TIMEOUT_MS / 1000} s`));
      }, READY_TIMEOUT_MS);
      child.on('message', (m: FromInstance) => {
        switch (m.type) {
          case 'ready':
            ready = true;
            inst.pid = m.pid;
            clearTimeout(timer);
            resolveReady(inst);
            break;
          case 'failed':
            clearTimeout(timer);
            reject(new Error(`${name} instance ${index + 1}: ${m.error}`));
            break;
          case 'log':
            o.log(m.line);
            break;
          case 'audit':
            if (audit) for (const line of m.lines) audit.writeLine(line);
            break;
          case 'closed':
            inst.open = Math.max(0, inst.open - 1);
            break;
          case 'stopped':
            resolveStopped();
            break;
        }
      });
      child.once('exit', (code, signal) => {
        inst.alive = false;
        // Queued for it (a handle waits for the previous one's acknowledgement): never to be served.
        for (const socket of inst.sending) socket.destroy();
        inst.sending.clear();
        resolveStopped();
        clearTimeout(timer);
        if (!ready) reject(new Error(`${name} instance ${index + 1} exited (${signal ?? code}) before it was ready`));
        // Its connections went with it; the others keep serving, and a new one takes its place.
        else if (!stopping) {
          o.log(`[${name}] !!! instance ${index + 1} (pid ${inst.pid}) exited (${signal ?? code}); ${instances.filter((i) => i.alive).length} left`);
          replace(index);
        }
      });
      child.on('error', (err) => o.log(`[${name}] instance ${index + 1}: ${err.message}`));
      child.send({ type: 'init', wiring: o.wiring, tls: { key: o.tls.key, cert: o.tls.cert }, instance: index + 1 } satisfies ToInstance);
    });
  };

  const restarts: number[] = [];
  const replace = (index: number) => {
    const now = Date.now();
    while (restarts.length && now - restarts[0]! > 60_000) restarts.shift();
    if (restarts.length >= MAX_RESTARTS_PER_MINUTE) {
      o.log(`[${name}] !!! not replacing instance ${index + 1}: ${restarts.length} instances died in the last minute`);
      return;
    }
    restarts.push(now);
    spawn(index).then(
      (inst) => {
        const at = instances.findIndex((i) => i.index === index);
        if (at >= 0) instances[at] = inst;
        else instances.push(inst);
        o.log(`[${name}] instance ${index + 1} replaced: pid ${inst.pid}`);
        // Started while the pool was stopping: stop it too.
        if (stopping) void stopOne(inst);
      },
      (err: Error) => o.log(`[${name}] !!! instance ${index + 1} could not be replaced: ${err.message}`),
    );
  };

  const stopOne = async (inst: Instance) => {
    if (inst.alive && inst.child.connected) inst.child.send({ type: 'stop' } satisfies ToInstance, () => undefined);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([inst.stopped, new Promise<void>((r) => (timer = setTimeout(r, STOP_TIMEOUT_MS)))]);
    clearTimeout(timer);
    // Stopped: it exits by itself right after (and writes its CPU profile, if asked for, then).
    if (inst.alive) await new Promise<void>((r) => {
      const t = setTimeout(r, EXIT_GRACE_MS);
      inst.child.once('exit', () => (clearTimeout(t), r()));
    });
    if (inst.alive) inst.child.kill('SIGKILL');
  };

  const stopAll = async () => {
    stopping = true;
    await Promise.all(instances.map(stopOne));
    audit?.flush();
  };


  let next = 0;
  const dispatch = (socket: Socket) => {
    const i = pickInstance(
      instances.map((inst) => (inst.alive && inst.child.connected ? inst.open : undefined)),
      next,
    );
    if (i < 0 || stopping) {
      socket.destroy();
      return;
    }
    next = (i + 1) % instances.length;
    const inst = instances[i]!;
    inst.open++;
    inst.sending.add(socket);
    inst.child.send({ type: 'conn' } satisfies ToInstance, socket, (err) => {
      inst.sending.delete(socket);
      if (!err) return;
      inst.open = Math.max(0, inst.open - 1);
      socket.destroy();
    });
  };

  // Paused on connect: no byte is read here, the instance reads them all.
  const listener = createServer({ pauseOnConnect: true }, dispatch);
  try {
    await new Promise<void>((resolveListen, reject) => {
      listener.once('error', reject);
      listener.listen(o.port, '127.0.0.1', () => {
        listener.off('error', reject);
        listener.on('error', (err) => o.log(`[${name}] listener error: ${err.message}`));
        resolveListen();
      });
    });
  } catch (err) {
    await stopAll();
    throw err;
  }
  const address = listener.address();
  const port = typeof address === 'object' && address ? address.port : o.port;
  extraEnv = o.envFor?.(port) ?? {};
  // Connections that arrive before the instances are ready are refused (dispatch finds none).
  const started = await Promise.allSettled(Array.from({ length: o.count }, (_, i) => spawn(i)));
  for (const s of started) if (s.status === 'fulfilled') instances.push(s.value);
  const failed = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed) {
    await stopAll();
    await new Promise<void>((r) => listener.close(() => r()));
    throw failed.reason;
  }
  instances.sort((a, b) => a.index - b.index);
  const podListener = o.podListener;
  podListener?.on('connection', dispatch);

  let closed: Promise<void> | undefined;
  return {
    port,
    pids: () => instances.filter((i) => i.alive).map((i) => i.pid),
    close: () =>
      (closed ??= (async () => {
        podListener?.off('connection', dispatch);
        const listening = new Promise<void>((r) => listener.close(() => r()));
        await stopAll();
        await listening;
      })()),
  };
}
