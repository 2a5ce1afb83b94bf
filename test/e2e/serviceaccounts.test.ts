import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLocalJWKSet, decodeJwt, importJWK, jwtVerify, SignJWT, type JWK } from 'jose';
import { describe, expect, inject, it } from 'vitest';
import { createTenantTokens, writeKubeconfigFile } from '../../infra/local/stack';
import { createNodeToken } from '../../shared/auth/node-identity';
import { loadConfig } from '../../shared/config';
import { resourceByName } from '../../shared/resources';
import { createDocumentClient } from '../../shared/store/dynamo';
import { ObjectStore } from '../../shared/store/store';
import { readSigningKeys } from '../../shared/serviceaccounts/keys';
import { Api, eventually, uniqueName } from '../helpers/api';
import { kubectl } from '../helpers/kubectl';

/*
 * Issue #16, ServiceAccounts: the kind and its `default` in every namespace; TokenRequest
 * (`kubectl create token`) and the JWTs it returns authenticating as the ServiceAccount, until
 * they expire or their ServiceAccount or bound pod goes; OIDC discovery without credentials;
 * kube-root-ca.crt in every namespace. Each test has a tenant of its own.
 */
const SYSTEM = ['default', 'kube-node-lease', 'kube-public', 'kube-system'];
const config = () => loadConfig();
const tenantName = (p: string) => uniqueName(p).replace(/[^a-z0-9-]/g, '');

async function newCluster(prefix: string) {
  const stack = inject('stack');
  const tenant = tenantName(prefix);
  const { adminToken } = await createTenantTokens(createDocumentClient(config()), config(), tenant);
  const kc = join(await mkdtemp(join(tmpdir(), 'stratus-sa-')), 'kubeconfig');
  await writeKubeconfigFile(kc, { apiUrl: stack.apiUrl, caCert: stack.caCert, tenant, token: adminToken });
  return { tenant, adminToken, kc, api: Api.forTenant(tenant, adminToken) };
}

const k = (kc: string, ...args: string[]) => kubectl(['--kubeconfig', kc, ...args]);
const as = (tenant: string, token: string) => Api.forTenant(tenant, token);
// `/api` is discovery, which every authenticated user may read (RBAC's system:discovery): 200 means authenticated, 401 not.
const status = async (api: Api, path = '/api') => (await api.get(path)).status;

