import { methodNotAllowed, pathNotFound } from '../errors';
import type { ObjectStore } from '../store/store';
import { clusterKeys, publicJwks, SIGNING_ALG } from './keys';
import { issuerFor } from './jwt';

/*
 * Service account issuer discovery (Kubernetes' ServiceAccountIssuerDiscovery): the OpenID
 * provider configuration and the JWK Set of the cluster's public keys, at
 * `/clusters/NAME/.well-known/openid-configuration` and `/clusters/NAME/openid/v1/jwks`, served
 * without authentication so that an outside identity provider (AWS IAM's OIDC provider, as EKS
 * pod roles use) can trust the cluster's tokens. A cluster without keys is 404: an unknown
 * name never causes a write.
 */

export type OidcRoute = 'configuration' | 'jwks';

export function discoveryRoute(path: string): OidcRoute | undefined {
  if (path === '/.well-known/openid-configuration') return 'configuration';
  if (path === '/openid/v1/jwks') return 'jwks';
  return undefined;
}

export function openidConfiguration(tenant: string): Record<string, unknown> {
  const issuer = issuerFor(tenant);
  return {
    issuer,
    jwks_uri: `${issuer}/openid/v1/jwks`,
    response_types_supported: ['id_token'],
    subject_types_supported: ['public'],
    id_token_signing_alg_values_supported: [SIGNING_ALG],
  };
}

export async function serveOidc(
  route: OidcRoute,
  req: { method: string; path: string; cluster?: string },
  store: ObjectStore,
): Promise<{ statusCode: number; headers: Record<string, string>; body: string }> {
  if (req.method !== 'GET') throw methodNotAllowed(req.method);
  const tenant = req.cluster;
  const keys = tenant === undefined ? undefined : await clusterKeys(store.doc, store.config, tenant);
  if (tenant === undefined || !keys) throw pathNotFound(req.path);
  const headers = { 'cache-control': 'public, max-age=3600' };
  if (route === 'configuration') return { statusCode: 200, headers: { ...headers, 'content-type': 'application/json' }, body: JSON.stringify(openidConfiguration(tenant)) };
  return { statusCode: 200, headers: { ...headers, 'content-type': 'application/jwk-set+json' }, body: JSON.stringify(publicJwks(keys)) };
}
