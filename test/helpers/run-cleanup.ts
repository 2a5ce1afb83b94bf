/**
 * What the e2e global teardown (test/global-setup.ts) removes: every Docker container made during
 * the run by any of the run's node agents, the run's own and those the tests start (startNodeAgent,
 * kubelet-crash's), found by the io.stratus.node label.
 *
 * A test file removes its agent's containers in its afterAll (removeNodeContainers), after stopping
 * the agent; when that hook does not get there (it threw or timed out, e.g. waiting for an agent
 * that does not exit on SIGTERM, or the worker went first), the agent is left running, a child of
 * no one, and keeps its pods' containers running (an agent leaves them running when it stops, and
 * restarts what is missing while it runs). So the teardown first stops the run's agents that still
 * run, then removes their containers, then checks that none is left.
 *
 * The run's nodes: every agent of the run writes its log to `<stateDir>/agent-<node>.log` and
 * names the state directory (a fresh mkdtemp, unique to the run) on its command line (--ca-file,
 * --root-dir), so neither another run's agents nor its containers are touched.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export const NODE_LABEL = 'io.stratus.node';

function docker(args: string[]): string {
  return execFileSync('docker', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
}

/** Containers that carry the node label: ID → node name (empty when Docker does not answer). */
export function nodeContainers(): Map<string, string> {
  const out = new Map<string, string>();
  try {
    for (const line of docker(['ps', '-a', '--no-trunc', '--filter', `label=${NODE_LABEL}`, '--format', `{{.ID}} {{.Label "${NODE_LABEL}"}}`]).split('\n')) {
      const [id, node] = line.split(' ');
      if (id && node) out.set(id, node);
    }
  } catch {
    // Docker not answering: nothing we can list.
  }
  return out;
}

/** The node names of the agents the run started: its `agent-<node>.log` files. */
export function runNodeNames(stateDir: string): Set<string> {
  const names = new Set<string>();
  try {
    for (const f of readdirSync(stateDir)) {
      const m = /^agent-(.+)\.log$/.exec(f);
      if (m) names.add(m[1]!);
    }
  } catch {
    // no state directory: no agents
  }
  return names;
}

/** The clusters the run's agents served: the `tenant` of each `agent-<node>.log` (its first line that names one). */
export function runTenants(stateDir: string): Set<string> {
  const tenants = new Set<string>();
  for (const node of runNodeNames(stateDir)) {
    try {
      const m = /"tenant":"([^"\\]+)"/.exec(readFileSync(join(stateDir, `agent-${node}.log`), 'utf8').slice(0, 64 * 1024));
      if (m) tenants.add(m[1]!);
    } catch {
      // unreadable: not counted
    }
  }
  return tenants;
}

/** The docker-bridge pod networks on this host (node-agent/network/docker-bridge.ts): name → its cluster label. */
export function dockerBridgeNetworks(): Map<string, string> {
  const out = new Map<string, string>();
  try {
    for (const line of docker(['network', 'ls', '--filter', 'label=io.stratus.tenant', '--format', '{{.Name}} {{.Label "io.stratus.tenant"}}']).split('\n')) {
      const [name, tenant] = line.split(' ');
      if (name && tenant && /^stratus-d[0-9a-f]{6}$/.test(name)) out.set(name, tenant);
    }
  } catch {
    // Docker not answering: nothing we can list.
  }
  return out;
}

/** Which of `networks` (name → cluster) are the run's: of one of its clusters and not there before it started. */
export function runNetworks(networks: ReadonlyMap<string, string>, tenants: ReadonlySet<string>, before: ReadonlySet<string>): string[] {
  return [...networks].filter(([name, tenant]) => tenants.has(tenant) && !before.has(name)).map(([name]) => name);
}

/** Which of `containers` (ID → node) are the run's: of one of its nodes and not there before it started. */
export function runContainers(containers: ReadonlyMap<string, string>, nodes: ReadonlySet<string>, before: ReadonlySet<string>): string[] {
  return [...containers].filter(([id, node]) => nodes.has(node) && !before.has(id)).map(([id]) => id);
}

/** From a process's NUL-separated command line: its node agent name if it is an agent of the run in `stateDir`. */
export function runAgentName(cmdline: string, stateDir: string): string | undefined {
  const args = cmdline.split('\0');
  if (!args.some((a) => a.endsWith('node-agent/main.ts')) || !args.some((a) => a === stateDir || a.startsWith(`${stateDir}/`))) return undefined;
  const at = args.indexOf('--name');
  return at >= 0 ? args[at + 1] : undefined;
}