describe('ServiceAccounts', { timeout: 180_000 }, () => {
  it('a new cluster has a default ServiceAccount and kube-root-ca.crt in each system namespace before any request', async () => {
    // Prepare / Act
    const { tenant } = await newCluster('sadef');
    // Assess: the store itself
    const store = new ObjectStore(createDocumentClient(config()), config());
    for (const ns of SYSTEM) {
      expect(await store.get(tenant, resourceByName('serviceaccounts'), ns, 'default'), ns).toBeDefined();
      const cm = await store.get(tenant, resourceByName('configmaps'), ns, 'kube-root-ca.crt');
      expect((cm?.data as Record<string, string>)['ca.crt'], ns).toBe(inject('stack').caCert);
    }
  });

  it('kubectl: a new namespace gets its default ServiceAccount and CA; both come back when deleted; get sa prints NAME SECRETS AGE', async () => {
    // Prepare
    const { kc, api } = await newCluster('sans');
    expect((await k(kc, 'create', 'namespace', 'team')).code).toBe(0);
    // Act / Assess
    const sa = await eventually(async () => ((await api.get('/api/v1/namespaces/team/serviceaccounts/default')).status === 200 ? true : undefined), 30_000, 'default sa');
    expect(sa).toBe(true);
    await eventually(async () => ((await api.get('/api/v1/namespaces/team/configmaps/kube-root-ca.crt')).status === 200 ? true : undefined), 30_000, 'root ca');
    const get = await k(kc, 'get', 'sa', '-n', 'team');
    expect(get.code, get.stderr).toBe(0);
    expect(get.stdout).toMatch(/^NAME\s+SECRETS\s+AGE\ndefault\s+0\s+\S+\n$/);
    const old = (await api.get('/api/v1/namespaces/team/serviceaccounts/default')).body.metadata.uid as string;
    expect((await k(kc, 'delete', 'sa', 'default', '-n', 'team')).code).toBe(0);
    expect((await k(kc, 'delete', 'configmap', 'kube-root-ca.crt', '-n', 'team')).code).toBe(0);
    await eventually(async () => {
      const r = await api.get('/api/v1/namespaces/team/serviceaccounts/default');
      return r.status === 200 && r.body.metadata.uid !== old ? true : undefined;
    }, 30_000, 'default sa made again');
    await eventually(async () => ((await api.get('/api/v1/namespaces/team/configmaps/kube-root-ca.crt')).status === 200 ? true : undefined), 30_000, 'root ca made again');
  });

  it('kubectl create sa / create token: the token authenticates as system:serviceaccount:NS:NAME, only in its cluster, until its ServiceAccount goes', async () => {
    // Prepare
    const { tenant, kc } = await newCluster('satok');
    const other = await newCluster('saother');
    expect((await k(kc, 'create', 'sa', 'robot')).code).toBe(0);
    // Act
    const created = await k(kc, 'create', 'token', 'robot', '--duration', '20m');
    // Assess
    expect(created.code, created.stderr).toBe(0);
    const token = created.stdout.trim();
    const claims = decodeJwt(token);
    const issuer = `${inject('stack').apiUrl}/clusters/${tenant}`;
    expect(claims).toMatchObject({ iss: issuer, sub: 'system:serviceaccount:default:robot', aud: [issuer], 'kubernetes.io': { namespace: 'default', serviceaccount: { name: 'robot' } } });
    expect(claims.exp! - claims.iat!).toBe(1200);
    expect(await status(as(tenant, token))).toBe(200);
    // At another cluster's path it is a token that cluster does not know: 401, naming no one.
    const cross = await new Api(`${inject('stack').apiUrl}/clusters/${other.tenant}`, token, inject('stack').caCert).get('/api/v1/namespaces');
    expect(cross.status).toBe(401);
    expect(cross.body.message).toBe('Unauthorized');
    const noCluster = await new Api(inject('stack').apiUrl, token, inject('stack').caCert).get('/api');
    expect(noCluster.status, noCluster.text).toBe(200);
    // kubectl with the token, once RBAC lets the account read (view in its namespace)
    expect((await k(kc, 'create', 'rolebinding', 'robot-view', '--clusterrole=view', '--serviceaccount=default:robot')).code).toBe(0);
    const tkc = join(await mkdtemp(join(tmpdir(), 'stratus-sa-')), 'kubeconfig');
    await writeKubeconfigFile(tkc, { apiUrl: inject('stack').apiUrl, caCert: inject('stack').caCert, tenant, token });
    // An RBAC change reaches every api instance within its cache's 1 s staleness.
    const listed = await eventually(async () => {
      const r = await k(tkc, 'get', 'sa');
      return r.code === 0 ? r : undefined;
    }, 10_000, 'get sa with the view binding');
    expect(listed.stdout).toContain('robot');

    // Too short a duration: Kubernetes' words
    const short = await k(kc, 'create', 'token', 'robot', '--duration', '5m');
    expect(short.code).not.toBe(0);
    expect(short.stderr).toContain('spec.expirationSeconds: Invalid value: 300: may not specify a duration less than 10 minutes');
    const missing = await k(kc, 'create', 'token', 'nobody');
    expect(missing.stderr).toContain('serviceaccounts "nobody" not found');

    // Act: the ServiceAccount goes, then comes back under the same name (a new uid)
    expect((await k(kc, 'delete', 'sa', 'robot')).code).toBe(0);
    // Assess
    await eventually(async () => ((await status(as(tenant, token))) === 401 ? true : undefined), 30_000, 'token refused');
    expect((await k(kc, 'create', 'sa', 'robot')).code).toBe(0);
    await new Promise((r) => setTimeout(r, 2_500)); // past the authenticator's cache
    expect(await status(as(tenant, token))).toBe(401);
  });

  it('a token bound to a pod works while the pod exists and is refused once it is gone; a bad binding is refused', async () => {
    // Prepare
    const { tenant, kc, api } = await newCluster('sabound');
    expect((await k(kc, 'create', 'sa', 'robot')).code).toBe(0);
    const pod = (name: string, sa: string) => api.post('/api/v1/namespaces/default/pods', { metadata: { name }, spec: { serviceAccountName: sa, containers: [{ name: 'c', image: 'stratus-test/busybox:1.36' }] } });
    expect((await pod('p1', 'robot')).status).toBe(201);
    expect((await pod('p2', 'default')).status).toBe(201);
    // Act
    const created = await k(kc, 'create', 'token', 'robot', '--bound-object-kind', 'Pod', '--bound-object-name', 'p1');
    // Assess
    expect(created.code, created.stderr).toBe(0);
    const token = created.stdout.trim();
    const p1 = (await api.get('/api/v1/namespaces/default/pods/p1')).body;
    expect(decodeJwt(token)['kubernetes.io']).toMatchObject({ pod: { name: 'p1', uid: p1.metadata.uid } });
    expect(await status(as(tenant, token))).toBe(200);
    const otherSa = await k(kc, 'create', 'token', 'robot', '--bound-object-kind', 'Pod', '--bound-object-name', 'p2');
    expect(otherSa.stderr).toContain('cannot bind token for serviceaccount "robot" to pod running with different serviceaccount name.');
    const noPod = await k(kc, 'create', 'token', 'robot', '--bound-object-kind', 'Pod', '--bound-object-name', 'nope');
    expect(noPod.stderr).toContain('pods "nope" not found');
    const wrongUid = await api.post('/api/v1/namespaces/default/serviceaccounts/robot/token', { spec: { boundObjectRef: { kind: 'Pod', apiVersion: 'v1', name: 'p1', uid: 'not-the-uid' } } });
    expect(wrongUid.status).toBe(409);
    // Act: the pod goes
    expect((await k(kc, 'delete', 'pod', 'p1', '--grace-period=0', '--force')).code).toBe(0);
    // Assess
    await eventually(async () => ((await status(as(tenant, token))) === 401 ? true : undefined), 30_000, 'bound token refused');
  });

  it('a node may request tokens only for pods bound to it', async () => {
    // Prepare: a credential of node `local` (system:node:local), as a joined agent holds
    const { tenant, api } = await newCluster('sanode');
    const nodeToken = await createNodeToken(createDocumentClient(config()), config(), tenant, 'local');
    const mk = (name: string, nodeName: string) =>
      api.post('/api/v1/namespaces/default/pods', { metadata: { name }, spec: { nodeName, containers: [{ name: 'c', image: 'stratus-test/busybox:1.36' }] } });
    expect((await mk('mine', 'local')).status).toBe(201);
    expect((await mk('theirs', 'elsewhere')).status).toBe(201);
    const node = as(tenant, nodeToken);
    const ask = (pod?: string) => node.post('/api/v1/namespaces/default/serviceaccounts/default/token', { spec: pod ? { boundObjectRef: { kind: 'Pod', apiVersion: 'v1', name: pod } } : {} });
    // Act / Assess
    const mine = await ask('mine');
    expect(mine.status, mine.text).toBe(201);
    expect(typeof mine.body.status.token).toBe('string');
    const theirs = await ask('theirs');
    expect(theirs.status).toBe(403);
    expect(theirs.body.message).toBe('serviceaccounts "default" is forbidden: node requested token bound to a pod scheduled on a different node');
    const unbound = await ask();
    expect(unbound.status).toBe(403);
    expect(unbound.body.message).toBe('serviceaccounts "default" is forbidden: node requested token not bound to a pod');
    const pending = await api.post('/api/v1/namespaces/default/pods', { metadata: { name: 'pending' }, spec: { containers: [{ name: 'c', image: 'stratus-test/busybox:1.36' }] } });
    expect(pending.status).toBe(201);
    expect((await ask('pending')).status).toBe(403);
    // A node can read no ServiceAccount list or create ServiceAccounts.
    expect((await node.post('/api/v1/namespaces/default/serviceaccounts', { metadata: { name: 'x' } })).status).toBe(403);
  });

  it('expired, forged and garbage tokens get 401', async () => {
    // Prepare: a token signed with the cluster's own key, expired a minute ago
    const { tenant } = await newCluster('saexp');
    const doc = createDocumentClient(config());
    const key = (await readSigningKeys(doc, config(), tenant))![0]!;
    const sa = (await as(tenant, (await newClusterToken(tenant)) ?? '').get('/api/v1/namespaces/default/serviceaccounts/default')).body;
    const issuer = `${inject('stack').apiUrl}/clusters/${tenant}`;
    const sign = async (exp: number, signer: JWK = key.privateJwk) =>
      new SignJWT({ 'kubernetes.io': { namespace: 'default', serviceaccount: { name: 'default', uid: sa.metadata.uid } } })
        .setProtectedHeader({ alg: 'ES256', kid: key.kid })
        .setIssuer(issuer)
        .setAudience(issuer)
        .setSubject('system:serviceaccount:default:default')
        .setIssuedAt()
        .setExpirationTime(exp)
        .sign(await importJWK(signer, 'ES256'));
    const now = Math.floor(Date.now() / 1000);
    // Assess: the same token unexpired works (so the refusals below are about what they vary)
    expect(await status(as(tenant, await sign(now + 600)))).toBe(200);
    expect(await status(as(tenant, await sign(now - 60)))).toBe(401);
    const { privateKey } = await import('jose').then((j) => j.generateKeyPair('ES256', { extractable: true }));
    const foreign = await import('jose').then((j) => j.exportJWK(privateKey));
    expect(await status(as(tenant, await sign(now + 600, foreign)))).toBe(401);
    expect(await status(as(tenant, 'eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.'))).toBe(401);
    expect(await status(as(tenant, 'eyJhbGciOiJFUzI1NiJ9.bm90IGpzb24.c2ln'))).toBe(401);
  });

  async function newClusterToken(tenant: string): Promise<string | undefined> {
    const { createToken } = await import('../../shared/auth/tokens');
    return createToken(createDocumentClient(config()), config(), { tenant, user: 'admin', groups: ['system:masters'] });
  }

  it('a legacy service-account-token Secret is filled with a token that works until the Secret goes', async () => {
    // Prepare
    const { tenant, kc, api } = await newCluster('salegacy');
    expect((await k(kc, 'create', 'sa', 'build-bot')).code).toBe(0);
    const manifest = [
      'apiVersion: v1',
      'kind: Secret',
      'metadata:',
      '  name: build-bot-token',
      '  annotations:',
      '    kubernetes.io/service-account.name: build-bot',
      'type: kubernetes.io/service-account-token',
      '',
    ].join('\n');
    // Act
    const applied = await kubectl(['--kubeconfig', kc, 'apply', '-f', '-'], { input: manifest });
    expect(applied.code, applied.stderr).toBe(0);
    const secret = await eventually(async () => {
      const r = await api.get('/api/v1/namespaces/default/secrets/build-bot-token');
      return r.body?.data?.token ? r.body : undefined;
    }, 30_000, 'token filled');
    // Assess
    const sa = (await api.get('/api/v1/namespaces/default/serviceaccounts/build-bot')).body;
    expect(secret.metadata.annotations['kubernetes.io/service-account.uid']).toBe(sa.metadata.uid);
    expect(Buffer.from(secret.data.namespace, 'base64').toString()).toBe('default');
    expect(Buffer.from(secret.data['ca.crt'], 'base64').toString()).toBe(inject('stack').caCert);
    const token = Buffer.from(secret.data.token, 'base64').toString();
    expect(decodeJwt(token)).toMatchObject({ sub: 'system:serviceaccount:default:build-bot', 'kubernetes.io': { secret: { name: 'build-bot-token', uid: secret.metadata.uid } } });
    expect(await status(as(tenant, token))).toBe(200);
    // Act: the Secret goes
    expect((await k(kc, 'delete', 'secret', 'build-bot-token')).code).toBe(0);
    // Assess
    await eventually(async () => ((await status(as(tenant, token))) === 401 ? true : undefined), 30_000, 'legacy token refused');
  });

  it('OIDC discovery is served without credentials and verifies the cluster tokens; an unknown cluster is 404', async () => {
    // Prepare
    const { tenant, kc } = await newCluster('saoidc');
    const token = (await k(kc, 'create', 'token', 'default', '-n', 'kube-system')).stdout.trim();
    const anon = new Api(`${inject('stack').apiUrl}/clusters/${tenant}`, undefined, inject('stack').caCert);
    // Act
    const conf = await anon.get('/.well-known/openid-configuration');
    const jwks = await anon.get('/openid/v1/jwks');
    // Assess
    const issuer = `${inject('stack').apiUrl}/clusters/${tenant}`;
    expect(conf.status).toBe(200);
    expect(conf.body).toEqual({ issuer, jwks_uri: `${issuer}/openid/v1/jwks`, response_types_supported: ['id_token'], subject_types_supported: ['public'], id_token_signing_alg_values_supported: ['ES256'] });
    expect(jwks.status).toBe(200);
    expect(jwks.headers['content-type']).toBe('application/jwk-set+json');
    for (const key of jwks.body.keys) expect(key).not.toHaveProperty('d');
    // As an outside identity provider checks it: the JWKS alone verifies the token.
    const { payload } = await jwtVerify(token, createLocalJWKSet(jwks.body), { issuer, audience: issuer });
    expect(payload.sub).toBe('system:serviceaccount:kube-system:default');
    const unknown = new Api(`${inject('stack').apiUrl}/clusters/${tenantName('nosuch')}`, undefined, inject('stack').caCert);
    expect((await unknown.get('/.well-known/openid-configuration')).status).toBe(404);
    expect((await unknown.get('/openid/v1/jwks')).status).toBe(404);
    // Anything else still needs credentials.
    expect((await anon.get('/api/v1/namespaces')).status).toBe(401);
  });
});
