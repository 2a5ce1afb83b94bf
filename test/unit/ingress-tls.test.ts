import { generate } from 'selfsigned';
import { describe, expect, it } from 'vitest';
import { ingressLoadBalancer } from '../../functions/controllers/ingress-status';
import type { RouteIngress } from '../../node-agent/network/ingress-routes';
import { certificateForName, loadCertificate, namesCover, redirectsToTls, serverCertificates, tlsSecretRefs } from '../../node-agent/network/ingress-tls';
import type { KubeObject } from '../../shared/resources';

/* The Ingress proxy's TLS rules (node-agent/network/ingress-tls.ts): pure table tests. */

describe('namesCover (a certificate\'s DNS names against a host)', () => {
  it.each([
    [['foo.example.com'], 'foo.example.com', true],
    [['FOO.example.com'], 'foo.EXAMPLE.com', true],
    [['foo.example.com'], 'bar.example.com', false],
    [['*.example.com'], 'foo.example.com', true],
    [['*.example.com'], 'a.b.example.com', false],
    [['*.example.com'], 'example.com', false],
    [['*.example.com'], '*.example.com', true],
    [['foo.example.com'], '*.example.com', false],
    [['a.com', '*.b.com'], 'x.b.com', true],
    [[], 'foo.example.com', false],
  ] as const)('%j covers %s → %s', (names, host, want) => {
    expect(namesCover(names, host)).toBe(want);
  });
});

const ing = (name: string, created: string, spec: RouteIngress['spec'], annotations?: Record<string, string>): RouteIngress => ({
  metadata: { namespace: 'default', name, creationTimestamp: created, ...(annotations ? { annotations } : {}) },
  spec,
});
const rule = (host: string) => ({ host, http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: 's', port: { number: 80 } } } }] } });

describe('serverCertificates and certificateForName (which certificate SNI picks)', () => {
  const certs: Record<string, { names: string[]; id: string }> = {
    'default/shop': { names: ['shop.example.com'], id: 'shop' },
    'default/wild': { names: ['*.example.com'], id: 'wild' },
    'default/other': { names: ['other.org'], id: 'other' },
    'default/newer': { names: ['shop.example.com'], id: 'newer' },
  };
  const lookup = (r: { namespace: string; name: string }) => certs[`${r.namespace}/${r.name}`];
  const ingresses = [
    ing('a', '2026-01-01T00:00:00Z', {
      tls: [{ hosts: ['shop.example.com'], secretName: 'shop' }, { hosts: ['mismatch.example.com'], secretName: 'other' }, { hosts: ['gone.example.com'], secretName: 'missing' }, { secretName: 'wild' }],
      rules: [rule('shop.example.com'), rule('api.example.com'), rule('mismatch.example.com'), rule('gone.example.com'), rule('plain.org'), { http: rule('x').http }],
    }),
    ing('b', '2026-01-02T00:00:00Z', { tls: [{ hosts: ['shop.example.com'], secretName: 'newer' }, { hosts: ['*.apps.example.com'], secretName: 'wildapps' }], rules: [rule('shop.example.com'), rule('*.apps.example.com'), rule('exact.apps.example.com')] }),
    ing('c', '2026-01-03T00:00:00Z', { rules: [rule('bare.apps.example.com')] }),
  ];
  certs['default/wildapps'] = { names: ['*.apps.example.com'], id: 'wildapps' };
  const servers = serverCertificates(ingresses, lookup);

  it.each([
    // The listed host's Secret, of the oldest Ingress with the host.
    ['shop.example.com', 'shop'],
    ['SHOP.example.com.', 'shop'],
    // No tls entry lists it: a Secret whose certificate covers it (the wildcard one).
    ['api.example.com', 'wild'],
    // Listed, but the certificate does not cover the host: the default certificate.
    ['mismatch.example.com', undefined],
    // Listed, the Secret does not exist: the default certificate, others unaffected.
    ['gone.example.com', undefined],
    // A rule host without TLS.
    ['plain.org', undefined],
    // No server of that name.
    ['unknown.example.com', undefined],
    ['', undefined],
    // A wildcard rule host: its server answers one more label, with its listed wildcard certificate.
    ['foo.apps.example.com', 'wildapps'],
    ['a.b.apps.example.com', undefined],
    // An exact server whose Ingress's tls Secret covers it (not listed).
    ['exact.apps.example.com', 'wildapps'],
    // An exact server wins over the wildcard one, even without a certificate of its own.
    ['bare.apps.example.com', undefined],
  ])('SNI %s → %s', (name, want) => {
    expect(certificateForName(servers, name)?.id).toBe(want);
  });

  it('a newer Ingress provides the certificate for a host whose older Ingress has none', () => {
    const s = serverCertificates([ing('old', '2026-01-01T00:00:00Z', { rules: [rule('shop.example.com')] }), ing('new', '2026-01-02T00:00:00Z', { tls: [{ hosts: ['shop.example.com'], secretName: 'newer' }], rules: [rule('shop.example.com')] })], lookup);
    expect(certificateForName(s, 'shop.example.com')?.id).toBe('newer');
  });

  it('tlsSecretRefs names each Secret once, in the Ingress\'s namespace', () => {
    expect(tlsSecretRefs([...ingresses, { metadata: { namespace: 'shop', name: 'c' }, spec: { tls: [{ secretName: 'shop' }, { hosts: ['x'] }] } }])).toEqual([
      { namespace: 'default', name: 'shop' },
      { namespace: 'default', name: 'other' },
      { namespace: 'default', name: 'missing' },
      { namespace: 'default', name: 'wild' },
      { namespace: 'default', name: 'newer' },
      { namespace: 'default', name: 'wildapps' },
      { namespace: 'shop', name: 'shop' },
    ]);
  });
});

