import { spawn } from 'node:child_process';
import { inject } from 'vitest';

export interface KubectlRun {
  /** kubectl's exit code (128 when it was killed at the time limit). */
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs the real kubectl against the test stack (its kubeconfig from `inject('stack')`).
 * `input` is written to kubectl's stdin, which is then closed (an empty stdin without it); `env`
 * adds to or overrides the environment (a test's own HOME and cache directory, an EDITOR).
 * Never throws for a failing kubectl: tests assert on the code and kubectl's own words.
 */
export function kubectl(args: string[], opts: { input?: string | Buffer; timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): Promise<KubectlRun> {
  return new Promise((resolve, reject) => {
    const child = spawn('kubectl', args, { env: { ...process.env, KUBECONFIG: inject('stack').kubeconfigPath, ...opts.env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
    child.once('error', reject);
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr });
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(opts.input ?? '');
  });
}
