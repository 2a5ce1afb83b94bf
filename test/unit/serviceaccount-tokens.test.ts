import { describe, expect, it } from 'vitest';
import { decodeJwt, decodeProtectedHeader, SignJWT } from 'jose';
import { cryptoKey, newSigningKey, publicJwks, type ClusterKeys } from '../../shared/serviceaccounts/keys';
import { issueToken, issuerFor, looksLikeJwt, serviceAccountUser, tenantOfIssuer, verifyToken } from '../../shared/serviceaccounts/jwt';
import { validateTokenRequest } from '../../shared/serviceaccounts/token-request';
import { discoveryRoute, openidConfiguration } from '../../shared/serviceaccounts/oidc';
import { namespaceDefaultsKeysFor } from '../../functions/controllers/serviceaccounts';
import { legacyTokenKeysFor } from '../../functions/controllers/serviceaccount-tokens';
import type { ObjectChange } from '../../shared/store/changes';
import { apiAccessVolumeName, TOKEN_MOUNT_PATH, withApiAccessVolume } from '../../shared/registry/plugins/service-account';
import { needsRefresh, TokenManager } from '../../node-agent/service-account-tokens';

const keys = async (): Promise<ClusterKeys> => ({ keys: [await newSigningKey()] });
const claims = { namespace: 'ns1', serviceAccount: { name: 'robot', uid: 'sa-uid' } };
const opts = { audiences: [issuerFor('t1')], expirationSeconds: 3600 };

describe('service account JWTs', () => {
  it('carry Kubernetes claims and verify with the cluster key', async () => {
    const k = await keys();
    const now = new Date('2026-01-01T00:00:00Z');
    const { token, expirationTimestamp } = await issueToken(k, 't1', { ...claims, bound: { kind: 'Pod', name: 'p', uid: 'pod-uid' }, node: { name: 'n1' } }, { ...opts, now });
    expect(expirationTimestamp.toISOString()).toBe('2026-01-01T01:00:00.000Z');
    const p = decodeJwt(token);
    expect(p).toMatchObject({
      iss: issuerFor('t1'),
      sub: 'system:serviceaccount:ns1:robot',
      aud: [issuerFor('t1')],
      iat: now.getTime() / 1000,
      nbf: now.getTime() / 1000,
      exp: now.getTime() / 1000 + 3600,
      'kubernetes.io': { namespace: 'ns1', serviceaccount: { name: 'robot', uid: 'sa-uid' }, pod: { name: 'p', uid: 'pod-uid' }, node: { name: 'n1' } },
    });
    expect(typeof p.jti).toBe('string');
    expect(decodeProtectedHeader(token)).toEqual({ alg: 'ES256', kid: k.keys[0]!.kid });
    expect(await verifyToken(k, 't1', token, new Date(now.getTime() + 1000))).toMatchObject({ namespace: 'ns1', serviceAccount: claims.serviceAccount, pod: { name: 'p', uid: 'pod-uid' } });
  });

  it.each([
    ['another cluster key', async (k: ClusterKeys, token: string) => verifyToken(await keys(), 't1', token, new Date())],
    ['another cluster name (issuer)', async (k: ClusterKeys, token: string) => verifyToken(k, 't2', token, new Date())],
    ['expired', async (k: ClusterKeys, token: string) => verifyToken(k, 't1', token, new Date(Date.now() + 3601_000))],
    ['not yet valid', async (k: ClusterKeys, token: string) => verifyToken(k, 't1', token, new Date(Date.now() - 120_000))],
    ['a tampered payload', async (k: ClusterKeys, token: string) => {
      const [h, p, s] = token.split('.');
      const payload = JSON.parse(Buffer.from(p!, 'base64url').toString()) as Record<string, unknown>;
      payload.sub = 'system:serviceaccount:kube-system:admin';
      return verifyToken(k, 't1', `${h}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.${s}`, new Date());
    }],
    ['alg none', async (k: ClusterKeys, token: string) => {
      const [, p] = token.split('.');
      return verifyToken(k, 't1', `${Buffer.from('{"alg":"none"}').toString('base64url')}.${p}.`, new Date());
    }],
  ])('are refused when checked against %s', async (_what, check) => {
    const k = await keys();
    const { token } = await issueToken(k, 't1', claims, opts);
    expect(await verifyToken(k, 't1', token, new Date())).toBeDefined();
    expect(await check(k, token)).toBeUndefined();
  });

  it('refuses a token for another audience or whose subject disagrees with its claims', async () => {
    const k = await keys();
    const { token } = await issueToken(k, 't1', claims, { ...opts, audiences: ['sts.amazonaws.com'] });
    expect(await verifyToken(k, 't1', token)).toBeUndefined();
    const forged = await new SignJWT({ 'kubernetes.io': { namespace: 'ns1', serviceaccount: { name: 'robot', uid: 'u' } } })
      .setProtectedHeader({ alg: 'ES256', kid: k.keys[0]!.kid })
      .setIssuer(issuerFor('t1'))
      .setAudience(issuerFor('t1'))
      .setSubject('system:serviceaccount:kube-system:other')
      .setExpirationTime('1h')
      .sign(await cryptoKey(k.keys[0]!, 'private'));
    expect(await verifyToken(k, 't1', forged)).toBeUndefined();
  });

  it('the JWKS holds public members only', async () => {
    const k = await keys();
    const jwks = publicJwks(k);
    expect(jwks.keys).toHaveLength(1);
    expect(jwks.keys[0]).not.toHaveProperty('d');
    expect(jwks.keys[0]).toMatchObject({ kty: 'EC', crv: 'P-256', alg: 'ES256', use: 'sig', kid: k.keys[0]!.kid });
  });

  it.each([
    ['a.b.c', false],
    ['st_abcdef', false],
    ['eyJhbGciOiJFUzI1NiJ9.e30.sig', true],
    ['eyJ.e30.sig', false],
  ])('looksLikeJwt(%s) is %s', (t, want) => expect(looksLikeJwt(t)).toBe(want));

  it.each([
    ['https://h:1/clusters/t1', 't1'],
    ['https://h/clusters/a%2Fb', 'a/b'],
    ['https://h/other', undefined],
  ])('tenantOfIssuer(%s) is %s', (iss, t) => expect(tenantOfIssuer(iss)).toBe(t));

  it('issuer and identity as Kubernetes names them', () => {
    expect(issuerFor('t1', { STRATUS_API_URL: 'https://127.0.0.1:8443/' })).toBe('https://127.0.0.1:8443/clusters/t1');
    expect(issuerFor('t1', { STRATUS_ISSUER_URL: 'https://oidc.example.com', STRATUS_API_URL: 'https://x' })).toBe('https://oidc.example.com/clusters/t1');
    expect(serviceAccountUser('ns1', 'robot')).toEqual({
      user: 'system:serviceaccount:ns1:robot',
      groups: ['system:serviceaccounts', 'system:serviceaccounts:ns1', 'system:authenticated'],
    });
  });
});

