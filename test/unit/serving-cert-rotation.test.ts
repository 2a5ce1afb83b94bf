import { webcrypto, X509Certificate } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { describe, expect, it } from 'vitest';
import { renewalTime } from '../../node-agent/identity';

/* When the agent renews its kubelet serving certificate (node-agent/identity.ts): at 80% of its lifetime. */
x509.cryptoProvider.set(webcrypto as never);

async function certValid(from: string, to: string): Promise<string> {
  const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
  const keys = (await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const cert = await x509.X509CertificateGenerator.createSelfSigned({ serialNumber: '01', name: 'CN=system:node:a', notBefore: new Date(from), notAfter: new Date(to), keys, signingAlgorithm: alg });
  return cert.toString('pem');
}

describe('renewalTime', () => {
  it.each([
    ['2026-01-01T00:00:00Z', '2026-01-11T00:00:00Z', '2026-01-09T00:00:00.000Z'],
    ['2026-01-01T00:00:00Z', '2027-01-01T00:00:00Z', '2026-10-20T00:00:00.000Z'],
  ])('valid %s to %s: renew at %s', async (from, to, at) => {
    expect(renewalTime(await certValid(from, to)).toISOString()).toBe(at);
  });
});

describe('KubeletServer.setServingCertificate', () => {
  it('serves the renewed certificate from the next handshake on, still requiring the API\'s client certificate', async () => {
    const { makePki, nodeCsr, checkCsr, signNodeServingCert } = await import('../../shared/auth/node-pki');
    const { KubeletServer } = await import('../../node-agent/kubelet-server');
    const tls = await import('node:tls');
    const pki = await makePki('rotation');
    const issue = async () => {
      const { csr, key } = await nodeCsr('a');
      const checked = await checkCsr(csr);
      if ('error' in checked) throw new Error(checked.error);
      return { key, cert: await signNodeServingCert(pki, 'a', checked.csr) };
    };
    const [first, second] = await Promise.all([issue(), issue()]);
    const log = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined, child: () => log } as never;
    const server = new KubeletServer({ logs: {} as never, tls: { ...first, clientCA: pki.clusterCaCert }, host: '127.0.0.1', log });
    const port = await server.listen();
    // The certificate the endpoint served, once it answered an HTTP request; 'refused' when the
    // connection ended without an answer (no client certificate of the cluster's CA).
    const served = (withClientCert: boolean) =>
      new Promise<string>((resolve) => {
        let fp = '';
        const s = tls.connect({ host: '127.0.0.1', port, ca: pki.nodeCaCert, servername: 'a', ...(withClientCert ? { cert: pki.apiClientCert, key: pki.apiClientKey } : {}) }, () => {
          fp = s.getPeerCertificate().fingerprint256;
          s.write('GET /healthz HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
        });
        s.once('data', () => {
          resolve(fp);
          s.destroy();
        });
        s.on('error', () => resolve('refused'));
        s.on('close', () => resolve('refused'));
      });
    const fingerprint = (pem: string) => new X509Certificate(pem).fingerprint256;
    try {
      expect(await served(true)).toBe(fingerprint(first.cert));
      server.setServingCertificate(second.key, second.cert);
      expect(await served(true)).toBe(fingerprint(second.cert));
      expect(await served(false)).toBe('refused');
    } finally {
      await server.close();
    }
  });
});
