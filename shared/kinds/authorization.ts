import { badRequest, invalid, type StatusCause } from '../errors';
import type { KubeObject, ResourceType } from '../resources';
import type { RegistryContext } from '../registry/context';
import { authorizeDecision } from '../auth/authorizer';
import { rbacCache } from '../auth/rbac-cache';
import { rulesFor, type AuthzAttributes } from '../auth/rbac';
import { SelfSubjectAccessReviewSchema, SelfSubjectReviewSchema, SelfSubjectRulesReviewSchema, SubjectAccessReviewSchema } from '../schemas/rbac';

/*
 * authorization.k8s.io/v1 SelfSubjectAccessReview (`kubectl auth can-i`), SubjectAccessReview,
 * SelfSubjectRulesReview (`kubectl auth can-i --list`) and authentication.k8s.io/v1
 * SelfSubjectReview (`kubectl auth whoami`): create-only kinds whose answer is computed, never
 * stored (ResourceType.createOnly), as Kubernetes' pkg/registry/authorization and
 * pkg/registry/authentication serve them.
 */

interface Spec {
  resourceAttributes?: { namespace?: string; verb?: string; group?: string; version?: string; resource?: string; subresource?: string; name?: string };
  nonResourceAttributes?: { path?: string; verb?: string };
  user?: string;
  groups?: string[];
  extra?: Record<string, string[]>;
  uid?: string;
}

const specOf = (o: KubeObject) => (o.spec ?? {}) as Spec;

/** ValidateSubjectAccessReviewSpec / ValidateSelfSubjectAccessReviewSpec. */
function accessReviewCauses(spec: Spec, subject: boolean): StatusCause[] {
  const causes: StatusCause[] = [];
  const both = !!spec.resourceAttributes && !!spec.nonResourceAttributes;
  const neither = !spec.resourceAttributes && !spec.nonResourceAttributes;
  if (both)
    causes.push({ reason: 'FieldValueInvalid', message: `Invalid value: ${JSON.stringify(spec.nonResourceAttributes)}: cannot be specified in combination with resourceAttributes`, field: 'spec.nonResourceAttributes' });
  if (neither)
    causes.push({ reason: 'FieldValueInvalid', message: 'Invalid value: "null": exactly one of nonResourceAttributes or resourceAttributes must be specified', field: 'spec.resourceAttributes' });
  if (subject && !spec.user && !(spec.groups ?? []).length)
    causes.push({ reason: 'FieldValueInvalid', message: 'Invalid value: "": at least one of user or group must be specified', field: 'spec.user' });
  return causes;
}

function attributesOf(spec: Spec, user: string, groups: readonly string[]): AuthzAttributes {
  const r = spec.resourceAttributes;
  if (r)
    return {
      user,
      groups,
      verb: r.verb ?? '',
      resourceRequest: true,
      apiGroup: r.group ?? '',
      apiVersion: r.version,
      resource: r.resource ?? '',
      subresource: r.subresource || undefined,
      namespace: r.namespace || undefined,
      name: r.name || undefined,
    };
  const n = spec.nonResourceAttributes ?? {};
  return { user, groups, verb: n.verb ?? '', resourceRequest: false, path: n.path ?? '' };
}

const answer = (o: KubeObject, status: Record<string, unknown>): KubeObject => ({ ...o, metadata: { ...o.metadata, creationTimestamp: null }, status });

async function review(ctx: RegistryContext, o: KubeObject, subject: boolean): Promise<KubeObject> {
  const spec = specOf(o);
  const causes = accessReviewCauses(spec, subject);
  if (causes.length) throw invalid(o.kind ?? '', o.metadata.name ?? '', causes, 'authorization.k8s.io');
  const user = subject ? (spec.user ?? '') : (ctx.user?.username ?? '');
  const groups = subject ? (spec.groups ?? []) : (ctx.user?.groups ?? []);
  const d = await authorizeDecision(ctx.store, ctx.tenant, attributesOf(spec, user, groups));
  return answer(o, { allowed: d.allowed, ...(d.reason ? { reason: d.reason } : {}) });
}

