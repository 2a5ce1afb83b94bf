import { webcrypto } from 'node:crypto';
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
