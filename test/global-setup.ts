/**
 * Vitest global setup: runs ONCE per `vitest run`, in the main process, before any worker.
 *
 * - builds the busybox test images if missing (scripts/build-test-images.sh, idempotent);
 * - starts the embedded local stack (DynamoDB Local, SQS emulator, the Lambda handlers behind the
 *   local runtime) in a fresh temp state directory, not persisted (DynamoDB Local in memory, for
 *   speed; test/integration/persistence.test.ts covers the persistent stack);
 * - starts one node agent (`node-1`) against the `default` tenant, logging to <stateDir>/agent-node-1.log;
 * - hands the connection data to tests via `provide('stack', ...)` (read it with `inject('stack')`)
 *   and copies `stack.env` into process.env so forked workers inherit it.
 *
 * Teardown stops the agent and any other node agent of the run still running (one a test file
 * started and did not stop), removes the Docker containers made by the run's agents (labelled
 * io.stratus.node with one of their names and not there before; kept with
 * STRATUS_KEEP_TEST_CONTAINERS=1; test/helpers/run-cleanup.ts) and fails the run if any is left,
 * stops the stack and deletes the state directory (kept when a test failed or
 * STRATUS_KEEP_TEST_STATE=1).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestProject } from 'vitest/node';
import type {} from 'vitest';
import { spawnAgent, type AgentProcess } from '../infra/local/agent-process';
import { startLocalStack } from '../infra/local/stack';
import Docker from 'dockerode';
import { destroyNodeBridge } from '../node-agent/network/node-bridge';
import { unmountAll } from '../node-agent/subpath';
import { cleanUpRun, dockerBridgeNetworks, nodeContainers } from './helpers/run-cleanup';
import { createNodeToken } from '../shared/auth/node-identity';
import { loadConfig } from '../shared/config';
import { createDocumentClient } from '../shared/store/dynamo';

/** What tests get from `inject('stack')`. Serializable: no functions. */
export interface ProvidedStack {
  /** Base URL of the API (no /clusters/... suffix), e.g. https://127.0.0.1:PORT */
  apiUrl: string;
  /** PEM of the CA that signed the API's serving certificate. */
  caCert: string;
  /** Admin bearer token of the `default` tenant. */
  adminToken: string;
  /**
   * A credential of node-1's own identity (system:node:node-1, group system:nodes), made for the
   * tests that act as that node; the agent joined with the join token and holds another.
   */
  nodeToken: string;
  /** A join token of the default cluster: agents a test starts join with it (node-agent/identity.ts). */
  joinToken: string;
  tenant: 'default';
  /** Admin kubeconfig for the `default` tenant (for kubectl). */
  kubeconfigPath: string;
  /** Environment for processes that talk to the stack's DynamoDB/SQS (also set in process.env). */
  env: Record<string, string>;
  /** The temp state directory of this test run. */
  stateDir: string;
  /** Name of the node agent started for the run. */
  nodeName: string;
  /** Log file of that node agent. */
  agentLog: string;
}

declare module 'vitest' {
  export interface ProvidedContext {
    stack: ProvidedStack;
  }
}

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..');
// Unique per run: several runs (or developers) may share one Docker daemon, and an agent only
// ever touches containers labelled with its own node name.
const NODE_NAME = `node-${process.pid}`;
const NODE_WAIT_MS = 60_000;

function log(message: string): void {
  process.stderr.write(`[global-setup] ${message}\n`);
}

function docker(args: string[]): string {
  return execFileSync('docker', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
}

/** GET a path of the API with a bearer token, trusting only the stack's CA. */
function apiGet(
  apiUrl: string,
  caCert: string,
  token: string,
  path: string,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      new URL(path, apiUrl),
      { method: 'GET', ca: caCert, headers: { authorization: `Bearer ${token}`, accept: 'application/json' }, timeout: 10_000 },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('timeout', () => req.destroy(new Error('request timed out')));
    req.on('error', reject);
    req.end();
  });
}