describe('TokenRequest validation', () => {
  it.each([
    [599, 'may not specify a duration less than 10 minutes'],
    [600, undefined],
    [3600, undefined],
    [2 ** 32 + 1, 'may not specify a duration larger than 2^32 seconds'],
  ])('expirationSeconds %d', (s, why) => {
    const causes = validateTokenRequest(s);
    if (why) expect(causes).toEqual([{ reason: 'FieldValueInvalid', message: `Invalid value: ${s}: ${why}`, field: 'spec.expirationSeconds' }]);
    else expect(causes).toEqual([]);
  });
});

describe('OIDC discovery', () => {
  it('routes and configuration', () => {
    expect(discoveryRoute('/.well-known/openid-configuration')).toBe('configuration');
    expect(discoveryRoute('/openid/v1/jwks')).toBe('jwks');
    expect(discoveryRoute('/api/v1')).toBeUndefined();
    const c = openidConfiguration('t1');
    expect(c).toEqual({
      issuer: issuerFor('t1'),
      jwks_uri: `${issuerFor('t1')}/openid/v1/jwks`,
      response_types_supported: ['id_token'],
      subject_types_supported: ['public'],
      id_token_signing_alg_values_supported: ['ES256'],
    });
  });
});

describe('serviceaccounts and root-ca-cert-publisher keys', () => {
  const change = (eventName: ObjectChange['eventName'], resource: string, name: string, namespace?: string): ObjectChange =>
    ({ tenant: 't', group: '', resource, eventName, oldObject: { metadata: { name, namespace } }, newObject: eventName === 'REMOVE' ? undefined : { metadata: { name, namespace } } }) as unknown as ObjectChange;
  it.each([
    [change('INSERT', 'namespaces', 'team'), ['serviceaccounts|team|default', 'root-ca-cert-publisher|team|kube-root-ca.crt']],
    [change('MODIFY', 'namespaces', 'team'), []],
    [change('REMOVE', 'serviceaccounts', 'default', 'team'), ['serviceaccounts|team|default']],
    [change('REMOVE', 'serviceaccounts', 'robot', 'team'), []],
    [change('REMOVE', 'configmaps', 'kube-root-ca.crt', 'team'), ['root-ca-cert-publisher|team|kube-root-ca.crt']],
    [change('REMOVE', 'configmaps', 'other', 'team'), []],
  ])('%#', (c, want) => {
    expect(namespaceDefaultsKeysFor(c).map((k) => `${k.controller}|${k.namespace}|${k.name}`)).toEqual(want);
  });
});

