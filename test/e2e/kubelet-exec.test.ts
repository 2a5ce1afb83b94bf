import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { Exec, KubeConfig, type V1Status } from '@kubernetes/client-node';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import WebSocket from 'ws';
import { Api, eventually, uniqueName } from '../helpers/api';
import { allRunning as running, createPod as createPodIn, waitForPod as waitForPodIn } from '../helpers/pods';
import { kubectl as runKubectl, type KubectlRun } from '../helpers/kubectl';

/*
 * Issue #5, `kubectl exec` end to end: the real kubectl (WebSocket, v5.channel.k8s.io) → the
 * local runtime's upgrade path → the exec broker (functions/api/exec.ts) → the node agent's
 * kubelet endpoint → docker exec in the pod's container; and the failures kubectl prints.
 * A raw WebSocket client checks what kubectl does not show: v4, resize, the broker's codes.
 */
const IMAGE = 'stratus-test/busybox:1.36';
const NS = '/api/v1/namespaces/default';
let api: Api;
type Json = any;

type Ran = KubectlRun;

/** Runs kubectl with the stack's kubeconfig; `input` is written to its stdin, then closed. */
const kubectl = (args: string[], input?: string | Buffer): Promise<Ran> => runKubectl(args, { input });

/**
 * Runs a shell command under a pseudo-terminal (util-linux `script`), so kubectl sees a terminal;
 * `typed` is written to that terminal. Its stdin stays open (no EOF typed) until the command ends.
 */
function underPty(command: string, typed?: string): Promise<Ran> {
  return new Promise((resolve) => {
    const child = spawn('script', ['-qec', command, '/dev/null'], { env: { ...process.env, KUBECONFIG: inject('stack').kubeconfigPath } });
    let stdout = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stdout += c.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? 1, stdout, stderr: '' });
    });
    child.stdin.on('error', () => undefined);
    if (typed) child.stdin.write(typed);
  });
}

const createPod = (name: string, containers: Json[], extra: Json = {}) => createPodIn(api, NS, name, containers, extra);

const waitForPod = (name: string, what: string, ok: (pod: Json) => boolean, timeoutMs?: number) => waitForPodIn(api, NS, name, what, ok, timeoutMs);


const sleeper = (name = 'main', env: Json[] = []) => ({ name, image: IMAGE, command: ['sleep', '3600'], env });

/** A running single-container pod, shared by the tests that only need somewhere to exec. */
let shared: string;

/** What a raw upgrade got: the refusal (status and body) or the open socket. */
interface Upgraded {
  ws?: WebSocket;
  status?: number;
  body?: Json;
}

/** Opens .../pods/{pod}/exec?{query} as a WebSocket the way kubectl does, without kubectl. */
function upgrade(pod: string, query: string, o: { token?: string; protocols?: string[]; subresource?: 'exec' | 'attach' } = {}): Promise<Upgraded> {
  const stack = inject('stack');
  const url = `${stack.apiUrl.replace(/^https/, 'wss')}/clusters/default${NS}/pods/${pod}/${o.subresource ?? 'exec'}?${query}`;
  const ws = new WebSocket(url, o.protocols ?? ['v5.channel.k8s.io', 'v4.channel.k8s.io'], {
    ca: stack.caCert,
    headers: { authorization: `Bearer ${o.token ?? stack.adminToken}` },
  });
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve({ ws }));
    ws.once('unexpected-response', (req, res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.once('end', () => {
        req.destroy();
        let body: Json = text;
        try {
          body = JSON.parse(text);
        } catch {
          /* not JSON */
        }
        resolve({ status: res.statusCode ?? 0, body });
      });
    });
    ws.once('error', reject);
  });
}

/** Collects a session's frames by channel until the server closes it. */
function collect(ws: WebSocket): Promise<{ out: string; err: string; status: Json; closeCode: number }> {
  let out = '';
  let err = '';
  let status = '';
  ws.on('message', (data: Buffer) => {
    const payload = data.subarray(1).toString('utf8');
    if (data[0] === 1) out += payload;
    else if (data[0] === 2) err += payload;
    else if (data[0] === 3) status += payload;
  });
  return new Promise((resolve) => ws.once('close', (closeCode) => resolve({ out, err, status: status ? JSON.parse(status) : undefined, closeCode })));
}

