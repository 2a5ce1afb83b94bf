import { z } from 'zod';
import { badRequest, conflict, isConflict, notFound, StatusError } from '../errors';
import { resourceByName, type KubeObject } from '../resources';
import { NodeCapacityChanged } from '../store/store';
import type { RegistryContext, Target } from './context';

const BindingSchema = z.object({
  apiVersion: z.string().optional(),
  kind: z.literal('Binding').optional(),
  metadata: z.object({ name: z.string().optional(), namespace: z.string().optional() }).loose().optional(),
  target: z.object({ kind: z.string().optional(), name: z.string().min(1), apiVersion: z.string().optional() }).loose(),
});

/** The Status an accepted binding answers with (201). */
export const bindingAccepted = { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', code: 201 } as const;

const now = () => new Date().toISOString().replace(/\.\d+Z$/, 'Z');
const MAX_ATTEMPTS = 5;

/**
 * POST pods/{name}/binding (core/v1 Binding): what a custom scheduler calls to place a pod.
 * Goes through the same conditional bind as the default scheduler (store.bindPod), so a
 * binding can never overcommit a node or bind a pod twice: an already bound pod is 409, and a
 * node without room for the pod's requests is 409 as well (Kubernetes would leave that to the
 * kubelet's admission; here the node's allocation sums are the scheduler's ground truth). The
 * node agent learns of the pod from the objects stream (the scheduler function relays it).
 */
export async function bindPodToNode(ctx: RegistryContext, t: Target, body: unknown, dryRun = false): Promise<typeof bindingAccepted> {
  const parsed = BindingSchema.safeParse(body);
  if (!parsed.success) throw badRequest(`Binding in version "v1" cannot be handled as a Binding: ${parsed.error.issues[0]?.message ?? 'invalid'}`);
  const binding = parsed.data;
  if (binding.metadata?.name && binding.metadata.name !== t.name) throw badRequest(`the name of the binding (${binding.metadata.name}) does not match the pod (${t.name})`);
  if (binding.target.kind && binding.target.kind !== 'Node') throw badRequest(`binding target must be a Node (got ${binding.target.kind})`);
  const pods = resourceByName('pods');
  const nodes = resourceByName('nodes');
  const nodeName = binding.target.name;
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const pod = await ctx.store.get(ctx.tenant, pods, t.namespace, t.name!);
    if (!pod) throw notFound('pods', t.name!);
    const current = (pod.spec as { nodeName?: string } | undefined)?.nodeName;
    if (current) throw conflict('pods', t.name!, '', `pod ${t.name} is already assigned to node "${current}"`);
    if (pod.metadata.deletionTimestamp) throw conflict('pods', t.name!, '', `pod ${t.name} is being deleted, cannot be assigned to a host`);
    const target = (await ctx.store.listNodeSnapshots(ctx.tenant, nodes)).find((n) => n.node.metadata.name === nodeName);
    if (!target) throw notFound('nodes', nodeName);
    if (dryRun) return bindingAccepted;
    try {
      await ctx.store.bindPod(ctx.tenant, pods, nodes, pod, target, (p: KubeObject) => {
        const status = (p.status ?? {}) as { conditions?: { type: string }[] };
        const conditions = (status.conditions ?? []).filter((c) => c.type !== 'PodScheduled');
        conditions.push({ type: 'PodScheduled', status: 'True', lastProbeTime: null, lastTransitionTime: now() } as { type: string });
        return { ...p, spec: { ...(p.spec as object), nodeName }, status: { ...status, conditions } };
      });
      return bindingAccepted;
    } catch (e) {
      if (e instanceof NodeCapacityChanged) {
        if (attempt < MAX_ATTEMPTS - 1) continue; // the node's sums moved: look again
        throw new StatusError(409, 'Conflict', `Operation cannot be fulfilled on pods/binding "${t.name}": node "${nodeName}" does not have room for the pod's requests`);
      }
      if (isConflict(e) && attempt < MAX_ATTEMPTS - 1) continue;
      throw e;
    }
  }
  throw conflict('pods', t.name!);
}
