import { canonicalJson } from '../../shared/canonical';
import { aggregatedRules } from '../../shared/auth/bootstrap-policy';
import { isConflict, isNotFound } from '../../shared/errors';
import { systemContext } from '../../shared/registry/context';
import { updateWhole } from '../../shared/registry/generic';
import { resourceByName } from '../../shared/resources';
import type { Role } from '../../shared/schemas/rbac';
import type { ControllerContext } from './apply';

/*
 * The ClusterRole aggregation controller (Kubernetes' pkg/controller/clusterroleaggregation): a
 * ClusterRole with an aggregationRule has as rules the union of the rules of every other
 * ClusterRole its selectors match, kept so on every ClusterRole write. Level-triggered: any
 * ClusterRole change recomputes every aggregated role of the cluster, repeating until nothing
 * moves so chains (view → edit → admin) settle in one reconcile; a Conflict is retried by the caller.
 */

const MAX_PASSES = 5;

export async function syncClusterRoleAggregation(ctx: ControllerContext): Promise<void> {
  const rt = resourceByName('clusterroles');
  const reg = systemContext(ctx.store, ctx.tenant);
  for (let pass = 0; pass < MAX_PASSES; pass++) {
    const { items } = await ctx.store.list(ctx.tenant, rt, { versioned: false });
    let changed = false;
    for (const role of items) {
      const rule = (role as unknown as Role).aggregationRule;
      if (!rule?.clusterRoleSelectors?.length) continue;
      const rules = aggregatedRules(rule.clusterRoleSelectors, items, role.metadata.name!);
      if (canonicalJson(rules) === canonicalJson(role.rules ?? [])) continue;
      try {
        await updateWhole(reg, rt, { ...role, rules });
        changed = true;
      } catch (e) {
        if (isNotFound(e)) continue;
        if (isConflict(e)) throw e;
        throw e;
      }
    }
    if (!changed) return;
  }
}