const frame = (channel: number, payload: string | Buffer = '') => Buffer.concat([Buffer.from([channel]), Buffer.from(payload)]);
const q = (command: string[], flags: Record<string, string> = {}) =>
  new URLSearchParams([...command.map((c): [string, string] => ['command', c]), ...Object.entries(flags)]).toString();

beforeAll(async () => {
  api = Api.forTenant('default');
  shared = uniqueName('exec');
  await createPod(shared, [sleeper()]);
  await waitForPod(shared, 'running', running);
}, 120_000);

describe('kubectl exec', () => {
  it('runs a command and prints its output; stderr stays separate', async () => {
    // Act
    const hi = await kubectl(['exec', '-v=4', shared, '--', 'echo', 'hi']);
    const both = await kubectl(['exec', shared, '--', 'sh', '-c', 'echo to-out; echo to-err >&2']);
    const large = await kubectl(['exec', shared, '--', 'sh', '-c', "head -c 5000000 /dev/zero | tr '\\0' x"]);
    // Assess
    expect(hi, hi.stderr).toMatchObject({ code: 0, stdout: 'hi\n' });
    // Over WebSocket: kubectl never fell back to SPDY (it logs the fallback at -v=4).
    expect(hi.stderr).not.toContain('RemoteCommand fallback');
    expect(both.code, both.stderr).toBe(0);
    expect(both.stdout).toBe('to-out\n');
    expect(both.stderr).toBe('to-err\n');
    expect(large.code, large.stderr).toBe(0);
    expect(large.stdout).toBe('x'.repeat(5_000_000));
  });

  it("exits with the command's exit code", async () => {
    // Act
    const three = await kubectl(['exec', shared, '--', 'sh', '-c', 'echo before; exit 3']);
    const missing = await kubectl(['exec', shared, '--', 'no-such-binary']);
    // Assess
    expect(three.code).toBe(3);
    expect(three.stdout).toBe('before\n');
    expect(three.stderr).toContain('command terminated with exit code 3');
    // Docker's code for a command it cannot find (126 or 127, as `docker exec` gives it).
    expect([126, 127]).toContain(missing.code);
    expect(missing.stdout + missing.stderr).toContain('no-such-binary');
  });

  it('-c picks the container of a two-container pod; without it kubectl takes the first', async () => {
    // Prepare
    const name = uniqueName('exec-multi');
    await createPod(name, [sleeper('a', [{ name: 'WHO', value: 'I am a' }]), sleeper('b', [{ name: 'WHO', value: 'I am b' }])]);
    await waitForPod(name, 'running', running);
    // Act
    const b = await kubectl(['exec', name, '-c', 'b', '--', 'sh', '-c', 'echo $WHO']);
    const first = await kubectl(['exec', name, '--', 'sh', '-c', 'echo $WHO']);
    // Assess
    expect(b, b.stderr).toMatchObject({ code: 0, stdout: 'I am b\n' });
    expect(first, first.stderr).toMatchObject({ code: 0, stdout: 'I am a\n' });
    expect(first.stderr).toContain('Defaulted container "a" out of: a, b');
  });

  it('-i passes a finite stdin through and closes it (v5), large inputs included', async () => {
    // Prepare
    const big = Buffer.alloc(3 * 1024 * 1024 + 7, 'x');
    // Act
    const cat = await kubectl(['exec', '-i', shared, '--', 'cat'], 'hello\nworld\n');
    const count = await kubectl(['exec', '-i', shared, '--', 'wc', '-c'], big);
    const empty = await kubectl(['exec', '-i', shared, '--', 'sh', '-c', 'cat; echo eof'], '');
    // Assess
    expect(cat, cat.stderr).toMatchObject({ code: 0, stdout: 'hello\nworld\n' });
    expect(count.code, count.stderr).toBe(0);
    expect(count.stdout.trim()).toBe(String(big.length));
    expect(empty, empty.stderr).toMatchObject({ code: 0, stdout: 'eof\n' });
  });

  it('-it gives the command a terminal of the caller\'s size (run under a pseudo-terminal)', async () => {
    // Prepare: `script` gives kubectl a pty of 45 rows × 123 columns; the command waits (bounded)
    // for the resize kubectl sends right after connecting.
    const inner = `for i in $(seq 100); do [ "$(stty size 2>/dev/null)" = "45 123" ] && break; sleep 0.1; done; tty; stty size; exit 4`;
    // Act
    const r = await underPty(`stty rows 45 cols 123; kubectl exec -it ${shared} -- sh -c '${inner}'`);
    // Assess: a tty writes \r\n; the exit code comes through the tty session too.
    expect(r.stdout).toMatch(/\/dev\/pts\/\d+\r\n45 123\r\n/);
    expect(r.code).toBe(4);
  });

  it('-it runs an interactive shell: what is typed reaches it, its exit code comes back', async () => {
    // Act: typed into the pty kubectl reads in raw mode, as a user at a terminal would.
    const r = await underPty(`kubectl exec -it ${shared} -- sh`, 'echo typed-$((40+2))\rexit 5\r');
    // Assess
    expect(r.stdout).toContain('typed-42\r\n');
    expect(r.code).toBe(5);
  });
});