async function rulesReview(ctx: RegistryContext, o: KubeObject): Promise<KubeObject> {
  const namespace = (o.spec as { namespace?: string } | undefined)?.namespace;
  if (!namespace) throw badRequest('no namespace on request');
  const u = ctx.user ?? { username: '', groups: [] };
  const { rules, errors } = rulesFor(await rbacCache.get(ctx.store, ctx.tenant), u.username, u.groups, namespace);
  const resourceRules = rules
    .filter((r) => !(r.nonResourceURLs ?? []).length)
    .map((r) => ({ verbs: r.verbs ?? [], apiGroups: r.apiGroups ?? [], resources: r.resources ?? [], ...(r.resourceNames?.length ? { resourceNames: r.resourceNames } : {}) }));
  const nonResourceRules = rules.filter((r) => (r.nonResourceURLs ?? []).length).map((r) => ({ verbs: r.verbs ?? [], nonResourceURLs: r.nonResourceURLs ?? [] }));
  // system:masters is allowed everything before RBAC is asked (authorizer.ts).
  if (u.groups.includes('system:masters')) {
    resourceRules.unshift({ verbs: ['*'], apiGroups: ['*'], resources: ['*'] });
    nonResourceRules.unshift({ verbs: ['*'], nonResourceURLs: ['*'] });
  }
  return answer(o, { resourceRules, nonResourceRules, incomplete: errors.length > 0, ...(errors.length ? { evaluationError: errors.join(', ') } : {}) });
}

function selfReview(ctx: RegistryContext, o: KubeObject): Promise<KubeObject> {
  const u = ctx.user;
  const userInfo = {
    username: u?.username ?? '',
    ...(u?.uid ? { uid: u.uid } : {}),
    groups: [...(u?.groups ?? [])],
    ...(u?.extra && Object.keys(u.extra).length ? { extra: u.extra } : {}),
  };
  return Promise.resolve(answer(o, { userInfo }));
}

const noDefaults = (o: KubeObject) => o;
const noChecks = () => [];

const virtual = {
  namespaced: false,
  shortNames: [],
  subresources: [],
  validate: noChecks,
  applyDefaults: noDefaults,
  nameIsLabel: false,
  // Never stored: any name (or none) is fine.
  nameProblem: () => undefined,
  deleteCollection: false,
} as const;

export const authorizationTypes: readonly ResourceType[] = [
  {
    ...virtual,
    group: 'authorization.k8s.io',
    version: 'v1',
    resource: 'selfsubjectaccessreviews',
    kind: 'SelfSubjectAccessReview',
    singular: 'selfsubjectaccessreview',
    schema: SelfSubjectAccessReviewSchema,
    createOnly: (ctx, o) => review(ctx, o, false),
  },
  {
    ...virtual,
    group: 'authorization.k8s.io',
    version: 'v1',
    resource: 'subjectaccessreviews',
    kind: 'SubjectAccessReview',
    singular: 'subjectaccessreview',
    schema: SubjectAccessReviewSchema,
    createOnly: (ctx, o) => review(ctx, o, true),
  },
  {
    ...virtual,
    group: 'authorization.k8s.io',
    version: 'v1',
    resource: 'selfsubjectrulesreviews',
    kind: 'SelfSubjectRulesReview',
    singular: 'selfsubjectrulesreview',
    schema: SelfSubjectRulesReviewSchema,
    createOnly: rulesReview,
  },
  {
    ...virtual,
    group: 'authentication.k8s.io',
    version: 'v1',
    resource: 'selfsubjectreviews',
    kind: 'SelfSubjectReview',
    singular: 'selfsubjectreview',
    schema: SelfSubjectReviewSchema,
    createOnly: selfReview,
  },
];
