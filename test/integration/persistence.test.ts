/**
 * The persistent local stack (what `npm start` runs): an object and a kubeconfig made before a
 * stop still work after the next start; `stratus stop` and `stratus status` drive it; files
 * holding keys or tokens are 0600. Its own stack in a temp state directory, in a child process.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import { createServer } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { coversNames, persistentCertificates, servingNames } from '../../infra/local/stack';
import { kubectl } from '../helpers/kubectl';

const repoRoot = join(import.meta.dirname, '..', '..');
const stateDir = mkdtempSync(join(tmpdir(), 'stratus-persist-'));
const children: ChildProcess[] = [];

/** The environment without the test stack's endpoints and secrets: the child makes its own. */
function cleanEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(AWS_|STRATUS_)/.test(k)));
}

async function startStack(dir = stateDir): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(repoRoot, 'test/fixtures/persistent-stack.ts'), dir], {
    cwd: repoRoot,
    env: cleanEnv(),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let log = '';
  child.stderr!.on('data', (d: Buffer) => (log = (log + d.toString()).slice(-4000)));
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => d.toString().includes('READY') && resolve());
    child.once('exit', (code) => reject(new Error(`the stack exited (${code}) before it was ready:\n${log}`)));
  });
  return child;
}

/** Runs `stratus ARGS --state-dir DIR` (asynchronously: this process must go on reaping the stack). */
async function stratus(args: string[], dir = stateDir): Promise<{ code: number; out: string }> {
  const { stdout, stderr, code } = await new Promise<{ stdout: string; stderr: string; code: number }>((resolve) => {
    execFile(process.execPath, [join(repoRoot, 'bin/stratus.mjs'), ...args, '--state-dir', dir], { encoding: 'utf8', env: cleanEnv(), timeout: 90_000 }, (err, out, errOut) =>
      resolve({ stdout: out, stderr: errOut, code: err ? (typeof err.code === 'number' ? err.code : 1) : 0 }),
    );
  });
  return { code, out: `${stdout}${stderr}` };
}

/**
 * Resolves with the child's exit code or signal once this process has reaped it. `stratus stop`
 * returns as soon as the stack is a zombie, before this process's 'exit' event has run.
 */
function exited(child: ChildProcess, ms = 30_000): Promise<number | NodeJS.Signals | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode ?? child.signalCode);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(null), ms);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      resolve(code ?? signal);
    });
  });
}

const mode = (f: string) => statSync(join(stateDir, f)).mode & 0o777;

afterAll(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  rmSync(stateDir, { recursive: true, force: true });
});

describe('persistent local stack', () => {
  it('keeps objects, the CA, the port and the tokens across stop and start', { timeout: 300_000 }, async () => {
    const first = await startStack();
    const kubeconfig = join(stateDir, 'kubeconfig');
    const before = readFileSync(kubeconfig, 'utf8');
    const env = { KUBECONFIG: kubeconfig };

    const created = await kubectl(['create', 'configmap', 'kept', '--from-literal=answer=42'], { env });
    expect(created.stderr).toBe('');
    expect(created.code).toBe(0);

    expect((await stratus(['status'])).code).toBe(0);
    for (const f of ['state.json', 'operator-token', 'ca.key', 'server.key', 'kubeconfig', 'stack.json']) expect([f, mode(f)]).toEqual([f, 0o600]);
    expect(mode('.')).toBe(0o700);

    const stopped = await stratus(['stop']);
    expect(stopped.out).toContain('Stratus stopped');
    expect(await exited(first)).not.toBeNull();
    expect((await stratus(['status'])).code).toBe(3);
    const checkpoints = JSON.parse(readFileSync(join(stateDir, 'checkpoints.json'), 'utf8')) as Record<string, Record<string, string>>;
    expect(Object.values(checkpoints).some((shards) => Object.keys(shards).length > 0)).toBe(true);

    await startStack();
    // The kubeconfig written before the restart (same CA, port and token) still works.
    expect(readFileSync(kubeconfig, 'utf8')).toBe(before);
    const got = await kubectl(['get', 'configmap', 'kept', '-o', 'jsonpath={.data.answer}'], { env });
    expect(got.stderr).toBe('');
    expect(got.stdout).toBe('42');
    expect((await stratus(['stop'])).code).toBe(0);
  });

  it('keeps the pod-facing port and the kubernetes Endpoints right across restarts; an old serving certificate gets the new names from the same CA', { timeout: 300_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'stratus-persist-pod-'));
    try {
      const kubeconfig = join(dir, 'kubeconfig');
      const env = { KUBECONFIG: kubeconfig };
      const endpointsOf = async () => {
        const ep = await kubectl(['get', 'endpoints', 'kubernetes', '-n', 'default', '-o', 'jsonpath={.subsets[0].addresses[0].ip}:{.subsets[0].ports[0].port}'], { env });
        const slice = await kubectl(['get', 'endpointslice', 'kubernetes', '-n', 'default', '-o', 'jsonpath={.endpoints[0].addresses[0]}:{.ports[0].port}'], { env });
        const svc = await kubectl(['get', 'service', 'kubernetes', '-n', 'default', '-o', 'jsonpath={.spec.ports[0].targetPort}'], { env });
        return { endpoints: ep.stdout, slice: slice.stdout, targetPort: svc.stdout };
      };
      const podFacing = () => {
        const file = JSON.parse(readFileSync(join(dir, 'stack.json'), 'utf8')) as { env: Record<string, string> };
        return `${file.env.STRATUS_API_POD_ADDRESS}:${file.env.STRATUS_API_POD_PORT}`;
      };

      // A state directory made before the pod-facing address: a certificate for localhost only.
      const old = await persistentCertificates(dir, { dns: ['localhost'], ips: ['127.0.0.1'] });
      expect(coversNames(old.cert, servingNames())).toBe(false);
      await startStack(dir);
      const first = podFacing();
      expect(first).toMatch(/^\d+\.\d+\.\d+\.\d+:\d+$/);
      expect(await endpointsOf()).toEqual({ endpoints: first, slice: first, targetPort: first.split(':')[1] });
      const [address, port] = first.split(':') as [string, string];
      // Remade from the same CA with the kubernetes Service's names and the pod-facing address.
      expect(readFileSync(join(dir, 'ca.crt'), 'utf8')).toBe(old.caCert);
      const cert = readFileSync(join(dir, 'server.crt'), 'utf8');
      expect(coversNames(cert, servingNames(address))).toBe(true);
      expect(new X509Certificate(cert).verify(new X509Certificate(old.caCert).publicKey)).toBe(true);
      expect(await stratus(['stop'], dir)).toMatchObject({ code: 0 });

      // The same port again at the next start.
      await startStack(dir);
      expect(podFacing()).toBe(first);
      expect(await endpointsOf()).toEqual({ endpoints: first, slice: first, targetPort: first.split(':')[1] });
      expect(await stratus(['stop'], dir)).toMatchObject({ code: 0 });

      // Its port taken meanwhile: the API moves, and the Endpoints follow it.
      const squatter = createServer();
      await new Promise<void>((resolve) => squatter.listen(Number(port), address, resolve));
      try {
        await startStack(dir);
        const moved = podFacing();
        expect(moved).not.toBe(first);
        expect(await endpointsOf()).toEqual({ endpoints: moved, slice: moved, targetPort: moved.split(':')[1] });
        expect(await stratus(['stop'], dir)).toMatchObject({ code: 0 });
      } finally {
        squatter.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
