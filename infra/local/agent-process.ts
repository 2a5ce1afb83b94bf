/**
 * A node agent process on this machine (node-agent/main.ts `agent`), started the one way the start
 * script (scripts/start-stack.ts), the test setup and helpers and the benchmarks all start theirs:
 * `node --import tsx` (one process, so a signal to the child reaches the agent itself), joining with
 * a join token that travels in the environment (never on the command line: `ps` shows that to
 * everyone), its output in a log file.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, type WriteStream } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface AgentProcessOptions {
  /** The cluster's API: `${apiUrl}/clusters/${cluster}`. */
  readonly server: string;
  /** The Node's name (--name). */
  readonly name: string;
  /** The PEM file of the CA the API's serving certificate is signed by (--ca-file). */
  readonly caFile: string;
  /** A join token of the cluster (STRATUS_JOIN_TOKEN). */
  readonly joinToken: string;
  /** Over process.env: the stack's endpoints and credentials (LocalStack['env']). */
  readonly env?: Readonly<Record<string, string>>;
  /** --root-dir (identity, pod volumes); the agent's default when absent. */
  readonly rootDir?: string;
  /** --resync-seconds; the agent's default when absent. */
  readonly resyncSeconds?: number;
  /** --pod-network (e.g. node-bridge); the agent's default when absent. */
  readonly podNetwork?: string;
  /** More agent flags, last. */
  readonly args?: readonly string[];
  /** The log file its output goes to. */
  readonly logFile: string;
  /** 'a' appends to the log file (default), 'w' starts it anew. */
  readonly logFlags?: 'a' | 'w';
  /** What goes to the log: stdout and stderr (default), or stderr alone (stdout ignored). */
  readonly logOutput?: 'all' | 'stderr';
  /** Its own process group: a Ctrl-C in the terminal then reaches only the parent, which stops it in order. */
  readonly detached?: boolean;
}

/** The agent's process (a ChildProcess: kill, pid, exitCode...), its log and a way to stop it. */
export type AgentProcess = ChildProcess & {
  readonly name: string;
  readonly logFile: string;
  readonly log: WriteStream;
  /** stopProcess(this, graceMs). */
  stop(graceMs?: number): Promise<void>;
};

/** The agent's command line after `node` (no secret in it). */
export function agentArgs(opts: Omit<AgentProcessOptions, 'joinToken' | 'logFile'>): string[] {
  return [
    '--import',
    'tsx',
    join(repoRoot, 'node-agent', 'main.ts'),
    'agent',
    '--server',
    opts.server,
    '--name',
    opts.name,
    '--ca-file',
    opts.caFile,
    ...(opts.rootDir !== undefined ? ['--root-dir', opts.rootDir] : []),
    ...(opts.resyncSeconds !== undefined ? ['--resync-seconds', String(opts.resyncSeconds)] : []),
    ...(opts.podNetwork !== undefined ? ['--pod-network', opts.podNetwork] : []),
    ...(opts.args ?? []),
  ];
}

/** Starts a node agent; its output goes to `logFile` (closed once the agent's output ends). */
export function spawnAgent(opts: AgentProcessOptions): AgentProcess {
  const child = spawn(process.execPath, agentArgs(opts), {
    cwd: repoRoot,
    env: { ...process.env, ...opts.env, STRATUS_JOIN_TOKEN: opts.joinToken },
    stdio: ['ignore', opts.logOutput === 'stderr' ? 'ignore' : 'pipe', 'pipe'],
    detached: opts.detached ?? false,
  });
  const log = createWriteStream(opts.logFile, { flags: opts.logFlags ?? 'a' });
  // Both streams into one file: neither ends it, the end of both does.
  child.stdout?.pipe(log, { end: false });
  child.stderr!.pipe(log, { end: false });
  child.once('close', () => log.end());
  return Object.assign(child, {
    name: opts.name,
    logFile: opts.logFile,
    log,
    stop: (graceMs?: number) => stopProcess(child, graceMs),
  });
}

/**
 * Stops a child process: SIGCONT (one a test has SIGSTOPped must run to act on what follows), then
 * SIGTERM, and SIGKILL after `graceMs` when given; resolves once it has exited (at once if it had).
 */
export async function stopProcess(child: ChildProcess | undefined, graceMs?: number): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const signal = (sig: NodeJS.Signals) => {
    try {
      child.kill(sig);
    } catch {
      // already gone
    }
  };
  signal('SIGCONT');
  signal('SIGTERM');
  const timer = graceMs === undefined ? undefined : setTimeout(() => signal('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

/** stopProcess for each, at once; resolves once all have exited. */
export async function stopProcesses(children: readonly (ChildProcess | undefined)[], graceMs?: number): Promise<void> {
  await Promise.all(children.map((c) => stopProcess(c, graceMs)));
}
