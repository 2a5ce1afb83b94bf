import { spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import { inject } from 'vitest';

/** GET http://127.0.0.1:port/path (a forwarded port): status and body. */
export function get(port: number, path = '/'): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.once('end', () => resolve({ status: res.statusCode ?? 0, body }));
      })
      .once('error', reject);
  });
}

/**
 * Runs a long-lived kubectl (port-forward, proxy, logs -f) against the test stack until `ready`
 * matches its output; returns the match and the process. Rejects when kubectl exits first or is
 * not ready within 60 s (then it is killed).
 */
export function startKubectl(args: string[], ready: RegExp, env: NodeJS.ProcessEnv = {}): Promise<{ match: RegExpMatchArray; child: ChildProcess; output: () => string }> {
  const child = spawn('kubectl', args, { env: { ...process.env, KUBECONFIG: inject('stack').kubeconfigPath, ...env } });
  let out = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`kubectl ${args.join(' ')} did not get ready: ${out}`));
    }, 60_000);
    const check = (c: Buffer) => {
      out += c.toString();
      const m = ready.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ match: m, child, output: () => out });
      }
    };
    child.stdout.on('data', check);
    child.stderr.on('data', check);
    child.once('close', () => {
      clearTimeout(timer);
      reject(new Error(`kubectl ${args.join(' ')} exited: ${out}`));
    });
  });
}
