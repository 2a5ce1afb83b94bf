/**
 * Tearing down node agents started by a test or a benchmark (no vitest here: benches use it too):
 * once their processes are stopped (infra/local/agent-process.ts stopProcesses), remove what their
 * `node-bridge` nodes left on the host.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import type Docker from 'dockerode';
import { LABELS } from '../../node-agent/docker-runtime';
import { bridgeName, destroyNodeBridge } from '../../node-agent/network/node-bridge';
import { destroyServiceTable } from '../../node-agent/network/service-proxy';
import { proxyTableName } from '../../node-agent/network/service-rules';

/** Where it was before (callers on other branches): the one in infra/local/agent-process.ts. */
export { stopProcesses } from '../../infra/local/agent-process';

/**
 * Removes what stopped `node-bridge` nodes left (best effort): their containers, their root
 * directories when given, their service tables and bridges (one per podCIDR).
 */
export async function removeBridgeNodes(docker: Docker, nodes: readonly string[], cidrs: readonly string[], rootDirs: readonly string[] = []): Promise<void> {
  for (const name of nodes) {
    const left = await docker.listContainers({ all: true, filters: { label: [`${LABELS.node}=${name}`] } }).catch(() => []);
    await Promise.all(left.map((c) => docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined)));
  }
  for (const dir of rootDirs) rmSync(dir, { recursive: true, force: true });
  for (const cidr of cidrs) {
    await destroyServiceTable(proxyTableName(bridgeName(cidr))).catch(() => undefined);
    await destroyNodeBridge(docker, cidr).catch(() => undefined);
  }
}

/** The root directories agents started without --root-dir keep their state in. */
export const defaultRootDirs = (nodes: readonly string[]): string[] => nodes.map((n) => join('/var/lib/stratus', n));
