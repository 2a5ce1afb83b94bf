import type { KubeObject } from '../resources';
import { affinityOf, labelsOf, requirementMatches, type NodeSelectorTerm } from './labels';

/** A core/v1 NodeSelectorTerm: its expressions on labels AND its fields (metadata.name) hold. */
export function nodeSelectorTermMatches(term: NodeSelectorTerm, node: KubeObject): boolean {
  const exprs = term.matchExpressions ?? [];
  const fields = term.matchFields ?? [];
  if (exprs.length === 0 && fields.length === 0) return false; // an empty term matches no node
  const labels = labelsOf(node);
  if (!exprs.every((r) => requirementMatches(r, labels))) return false;
  return fields.every((r) => r.key === 'metadata.name' && requirementMatches({ ...r, key: 'metadata.name' }, { 'metadata.name': node.metadata.name! }));
}

/** nodeSelector AND required node affinity (any of its terms), as the pod asks. */
export function podMatchesNode(pod: KubeObject, node: KubeObject): boolean {
  const selector = (pod.spec as { nodeSelector?: Record<string, string> } | undefined)?.nodeSelector ?? {};
  const labels = labelsOf(node);
  if (!Object.entries(selector).every(([k, v]) => labels[k] === v)) return false;
  const required = affinityOf(pod).nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution;
  if (!required) return true;
  return (required.nodeSelectorTerms ?? []).some((t) => nodeSelectorTermMatches(t, node));
}
