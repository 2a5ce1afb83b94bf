import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { inject } from 'vitest';

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
): ChildProcess {
  const stack = inject('stack');
  const caFile = join(stack.stateDir, 'ca.crt');
  writeFileSync(caFile, stack.caCert);
  const log = createWriteStream(join(stack.stateDir, `agent-${name}.log`), { flags: 'a' });
  const taint = opts.taint ? ['--register-with-taints', `${opts.taint.key}=${opts.taint.value}:${opts.taint.effect}`] : [];
  const agent = spawn(
    process.execPath,
    ['--import', 'tsx', 'node-agent/main.ts', 'agent', '--server', `${stack.apiUrl}/clusters/${opts.tenant ?? 'default'}`, '--name', name, '--ca-file', caFile, '--root-dir', join(stack.stateDir, 'agent-root'),
      '--resync-seconds', String(opts.resyncSeconds ?? 5), ...taint, ...(opts.podNetwork ? ['--pod-network', opts.podNetwork] : []), ...(opts.args ?? [])],
    // It joins with the join token (in the environment, not on the command line) and keeps its identity under --root-dir.
    { env: { ...process.env, ...stack.env, STRATUS_JOIN_TOKEN: opts.joinToken ?? stack.joinToken }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  agent.stdout!.pipe(log);
  agent.stderr!.pipe(log);
  return agent;
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