function tail(file: string, lines = 30): string {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const started = Date.now();

  // `npm test` has built them already; this lets a bare `npx vitest` work too.
  const images = ['stratus-test/busybox:1.36', 'stratus/pause:1'];
  const imageMissing = (tag: string) => {
    try {
      docker(['image', 'inspect', tag]);
      return false;
    } catch {
      return true;
    }
  };
  if (images.some(imageMissing)) {
    execFileSync('bash', [join(repoRoot, 'scripts', 'build-test-images.sh')], { stdio: ['ignore', 'inherit', 'inherit'] });
  }

  const stateDir = mkdtempSync(join(tmpdir(), 'stratus-test-'));
  log(`state directory: ${stateDir}`);
  // Every node-labelled container there before the run: never the run's to remove.
  const containersBefore = new Set(nodeContainers().keys());
  // ...and every docker-bridge network of a cluster (the run removes only those its agents made).
  const networksBefore = new Set(dockerBridgeNetworks().keys());

  // The suite makes hundreds of requests per second in bursts, from one admin user: its clusters
  // default to limits it never reaches (the limiter still runs, taking leases of 25). The fairness
  // tests give their clusters low limits of their own (test/e2e/fairness.test.ts).
  process.env.STRATUS_DEFAULT_RATE_LIMIT ??= '20000';
  process.env.STRATUS_DEFAULT_USER_RATE_LIMIT ??= '20000';
  // And the caps on open watches, log follows and exec sessions: many files watch at once in the
  // default cluster as its one admin (the caps still run, a slot per stream); the tests of the cap
  // give their clusters low caps of their own (test/e2e/long-running.test.ts).
  process.env.STRATUS_DEFAULT_LONG_RUNNING_LIMIT ??= '2000';
  process.env.STRATUS_DEFAULT_USER_LONG_RUNNING_LIMIT ??= '2000';
  // Likewise the suite's own address is exempt from the per-source budgets (its attack tests make
  // many 401s a second from 127.0.0.1); test/e2e/attacks/source-limits.test.ts connects from
  // other loopback addresses (127.0.0.0/8), which get the default budgets.
  process.env.STRATUS_SOURCE_LIMIT_EXEMPT ??= '127.0.0.1,::1';
  const stack = await startLocalStack({ stateDir, log: (s: string) => log(`stack: ${s}`) });
  let agent: AgentProcess | undefined;
  let tornDown = false;
  /** The run's node's spec.podCIDR: its node-bridge network is removed at teardown. */
  let podCIDR: string | undefined;

  const teardown = async (): Promise<void> => {
    if (tornDown) return;
    tornDown = true;
    if (agent) {
      log(`stopping node agent ${NODE_NAME}`);
      await agent.stop(10_000);
    }
    // Then the agents tests started and did not stop, and every container of the run's nodes.
    const cleanup = await cleanUpRun({ stateDir, before: containersBefore, networksBefore, keep: process.env.STRATUS_KEEP_TEST_CONTAINERS === '1', log });
    const left = process.env.STRATUS_KEEP_TEST_CONTAINERS === '1' ? [] : cleanup.left;
    if (left.length) log(`ERROR: ${left.length} container(s) of the run still there after the removal: ${left.join(' ')}`);
    // The agents stopped without tearing their pods down, so their subPath bind mounts
    // (node-agent/subpath.ts) are still there: off first, or the state dir's rm -rf would go
    // through them (and leave them mounted on the host).
    const mountsLeft = await unmountAll(stateDir).then(
      () => false,
      (err: unknown) => {
        log(`ERROR: unmounting the run's subPath mounts failed: ${(err as Error).message}`);
        return true;
      },
    );
    if (podCIDR && process.env.STRATUS_KEEP_TEST_CONTAINERS !== '1') {
      log(`removing the node bridge of ${podCIDR}`);
      await destroyNodeBridge(new Docker(), podCIDR).catch((err: unknown) => log(`removing the node bridge failed: ${(err as Error).message}`));
    }
    log('stopping local stack');
    try {
      await stack.stop();
    } catch (err) {
      log(`stack.stop() failed: ${(err as Error).message}`);
    }
    let failed = 0;
    try {
      failed = project.vitest.state.getCountOfFailedTests() + project.vitest.state.getFailedFilepaths().length;
    } catch {
      failed = 1; // unknown: keep the evidence
    }
    if (failed === 0 && !left.length && !mountsLeft && process.env.STRATUS_KEEP_TEST_STATE !== '1') {
      rmSync(stateDir, { recursive: true, force: true });
    } else {
      log(`kept state directory (logs): ${stateDir}`);
    }
    // The check: a container of the run that outlives it fails the run.
    if (left.length) throw new Error(`${left.length} container(s) of this test run could not be removed: ${left.join(' ')}`);
  };

  try {
    for (const [key, value] of Object.entries(stack.env as Record<string, string>)) process.env[key] = value;

    const caFile = join(stateDir, 'ca.crt');
    if (!existsSync(caFile)) writeFileSync(caFile, stack.caCert);

    const agentLog = join(stateDir, `agent-${NODE_NAME}.log`);
    log(`starting node agent ${NODE_NAME} (log: ${agentLog})`);
    // Not detached: a Ctrl-C in the terminal reaches the agent too. It joins with the join token
    // and keeps its own identity.
    agent = spawnAgent({
      server: `${stack.apiUrl}/clusters/${stack.tenant}`,
      name: NODE_NAME,
      caFile,
      joinToken: stack.joinToken,
      env: stack.env,
      resyncSeconds: 5,
      // Pod volumes under this run's state dir, not /var/lib/stratus (removed with it).
      rootDir: join(stateDir, 'agent-root'),
      // Each node's own bridge with its podCIDR and nft table (node-agent/network/node-bridge.ts).
      podNetwork: 'node-bridge',
      args: [
        // No --allow-privileged: the run's node refuses what would own the host, as a shared node
        // should (tests of hostNetwork start a node of their own with it). Pods may mount host
        // directories only under the state dir's host-paths/ (test/helpers/pods.ts hostPathDir).
        '--host-path-allow',
        join(stateDir, 'host-paths'),
        // Extra agent flags for debugging, e.g. STRATUS_AGENT_ARGS='--no-queue'.
        ...(process.env.STRATUS_AGENT_ARGS ?? '').split(/\s+/).filter(Boolean),
      ],
      logFile: agentLog,
    });
    const killOnExit = () => agent?.kill('SIGKILL');
    process.once('exit', killOnExit);
    agent.once('exit', () => process.off('exit', killOnExit));
    agent.once('exit', (code, signal) => {
      if (!tornDown) {
        log(`node agent ${NODE_NAME} exited early (code ${code}, signal ${signal}); last lines of ${agentLog}:\n${tail(agentLog)}`);
      }
    });

    // Wait until the agent has registered its Node, so tests do not race its start-up.
    const deadline = Date.now() + NODE_WAIT_MS;
    let registered = false;
    while (Date.now() < deadline && agent.exitCode === null && agent.signalCode === null) {
      try {
        const res = await apiGet(stack.apiUrl, stack.caCert, stack.adminToken, `/clusters/${stack.tenant}/api/v1/nodes/${NODE_NAME}`);
        if (res.status === 200) {
          registered = true;
          podCIDR = (JSON.parse(res.body) as { spec?: { podCIDR?: string } }).spec?.podCIDR;
          break;
        }
      } catch {
        // API not answering yet
      }
      await new Promise((r) => setTimeout(r, 250));
    }
    if (registered) log(`node ${NODE_NAME} registered`);
    else if (agent.exitCode !== null || agent.signalCode !== null) {
      log(`WARNING: node agent ${NODE_NAME} is not running; tests needing a node will fail. Agent log: ${agentLog}`);
    } else {
      log(`WARNING: node ${NODE_NAME} did not register within ${NODE_WAIT_MS / 1000}s; tests needing it may fail. Agent log: ${agentLog}`);
    }

    const provided: ProvidedStack = {
      apiUrl: stack.apiUrl,
      caCert: stack.caCert,
      adminToken: stack.adminToken,
      nodeToken: await createNodeToken(createDocumentClient(loadConfig()), loadConfig(), 'default', NODE_NAME),
      joinToken: stack.joinToken,
      tenant: stack.tenant,
      kubeconfigPath: stack.kubeconfigPath,
      env: { ...stack.env },
      stateDir,
      nodeName: NODE_NAME,
      agentLog,
    };
    project.provide('stack', provided);
    log(`ready in ${((Date.now() - started) / 1000).toFixed(1)}s: ${stack.apiUrl} (kubeconfig ${stack.kubeconfigPath})`);
  } catch (err) {
    await teardown();
    throw err;
  }

  return teardown;
}
