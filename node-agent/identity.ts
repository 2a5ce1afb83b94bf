/**
 * The node's own identity (issue #16): joined once with a bootstrap (join) token, then kept in
 * <root-dir>/<node>/identity (directory 0700, files 0600) and reused by every later start, a
 * restart after kill -9 included:
 *
 *   token           the node's API credential (user system:node:NAME, group system:nodes)
 *   kubelet.key     the private key of the kubelet endpoint (made here; it never leaves the host)
 *   kubelet.crt     its serving certificate, signed by the cluster's node CA at join
 *   cluster-ca.crt  the CA of the one client certificate the kubelet endpoint accepts (the API's)
 *   token-expiry    {issuedAt, expiresAt} of the token (absent for identities kept before tokens
 *                   expired: the agent then renews at once)
 *
 * The join: a new EC key and a PKCS#10 CSR for CN=system:node:NAME, POSTed with the join token
 * to /clusters/NAME/stratus/v1/node-join (shared/auth/node-identity.ts).
 *
 * Serving-certificate rotation (the kubelet's --rotate-server-certificates): once 80% of the
 * certificate's lifetime has passed (renewalDue), the agent makes a new key and CSR and POSTs them
 * to the same endpoint with its own node credential; the API signs a certificate for its own
 * name only. The new key and certificate replace the kept ones and the endpoint's TLS context.
 *
 * Token rotation (the kubelet's client-certificate rotation): at 80% of the token's life the agent
 * POSTs to /clusters/NAME/stratus/v1/node-token with its current token and keeps the new one (the
 * token file first, then token-expiry); the API keeps the old one valid for a short grace only
 * (shared/auth/node-credentials.ts).
 */
import { X509Certificate } from 'node:crypto';
import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { TOKEN_RENEW_AT_FRACTION } from '../shared/auth/node-credentials';
import { nodeCsr } from '../shared/auth/node-pki';
import { KubeApiClient } from './api-client';

export interface NodeIdentity {
  readonly token: string;
  readonly servingKey: string;
  readonly servingCert: string;
  readonly clusterCA: string;
  /** When the token was issued and stops working (RFC 3339); unknown for identities kept before tokens expired. */
  readonly tokenExpiry?: TokenExpiry;
}

export interface TokenExpiry {
  readonly issuedAt: string;
  readonly expiresAt: string;
}

const FILES = { token: 'token', servingKey: 'kubelet.key', servingCert: 'kubelet.crt', clusterCA: 'cluster-ca.crt' } as const;
const EXPIRY_FILE = 'token-expiry';
const ExpirySchema = z.object({ issuedAt: z.string(), expiresAt: z.string() });

