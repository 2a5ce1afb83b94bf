/**
 * TLS of the node's Ingress proxy (issue #15): which certificate the TLS listener presents for a
 * TLS ClientHello's SNI name, from the served Ingresses' spec.tls and the Secrets they name.
 *
 * Semantics (as ingress-nginx builds its servers, controller.go createServers/extractTLSSecretName):
 * - A "server" is each host of a rule of a served Ingress. Its certificate comes from the oldest
 *   served Ingress with that rule host that names one: the spec.tls entry listing the host
 *   (case-insensitive), else any spec.tls entry whose certificate covers the host. A certificate
 *   that does not cover its host (SAN DNS names, the subject CN only when there are none; a
 *   `*.example.com` name covers one more label) is not used for it.
 * - SNI picks the server of the exact name, else of a wildcard rule host `*.example.com` matching
 *   one more label (the Ingress wildcard rule, as routing matches it), and presents that server's
 *   certificate; no SNI, no matching server, or a server without a usable certificate (no tls
 *   entry, Secret missing, malformed or not covering the host): the default certificate, a
 *   self-signed "Stratus Ingress Controller Fake Certificate" made when the agent starts (as
 *   ingress-nginx's fake certificate). One bad Secret never affects other hosts.
 * - After the handshake requests route by their Host header (or :authority), never by SNI, as
 *   the IngressTLS field documentation says.
 * - Secrets: `tls.crt` and `tls.key` (PEM) of the named Secret in the Ingress's own namespace
 *   (type kubernetes.io/tls, or any type with these keys as ingress-nginx accepts), read by name
 *   (GET) with the node's credential: never a list of Secrets.
 */
import { createSecureContext, type SecureContext } from 'node:tls';
import { X509Certificate } from 'node:crypto';
import { hostMatch, type RouteIngress } from './ingress-routes';

/** A Secret an Ingress's spec.tls names. */
export interface SecretRef {
  readonly namespace: string;
  readonly name: string;
}

export const secretKey = (r: SecretRef): string => `${r.namespace}/${r.name}`;

/** The Secrets the served Ingresses name in spec.tls (each once, in order of first mention). */
export function tlsSecretRefs(ingresses: readonly RouteIngress[]): SecretRef[] {
  const seen = new Map<string, SecretRef>();
  for (const ing of ingresses) {
    for (const t of ing.spec.tls ?? []) {
      if (!t.secretName) continue;
      const ref = { namespace: ing.metadata.namespace ?? 'default', name: t.secretName };
      if (!seen.has(secretKey(ref))) seen.set(secretKey(ref), ref);
    }
  }
  return [...seen.values()];
}

/**
 * Whether a certificate's names cover `host`: its SAN DNS names (the subject CN only when it has
 * none, as Node's checkHost does), case-insensitive, a `*.` name covering exactly one more label.
 * A wildcard host (`*.example.com`, a wildcard rule's server) is covered only by that very name.
 */
export function namesCover(names: readonly string[], host: string): boolean {
  const h = host.toLowerCase();
  return names.some((raw) => {
    const n = raw.toLowerCase();
    if (n === h) return true;
    if (h.startsWith('*.') || !n.startsWith('*.')) return false;
    return hostMatch(n, h) === 2;
  });
}

/** The DNS names a certificate answers to (SAN DNS entries; the subject CN when there are none). */
export function certificateNames(x: X509Certificate): string[] {
  const dns = (x.subjectAltName ?? '')
    .split(/,\s*/)
    .filter((e) => e.startsWith('DNS:'))
    .map((e) => e.slice(4));
  if (dns.length) return dns;
  const cn = /(?:^|\n)CN=([^\n]*)/.exec(x.subject)?.[1];
  return cn ? [cn] : [];
}

/** What a server presents: a usable certificate and key. */
export interface LoadedCertificate {
  readonly context: SecureContext;
  /** The certificate's subject (logs, tests). */
  readonly subject: string;
  readonly names: readonly string[];
}

