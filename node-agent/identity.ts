/**
 * The node's own identity (issue #16): joined once with a bootstrap (join) token, then kept in
 * <root-dir>/<node>/identity (directory 0700, files 0600) and reused by every later start, a
 * restart after kill -9 included:
 *
 *   token           the node's API credential (user system:node:NAME, group system:nodes)
 *   kubelet.key     the private key of the kubelet endpoint (made here; it never leaves the host)
 *   kubelet.crt     its serving certificate, signed by the cluster's node CA at join
 *   cluster-ca.crt  the CA of the one client certificate the kubelet endpoint accepts (the API's)
 *
 * The join: a new EC key and a PKCS#10 CSR for CN=system:node:NAME, POSTed with the join token
 * to /clusters/NAME/stratus/v1/node-join (shared/auth/node-identity.ts).
 *
 * Serving-certificate rotation (the kubelet's --rotate-server-certificates): once 80% of the
 * certificate's lifetime has passed (renewalDue), the agent makes a new key and CSR and POSTs them
 * to the same endpoint with its own node credential; the API signs a certificate for its own
 * name only. The new key and certificate replace the kept ones and the endpoint's TLS context.
 */
import { X509Certificate } from 'node:crypto';
import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { nodeCsr } from '../shared/auth/node-pki';
import { KubeApiClient } from './api-client';

export interface NodeIdentity {
  readonly token: string;
  readonly servingKey: string;
  readonly servingCert: string;
  readonly clusterCA: string;
}

const FILES = { token: 'token', servingKey: 'kubelet.key', servingCert: 'kubelet.crt', clusterCA: 'cluster-ca.crt' } as const;

export const identityDir = (nodeRootDir: string) => join(nodeRootDir, 'identity');

/** The identity kept in `dir`, or undefined when it is missing or incomplete. */
export async function readIdentity(dir: string): Promise<NodeIdentity | undefined> {
  try {
    const [token, servingKey, servingCert, clusterCA] = await Promise.all(Object.values(FILES).map((f) => readFile(join(dir, f), 'utf8')));
    if (!token!.trim() || !servingKey || !servingCert || !clusterCA) return undefined;
    return { token: token!.trim(), servingKey: servingKey!, servingCert: servingCert!, clusterCA: clusterCA! };
  } catch {
    return undefined;
  }
}

async function writeIdentity(dir: string, id: NodeIdentity): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await chmod(dir, 0o700);
  // The token last (each file by rename): a crash mid-way leaves no token, so the next start joins again.
  for (const k of ['servingKey', 'servingCert', 'clusterCA', 'token'] as const) {
    const path = join(dir, FILES[k]);
    await writeFile(`${path}.tmp`, k === 'token' ? `${id.token}\n` : id[k], { mode: 0o600 });
    await chmod(`${path}.tmp`, 0o600);
    await rename(`${path}.tmp`, path);
  }
}

const JoinAnswer = z.looseObject({ status: z.looseObject({ token: z.string(), certificate: z.string(), clusterCA: z.string() }) });

/** Joins the cluster of `server` as `nodeName` with `joinToken`; returns (and keeps in `dir`) the identity. */
export async function joinCluster(opts: { server: string; joinToken: string; nodeName: string; dir: string; caFile?: string; insecureSkipTlsVerify?: boolean }): Promise<NodeIdentity> {
  const { csr, key } = await nodeCsr(opts.nodeName);
  const client = new KubeApiClient({
    server: opts.server,
    token: opts.joinToken,
    ...(opts.caFile ? { caFile: opts.caFile } : {}),
    insecureSkipTlsVerify: opts.insecureSkipTlsVerify ?? false,
  });
  try {
    const answer = await client.post('/stratus/v1/node-join', { nodeName: opts.nodeName, csr }, JoinAnswer);
    const id: NodeIdentity = { token: answer.status.token, servingKey: key, servingCert: answer.status.certificate, clusterCA: answer.status.clusterCA };
    await writeIdentity(opts.dir, id);
    return id;
  } finally {
    client.close();
  }
}

/** Share of a serving certificate's lifetime after which the agent renews it (the kubelet rotates at 70-90%). */
export const RENEW_AT_FRACTION = 0.8;

/** When `certPem` should be renewed: RENEW_AT_FRACTION of the way from its notBefore to its notAfter. */
export function renewalTime(certPem: string): Date {
  const c = new X509Certificate(certPem);
  const from = new Date(c.validFrom).getTime();
  const to = new Date(c.validTo).getTime();
  return new Date(from + (to - from) * RENEW_AT_FRACTION);
}

const RenewAnswer = z.looseObject({ status: z.looseObject({ certificate: z.string() }) });

/**
 * Renews the serving certificate of `nodeName` with its own credential (`token`); keeps the new
 * key and certificate in `dir` (the key first: a crash between the two leaves the old
 * certificate with a key it does not match, and the next start's TLS setup fails loudly rather
 * than serving a wrong identity; the next renewal or a new join mends it). Returns them.
 */
export async function renewServingCertificate(opts: { server: string; token: string; nodeName: string; dir: string; caFile?: string; insecureSkipTlsVerify?: boolean }): Promise<{ servingKey: string; servingCert: string }> {
  const { csr, key } = await nodeCsr(opts.nodeName);
  const client = new KubeApiClient({
    server: opts.server,
    token: opts.token,
    ...(opts.caFile ? { caFile: opts.caFile } : {}),
    insecureSkipTlsVerify: opts.insecureSkipTlsVerify ?? false,
  });
  try {
    const answer = await client.post('/stratus/v1/node-join', { nodeName: opts.nodeName, csr }, RenewAnswer);
    for (const [k, text] of [['servingKey', key], ['servingCert', answer.status.certificate]] as const) {
      const path = join(opts.dir, FILES[k]);
      await writeFile(`${path}.tmp`, text, { mode: 0o600 });
      await chmod(`${path}.tmp`, 0o600);
      await rename(`${path}.tmp`, path);
    }
    return { servingKey: key, servingCert: answer.status.certificate };
  } finally {
    client.close();
  }
}
