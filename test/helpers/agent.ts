import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { inject } from 'vitest';
import { spawnAgent, type AgentProcess } from '../../infra/local/agent-process';
import { eventually } from './api';

export { stopProcess, stopProcesses } from '../../infra/local/agent-process';

export interface Taint {
  readonly key: string;
  readonly value: string;
  readonly effect: string;
}

/**
 * A second, real node agent of the default tenant (its log beside the run's other agent logs).
 * Give it a taint so that other test files' pods, running at the same time, never land on it.
 */
export function startNodeAgent(
  name: string,
  opts: { taint?: Taint; resyncSeconds?: number; /** another cluster's */ tenant?: string; /** a join token of its cluster (default: the run's, of the default cluster) */ joinToken?: string; podNetwork?: string; /** more agent flags, e.g. --allow-privileged */ args?: readonly string[] } = {},
): AgentProcess {
  const stack = inject('stack');
  const caFile = join(stack.stateDir, 'ca.crt');
  writeFileSync(caFile, stack.caCert);
  const taint = opts.taint ? ['--register-with-taints', `${opts.taint.key}=${opts.taint.value}:${opts.taint.effect}`] : [];
  // It joins with the join token and keeps its identity under --root-dir.
  return spawnAgent({
    server: `${stack.apiUrl}/clusters/${opts.tenant ?? 'default'}`,
    name,
    caFile,
    joinToken: opts.joinToken ?? stack.joinToken,
    env: stack.env,
    rootDir: join(stack.stateDir, 'agent-root'),
    resyncSeconds: opts.resyncSeconds ?? 5,
    ...(opts.podNetwork ? { podNetwork: opts.podNetwork } : {}),
    args: [...taint, ...(opts.args ?? [])],
    logFile: join(stack.stateDir, `agent-${name}.log`),
  });
}

/**
 * Waits until a node's agent holds its Lease (registered, network configured); on timeout the
 * error carries the last lines of that agent's log (why it did not start).
 */
export async function waitForNodeLease(api: { get(path: string): Promise<{ status: number }> }, name: string, timeoutMs: number): Promise<void> {
  try {
    await eventually(async () => ((await api.get(`/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/${name}`)).status === 200 ? true : undefined), timeoutMs, `lease of ${name}`);
  } catch (e) {
    throw new Error(`${(e as Error).message}\n--- last lines of the agent's log ---\n${agentLogTail(name)}`);
  }
}

/** The last lines of the log of a node's agent started by startNodeAgent. */
export function agentLogTail(name: string, lines = 15): string {
  try {
    return readFileSync(join(inject('stack').stateDir, `agent-${name}.log`), 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch (e) {
    return `(no log: ${(e as Error).message})`;
  }
}

/** Removes the Docker containers a node's agent made (best effort: after its agent is gone). */
export function removeNodeContainers(nodeName: string): void {
  try {
    const ids = execFileSync('docker', ['ps', '-aq', '--filter', `label=io.stratus.node=${nodeName}`], { encoding: 'utf8' }).split('\n').filter(Boolean);
    if (ids.length) execFileSync('docker', ['rm', '-f', ...ids]);
  } catch {
    // best effort
  }
}