/** The certificate of a Secret's data (`tls.crt`, `tls.key`, PEM), or why it is unusable. */
export function loadCertificate(data: Readonly<Record<string, string>> | undefined): LoadedCertificate | { readonly error: string } {
  if (!data) return { error: 'secret not found' };
  const cert = data['tls.crt'];
  const key = data['tls.key'];
  if (!cert || !key) return { error: 'secret has no tls.crt and tls.key' };
  try {
    const x = new X509Certificate(cert);
    // createSecureContext refuses a key that does not belong to the certificate.
    const context = createSecureContext({ cert, key });
    return { context, subject: x.subject, names: certificateNames(x) };
  } catch (e) {
    return { error: `invalid certificate or key: ${e instanceof Error ? e.message : String(e)}` };
  }
}

/**
 * The servers of the served Ingresses (oldest first): each rule host and the certificate it
 * presents (undefined: the default one). `certificate(ref)` answers a Secret's loaded
 * certificate (undefined when it is missing or unusable).
 */
export function serverCertificates<C extends { readonly names: readonly string[] }>(
  ingresses: readonly RouteIngress[],
  certificate: (ref: SecretRef) => C | undefined,
): Map<string, C | undefined> {
  const servers = new Map<string, C | undefined>();
  for (const ing of ingresses) {
    const namespace = ing.metadata.namespace ?? 'default';
    for (const rule of ing.spec.rules ?? []) {
      const host = rule.host?.toLowerCase();
      if (!host) continue;
      if (servers.get(host) !== undefined) continue;
      servers.set(host, certificateOf(host, namespace, ing, certificate));
    }
  }
  return servers;
}

function certificateOf<C extends { readonly names: readonly string[] }>(host: string, namespace: string, ing: RouteIngress, certificate: (ref: SecretRef) => C | undefined): C | undefined {
  const tls = ing.spec.tls ?? [];
  // The entry that lists the host: its Secret or nothing (ingress-nginx does not look further).
  const listed = tls.find((t) => (t.hosts ?? []).some((h) => h.toLowerCase() === host));
  if (listed) {
    const c = listed.secretName ? certificate({ namespace, name: listed.secretName }) : undefined;
    return c && namesCover(c.names, host) ? c : undefined;
  }
  // Else any entry whose certificate covers the host.
  for (const t of tls) {
    if (!t.secretName) continue;
    const c = certificate({ namespace, name: t.secretName });
    if (c && namesCover(c.names, host)) return c;
  }
  return undefined;
}

/**
 * The certificate for an SNI name: the exact server's, else a wildcard server's matching one more
 * label; undefined (the default certificate) when no server matches or it has none.
 */
export function certificateForName<C>(servers: ReadonlyMap<string, C | undefined>, servername: string | undefined): C | undefined {
  const name = (servername ?? '').toLowerCase().replace(/\.$/, '');
  if (!name) return undefined;
  if (servers.has(name)) return servers.get(name);
  for (const [host, c] of servers) if (host.startsWith('*.') && hostMatch(host, name) === 2) return c;
  return undefined;
}

export const SSL_REDIRECT_ANNOTATION = 'nginx.ingress.kubernetes.io/ssl-redirect';
export const FORCE_SSL_REDIRECT_ANNOTATION = 'nginx.ingress.kubernetes.io/force-ssl-redirect';

/**
 * Whether a plain-HTTP request routed to `ingress` for `host` is redirected (308) to the TLS
 * listener: force-ssl-redirect "true" always; ssl-redirect "true" when the host has a certificate
 * of this Ingress's spec.tls (`hasCertificate`). Unlike ingress-nginx the default is no redirect
 * (the node's TLS port is not 443 locally).
 */
export function redirectsToTls(ingress: RouteIngress | undefined, hasCertificate: boolean): boolean {
  const a = ingress?.metadata.annotations ?? {};
  if (a[FORCE_SSL_REDIRECT_ANNOTATION] === 'true') return true;
  return a[SSL_REDIRECT_ANNOTATION] === 'true' && hasCertificate;
}
