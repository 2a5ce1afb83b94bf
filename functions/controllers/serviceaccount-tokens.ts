import { resourceByName } from '../../shared/resources';
import type { ObjectChange } from '../../shared/store/changes';
import { rootCaPem } from '../../shared/serviceaccounts/defaults';
import { ensureSigningKeys } from '../../shared/serviceaccounts/keys';
import { issueToken, issuerFor } from '../../shared/serviceaccounts/jwt';
import type { ControllerContext } from './apply';
import type { ControllerKey } from './dispatch';

/*
 * Kubernetes' tokens controller, for the legacy long-lived tokens still asked for by hand: a
 * Secret of type kubernetes.io/service-account-token annotated
 * kubernetes.io/service-account.name gets `token`, `ca.crt` and `namespace` in its data and the
 * ServiceAccount's uid in kubernetes.io/service-account.uid. The token is a JWT bound to the
 * Secret (the authenticator refuses it once the Secret or its ServiceAccount is gone), valid for
 * LEGACY_TOKEN_SECONDS (Kubernetes' never expire). A Secret whose ServiceAccount does not exist,
 * or names another uid, is left unfilled (Kubernetes deletes it).
 */

export const SA_TOKEN_TYPE = 'kubernetes.io/service-account-token';
export const SA_NAME_ANNOTATION = 'kubernetes.io/service-account.name';
export const SA_UID_ANNOTATION = 'kubernetes.io/service-account.uid';
export const LEGACY_TOKEN_SECONDS = 365 * 24 * 3600;

export function legacyTokenKeysFor(c: ObjectChange): ControllerKey[] {
  const s = c.newObject;
  if (c.resource !== 'secrets' || c.eventName !== 'INSERT' || !s || s.type !== SA_TOKEN_TYPE) return [];
  return [{ controller: 'serviceaccount-tokens', namespace: s.metadata.namespace!, name: s.metadata.name! }];
}

export async function syncLegacyToken(ctx: ControllerContext, namespace: string, name: string): Promise<void> {
  const secrets = resourceByName('secrets');
  const secret = await ctx.store.get(ctx.tenant, secrets, namespace, name);
  if (!secret || secret.type !== SA_TOKEN_TYPE || secret.metadata.deletionTimestamp) return;
  const data = (secret.data ?? {}) as Record<string, string>;
  if (data.token) return;
  const annotations = secret.metadata.annotations ?? {};
  const saName = annotations[SA_NAME_ANNOTATION];
  if (!saName) return;
  const sa = await ctx.store.get(ctx.tenant, resourceByName('serviceaccounts'), namespace, saName);
  if (!sa || (annotations[SA_UID_ANNOTATION] && annotations[SA_UID_ANNOTATION] !== sa.metadata.uid)) return;
  const keys = await ensureSigningKeys(ctx.store.doc, ctx.store.config, ctx.tenant);
  const { token } = await issueToken(
    keys,
    ctx.tenant,
    { namespace, serviceAccount: { name: saName, uid: sa.metadata.uid! }, bound: { kind: 'Secret', name, uid: secret.metadata.uid! } },
    { audiences: [issuerFor(ctx.tenant)], expirationSeconds: LEGACY_TOKEN_SECONDS, now: ctx.now },
  );
  const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');
  const ca = rootCaPem();
  await ctx.store.update(
    ctx.tenant,
    secrets,
    {
      ...secret,
      metadata: { ...secret.metadata, annotations: { ...annotations, [SA_UID_ANNOTATION]: sa.metadata.uid! } },
      data: { ...data, token: b64(token), namespace: b64(namespace), ...(ca ? { 'ca.crt': b64(ca) } : {}) },
    },
    secret.metadata.resourceVersion!,
  );
}
