import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import yaml from 'js-yaml';

/**
 * Writes a kubeconfig (mode 0600) for `tenant` at `path`: server `${apiUrl}/clusters/${tenant}`,
 * the CA inline, a bearer-token user. Context `stratus-local` for the default tenant,
 * `stratus-local-${tenant}` otherwise.
 */
export async function writeKubeconfigFile(
  path: string,
  opts: { apiUrl: string; caCert: string; tenant: string; token: string; user?: string },
): Promise<void> {
  const name = opts.tenant === 'default' ? 'stratus-local' : `stratus-local-${opts.tenant}`;
  const user = opts.user ?? `${name}-admin`;
  const doc = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [
      {
        name,
        cluster: {
          server: `${opts.apiUrl}/clusters/${opts.tenant}`,
          'certificate-authority-data': Buffer.from(opts.caCert, 'utf8').toString('base64'),
        },
      },
    ],
    users: [{ name: user, user: { token: opts.token } }],
    contexts: [{ name, context: { cluster: name, user, namespace: 'default' } }],
    'current-context': name,
    preferences: {},
  };
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, yaml.dump(doc, { lineWidth: -1 }), { mode: 0o600 });
  await chmod(path, 0o600);
}
