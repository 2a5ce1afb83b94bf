import { z } from 'zod';
import { typeMeta } from './meta';

/*
 * networking.k8s.io/v1 NetworkPolicy (issue #15). Selector operators and protocols are plain
 * strings here, as in Go: the kind's validation (shared/kinds/network-policy.ts) refuses a bad one
 * in Kubernetes' words rather than the decoder in zod's.
 */

const SelectorRequirementSchema = z.strictObject({ key: z.string(), operator: z.string(), values: z.array(z.string()).nullable().optional() });
export const PolicyLabelSelectorSchema = z.strictObject({
  matchLabels: z.record(z.string(), z.string()).nullable().optional(),
  matchExpressions: z.array(SelectorRequirementSchema).nullable().optional(),
});
export type PolicyLabelSelector = z.infer<typeof PolicyLabelSelectorSchema>;

export const IPBlockSchema = z.strictObject({ cidr: z.string().optional(), except: z.array(z.string()).nullable().optional() });
export type IPBlock = z.infer<typeof IPBlockSchema>;

export const NetworkPolicyPeerSchema = z.strictObject({
  podSelector: PolicyLabelSelectorSchema.nullable().optional(),
  namespaceSelector: PolicyLabelSelectorSchema.nullable().optional(),
  ipBlock: IPBlockSchema.nullable().optional(),
});
export type NetworkPolicyPeer = z.infer<typeof NetworkPolicyPeerSchema>;

export const NetworkPolicyPortSchema = z.strictObject({
  protocol: z.string().optional(),
  port: z.union([z.number().int(), z.string()]).nullable().optional(),
  endPort: z.number().int().nullable().optional(),
});
export type NetworkPolicyPort = z.infer<typeof NetworkPolicyPortSchema>;

export const NetworkPolicyIngressRuleSchema = z.strictObject({
  ports: z.array(NetworkPolicyPortSchema).nullable().optional(),
  from: z.array(NetworkPolicyPeerSchema).nullable().optional(),
});
export const NetworkPolicyEgressRuleSchema = z.strictObject({
  ports: z.array(NetworkPolicyPortSchema).nullable().optional(),
  to: z.array(NetworkPolicyPeerSchema).nullable().optional(),
});
export type NetworkPolicyIngressRule = z.infer<typeof NetworkPolicyIngressRuleSchema>;
export type NetworkPolicyEgressRule = z.infer<typeof NetworkPolicyEgressRuleSchema>;

export const NetworkPolicySpecSchema = z.strictObject({
  podSelector: PolicyLabelSelectorSchema.optional(),
  ingress: z.array(NetworkPolicyIngressRuleSchema).nullable().optional(),
  egress: z.array(NetworkPolicyEgressRuleSchema).nullable().optional(),
  policyTypes: z.array(z.string()).nullable().optional(),
});
export type NetworkPolicySpec = z.infer<typeof NetworkPolicySpecSchema>;

export const NetworkPolicySchema = z.strictObject({
  ...typeMeta('networking.k8s.io/v1', 'NetworkPolicy'),
  spec: NetworkPolicySpecSchema.default({}),
});
export type NetworkPolicy = z.infer<typeof NetworkPolicySchema>;