/** The run's node agents still running (Linux: read from /proc): pid → node name. */
export function runAgents(stateDir: string): Map<number, string> {
  const out = new Map<number, string>();
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((p) => /^\d+$/.test(p));
  } catch {
    return out;
  }
  for (const p of pids) {
    if (Number(p) === process.pid) continue;
    try {
      const name = runAgentName(readFileSync(`/proc/${p}/cmdline`, 'utf8'), stateDir);
      if (name !== undefined) out.set(Number(p), name);
    } catch {
      // gone meanwhile, or not ours to read
    }
  }
  return out;
}

/** Whether `pid` still runs (a zombie, exited but not yet reaped, does not). */
const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    // The state follows the ")" that ends the command name.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return true; // no /proc: kill(0) is all there is
  }
};

/** Stops processes by pid: SIGCONT, SIGTERM, SIGKILL after `graceMs`; resolves once all are gone. */
export async function stopPids(pids: readonly number[], graceMs: number): Promise<void> {
  const signal = (pid: number, sig: NodeJS.Signals) => {
    try {
      process.kill(pid, sig);
    } catch {
      // already gone
    }
  };
  for (const pid of pids) {
    signal(pid, 'SIGCONT');
    signal(pid, 'SIGTERM');
  }
  const deadline = Date.now() + graceMs;
  while (pids.some(alive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  for (const pid of pids.filter(alive)) signal(pid, 'SIGKILL');
  const killDeadline = Date.now() + 5_000;
  while (pids.some(alive) && Date.now() < killDeadline) await new Promise((r) => setTimeout(r, 50));
}

export interface RunCleanup {
  /** The agents that were still running and were stopped (pid → node). */
  readonly stoppedAgents: ReadonlyMap<number, string>;
  /** The run's containers removed (kept: with `keep`). */
  readonly removed: readonly string[];
  /** The run's containers still there after the removal (the check: should be none). */
  readonly left: readonly string[];
  /** The run's docker-bridge networks (and their nft tables) removed. */
  readonly networks: readonly string[];
}

/**
 * Stops the run's agents that still run, then removes the containers of the run's nodes that were
 * not there before (`before`: IDs listed at the start), then lists again. With `keep`, agents are
 * still stopped but the containers stay (nothing is checked).
 */
export async function cleanUpRun(opts: {
  stateDir: string;
  before: ReadonlySet<string>;
  /** The docker-bridge networks there before the run (dockerBridgeNetworks): never the run's to remove. */
  networksBefore?: ReadonlySet<string>;
  keep?: boolean;
  graceMs?: number;
  log?: (s: string) => void;
}): Promise<RunCleanup> {
  const log = opts.log ?? (() => undefined);
  const agents = runAgents(opts.stateDir);
  if (agents.size) {
    log(`stopping ${agents.size} node agent(s) of the run still running: ${[...agents.values()].join(', ')}`);
    await stopPids([...agents.keys()], opts.graceMs ?? 10_000);
  }
  const nodes = new Set([...runNodeNames(opts.stateDir), ...agents.values()]);
  const mine = () => runContainers(nodeContainers(), nodes, opts.before);
  const found = mine();
  if (opts.keep) {
    if (found.length) log(`STRATUS_KEEP_TEST_CONTAINERS=1: leaving ${found.length} container(s) created during the run`);
    return { stoppedAgents: agents, removed: [], left: found, networks: [] };
  }
  if (found.length) {
    log(`removing ${found.length} container(s) created during the run`);
    try {
      docker(['rm', '-f', '-v', ...found]);
    } catch (err) {
      log(`docker rm failed: ${(err as Error).message}`);
    }
  }
  const left = found.length ? mine() : [];
  // The clusters' docker-bridge networks the run's agents made, and their nft tables: an agent
  // leaves both for its pods when it stops, and a host holds a bounded number of such networks
  // (the agent's --docker-bridge-pool: 256 /24s by default), so runs that left theirs would use
  // it up (agents then fail to start).
  const networks = opts.networksBefore ? runNetworks(dockerBridgeNetworks(), runTenants(opts.stateDir), opts.networksBefore) : [];
  const removedNetworks: string[] = [];
  for (const name of networks) {
    try {
      docker(['network', 'rm', name]);
      removedNetworks.push(name);
    } catch (err) {
      log(`docker network rm ${name} failed: ${(err as Error).message.split('\n')[0]}`);
      continue;
    }
    try {
      execFileSync('nft', ['delete', 'table', 'inet', name], { stdio: 'ignore' });
    } catch {
      // no table (never written, or removed already)
    }
  }
  if (removedNetworks.length) log(`removed ${removedNetworks.length} docker-bridge network(s) of the run and their nft tables: ${removedNetworks.join(', ')}`);
  return { stoppedAgents: agents, removed: found.filter((id) => !left.includes(id)), left, networks: removedNetworks };
}
