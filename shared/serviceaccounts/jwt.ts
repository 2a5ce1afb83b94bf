import { randomUUID } from 'node:crypto';
import { decodeJwt, decodeProtectedHeader, errors as joseErrors, jwtVerify, SignJWT } from 'jose';
import { cryptoKey, SIGNING_ALG, type ClusterKeys } from './keys';

/*
 * Service account tokens as Kubernetes issues them (pkg/serviceaccount/claims.go): a JWT signed
 * with the cluster's key, issuer `https://HOST/clusters/NAME`, subject
 * `system:serviceaccount:NS:NAME`, and the private claim `kubernetes.io` naming the namespace,
 * the ServiceAccount (name, uid) and, for a bound token, the Pod or Secret it is bound to.
 */

export const SA_PREFIX = 'system:serviceaccount:';

/** The issuer of `tenant`'s tokens: STRATUS_ISSUER_URL or the API's own URL, then `/clusters/NAME`. */
export function issuerFor(tenant: string, env: NodeJS.ProcessEnv = process.env): string {
  const base = (env.STRATUS_ISSUER_URL ?? env.STRATUS_API_URL ?? 'https://kubernetes.default.svc').replace(/\/+$/, '');
  return `${base}/clusters/${encodeURIComponent(tenant)}`;
}

/** The cluster an issuer names (its last `/clusters/NAME`), undefined for any other. */
export function tenantOfIssuer(iss: string): string | undefined {
  const m = /\/clusters\/([^/]+)$/.exec(iss);
  if (!m) return undefined;
  try {
    return decodeURIComponent(m[1]!);
  } catch {
    return undefined;
  }
}

export interface BoundRef {
  readonly kind: 'Pod' | 'Secret';
  readonly name: string;
  readonly uid: string;
}

export interface TokenClaims {
  readonly namespace: string;
  readonly serviceAccount: { readonly name: string; readonly uid: string };
  readonly bound?: BoundRef;
  /** The node a bound pod runs on (Kubernetes 1.30+ adds it). */
  readonly node?: { readonly name: string };
}

export interface KubernetesClaim {
  namespace: string;
  serviceaccount: { name: string; uid: string };
  pod?: { name: string; uid: string };
  secret?: { name: string; uid: string };
  node?: { name: string };
}

/** Signs a token for `claims`, valid from `now` for `expirationSeconds`. */
export async function issueToken(
  keys: ClusterKeys,
  tenant: string,
  claims: TokenClaims,
  opts: { audiences: readonly string[]; expirationSeconds: number; now?: Date },
): Promise<{ token: string; expirationTimestamp: Date }> {
  const key = keys.keys[0];
  if (!key) throw new Error('no signing key');
  const now = Math.floor((opts.now ?? new Date()).getTime() / 1000);
  const exp = now + opts.expirationSeconds;
  const k8s: KubernetesClaim = { namespace: claims.namespace, serviceaccount: { ...claims.serviceAccount } };
  if (claims.bound?.kind === 'Pod') k8s.pod = { name: claims.bound.name, uid: claims.bound.uid };
  if (claims.bound?.kind === 'Secret') k8s.secret = { name: claims.bound.name, uid: claims.bound.uid };
  if (claims.node) k8s.node = { ...claims.node };
  const token = await new SignJWT({ 'kubernetes.io': k8s as unknown as Record<string, unknown> })
    .setProtectedHeader({ alg: SIGNING_ALG, kid: key.kid })
    .setIssuer(issuerFor(tenant))
    .setSubject(`${SA_PREFIX}${claims.namespace}:${claims.serviceAccount.name}`)
    .setAudience([...opts.audiences])
    .setIssuedAt(now)
    .setNotBefore(now)
    .setExpirationTime(exp)
    .setJti(randomUUID())
    .sign(await cryptoKey(key, 'private'));
  return { token, expirationTimestamp: new Date(exp * 1000) };
}

/** Whether a bearer token has a JWT's shape (three base64url parts, a JSON header). */
export function looksLikeJwt(token: string): boolean {
  if (!/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/.test(token)) return false;
  try {
    decodeProtectedHeader(token);
    return true;
  } catch {
    return false;
  }
}

/** The issuer and key id a token claims, before any check (to find the keys to check it with). */
export function unverifiedIssuer(token: string): { iss?: string; kid?: string } {
  try {
    const { iss } = decodeJwt(token);
    const { kid } = decodeProtectedHeader(token);
    return { iss, kid };
  } catch {
    return {};
  }
}

export interface VerifiedToken {
  readonly namespace: string;
  readonly serviceAccount: { readonly name: string; readonly uid: string };
  readonly pod?: { readonly name: string; readonly uid: string };
  readonly secret?: { readonly name: string; readonly uid: string };
  readonly exp: number;
}

/**
 * Checks signature (one of the cluster's keys), issuer, audience (the API's: the issuer), exp
 * and nbf, and the claims' shape. Returns undefined for any token that fails; the caller then
 * checks that the ServiceAccount and the bound object still exist with their uids.
 */
export async function verifyToken(keys: ClusterKeys, tenant: string, token: string, now = new Date()): Promise<VerifiedToken | undefined> {
  const issuer = issuerFor(tenant);
  try {
    const { payload } = await jwtVerify(
      token,
      async (header) => {
        const k = keys.keys.find((x) => x.kid === header.kid);
        if (!k) throw new joseErrors.JWKSNoMatchingKey();
        return cryptoKey(k, 'public');
      },
      { issuer, audience: issuer, algorithms: [SIGNING_ALG], currentDate: now, requiredClaims: ['exp', 'sub'] },
    );
    const k8s = payload['kubernetes.io'] as Partial<KubernetesClaim> | undefined;
    const ns = k8s?.namespace;
    const sa = k8s?.serviceaccount;
    if (typeof ns !== 'string' || typeof sa?.name !== 'string' || typeof sa.uid !== 'string') return undefined;
    if (payload.sub !== `${SA_PREFIX}${ns}:${sa.name}`) return undefined;
    const ref = (r: unknown) => {
      const o = r as { name?: unknown; uid?: unknown } | undefined;
      return typeof o?.name === 'string' && typeof o.uid === 'string' ? { name: o.name, uid: o.uid } : undefined;
    };
    return { namespace: ns, serviceAccount: { name: sa.name, uid: sa.uid }, pod: ref(k8s?.pod), secret: ref(k8s?.secret), exp: payload.exp! };
  } catch {
    return undefined;
  }
}

/** The identity Kubernetes gives a service account: its user name and groups. */
export function serviceAccountUser(namespace: string, name: string): { user: string; groups: string[] } {
  return { user: `${SA_PREFIX}${namespace}:${name}`, groups: ['system:serviceaccounts', `system:serviceaccounts:${namespace}`, 'system:authenticated'] };
}
