/**
 * The certificates of the node's Ingress TLS listener (issue #15): the Secrets the served
 * Ingresses name in spec.tls, each read by name (GET, the node's credential may do no more), again
 * on every change of the served Ingresses and every `refreshMs` (Secret changes are picked up
 * without a restart, as the kubelet's TTL cache of Secrets does), and the default certificate.
 * ingress-tls.ts holds the rules (which server presents which certificate).
 *
 * A Secret that is missing, forbidden or unusable leaves its hosts on the default certificate and
 * touches no other host; one that cannot be read for another reason (the API unreachable) keeps
 * the certificate it had.
 */
import { createHash } from 'node:crypto';
import type { SecureContext } from 'node:tls';
import { createSecureContext } from 'node:tls';
import { generate } from 'selfsigned';
import { KubeApiError } from '../api-client';
import { errorMessage, type Logger } from '../log';
import type { RouteIngress } from './ingress-routes';
import { certificateForName, loadCertificate, secretKey, serverCertificates, tlsSecretRefs, type LoadedCertificate, type SecretRef } from './ingress-tls';

/** A Secret's data as strings (tls.crt, tls.key), undefined when it does not exist. */
export type SecretReader = (namespace: string, name: string) => Promise<Readonly<Record<string, string>> | undefined>;

interface Entry {
  readonly hash: string;
  readonly cert: LoadedCertificate | undefined;
}

export const DEFAULT_CERTIFICATE_SUBJECT = 'Stratus Ingress Controller Fake Certificate';

/** The default certificate: self-signed, EC P-256, as ingress-nginx's fake one (CN, SAN ingress.local). */
export async function makeDefaultCertificate(): Promise<{ cert: string; key: string }> {
  const c = await generate([{ name: 'commonName', value: DEFAULT_CERTIFICATE_SUBJECT }], {
    keyType: 'ec',
    algorithm: 'sha256',
    notAfterDate: new Date(Date.now() + 365 * 24 * 3600 * 1000),
    extensions: [
      { name: 'basicConstraints', cA: false, critical: true },
      { name: 'keyUsage', digitalSignature: true, critical: true },
      { name: 'extKeyUsage', serverAuth: true },
      { name: 'subjectAltName', altNames: [{ type: 2 as const, value: 'ingress.local' }] },
    ],
  });
  return { cert: c.cert, key: c.private };
}

export class IngressCertificates {
  private readonly secrets = new Map<string, Entry>();
  private servers = new Map<string, LoadedCertificate | undefined>();
  private ingresses: readonly RouteIngress[] = [];
  private defaultContext: SecureContext | undefined;
  /** The default certificate and key (PEM), for the server's options (a ClientHello without SNI). */
  defaultPem: { cert: string; key: string } | undefined;
  private running: Promise<void> | undefined;
  private again = false;

  constructor(
    private readonly read: SecretReader,
    private readonly log: Logger,
  ) {}

  async init(): Promise<void> {
    const d = await makeDefaultCertificate();
    this.defaultPem = d;
    this.defaultContext = createSecureContext(d);
  }

  /** The served Ingresses changed (or the refresh timer fired): read their Secrets again. */
  update(ingresses: readonly RouteIngress[]): Promise<void> {
    this.ingresses = ingresses;
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      try {
        do {
          this.again = false;
          await this.refresh(this.ingresses);
        } while (this.again);
      } finally {
        this.running = undefined;
      }
    })();
    return this.running;
  }

  /** The TLS context for an SNI name (the default one when no server has a certificate for it). */
  contextFor(servername: string | undefined): SecureContext | undefined {
    return certificateForName(this.servers, servername)?.context ?? this.defaultContext;
  }

  /** Whether a request host has a certificate of its own (ssl-redirect). */
  hasCertificate(host: string): boolean {
    return certificateForName(this.servers, host) !== undefined;
  }

  private async refresh(ingresses: readonly RouteIngress[]): Promise<void> {
    const refs = tlsSecretRefs(ingresses);
    const wanted = new Set(refs.map(secretKey));
    for (const k of [...this.secrets.keys()]) if (!wanted.has(k)) this.secrets.delete(k);
    await Promise.all(refs.map((r) => this.readSecret(r)));
    this.servers = serverCertificates(ingresses, (r) => this.secrets.get(secretKey(r))?.cert);
  }

  private async readSecret(ref: SecretRef): Promise<void> {
    const key = secretKey(ref);
    let data: Readonly<Record<string, string>> | undefined;
    try {
      data = await this.read(ref.namespace, ref.name);
    } catch (e) {
      // Forbidden: as missing. Anything else (the API unreachable): keep what we had.
      if (!(e instanceof KubeApiError && e.code === 403)) {
        this.log.warn('ingress tls: secret could not be read', { secret: key, error: errorMessage(e) });
        return;
      }
      data = undefined;
    }
    const hash = data ? createHash('sha256').update(data['tls.crt'] ?? '').update('\0').update(data['tls.key'] ?? '').digest('hex') : '';
    if (this.secrets.get(key)?.hash === hash) return;
    const loaded = loadCertificate(data);
    if ('error' in loaded) {
      this.log.warn('ingress tls: secret unusable, its hosts get the default certificate', { secret: key, error: loaded.error });
      this.secrets.set(key, { hash, cert: undefined });
    } else {
      this.log.info('ingress tls: certificate loaded', { secret: key, subject: loaded.subject });
      this.secrets.set(key, { hash, cert: loaded });
    }
  }
}
