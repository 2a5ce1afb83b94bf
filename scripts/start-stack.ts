/**
 * The body of `npm start` (scripts/start.mjs prepares node_modules, Docker and the images first):
 * starts the embedded local stack with its state in .stratus/, one node agent, and a demo pod, then
 * stays in the foreground until Ctrl-C / SIGTERM and stops everything it started.
 *
 *   npx tsx scripts/start-stack.ts [--port N] [--state-dir DIR] [--reset]
 *
 * State persists in the state directory (infra/local/stack.ts says what is kept): a restart keeps
 * every cluster and object, the API port and the kubeconfigs; the agent adopts its pods again.
 *
 * Env: STRATUS_PORT (fixed API port), STRATUS_AGENT_ARGS (extra node-agent flags, e.g. --no-queue).
 */
import { execFileSync, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { hostname } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, InvalidArgumentError } from 'commander';
import { spawnAgent as spawnAgentProcess, stopProcess } from '../infra/local/agent-process';
import { sleep } from '../shared/sleep';
type LocalStackModule = typeof import('../infra/local/stack');

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..');
const STEPS = 5;
const POD_TIMEOUT_MS = 180_000;
const NODE_TIMEOUT_MS = 60_000;

const DEMO_POD = {
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: 'hello', namespace: 'default' },
  spec: {
    containers: [
      {
        name: 'hello',
        image: 'stratus-test/busybox:1.36',
        command: ['sh', '-c', 'echo hello from stratus; sleep 3600'],
      },
    ],
  },
};

interface Options {
  port?: number;
  stateDir: string;
  reset: boolean;
  /** Node agents to start on this machine, each its own Node, bridge and podCIDR. */
  nodes: number;
}

const MAX_NODES = 8;

function parseNodes(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > MAX_NODES) throw new InvalidArgumentError(`a whole number from 1 to ${MAX_NODES}`);
  return n;
}

function parsePort(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('not a port number');
  return n;
}

function parseArgs(argv: string[]): Options {
  const program = new Command('start-stack')
    .description(
      'Start the Stratus local stack (state in .stratus/), one node agent and a demo pod; stay in the ' +
        'foreground until Ctrl-C. Usually run through `npm start`.',
    )
    .option('-p, --port <port>', 'fixed HTTPS port for the API (default: $STRATUS_PORT, else a free port)', parsePort)
    .option('--state-dir <dir>', 'state directory', join(repoRoot, '.stratus'))
    .option('--reset', 'throw away the clusters of earlier runs (database, tokens, checkpoints) and start empty', false)
    .option('--nodes <n>', `node agents to start on this machine (1-${MAX_NODES}), each joining as its own Node: NAME, NAME-2, ...`, parseNodes, 1)
    .addHelpText('after', '\nEnvironment:\n  STRATUS_PORT        fixed HTTPS port for the API\n  STRATUS_AGENT_ARGS  extra node-agent flags (e.g. --no-queue)')
    .showHelpAfterError();
  program.parse(argv, { from: 'user' });
  const opts = program.opts<{ port?: number; stateDir: string; reset: boolean; nodes: number }>();
  let port = opts.port;
  if (port === undefined && process.env.STRATUS_PORT) port = parsePort(process.env.STRATUS_PORT);
  return { port, stateDir: resolve(opts.stateDir), reset: opts.reset, nodes: opts.nodes };
}

/** A valid RFC 1123 node name from the host name, or node-1. */
export function nodeNameFromHostname(host: string = hostname()): string {
  const name = host
    .toLowerCase()
    .replace(/[^a-z0-9.-]+/g, '-')
    .replace(/\.{2,}/g, '.')
    .split('.')
    .map((label) => label.replace(/^-+|-+$/g, '').slice(0, 63).replace(/-+$/g, ''))
    .filter((label) => label.length > 0)
    .join('.')
    .slice(0, 253)
    .replace(/[.-]+$/g, '');
  return /^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$/.test(name) ? name : 'node-1';
}

interface ApiResponse {
  status: number;
  body: string;
  json(): any;
}

