import { z } from 'zod';
import { badRequest, conflict, forbidden, invalid, notFound, type StatusCause } from '../errors';
import { resourceByName, type KubeObject } from '../resources';
import type { RegistryContext, Target } from '../registry/context';
import { ensureSigningKeys } from './keys';
import { issueToken, issuerFor, type BoundRef } from './jwt';

/*
 * POST serviceaccounts/NAME/token: TokenRequest (authentication.k8s.io/v1), as Kubernetes'
 * pkg/registry/core/serviceaccount/storage/token.go serves it (`kubectl create token`). The
 * token is a JWT signed with the cluster's key (jwt.ts), for the API's audience (the issuer)
 * unless others are asked for, for an hour unless another duration is asked for (at least 10
 * minutes, at most MAX_EXPIRATION_SECONDS: a longer request gets a shorter token, as with
 * kube-apiserver's --service-account-max-token-expiration), bound to a Pod or Secret if asked.
 * A node agent may ask only for tokens bound to pods on its own node (NodeRestriction).
 */

export const DEFAULT_EXPIRATION_SECONDS = 3600;
const MIN_EXPIRATION_SECONDS = 600;
/** The longest token issued (Kubernetes' flag has no default; 48 h keeps leaked tokens short-lived). */
export const MAX_EXPIRATION_SECONDS = 48 * 3600;

const TokenRequestSchema = z.strictObject({
  apiVersion: z.string().optional(),
  kind: z.string().optional(),
  metadata: z.object({ name: z.string().optional(), namespace: z.string().optional() }).loose().optional(),
  spec: z
    .strictObject({
      audiences: z.array(z.string()).nullish(),
      expirationSeconds: z.number().int().nullish(),
      boundObjectRef: z
        .strictObject({ kind: z.string().optional(), apiVersion: z.string().optional(), name: z.string().optional(), uid: z.string().optional() })
        .nullish(),
    })
    .optional(),
  status: z.unknown().optional(),
});

/** The TokenRequest's own checks (ValidateTokenRequest), as 422 causes. */
export function validateTokenRequest(expirationSeconds: number): StatusCause[] {
  if (expirationSeconds < MIN_EXPIRATION_SECONDS)
    return [{ reason: 'FieldValueInvalid', message: `Invalid value: ${expirationSeconds}: may not specify a duration less than 10 minutes`, field: 'spec.expirationSeconds' }];
  if (expirationSeconds > 2 ** 32)
    return [{ reason: 'FieldValueInvalid', message: `Invalid value: ${expirationSeconds}: may not specify a duration larger than 2^32 seconds`, field: 'spec.expirationSeconds' }];
  return [];
}

const nodeNameOf = (user: string | undefined) => (user?.startsWith('system:node:') ? user.slice('system:node:'.length) : undefined);

export async function requestToken(ctx: RegistryContext, t: Target, body: unknown, dryRun = false): Promise<KubeObject> {
  const parsed = TokenRequestSchema.safeParse(body ?? {});
  if (!parsed.success) throw badRequest(`TokenRequest in version "v1" cannot be handled as a TokenRequest: ${parsed.error.issues[0]?.message ?? 'invalid'}`);
  if (parsed.data.kind !== undefined && parsed.data.kind !== 'TokenRequest') throw badRequest(`TokenRequest in version "v1" cannot be handled as a TokenRequest: wrong kind ${parsed.data.kind}`);
  const spec = parsed.data.spec ?? {};
  const name = t.name!;
  const namespace = t.namespace!;
  const requested = spec.expirationSeconds ?? DEFAULT_EXPIRATION_SECONDS;
  const causes = validateTokenRequest(requested);
  if (causes.length) throw invalid('TokenRequest', name, causes, 'authentication.k8s.io');
  const sa = await ctx.store.get(ctx.tenant, resourceByName('serviceaccounts'), namespace, name);
  if (!sa) throw notFound('serviceaccounts', name);

  let bound: BoundRef | undefined;
  let node: { name: string } | undefined;
  const ref = spec.boundObjectRef;
  if (ref) {
    const kind = ref.kind ?? '';
    const apiVersion = ref.apiVersion ?? 'v1';
    if ((kind !== 'Pod' && kind !== 'Secret') || apiVersion !== 'v1') {
      const [group, version] = apiVersion.includes('/') ? apiVersion.split('/') : ['', apiVersion];
      throw badRequest(`cannot bind token to object of type ${group}/${version}, Kind=${kind}`);
    }
    const resource = kind === 'Pod' ? 'pods' : 'secrets';
    const obj = await ctx.store.get(ctx.tenant, resourceByName(resource), namespace, ref.name ?? '');
    if (!obj) throw notFound(resource, ref.name ?? '');
    if (kind === 'Pod') {
      const podSa = (obj.spec as { serviceAccountName?: string } | undefined)?.serviceAccountName ?? '';
      if (podSa !== name) throw badRequest(`cannot bind token for serviceaccount "${name}" to pod running with different serviceaccount name.`);
      const nodeName = (obj.spec as { nodeName?: string } | undefined)?.nodeName;
      if (nodeName) node = { name: nodeName };
    }
    if (ref.uid && ref.uid !== obj.metadata.uid)
      throw conflict(
        kind,
        ref.name ?? '',
        '',
        `the UID in the bound object reference (${ref.uid}) does not match the UID in record. The object might have been deleted and then recreated`,
      );
    bound = { kind, name: obj.metadata.name!, uid: obj.metadata.uid! };
  }
  // NodeRestriction: a node asks only for tokens bound to pods, and only its own pods'.
  if (ctx.nodeIdentity) {
    const self = nodeNameOf(ctx.user?.username);
    if (bound?.kind !== 'Pod' || !node) throw forbidden(`serviceaccounts "${name}" is forbidden: node requested token not bound to a pod`);
    if (node.name !== self) throw forbidden(`serviceaccounts "${name}" is forbidden: node requested token bound to a pod scheduled on a different node`);
  }

  const audiences = spec.audiences && spec.audiences.length > 0 ? spec.audiences : [issuerFor(ctx.tenant)];
  const expirationSeconds = Math.min(requested, MAX_EXPIRATION_SECONDS);
  const out: KubeObject = {
    kind: 'TokenRequest',
    apiVersion: 'authentication.k8s.io/v1',
    metadata: { name, namespace, creationTimestamp: null as unknown as string },
    spec: { audiences, expirationSeconds, boundObjectRef: bound ? { kind: bound.kind, apiVersion: 'v1', name: bound.name, uid: bound.uid } : null },
    status: { token: '', expirationTimestamp: null },
  };
  if (dryRun) return out;
  const keys = await ensureSigningKeys(ctx.store.doc, ctx.store.config, ctx.tenant);
  const { token, expirationTimestamp } = await issueToken(
    keys,
    ctx.tenant,
    { namespace, serviceAccount: { name, uid: sa.metadata.uid! }, bound, node },
    { audiences, expirationSeconds },
  );
  return { ...out, status: { token, expirationTimestamp: expirationTimestamp.toISOString().replace(/\.\d+Z$/, 'Z') } };
}
