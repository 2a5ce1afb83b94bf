/**
 * The API's pod-facing listener: the one host address and port pods reach the API at (the
 * `kubernetes` Service's endpoint, kube-apiserver's --advertise-address and --secure-port). The
 * local stack binds everything else to 127.0.0.1; this is the one exception (docs/networking.md).
 *
 * - Address: STRATUS_API_POD_ADDRESS when set, else the host's address on Docker's default bridge
 *   (docker0, 172.17.0.1 on most hosts). Every node bridge of the machine routes to it through the
 *   host, and each node's nft table lets its pods reach exactly address.tcp.port (`host_ports`).
 * - Port: a free one (several stacks may run on one machine, each with its own), or the one a
 *   persistent stack used last time, so the `kubernetes` Endpoints stay what they were.
 *
 * The listener is a plain TCP server; the local runtime hands its connections to the API's HTTPS
 * server (same TLS, same handler), so nothing here knows HTTP.
 */
import { createServer, type Server } from 'node:net';
import { execFileSync } from 'node:child_process';

/** Docker's default bridge, whose host address every local node bridge routes to. */
const DOCKER_BRIDGE = 'docker0';

/** The IPv4 addresses of an `ip -j -4 addr show` answer. */
export function ipv4Addresses(ipJson: string): string[] {
  try {
    const links = JSON.parse(ipJson) as { addr_info?: { family?: string; local?: string }[] }[];
    return links.flatMap((l) => (l.addr_info ?? []).filter((a) => a.family === 'inet' && a.local).map((a) => a.local!));
  } catch {
    return [];
  }
}

/**
 * Where pods reach the API on this host, or undefined when there is no such address. docker0 is
 * read with `ip` (Node's networkInterfaces() leaves out an interface without carrier, and docker0
 * has none while no container sits on it; its address still answers).
 */
export function podFacingAddress(env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (env.STRATUS_API_POD_ADDRESS) return env.STRATUS_API_POD_ADDRESS;
  try {
    return ipv4Addresses(execFileSync('ip', ['-j', '-4', 'addr', 'show', 'dev', DOCKER_BRIDGE], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }))[0];
  } catch {
    return undefined;
  }
}

export interface PodFacingListener {
  readonly address: string;
  readonly port: number;
  readonly server: Server;
  close(): Promise<void>;
}

function listen(address: string, port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    // Paused: the runtime may hand a connection to another process (an api instance), unread.
    const server = createServer({ pauseOnConnect: true });
    server.once('error', reject);
    server.listen({ host: address, port, exclusive: true }, () => {
      server.off('error', reject);
      resolve(server);
    });
  });
}

/**
 * Listens on address:port (`port` 0 or absent: a free one; taken: a free one, with `onMoved`
 * told). Connections wait unanswered until the runtime takes them (LocalRuntimeOptions.podListener).
 */
export async function listenPodFacing(address: string, port?: number, onMoved?: (from: number) => void): Promise<PodFacingListener> {
  let server: Server;
  try {
    server = await listen(address, port ?? 0);
  } catch (err) {
    if (!port || (err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
    onMoved?.(port);
    server = await listen(address, 0);
  }
  const bound = server.address();
  const actual = typeof bound === 'object' && bound ? bound.port : 0;
  return {
    address,
    port: actual,
    server,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
