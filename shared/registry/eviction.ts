import { badRequest, conflict, isConflict, notFound, StatusError } from '../errors';
import { resourceByName, type KubeObject } from '../resources';
import { EvictionSchema, PodDisruptionBudgetSchema, type PodDisruptionBudget } from '../schemas/policy';
import { labelSelectorMatches } from '../scheduling/labels';
import type { RegistryContext, Target } from './context';
import { deleteObject, type DeleteOptions } from './generic';

/*
 * POST /api/v1/namespaces/{ns}/pods/{name}/eviction (policy/v1 Eviction): a delete that
 * respects PodDisruptionBudgets, as `kubectl drain` uses it. The PDB's status is computed here,
 * at eviction time, from the pods it selects, and written back with a conditional update that
 * also claims the disruption: two concurrent evictions cannot both spend the last one.
 */
const pods = () => resourceByName('pods');
const pdbs = () => resourceByName('poddisruptionbudgets');
const MAX_ATTEMPTS = 10;
/** How long a granted eviction counts as a disruption while its pod is still going (Kubernetes: 2 min). */
const DISRUPTION_TIMEOUT_MS = 2 * 60 * 1000;

const isTerminal = (p: KubeObject) => ['Succeeded', 'Failed'].includes((p.status as { phase?: string } | undefined)?.phase ?? '');
const isReady = (p: KubeObject) => ((p.status as { conditions?: { type: string; status: string }[] } | undefined)?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');

/** intstr scaled against `total`, rounding up as Kubernetes does for PDBs. */
function scaled(v: number | string, total: number): number {
  if (typeof v === 'number') return v;
  return Math.ceil((Number(v.replace('%', '')) * total) / 100);
}

/** The PDB's status for the pods it selects now (Kubernetes' disruption controller, on the fly). */
export function computePdbStatus(pdb: PodDisruptionBudget, selected: readonly KubeObject[], now: number): NonNullable<PodDisruptionBudget['status']> {
  const disrupted = Object.fromEntries(Object.entries(pdb.status?.disruptedPods ?? {}).filter(([name, at]) => now - Date.parse(at) < DISRUPTION_TIMEOUT_MS && selected.some((p) => p.metadata.name === name && !p.metadata.deletionTimestamp)));
  const expected = selected.filter((p) => !isTerminal(p)).length;
  const healthy = selected.filter((p) => !isTerminal(p) && !p.metadata.deletionTimestamp && isReady(p) && !(p.metadata.name! in disrupted)).length;
  let desired: number;
  if (pdb.spec.maxUnavailable !== undefined) desired = Math.max(0, expected - scaled(pdb.spec.maxUnavailable, expected));
  else desired = scaled(pdb.spec.minAvailable ?? 1, expected);
  return {
    observedGeneration: pdb.metadata.generation,
    disruptedPods: disrupted,
    disruptionsAllowed: Math.max(0, healthy - desired),
    currentHealthy: healthy,
    desiredHealthy: desired,
    expectedPods: expected,
  };
}

/** The Status an accepted eviction answers with (201). */
export const evictionAccepted = { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', code: 201 } as const;

/**
 * Evicts a pod (the body is a policy/v1 Eviction as decoded from the wire): 429 when a budget
 * forbids it, else a delete with the eviction's options. `dryRun` (the request's dryRun=All)
 * joins the eviction's own deleteOptions.dryRun.
 */
export async function evictPod(ctx: RegistryContext, t: Target, body: unknown, dryRunQuery = false): Promise<typeof evictionAccepted> {
  const parsed = EvictionSchema.safeParse(body);
  if (!parsed.success) throw badRequest(`Eviction in version "v1" cannot be handled as a Eviction: ${parsed.error.issues[0]?.message ?? 'invalid body'}`);
  const eviction = parsed.data;
  if (eviction.metadata.name && eviction.metadata.name !== t.name) throw badRequest(`name in URL does not match name in Eviction object`);
  const dryRun = dryRunQuery || !!eviction.deleteOptions?.dryRun?.includes('All');
  const opts: DeleteOptions = { gracePeriodSeconds: eviction.deleteOptions?.gracePeriodSeconds, preconditions: eviction.deleteOptions?.preconditions, dryRun: dryRun ? ['All'] : undefined };
  const success = evictionAccepted;
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const pod = await ctx.store.get(ctx.tenant, pods(), t.namespace, t.name!);
    if (!pod) throw notFound('pods', t.name!);
    // Pods already going, or done, cost no availability: delete without consulting budgets.
    if (pod.metadata.deletionTimestamp || isTerminal(pod)) {
      await deleteObject(ctx, { rt: pods(), namespace: t.namespace, name: t.name }, opts);
      return success;
    }
    const { items } = await ctx.store.list(ctx.tenant, pdbs(), { namespace: t.namespace, versioned: false });
    const matching = items.map((i) => PodDisruptionBudgetSchema.parse(i)).filter((p) => p.spec.selector && labelSelectorMatches(p.spec.selector, pod.metadata.labels));
    if (matching.length > 1) throw new StatusError(500, 'InternalError', 'This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.');
    if (matching.length === 1) {
      const pdb = matching[0]!;
      const { items: all } = await ctx.store.list(ctx.tenant, pods(), { namespace: t.namespace, versioned: false, filter: (p) => labelSelectorMatches(pdb.spec.selector, p.metadata.labels) });
      const status = computePdbStatus(pdb, all, Date.now());
      const healthyPod = isReady(pod);
      const allowed = healthyPod
        ? status.disruptionsAllowed! > 0
        : pdb.spec.unhealthyPodEvictionPolicy === 'AlwaysAllow' || status.currentHealthy! >= status.desiredHealthy!;
      if (!allowed) {
        // Record what we saw, so `kubectl get pdb` shows why (best effort).
        await ctx.store.update(ctx.tenant, pdbs(), { ...pdb, status } as KubeObject, pdb.metadata.resourceVersion!).catch(() => undefined);
        throw new StatusError(429, 'TooManyRequests', 'Cannot evict pod as it would violate the pod\'s disruption budget.', {
          causes: [{ reason: 'DisruptionBudget', message: `The disruption budget ${pdb.metadata.name} needs ${status.desiredHealthy} healthy pods and has ${status.currentHealthy} currently` }],
        }); // no Retry-After, as Kubernetes: client-go would retry on its own and kubectl drain's timeout would not hold
      }
      if (!dryRun) {
        const claimed = healthyPod
          ? { ...status, disruptionsAllowed: status.disruptionsAllowed! - 1, disruptedPods: { ...status.disruptedPods, [pod.metadata.name!]: new Date().toISOString().replace(/\.\d+Z$/, 'Z') } }
          : status;
        try {
          await ctx.store.update(ctx.tenant, pdbs(), { ...pdb, status: claimed } as KubeObject, pdb.metadata.resourceVersion!);
        } catch (e) {
          if (isConflict(e)) continue; // another eviction spent budget meanwhile: decide again
          throw e;
        }
      }
    }
    await deleteObject(ctx, { rt: pods(), namespace: t.namespace, name: t.name }, opts);
    return success;
  }
  throw conflict('pods', t.name!, '', 'too many concurrent evictions; please retry');
}