describe('redirectsToTls (nginx.ingress.kubernetes.io/ssl-redirect, force-ssl-redirect)', () => {
  it.each([
    [undefined, true, false],
    [{ 'nginx.ingress.kubernetes.io/ssl-redirect': 'true' }, true, true],
    [{ 'nginx.ingress.kubernetes.io/ssl-redirect': 'true' }, false, false],
    [{ 'nginx.ingress.kubernetes.io/ssl-redirect': 'false' }, true, false],
    [{ 'nginx.ingress.kubernetes.io/force-ssl-redirect': 'true' }, false, true],
  ])('%j, host has a certificate %s → %s', (annotations, has, want) => {
    expect(redirectsToTls(ing('a', '', {}, annotations), has)).toBe(want);
  });
});

describe('loadCertificate (a Secret\'s tls.crt and tls.key)', () => {
  it('loads a matching pair and reads its names; refuses a missing key, a foreign key and garbage', async () => {
    const a = await generate([{ name: 'commonName', value: 'a.example.com' }], { keyType: 'ec', algorithm: 'sha256', extensions: [{ name: 'subjectAltName', altNames: [{ type: 2, value: 'a.example.com' }, { type: 2, value: '*.a.example.com' }] }] });
    const b = await generate([{ name: 'commonName', value: 'b.example.com' }], { keyType: 'ec', algorithm: 'sha256' });
    const ok = loadCertificate({ 'tls.crt': a.cert, 'tls.key': a.private });
    expect('error' in ok).toBe(false);
    if (!('error' in ok)) {
      expect(ok.subject).toBe('CN=a.example.com');
      expect(ok.names).toEqual(['a.example.com', '*.a.example.com']);
    }
    // Without SAN DNS names the subject CN is the name.
    const cnOnly = loadCertificate({ 'tls.crt': b.cert, 'tls.key': b.private });
    expect('error' in cnOnly ? cnOnly.error : cnOnly.names).toEqual(['b.example.com']);
    expect(loadCertificate(undefined)).toEqual({ error: 'secret not found' });
    expect(loadCertificate({ 'tls.crt': a.cert })).toEqual({ error: 'secret has no tls.crt and tls.key' });
    expect(loadCertificate({ 'tls.crt': a.cert, 'tls.key': b.private })).toMatchObject({ error: expect.stringMatching(/invalid certificate or key/) });
    expect(loadCertificate({ 'tls.crt': 'not a certificate', 'tls.key': a.private })).toMatchObject({ error: expect.stringMatching(/invalid certificate or key/) });
  });
});

describe('ingressLoadBalancer (status.loadBalancer.ingress ports: HTTP, then TLS)', () => {
  const node = (name: string, ip: string, port: number, tlsPort?: number): KubeObject => ({
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name, annotations: { 'stratus.dev/ingress-port': String(port), ...(tlsPort ? { 'stratus.dev/ingress-tls-port': String(tlsPort) } : {}) } },
    status: { addresses: [{ type: 'InternalIP', address: ip }], conditions: [{ type: 'Ready', status: 'True' }] },
  });
  it('lists each address once, its HTTP ports then its TLS ports', () => {
    expect(ingressLoadBalancer([node('a', '10.0.0.2', 40000, 30000), node('b', '10.0.0.2', 41000, 31000), node('c', '10.0.0.1', 8080)])).toEqual({
      ingress: [
        { ip: '10.0.0.1', ports: [{ port: 8080, protocol: 'TCP' }] },
        { ip: '10.0.0.2', ports: [{ port: 40000, protocol: 'TCP' }, { port: 41000, protocol: 'TCP' }, { port: 30000, protocol: 'TCP' }, { port: 31000, protocol: 'TCP' }] },
      ],
    });
  });
});
