import { invalid, type StatusCause } from '../../errors';
import type { KubeObject } from '../../resources';
import type { AdmissionAttributes, AdmissionPlugin } from '../admission';

/*
 * NodeIPAM: every Node gets spec.podCIDR/podCIDRs (one /24) when it is created, taken from the
 * deployment-wide pool (shared/store/pod-cidrs.ts), in the registry rather than by a controller
 * after the fact (Kubernetes' nodeipam controller, --allocate-node-cidrs): the node agent needs
 * its range before it can run a pod, and gets it in the answer to its own create.
 * - A CIDR the client sends is replaced: the pool is shared by every cluster of the deployment,
 *   so a tenant choosing its own range could aim at another cluster's pods.
 * - Once set it never changes (Kubernetes' ValidateNodeUpdate: Forbidden "node updates may not
 *   change podCIDR except from \"\" to valid"); a Node stored without one (made before IPAM)
 *   gets one on its next update.
 * - Dry-run creates take nothing from the pool. The range goes back when the Node is removed
 *   (ObjectStore.remove).
 */

const isNode = (a: AdmissionAttributes) => a.rt.group === '' && a.rt.resource === 'nodes';

interface NodeSpecCidrs {
  podCIDR?: string;
  podCIDRs?: string[];
}

const cidrsOf = (o: KubeObject | undefined): NodeSpecCidrs => (o?.spec ?? {}) as NodeSpecCidrs;

const withCidr = (o: KubeObject, cidr: string): KubeObject => ({ ...o, spec: { ...(o.spec as object | undefined), podCIDR: cidr, podCIDRs: [cidr] } });

export const NodeIPAM: AdmissionPlugin = {
  name: 'NodeIPAM',
  async admit(a, ctx) {
    if (!isNode(a) || !a.object || a.subresource === 'status') return undefined;
    const name = a.object.metadata.name ?? a.name;
    if (!name) return undefined;
    if (a.operation === 'CREATE') {
      if (a.dryRun) return undefined;
      return withCidr(a.object, await ctx.store.podCidrs.allocate(ctx.tenant, name));
    }
    if (a.operation === 'UPDATE') {
      const old = cidrsOf(a.oldObject).podCIDR;
      if (old) return undefined; // validate refuses a change
      if (a.dryRun) return undefined;
      return withCidr(a.object, await ctx.store.podCidrs.allocate(ctx.tenant, name));
    }
    return undefined;
  },
  validate(a) {
    if (!isNode(a) || a.operation !== 'UPDATE' || !a.object || !a.oldObject) return;
    const before = cidrsOf(a.oldObject);
    const after = cidrsOf(a.object);
    if (!before.podCIDR) return;
    const causes: StatusCause[] = [];
    const message = 'Forbidden: node updates may not change podCIDR except from "" to valid';
    if (after.podCIDR !== before.podCIDR) causes.push({ reason: 'FieldValueForbidden', message, field: 'spec.podCIDR' });
    if (JSON.stringify(after.podCIDRs ?? []) !== JSON.stringify(before.podCIDRs ?? [before.podCIDR])) causes.push({ reason: 'FieldValueForbidden', message, field: 'spec.podCIDRs' });
    if (causes.length) throw invalid('Node', a.object.metadata.name ?? a.name ?? '', causes);
  },
};