function api(
  base: string,
  ca: string,
  token: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<ApiResponse> {
  return new Promise((resolveReq, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = httpsRequest(
      new URL(path, base),
      {
        method,
        ca,
        timeout: 15_000,
        headers: {
          authorization: `Bearer ${token}`,
          accept: 'application/json',
          ...(payload !== undefined
            ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) }
            : {}),
        },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () =>
          resolveReq({ status: res.statusCode ?? 0, body: text, json: () => (text ? JSON.parse(text) : undefined) }),
        );
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${method} ${path}: timed out`)));
    req.on('error', reject);
    if (payload !== undefined) req.write(payload);
    req.end();
  });
}

const secs = (since: number) => `${((Date.now() - since) / 1000).toFixed(1)} s`;
let stepNo = 0;
/** Starts a numbered step; `inline` leaves the line open for done(), else details follow below. */
function step(title: string, inline = true): number {
  stepNo += 1;
  process.stdout.write(`[${stepNo}/${STEPS}] ${title}${inline ? ' ... ' : '\n'}`);
  return Date.now();
}
function done(since: number, what = 'ready'): void {
  process.stdout.write(`${what} (${secs(since)})\n`);
}
function detail(line: string): void {
  process.stdout.write(`      ${line}\n`);
}

function tail(file: string, lines = 20): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function main(): Promise<number> {
  const opts = parseArgs(process.argv.slice(2));
  const { stateDir } = opts;
  mkdirSync(stateDir, { recursive: true });

  // stack.json is written by a running stack (with its pid) and removed by stack.stop().
  const stackFile = join(stateDir, 'stack.json');
  if (existsSync(stackFile)) {
    let pid = 0;
    try {
      pid = Number(JSON.parse(readFileSync(stackFile, 'utf8')).pid) || 0;
    } catch {
      // unreadable: treat as stale
    }
    if (pid && pid !== process.pid && pidAlive(pid)) {
      console.error(`Stratus is already running from ${stateDir} (pid ${pid}). Stop it first (Ctrl-C there, or kill ${pid}).`);
      return 1;
    }
  }

  const nodeName = nodeNameFromHostname();
  // `--nodes N`: the first agent is named after the host, the others NAME-2 ... NAME-N.
  const nodeNames = [nodeName, ...Array.from({ length: opts.nodes - 1 }, (_, i) => `${nodeName.slice(0, 60)}-${i + 2}`)];
  /** The other agents' processes (`agent` is the first's). */
  const moreAgents: ChildProcess[] = [];
  let stack: Awaited<ReturnType<LocalStackModule['startLocalStack']>> | undefined;
  let stackStarting: ReturnType<LocalStackModule['startLocalStack']> | undefined;
  let agent: ChildProcess | undefined;
  let stopping = false;

  const removeNodeContainers = () => {
    for (const name of nodeNames) removeContainersOf(name);
  };
  const removeContainersOf = (nodeName: string) => {
    try {
      const ids = execFileSync('docker', ['ps', '-aq', '--filter', `label=io.stratus.node=${nodeName}`], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore'],
      })
        .split('\n')
        .filter(Boolean);
      if (ids.length > 0) {
        console.log(`removing ${ids.length} container(s) of node ${nodeName}`);
        execFileSync('docker', ['rm', '-f', ...ids], { stdio: 'ignore' });
      }
    } catch {
      // Docker gone or nothing to do.
    }
  };

  const shutdown = async (reason: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    console.log(`\n${reason}: stopping`);
    if (agent) {
      console.log(`stopping node agent${nodeNames.length > 1 ? 's' : ''} ${nodeNames.join(', ')}`);
      await Promise.all([agent, ...moreAgents].map((a) => stopProcess(a, 10_000)));
    }
    // Pods persist with the store: the agent adopts their containers at the next start (--reset
    // removes them before it starts empty).
    if (!stack && stackStarting) {
      // Interrupted while the stack was starting: let it finish, then stop it (no orphans).
      stack = await stackStarting.catch(() => undefined);
    }
    if (stack) {
      console.log('stopping local stack');
      try {
        await stack.stop();
      } catch (err) {
        console.error(`stack.stop() failed: ${(err as Error).message}`);
      }
    }
  };

  // The same Ctrl-C may arrive several times at once (terminal, npm, scripts/start.mjs forwarding):
  // only a signal well after the first one means "stop now".
  let firstSignalAt = 0;
  const onSignal = (sig: NodeJS.Signals) => {
    if (firstSignalAt === 0) firstSignalAt = Date.now();
    else if (Date.now() - firstSignalAt < 1500) return;
    else {
      console.error(`\n${sig} again: killing children and exiting now`);
      for (const a of [agent, ...moreAgents]) a?.kill('SIGKILL');
      process.exit(1);
    }
    void shutdown(sig).then(
      () => process.exit(0),
      (err) => {
        console.error(err);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('SIGHUP', onSignal);
  process.on('exit', () => {
    for (const a of [agent, ...moreAgents]) a?.kill('SIGKILL');
  });

  const fail = async (message: string): Promise<number> => {
    console.error(`\nERROR: ${message}`);
    await shutdown('error');
    return 1;
  };

  console.log(`Stratus local stack (state: ${stateDir})`);
  if (opts.reset) {
    console.log('--reset: removing the state of earlier runs');
    removeNodeContainers();
    for (const f of ['dynamodb', 'state.json', 'checkpoints.json', 'kubeconfig', 'clusters']) {
      rmSync(join(stateDir, f), { recursive: true, force: true });
    }
  }

  // 1. The stack: DynamoDB Local, the SQS emulator, the local Lambda runtime with the API.
  let t = step('Local stack (DynamoDB Local, SQS, API)', false);
  try {
    // Imported here so that --help works even when the stack cannot load.
    const { startLocalStack } = (await import('../infra/local/stack')) as LocalStackModule;
    stackStarting = startLocalStack({ stateDir, httpPort: opts.port, log: (s: string) => detail(s), persist: true });
    stack = await stackStarting;
  } catch (err) {
    if (stopping) return 0;
    return fail(`the local stack did not start: ${(err as Error).stack ?? String(err)}`);
  }
  detail(`API ${stack.apiUrl}`);
  detail(`ready (${secs(t)})`);
  if (stopping) return 0;

  const caFile = join(stateDir, 'ca.crt');
  if (!existsSync(caFile)) writeFileSync(caFile, stack.caCert);
  const kubeconfig = join(stateDir, 'kubeconfig');
  if (resolve(stack.kubeconfigPath) !== kubeconfig) copyFileSync(stack.kubeconfigPath, kubeconfig);
  const clusterUrl = `${stack.apiUrl}/clusters/${stack.tenant}`;
  const call = (method: string, path: string, body?: unknown) =>
    api(stack!.apiUrl, stack!.caCert, stack!.adminToken, method, `/clusters/${stack!.tenant}${path}`, body);

  // 2. The node agents (one unless --nodes N).
  const spawnAgent = (nodeName: string): { child: ChildProcess; log: string } => {
    const agentLog = join(stateDir, `agent-${nodeName}.log`);
    const child = spawnAgentProcess({
      server: clusterUrl,
      name: nodeName,
      caFile,
      joinToken: stack!.joinToken,
      env: stack!.env,
      resyncSeconds: 5,
      // Each node's own bridge with its podCIDR and nft table (node-agent/network/node-bridge.ts).
      podNetwork: 'node-bridge',
      // Extra agent flags for debugging, e.g. STRATUS_AGENT_ARGS='--no-queue'.
      args: (process.env.STRATUS_AGENT_ARGS ?? '').split(/\s+/).filter(Boolean),
      logFile: agentLog,
      // Its own process group: a Ctrl-C in the terminal reaches only us, and we stop the agent in
      // order, before the stack it talks to.
      detached: true,
    });
    child.once('exit', (code, signal) => {
      if (!stopping) {
        console.error(`\nWARNING: node agent ${nodeName} exited (code ${code}, signal ${signal}). Last lines of ${agentLog}:`);
        console.error(tail(agentLog));
      }
    });
    return { child, log: agentLog };
  };
  t = step(nodeNames.length > 1 ? `Node agents ${nodeNames.join(', ')}` : `Node agent ${nodeName}`);
  const first = spawnAgent(nodeName);
  agent = first.child;
  const agentLog = first.log;
  for (const name of nodeNames.slice(1)) moreAgents.push(spawnAgent(name).child);
  done(t, `started, pid ${[agent, ...moreAgents].map((a) => a.pid).join(', ')}, log${nodeNames.length > 1 ? 's' : ''} ${nodeNames.map((n) => join(stateDir, `agent-${n}.log`)).join(', ')}`);

  // 3. Wait for the agents to register their Nodes.
  t = step(nodeNames.length > 1 ? `Nodes ${nodeNames.join(', ')} registering` : `Node ${nodeName} registering`);
  const unseen = new Set(nodeNames);
  for (const deadline = Date.now() + NODE_TIMEOUT_MS; Date.now() < deadline && !stopping && unseen.size > 0; ) {
    if (agent.exitCode !== null || agent.signalCode !== null) return fail(`the node agent exited; see ${agentLog}`);
    for (const name of [...unseen]) {
      try {
        const res = await call('GET', `/api/v1/nodes/${encodeURIComponent(name)}`);
        if (res.status === 200) {
          const ready = (res.json()?.status?.conditions ?? []).find((c: { type?: string }) => c.type === 'Ready');
          if (!ready || ready.status === 'True') unseen.delete(name);
        }
      } catch {
        // not answering yet
      }
    }
    if (unseen.size > 0) await sleep(250);
  }
  if (stopping) return 0;
  if (unseen.size === 0) done(t);
  else {
    process.stdout.write(`${[...unseen].join(', ')} not registered after ${NODE_TIMEOUT_MS / 1000} s (continuing; agent logs in ${stateDir})\n`);
  }

  // 4. The demo pod.
  t = step('Demo pod default/hello');
  let res: ApiResponse;
  try {
    res = await call('POST', '/api/v1/namespaces/default/pods', DEMO_POD);
  } catch (err) {
    return fail(`creating the demo pod: ${(err as Error).message}`);
  }
  if (res.status === 200 || res.status === 201) done(t, 'created');
  else if (res.status === 409) done(t, 'already exists');
  else return fail(`creating the demo pod: HTTP ${res.status}: ${res.body}`);

  // 5. Wait until it runs.
  t = step('Waiting for default/hello to run', false);
  let lastShown = '';
  let running = false;
  for (const deadline = Date.now() + POD_TIMEOUT_MS; Date.now() < deadline && !stopping; ) {
    if (agent.exitCode !== null || agent.signalCode !== null) {
      return fail(`the node agent exited before the demo pod ran (last: ${lastShown || 'never seen'}); see ${agentLog}`);
    }
    try {
      const got = await call('GET', '/api/v1/namespaces/default/pods/hello');
      if (got.status === 200) {
        const pod = got.json();
        const phase: string = pod?.status?.phase ?? '(none)';
        const node: string = pod?.spec?.nodeName ?? '-';
        const shown = `phase ${phase}, node ${node}`;
        if (shown !== lastShown) {
          detail(`${shown} (${secs(t)})`);
          lastShown = shown;
        }
        if (phase === 'Running') {
          running = true;
          break;
        }
        if (phase === 'Failed' || phase === 'Succeeded') {
          return fail(`the demo pod ended in phase ${phase}: ${JSON.stringify(pod.status)}\nAgent log (${agentLog}):\n${tail(agentLog)}`);
        }
      } else if (got.status !== 404) {
        detail(`GET pod: HTTP ${got.status}`);
      }
    } catch (err) {
      detail(`GET pod: ${(err as Error).message}`);
    }
    await sleep(250);
  }
  if (stopping) return 0;
  if (!running) {
    return fail(
      `the demo pod was not Running within ${POD_TIMEOUT_MS / 1000} s (last: ${lastShown || 'never seen'}).\n` +
        `Agent log (${agentLog}):\n${tail(agentLog)}`,
    );
  }
  detail(`Running (${secs(t)})`);

  console.log(`
Stratus is running.
  API:         ${clusterUrl}
  Kubeconfig:  ${kubeconfig}   (also: npx stratus kubeconfig)
  Node agent${nodeNames.length > 1 ? 's' : ' '}: ${nodeNames.join(', ')} (log${nodeNames.length > 1 ? 's' : ''}: ${nodeNames.map((n) => join(stateDir, `agent-${n}.log`)).join(', ')})

Try:
  export KUBECONFIG=${kubeconfig}; kubectl get pods -o wide

Press Ctrl-C to stop.`);

  // Stay in the foreground; shutdown() runs on a signal.
  await new Promise<never>(() => setInterval(() => {}, 1 << 30));
  return 0;
}

main().then(
  (code) => {
    if (code !== 0) process.exit(code);
  },
  async (err) => {
    console.error(err);
    process.exit(1);
  },
);
