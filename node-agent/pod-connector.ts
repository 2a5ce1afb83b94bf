/**
 * Connections into a pod: `localhost:PORT` inside the pod's own network namespace, as container
 * runtimes do for port-forward (the kubelet's CRI streaming server enters the sandbox's netns and
 * dials localhost). This is the only way the agent opens a connection on a user's behalf
 * (port-forward, pods/proxy, services/proxy): it never dials an address, so a request can reach
 * nothing but a pod of this agent's own cluster that runs on this node, and listeners bound to
 * 127.0.0.1 in the pod work too.
 *
 * How: the pod's sandbox (pause) container holds the netns; `nsenter -t PID -n` runs a tiny Node
 * program in it that connects and pipes the socket to its stdin/stdout. One process per
 * connection (about 40 ms and 40 MB while it lasts); the agent runs as root, as a kubelet does.
 */
import { spawn } from 'node:child_process';
import { Duplex } from 'node:stream';
import type Docker from 'dockerode';
import { listRunningPodContainers, SANDBOX_CONTAINER_NAME } from './docker-runtime';

/** Which pod: its namespace and name, and its uid when the API knows it. */
export interface PodRef {
  readonly namespace: string;
  readonly pod: string;
  readonly uid?: string;
}

export type ConnectResult = { readonly ok: true; readonly socket: Duplex } | { readonly ok: false; readonly message: string };

/**
 * Opens TCP connections to `localhost:port` in a pod's network namespace. connect() resolves once
 * the connection is made, or with the reason it could not be (pod not running here, connection
 * refused), in words kubectl prints. The contract: never a connection anywhere else.
 */
export interface PodConnector {
  connect(ref: PodRef, port: number): Promise<ConnectResult>;
}

/**
 * The program run inside the netns: connect to localhost:PORT (IPv4, then IPv6 as the kubelet
 * does), write one byte 1 to stdout once connected, then pipe. On failure it prints the error to
 * stderr and exits 1.
 */
const HELPER = `
const net = require('node:net');
const port = Number(process.argv[1]);
const tryConnect = (hosts, errors) => {
  const host = hosts[0];
  const s = net.connect({ host, port });
  s.once('connect', () => {
    process.stdout.write(Buffer.from([1]));
    process.stdin.pipe(s);
    s.pipe(process.stdout);
    s.on('error', () => process.exit(0));
    s.on('close', () => process.exit(0));
  });
  s.once('error', (e) => {
    errors.push((host.includes(':') ? 'IPv6 dial tcp6 [' + host + ']:' : 'IPv4: dial tcp4 ' + host + ':') + port + ': connect: ' + (e.code === 'ECONNREFUSED' ? 'connection refused' : e.message));
    if (hosts.length > 1) return tryConnect(hosts.slice(1), errors);
    process.stderr.write(errors.join(' '));
    process.exit(1);
  });
};
tryConnect(['127.0.0.1', '::1'], []);
`;

export interface NetnsConnectorOptions {
  readonly docker: Docker;
  readonly nodeName: string;
  readonly tenant: string;
  /** @default 'nsenter' */
  readonly nsenter?: string;
}

export class NetnsConnector implements PodConnector {
  constructor(private readonly opts: NetnsConnectorOptions) {}

  /** The PID holding the pod's netns: its running sandbox container's, found by our labels (this node, this cluster). */
  private async sandboxPid(ref: PodRef): Promise<number | undefined> {
    const { docker } = this.opts;
    const list = await listRunningPodContainers(docker, this.opts, { ...ref, container: SANDBOX_CONTAINER_NAME });
    const newest = list.sort((a, b) => b.Created - a.Created)[0];
    if (!newest) return undefined;
    const info = await docker.getContainer(newest.Id).inspect();
    return info.State.Running && info.State.Pid > 0 ? info.State.Pid : undefined;
  }

  async connect(ref: PodRef, port: number): Promise<ConnectResult> {
    if (!Number.isInteger(port) || port < 1 || port > 65535) return { ok: false, message: `invalid port ${port}` };
    const pid = await this.sandboxPid(ref);
    if (pid === undefined) return { ok: false, message: `pod ${ref.namespace}/${ref.pod} is not running on this node` };
    const child = spawn(this.opts.nsenter ?? 'nsenter', ['-t', String(pid), '-n', '--', process.execPath, '-e', HELPER, String(port)], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const stderr: Buffer[] = [];
    child.stderr.on('data', (c: Buffer) => stderr.push(c));
    const where = `localhost:${port} inside namespace of pod ${ref.namespace}/${ref.pod}`;
    return new Promise<ConnectResult>((resolve) => {
      let settled = false;
      const fail = (message: string) => {
        if (settled) return;
        settled = true;
        child.kill('SIGKILL');
        resolve({ ok: false, message });
      };
      child.once('error', (e) => fail(`failed to enter the network namespace: ${e.message}`));
      child.once('exit', (code) => fail(`failed to connect to ${where}, ${Buffer.concat(stderr).toString('utf8').trim() || `exit code ${code}`}`));
      child.stdout.once('readable', function first() {
        const b = child.stdout.read(1) as Buffer | null;
        if (b === null) return void child.stdout.once('readable', first);
        if (settled) return;
        settled = true;
        resolve({ ok: true, socket: processSocket(child.stdin, child.stdout, () => child.kill('SIGKILL')) });
      });
    });
  }
}

/** The helper's stdin and stdout as one Duplex (end() half-closes; destroy() kills it). */
function processSocket(stdin: NodeJS.WritableStream & { end(): void }, stdout: NodeJS.ReadableStream, kill: () => void): Duplex {
  const d = new Duplex({
    write(chunk: Buffer, _enc, cb) {
      if (!stdin.write(chunk)) stdin.once('drain', () => cb());
      else cb();
    },
    final(cb) {
      stdin.end();
      cb();
    },
    read() {
      stdout.resume();
    },
    destroy(err, cb) {
      kill();
      cb(err);
    },
  });
  stdout.on('data', (c: Buffer) => {
    if (!d.push(c)) stdout.pause();
  });
  stdout.once('end', () => d.push(null));
  (stdin as NodeJS.WritableStream).on('error', () => undefined);
  return d;
}