describe('kube-api-access volume (ServiceAccount admission)', () => {
  it('adds the volume and mounts it read-only in every container and init container', () => {
    const spec = withApiAccessVolume({ containers: [{ name: 'a' }, { name: 'b', volumeMounts: [{ name: 'x', mountPath: '/x' }] }], initContainers: [{ name: 'i' }], volumes: [{ name: 'x', emptyDir: {} }] }, 'kube-api-access-abcde');
    const mount = { name: 'kube-api-access-abcde', readOnly: true, mountPath: TOKEN_MOUNT_PATH };
    expect(spec.containers).toEqual([{ name: 'a', volumeMounts: [mount] }, { name: 'b', volumeMounts: [{ name: 'x', mountPath: '/x' }, mount] }]);
    expect(spec.initContainers).toEqual([{ name: 'i', volumeMounts: [mount] }]);
    expect((spec.volumes as { name: string }[]).map((v) => v.name)).toEqual(['x', 'kube-api-access-abcde']);
  });
  it('leaves a pod that mounts something at the token path alone', () => {
    const spec = { containers: [{ name: 'a', volumeMounts: [{ name: 'mine', mountPath: TOKEN_MOUNT_PATH }] }] };
    expect(withApiAccessVolume(spec, 'kube-api-access-abcde')).toBe(spec);
  });
  it('names volumes as Kubernetes does', () => {
    for (let i = 0; i < 20; i++) expect(apiAccessVolumeName()).toMatch(/^kube-api-access-[bcdfghjklmnpqrstvwxz2456789]{5}$/);
  });
});

describe('the agent token manager', () => {
  it.each([
    [0, false],
    [799_000, false],
    [800_000, true],
    [990_000, true],
  ])('a 1000 s token held %d ms: refresh %s', (at, want) => expect(needsRefresh({ issuedAt: 0, expiresAt: 1_000_000 }, at)).toBe(want));
  it('a short token is refreshed a minute before it expires whatever its age', () => expect(needsRefresh({ issuedAt: 0, expiresAt: 100_000 }, 41_000)).toBe(true));
  it('a one-hour token is refreshed at 80% of its life', () => {
    expect(needsRefresh({ issuedAt: 0, expiresAt: 3_600_000 }, 2_879_000)).toBe(false);
    expect(needsRefresh({ issuedAt: 0, expiresAt: 3_600_000 }, 2_880_000)).toBe(true);
  });
  it('asks for a token bound to the pod, reuses it, and asks again once it has aged', async () => {
    let now = 1_000_000;
    const calls: { path: string; body: unknown }[] = [];
    const api = {
      post: async <T,>(path: string, body: unknown): Promise<T> => {
        calls.push({ path, body });
        return { status: { token: `t${calls.length}`, expirationTimestamp: new Date(now + 3_607_000).toISOString() } } as T;
      },
    };
    const m = new TokenManager(api as never, () => now);
    const pod = { namespace: 'ns', name: 'p', uid: 'u1', serviceAccountName: 'sa' };
    expect(await m.serviceAccountToken(pod, undefined, 3607)).toBe('t1');
    expect(await m.serviceAccountToken(pod, undefined, 3607)).toBe('t1');
    now += 2_900_000;
    expect(await m.serviceAccountToken(pod, undefined, 3607)).toBe('t2');
    expect(calls[0]).toEqual({
      path: '/api/v1/namespaces/ns/serviceaccounts/sa/token',
      body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { expirationSeconds: 3607, boundObjectRef: { kind: 'Pod', apiVersion: 'v1', name: 'p', uid: 'u1' } } },
    });
  });
});

describe('serviceaccount-tokens keys', () => {
  const secret = (eventName: ObjectChange['eventName'], type: string) =>
    ({ tenant: 't', group: '', resource: 'secrets', eventName, newObject: { metadata: { name: 's', namespace: 'ns' }, type } }) as unknown as ObjectChange;
  it.each([
    [secret('INSERT', 'kubernetes.io/service-account-token'), 1],
    [secret('MODIFY', 'kubernetes.io/service-account-token'), 0],
    [secret('INSERT', 'Opaque'), 0],
  ])('%#', (c, n) => expect(legacyTokenKeysFor(c)).toHaveLength(n));
});
