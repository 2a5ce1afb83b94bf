import { z } from 'zod';
import { ObjectMetaSchema, typeMeta } from './meta';

/*
 * rbac.authorization.k8s.io/v1 (k8s.io/api/rbac/v1/types.go), and the request/response kinds of
 * authorization.k8s.io/v1 and authentication.k8s.io/v1 that the api serves without storing.
 */

const strings = z.array(z.string());

/** rbacv1.PolicyRule. */
export const PolicyRuleSchema = z.strictObject({
  verbs: strings.nullable().optional(),
  apiGroups: strings.nullable().optional(),
  resources: strings.nullable().optional(),
  resourceNames: strings.nullable().optional(),
  nonResourceURLs: strings.nullable().optional(),
});
export type PolicyRule = z.infer<typeof PolicyRuleSchema>;

const LabelSelector = z.strictObject({
  matchLabels: z.record(z.string(), z.string()).nullable().optional(),
  matchExpressions: z
    .array(z.strictObject({ key: z.string(), operator: z.enum(['In', 'NotIn', 'Exists', 'DoesNotExist']), values: strings.nullable().optional() }))
    .nullable()
    .optional(),
});
export type RbacLabelSelector = z.infer<typeof LabelSelector>;

export const RoleSchema = z.strictObject({ ...typeMeta('rbac.authorization.k8s.io/v1', 'Role'), rules: z.array(PolicyRuleSchema).nullable().optional() });
export const ClusterRoleSchema = z.strictObject({
  ...typeMeta('rbac.authorization.k8s.io/v1', 'ClusterRole'),
  rules: z.array(PolicyRuleSchema).nullable().optional(),
  aggregationRule: z.strictObject({ clusterRoleSelectors: z.array(LabelSelector).nullable().optional() }).nullable().optional(),
});

export const SubjectSchema = z.strictObject({ kind: z.string(), apiGroup: z.string().optional(), name: z.string(), namespace: z.string().optional() });
export type Subject = z.infer<typeof SubjectSchema>;
export const RoleRefSchema = z.strictObject({ apiGroup: z.string().optional(), kind: z.string(), name: z.string() });
export type RoleRef = z.infer<typeof RoleRefSchema>;

export const RoleBindingSchema = z.strictObject({
  ...typeMeta('rbac.authorization.k8s.io/v1', 'RoleBinding'),
  subjects: z.array(SubjectSchema).nullable().optional(),
  roleRef: RoleRefSchema,
});
export const ClusterRoleBindingSchema = z.strictObject({
  ...typeMeta('rbac.authorization.k8s.io/v1', 'ClusterRoleBinding'),
  subjects: z.array(SubjectSchema).nullable().optional(),
  roleRef: RoleRefSchema,
});

export interface Role {
  metadata: z.infer<typeof ObjectMetaSchema>;
  rules?: PolicyRule[] | null;
  aggregationRule?: { clusterRoleSelectors?: RbacLabelSelector[] | null } | null;
}
export interface Binding {
  metadata: z.infer<typeof ObjectMetaSchema>;
  subjects?: Subject[] | null;
  roleRef: RoleRef;
}

// --- authorization.k8s.io/v1 ------------------------------------------------------------------

const ResourceAttributes = z.looseObject({
  namespace: z.string().optional(),
  verb: z.string().optional(),
  group: z.string().optional(),
  version: z.string().optional(),
  resource: z.string().optional(),
  subresource: z.string().optional(),
  name: z.string().optional(),
});
const NonResourceAttributes = z.looseObject({ path: z.string().optional(), verb: z.string().optional() });

export const SelfSubjectAccessReviewSchema = z.strictObject({
  ...typeMeta('authorization.k8s.io/v1', 'SelfSubjectAccessReview'),
  spec: z.strictObject({ resourceAttributes: ResourceAttributes.optional(), nonResourceAttributes: NonResourceAttributes.optional() }).default({}),
  status: z.looseObject({}).optional(),
});
export const SubjectAccessReviewSchema = z.strictObject({
  ...typeMeta('authorization.k8s.io/v1', 'SubjectAccessReview'),
  spec: z
    .strictObject({
      resourceAttributes: ResourceAttributes.optional(),
      nonResourceAttributes: NonResourceAttributes.optional(),
      user: z.string().optional(),
      groups: strings.optional(),
      extra: z.record(z.string(), strings).optional(),
      uid: z.string().optional(),
    })
    .default({}),
  status: z.looseObject({}).optional(),
});
export const SelfSubjectRulesReviewSchema = z.strictObject({
  ...typeMeta('authorization.k8s.io/v1', 'SelfSubjectRulesReview'),
  spec: z.strictObject({ namespace: z.string().optional() }).default({}),
  status: z.looseObject({}).optional(),
});
export const SelfSubjectReviewSchema = z.strictObject({
  ...typeMeta('authentication.k8s.io/v1', 'SelfSubjectReview'),
  status: z.looseObject({}).optional(),
});