async function readExpiry(dir: string): Promise<TokenExpiry | undefined> {
  try {
    const parsed = ExpirySchema.safeParse(JSON.parse(await readFile(join(dir, EXPIRY_FILE), 'utf8')));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

/** Writes `text` to dir/name by rename (0600). */
async function writeKept(dir: string, name: string, text: string): Promise<void> {
  const path = join(dir, name);
  await writeFile(`${path}.tmp`, text, { mode: 0o600 });
  await chmod(`${path}.tmp`, 0o600);
  await rename(`${path}.tmp`, path);
}

export const identityDir = (nodeRootDir: string) => join(nodeRootDir, 'identity');

/** The identity kept in `dir`, or undefined when it is missing or incomplete. */
export async function readIdentity(dir: string): Promise<NodeIdentity | undefined> {
  try {
    const [token, servingKey, servingCert, clusterCA] = await Promise.all(Object.values(FILES).map((f) => readFile(join(dir, f), 'utf8')));
    if (!token!.trim() || !servingKey || !servingCert || !clusterCA) return undefined;
    const tokenExpiry = await readExpiry(dir);
    return { token: token!.trim(), servingKey: servingKey!, servingCert: servingCert!, clusterCA: clusterCA!, ...(tokenExpiry ? { tokenExpiry } : {}) };
  } catch {
    return undefined;
  }
}

async function writeIdentity(dir: string, id: NodeIdentity): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await chmod(dir, 0o700);
  // The token last (each file by rename): a crash mid-way leaves no token, so the next start joins again.
  if (id.tokenExpiry) await writeKept(dir, EXPIRY_FILE, JSON.stringify(id.tokenExpiry));
  for (const k of ['servingKey', 'servingCert', 'clusterCA', 'token'] as const) await writeKept(dir, FILES[k], k === 'token' ? `${id.token}\n` : id[k]);
}

/** One POST to the API at `server` with bearer `token`, on a client of its own, closed after (join and renewals). */
async function postOnce<T>(opts: { server: string; caFile?: string; insecureSkipTlsVerify?: boolean }, token: string, path: string, body: unknown, schema: z.ZodType<T>): Promise<T> {
  const client = new KubeApiClient({ server: opts.server, token, ...(opts.caFile ? { caFile: opts.caFile } : {}), insecureSkipTlsVerify: opts.insecureSkipTlsVerify ?? false });
  try {
    return await client.post(path, body, schema);
  } finally {
    client.close();
  }
}

const JoinAnswer = z.looseObject({ status: z.looseObject({ token: z.string(), tokenExpirationTimestamp: z.string().optional(), certificate: z.string(), clusterCA: z.string() }) });

/** Joins the cluster of `server` as `nodeName` with `joinToken`; returns (and keeps in `dir`) the identity. */
export async function joinCluster(opts: { server: string; joinToken: string; nodeName: string; dir: string; caFile?: string; insecureSkipTlsVerify?: boolean; tokenLifetimeSeconds?: number }): Promise<NodeIdentity> {
  const { csr, key } = await nodeCsr(opts.nodeName);
  const issuedAt = new Date().toISOString();
  const body = { nodeName: opts.nodeName, csr, ...(opts.tokenLifetimeSeconds ? { tokenExpirationSeconds: opts.tokenLifetimeSeconds } : {}) };
  const answer = await postOnce(opts, opts.joinToken, '/stratus/v1/node-join', body, JoinAnswer);
  const expiresAt = answer.status.tokenExpirationTimestamp;
  const id: NodeIdentity = {
    token: answer.status.token,
    servingKey: key,
    servingCert: answer.status.certificate,
    clusterCA: answer.status.clusterCA,
    ...(expiresAt ? { tokenExpiry: { issuedAt, expiresAt } } : {}),
  };
  await writeIdentity(opts.dir, id);
  return id;
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
  const answer = await postOnce(opts, opts.token, '/stratus/v1/node-join', { nodeName: opts.nodeName, csr }, RenewAnswer);
  for (const [k, text] of [['servingKey', key], ['servingCert', answer.status.certificate]] as const) await writeKept(opts.dir, FILES[k], text);
  return { servingKey: key, servingCert: answer.status.certificate };
}

/** When a token should be renewed (ms): 80% of the way through its life; now when its expiry is unknown. */
export function tokenRenewalTime(expiry: TokenExpiry | undefined, now = Date.now()): number {
  if (!expiry) return now;
  const from = Date.parse(expiry.issuedAt);
  const to = Date.parse(expiry.expiresAt);
  if (!Number.isFinite(from) || !Number.isFinite(to)) return now;
  return from + (to - from) * TOKEN_RENEW_AT_FRACTION;
}

/**
 * How long to wait before retrying a failed renewal: 10 minutes, or a fifth of what is left of
 * the token's life when that is less (at least a second), so a short-lived token gets tries in time.
 */
export function tokenRetryDelay(expiry: TokenExpiry | undefined, now = Date.now()): number {
  const left = expiry ? Date.parse(expiry.expiresAt) - now : 0;
  return Math.max(1000, Math.min(600_000, Number.isFinite(left) ? left / 5 : 0));
}

const TokenAnswer = z.looseObject({ status: z.looseObject({ token: z.string(), expirationTimestamp: z.string() }) });

/**
 * Renews the node's API credential with its current one (`token`); keeps the new token in `dir`
 * (the token first, then its expiry: a crash between leaves the new token with the old expiry, and
 * the agent just renews again) and returns it.
 */
export async function renewNodeToken(opts: { server: string; token: string; nodeName: string; dir: string; caFile?: string; insecureSkipTlsVerify?: boolean; tokenLifetimeSeconds?: number }): Promise<{ token: string; tokenExpiry: TokenExpiry }> {
  const issuedAt = new Date().toISOString();
  const answer = await postOnce(opts, opts.token, '/stratus/v1/node-token', { nodeName: opts.nodeName, ...(opts.tokenLifetimeSeconds ? { expirationSeconds: opts.tokenLifetimeSeconds } : {}) }, TokenAnswer);
  const tokenExpiry = { issuedAt, expiresAt: answer.status.expirationTimestamp };
  await writeKept(opts.dir, FILES.token, `${answer.status.token}\n`);
  await writeKept(opts.dir, EXPIRY_FILE, JSON.stringify(tokenExpiry));
  return { token: answer.status.token, tokenExpiry };
}
