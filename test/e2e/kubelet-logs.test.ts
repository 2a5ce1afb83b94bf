import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { Api, eventually, uniqueName } from '../helpers/api';
import { allRunning as running, createPod as createPodIn, waitForPod as waitForPodIn } from '../helpers/pods';
import { kubectl as runKubectl } from '../helpers/kubectl';

/*
 * Issue #5, `kubectl logs` end to end: the real kubectl → pods/log on the api function → the
 * node agent's kubelet endpoint → docker logs.
 */
const IMAGE = 'stratus-test/busybox:1.36';
const NS = '/api/v1/namespaces/default';
const run = promisify(execFile);
let api: Api;
type Json = any;

const kubectl = (...args: string[]) => runKubectl(args);

const createPod = (name: string, containers: Json[], extra: Json = {}) => createPodIn(api, NS, name, containers, extra);

const waitForPod = (name: string, what: string, ok: (pod: Json) => boolean, timeoutMs?: number) => waitForPodIn(api, NS, name, what, ok, timeoutMs);


beforeAll(() => {
  api = Api.forTenant('default');
});

describe('kubectl logs', () => {
  it('prints stdout and stderr; --tail and --timestamps shape the output', async () => {
    // Prepare
    const name = uniqueName('logs');
    await createPod(name, [{ name: 'main', image: IMAGE, command: ['sh', '-c', 'for i in 1 2 3 4 5; do echo line-$i; done; sleep 1; echo err-line >&2; sleep 3600'] }]);
    await waitForPod(name, 'running', running);
    // Act
    const all = await eventually(async () => {
      const r = await kubectl('logs', name);
      return r.stdout.includes('err-line') ? r : undefined;
    }, 20_000, 'all log lines');
    const tail = await kubectl('logs', name, '--tail', '2');
    const stamped = await kubectl('logs', name, '--timestamps', '--tail', '1');
    // Assess
    expect(all.stdout).toBe('line-1\nline-2\nline-3\nline-4\nline-5\nerr-line\n');
    expect(tail.stdout).toBe('line-5\nerr-line\n');
    expect(stamped.stdout).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z err-line\n$/);
  });

  it('-c picks a container; without one the API says which to choose; a wrong one is 400', async () => {
    // Prepare
    const name = uniqueName('logs-multi');
    await createPod(name, [
      { name: 'a', image: IMAGE, command: ['sh', '-c', 'echo from-a; sleep 3600'] },
      { name: 'b', image: IMAGE, command: ['sh', '-c', 'echo from-b; sleep 3600'] },
    ]);
    await waitForPod(name, 'running', running);
    // Act
    const b = await eventually(async () => {
      const r = await kubectl('logs', name, '-c', 'b');
      return r.stdout.includes('from-b') ? r : undefined;
    }, 20_000, 'logs of b');
    const unnamed = await api.get(`${NS}/pods/${name}/log`);
    const wrong = await kubectl('logs', name, '-c', 'nope');
    // Assess
    expect(b.stdout).toBe('from-b\n');
    expect(unnamed.status).toBe(400);
    expect(unnamed.body.message).toBe(`a container name must be specified for pod ${name}, choose one of: [a b]`);
    expect(wrong.code).not.toBe(0);
    expect(wrong.stderr).toContain(`container nope is not valid for pod ${name}`);
  });

  it('--previous shows the attempt before a restart, and is 400 when there was none', async () => {
    // Prepare
    const name = uniqueName('logs-prev');
    await createPod(name, [{ name: 'main', image: IMAGE, command: ['sh', '-c', 'echo run-$RANDOM-$RANDOM; sleep 1; exit 1'] }]);
    // Act
    const neverRestarted = await api.get(`${NS}/pods/${name}/log?previous=true`);
    const pod = await waitForPod(name, 'restarted once', (p) => (p.status.containerStatuses?.[0]?.restartCount ?? 0) >= 1 && p.status.containerStatuses[0].lastState?.terminated);
    const previous = await kubectl('logs', name, '--previous');
    const lastID = String(pod.status.containerStatuses[0].lastState.terminated.containerID).replace('docker://', '');
    const fromDocker = await run('docker', ['logs', lastID]);
    // Assess
    if (neverRestarted.status !== 200) {
      // Before the first restart there is no previous attempt (the pod may also not have started yet).
      expect(neverRestarted.status).toBe(400);
      expect(neverRestarted.body.message).toMatch(/previous terminated container "main" in pod ".*" not found|is waiting to start/);
    }
    expect(previous.code, previous.stderr).toBe(0);
    expect(previous.stdout).toMatch(/^run-\d+-\d+\n$/);
    // The attempt status reports as lastState (back-off keeps the next restart ≥ 10 s away).
    expect(previous.stdout).toBe(fromDocker.stdout);
  });

  it('-f follows: a line printed after kubectl started reaches it', async () => {
    // Prepare
    const name = uniqueName('logs-follow');
    await createPod(name, [{ name: 'main', image: IMAGE, command: ['sh', '-c', 'echo first; while [ ! -f /tmp/go ]; do sleep 0.2; done; echo after-start; sleep 3600'] }]);
    const pod = await waitForPod(name, 'running', running);
    const child = spawn('kubectl', ['logs', '-f', name], { env: { ...process.env, KUBECONFIG: inject('stack').kubeconfigPath } });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    try {
      await eventually(async () => (out.includes('first') ? true : undefined), 20_000, 'the first line');
      // Act
      const id = String(pod.status.containerStatuses[0].containerID).replace('docker://', '');
      await run('docker', ['exec', id, 'touch', '/tmp/go']);
      // Assess
      await eventually(async () => (out.includes('after-start') ? true : undefined), 20_000, 'the line printed after kubectl started');
      expect(out).toBe('first\nafter-start\n');
      expect(child.exitCode).toBeNull();
    } finally {
      child.kill('SIGKILL');
    }
  });
});