describe('kubectl cp (tar through exec)', () => {
  it('copies a file into the pod and back out, byte for byte', async () => {
    // Prepare
    const dir = mkdtempSync(join(tmpdir(), 'stratus-cp-'));
    const original = join(dir, 'in.bin');
    const back = join(dir, 'out.bin');
    const bytes = Buffer.concat([Buffer.from('stratus cp\n'), randomBytes(200_000)]);
    writeFileSync(original, bytes);
    try {
      // Act
      const into = await kubectl(['cp', original, `${shared}:/tmp/copied.bin`]);
      const inside = await kubectl(['exec', shared, '--', 'sh', '-c', 'wc -c < /tmp/copied.bin']);
      const out = await kubectl(['cp', `${shared}:/tmp/copied.bin`, back]);
      // Assess
      expect(into.code, into.stderr).toBe(0);
      expect(inside.stdout.trim()).toBe(String(bytes.length));
      expect(out.code, out.stderr).toBe(0);
      expect(readFileSync(back).equals(bytes)).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('kubectl exec failures', () => {
  it('a missing pod is NotFound', async () => {
    // Act
    const r = await kubectl(['exec', 'no-such-pod', '--', 'true']);
    const raw = await upgrade('no-such-pod', q(['true'], { stdout: 'true' }));
    // Assess
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('pods "no-such-pod" not found');
    expect(raw.status).toBe(404);
    expect(raw.body).toMatchObject({ kind: 'Status', reason: 'NotFound', code: 404, message: 'pods "no-such-pod" not found' });
  });

  it('a container the pod does not have is BadRequest', async () => {
    // Act
    const r = await kubectl(['exec', '-v=4', shared, '-c', 'nope', '--', 'true']);
    // Assess: the refused WebSocket sends kubectl to SPDY, whose answer (the same Status) it prints.
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('RemoteCommand fallback');
    expect(r.stderr).toContain(`Error from server (BadRequest): container nope is not valid for pod ${shared}`);
  });

  it('a pod not scheduled is BadRequest; a container not started yet is the session\'s error', async () => {
    // Prepare: one pod no node can take; one whose init container holds the app container back.
    const unscheduled = uniqueName('exec-pending');
    await createPod(unscheduled, [sleeper()], { nodeSelector: { 'stratus.test/none': 'x' } });
    const waiting = uniqueName('exec-init');
    await createPod(waiting, [sleeper()], { initContainers: [{ name: 'hold', image: IMAGE, command: ['sleep', '3600'] }] });
    await waitForPod(waiting, 'init container running', (p) => p.status.initContainerStatuses?.[0]?.state?.running);
    // Act
    const noHost = await kubectl(['exec', unscheduled, '--', 'true']);
    const notStarted = await kubectl(['exec', waiting, '-c', 'main', '--', 'true']);
    const intoInit = await kubectl(['exec', waiting, '-c', 'hold', '--', 'echo', 'in-init']);
    // Assess
    expect(noHost.code).toBe(1);
    expect(noHost.stderr).toContain(`pod ${unscheduled} does not have a host assigned`);
    expect(notStarted.code).toBe(1);
    // Kubernetes' words: the API upgraded, then the kubelet said no (in band, so no SPDY fallback).
    expect(notStarted.stderr).toContain('error: Internal error occurred: unable to upgrade connection: container not found ("main")');
    // A running init container can be exec'd into, as in Kubernetes.
    expect(intoInit, intoInit.stderr).toMatchObject({ code: 0, stdout: 'in-init\n' });
  });

  it('a bad token is 401; a node token is 403; a plain request is 400 Upgrade request required', async () => {
    // Act
    const viaKubectl = await kubectl(['--token', 'not-a-token', 'exec', shared, '--', 'true']);
    const bad = await upgrade(shared, q(['true'], { stdout: 'true' }), { token: 'not-a-token' });
    const node = await upgrade(shared, q(['true'], { stdout: 'true' }), { token: inject('stack').nodeToken });
    const plain = await api.post(`${NS}/pods/${shared}/exec?${q(['true'], { stdout: 'true' })}`, {});
    // Assess
    expect(viaKubectl.code).toBe(1);
    expect(viaKubectl.stderr).toContain('Unauthorized');
    expect(bad.status).toBe(401);
    expect(bad.body).toMatchObject({ kind: 'Status', reason: 'Unauthorized', code: 401 });
    expect(node.status).toBe(403);
    expect(node.body).toMatchObject({ reason: 'Forbidden' });
    expect(plain.status).toBe(400);
    expect(plain.body).toMatchObject({ kind: 'Status', reason: 'BadRequest', message: 'Upgrade request required' });
  });

  it('a completed pod is BadRequest (kubectl says so itself; the API does too)', async () => {
    // Prepare
    const name = uniqueName('exec-done');
    await createPod(name, [{ name: 'main', image: IMAGE, command: ['true'] }], { restartPolicy: 'Never' });
    await waitForPod(name, 'Succeeded', (p) => p.status.phase === 'Succeeded');
    // Act
    const viaKubectl = await kubectl(['exec', name, '--', 'true']);
    const raw = await upgrade(name, q(['true'], { stdout: 'true' }));
    // Assess
    expect(viaKubectl.code).toBe(1);
    expect(viaKubectl.stderr).toContain('cannot exec into a container in a completed pod; current phase is Succeeded');
    expect(raw.status).toBe(400);
    expect(raw.body).toMatchObject({ reason: 'BadRequest', message: 'cannot exec into a container in a completed pod; current phase is Succeeded' });
  });

  it('no command, or no subprotocol the agents speak, is BadRequest', async () => {
    // Act
    const noCommand = await upgrade(shared, 'stdout=true');
    const oldProtocol = await upgrade(shared, q(['true'], { stdout: 'true' }), { protocols: ['channel.k8s.io'] });
    // Assess
    expect(noCommand.status).toBe(400);
    expect(noCommand.body.message).toBe('you must specify at least 1 command');
    expect(oldProtocol.status).toBe(400);
    expect(oldProtocol.body.message).toContain('v5.channel.k8s.io');
  });
});

describe('the exec channel protocol, raw', () => {
  it('v4: stdin in, stdout out, Success on the error channel, then a normal close', async () => {
    // Act
    const up = await upgrade(shared, q(['sh', '-c', 'read x; echo got-$x'], { stdin: 'true', stdout: 'true', stderr: 'true' }), { protocols: ['v4.channel.k8s.io'] });
    if (!up.ws) throw new Error(`upgrade refused: ${up.status} ${JSON.stringify(up.body)}`);
    const done = collect(up.ws);
    up.ws.send(frame(0, 'abc\n'));
    const r = await done;
    // Assess
    expect(up.ws.protocol).toBe('v4.channel.k8s.io');
    expect(r.out).toBe('got-abc\n');
    expect(r.status).toMatchObject({ status: 'Success' });
    expect(r.closeCode).toBe(1000);
  });

  it('v5 with a tty: resize reaches the terminal; a non-zero exit is NonZeroExitCode with the code', async () => {
    // Act
    const script = 'for i in $(seq 100); do [ "$(stty size 2>/dev/null)" = "11 77" ] && break; sleep 0.1; done; stty size; exit 7';
    const up = await upgrade(shared, q(['sh', '-c', script], { stdin: 'true', stdout: 'true', tty: 'true' }));
    if (!up.ws) throw new Error(`upgrade refused: ${up.status} ${JSON.stringify(up.body)}`);
    const done = collect(up.ws);
    up.ws.send(frame(4, JSON.stringify({ Width: 77, Height: 11 })));
    const r = await done;
    // Assess
    expect(up.ws.protocol).toBe('v5.channel.k8s.io');
    expect(r.out).toBe('11 77\r\n');
    expect(r.err).toBe('');
    expect(r.status).toMatchObject({ status: 'Failure', reason: 'NonZeroExitCode', details: { causes: [{ reason: 'ExitCode', message: '7' }] } });
  });

  it.each(['v4.channel.k8s.io', 'v5.channel.k8s.io'])(
    '%s: stdin and resize in text messages, as the Python client sends them, reach the command',
    async (protocol) => {
      // Act
      const script = 'for i in $(seq 100); do [ "$(stty size 2>/dev/null)" = "13 66" ] && break; sleep 0.1; done; read x; echo "got-$x"; stty size';
      const up = await upgrade(shared, q(['sh', '-c', script], { stdin: 'true', stdout: 'true', tty: 'true' }), { protocols: [protocol] });
      if (!up.ws) throw new Error(`upgrade refused: ${up.status} ${JSON.stringify(up.body)}`);
      const done = collect(up.ws);
      // The channel is the first character as a code point (U+0004 resize, U+0000 stdin), in text frames.
      up.ws.send(`\u0004${JSON.stringify({ Width: 66, Height: 13 })}`, { binary: false });
      up.ws.send('\u0000typed-as-text\r', { binary: false });
      const r = await done;
      // Assess
      expect(up.ws.protocol).toBe(protocol);
      expect(r.out).toContain('got-typed-as-text\r\n13 66\r\n');
      expect(r.status).toMatchObject({ status: 'Success' });
      expect(r.closeCode).toBe(1000);
    },
  );

  it('discovery lists pods/exec and pods/attach with the verbs Kubernetes gives them', async () => {
    // Act
    const list = await api.get('/api/v1');
    // Assess
    const find = (name: string) => list.body.resources.find((r: Json) => r.name === name);
    expect(find('pods/exec')).toMatchObject({ name: 'pods/exec', kind: 'PodExecOptions', namespaced: true, verbs: ['create', 'get'] });
    expect(find('pods/attach')).toMatchObject({ name: 'pods/attach', kind: 'PodAttachOptions', namespaced: true, verbs: ['create', 'get'] });
  });
});

describe('@kubernetes/client-node', () => {
  it('Exec runs a command with stdin and reports the exit code in its Status', async () => {
    // Prepare
    const kc = new KubeConfig();
    kc.loadFromFile(inject('stack').kubeconfigPath);
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    let out = '';
    let err = '';
    stdout.on('data', (c: Buffer) => (out += c.toString()));
    stderr.on('data', (c: Buffer) => (err += c.toString()));
    const stdin = new PassThrough();
    // Act
    const status = await new Promise<V1Status>((resolve, reject) => {
      new Exec(kc)
        .exec('default', shared, 'main', ['sh', '-c', 'read x; echo out-$x; echo err-$x >&2; exit 9'], stdout, stderr, stdin, false, resolve)
        .then(() => stdin.end('from-client\n'), reject);
    });
    // Assess
    expect(out).toBe('out-from-client\n');
    expect(err).toBe('err-from-client\n');
    expect(status).toMatchObject({ status: 'Failure', reason: 'NonZeroExitCode', details: { causes: [{ reason: 'ExitCode', message: '9' }] } });
  });
});

describe('kubectl attach', () => {
  it("streams the container's output from now on and ends, with success, when its process does", async () => {
    // Prepare
    const name = uniqueName('attach');
    const loop = 'i=0; while [ ! -f /tmp/go ]; do echo waiting-$i; i=$((i+1)); sleep 0.3; done; echo bye; echo bye-err >&2';
    await createPod(name, [{ name: 'main', image: IMAGE, command: ['sh', '-c', loop] }], { restartPolicy: 'Never' });
    await waitForPod(name, 'running', running);
    const child = spawn('kubectl', ['attach', name], { env: { ...process.env, KUBECONFIG: inject('stack').kubeconfigPath } });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    const exited = new Promise<number | null>((r) => child.once('close', (code) => r(code)));
    try {
      await eventually(async () => (/waiting-\d+\n/.test(out) ? true : undefined), 30_000, 'attached output');
      // Act
      const go = await kubectl(['exec', name, '--', 'touch', '/tmp/go']);
      const code = await exited;
      // Assess
      expect(go.code, go.stderr).toBe(0);
      expect(code, err).toBe(0);
      expect(out).toMatch(/waiting-\d+\nbye\n$/);
      // Output only from the moment of attaching on, not the log's start.
      expect(out.startsWith('waiting-0\n')).toBe(false);
      expect(err).toContain('bye-err');
    } finally {
      child.kill('SIGKILL');
    }
  });

  it("`kubectl run -i` attaches to the container's own stdin (stdin: true) and deletes the pod with --rm", async () => {
    // Prepare
    const name = uniqueName('run-i');
    // Act: kubectl creates the pod with stdin/stdinOnce, waits for it to run, attaches with stdin
    const ran = await kubectl(
      ['run', name, '-i', '--rm', '--restart=Never', `--image=${IMAGE}`, '--pod-running-timeout=60s', '--', 'sh', '-c', 'read line; echo "got $line"'],
      'hello-stdin\n',
    );
    // Assess
    expect(ran.code, ran.stderr).toBe(0);
    expect(ran.stdout).toContain('got hello-stdin');
    await eventually(async () => ((await api.get(`${NS}/pods/${name}`)).status === 404 ? true : undefined), 60_000, 'pod removed by --rm');
  });

  it('a tty container (stdin + tty) answers `kubectl attach -it` and its logs are the raw terminal output', async () => {
    // Prepare
    const name = uniqueName('tty');
    await createPod(name, [{ name: 'main', image: IMAGE, stdin: true, tty: true, command: ['sh', '-c', 'echo ready; read line; echo "tty-got $line"; sleep 2'] }], { restartPolicy: 'Never' });
    await waitForPod(name, 'running', running);
    // Act
    const attached = await underPty(`kubectl attach -it ${name}`, 'typed-line\r');
    const logs = await eventually(async () => {
      const r = await kubectl(['logs', name]);
      return r.stdout.includes('tty-got typed-line') ? r : undefined;
    }, 30_000, 'tty output in the logs');
    // Assess
    expect(attached.stdout).toContain('tty-got typed-line');
    expect(logs.stdout).toContain('ready');
    // Raw terminal bytes: no Docker frame header (\u0001\u0000\u0000\u0000) leaked into the text.
    // eslint-disable-next-line no-control-regex -- the control bytes are what this test looks for.
    expect(logs.stdout).not.toMatch(/[\u0000-\u0002]\u0000\u0000\u0000/);
  });

  it('a container the pod does not have, or no stream at all, is BadRequest', async () => {
    // Act (kubectl checks the container itself before it attaches, so a raw client asks)
    const wrong = await upgrade(shared, 'container=nope&stdout=true', { subresource: 'attach' });
    const noStream = await upgrade(shared, 'container=main', { subresource: 'attach' });
    // Assess
    expect(wrong.status).toBe(400);
    expect(wrong.body).toMatchObject({ reason: 'BadRequest', message: `container nope is not valid for pod ${shared}` });
    expect(noStream.status).toBe(400);
    expect(noStream.body).toMatchObject({ reason: 'BadRequest', message: 'you must specify at least 1 of stdin, stdout, stderr' });
  });
});
