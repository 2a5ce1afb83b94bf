import { canonicalJson } from '../../shared/canonical';
import { resourceByName, type KubeObject } from '../../shared/resources';
import {
  desiredEndpoints,
  desiredSlices,
  MANAGED_BY_LABEL,
  MIRROR_CONTROLLER,
  mirroredSlices,
  planSlices,
  SERVICE_NAME_LABEL,
  shouldMirror,
  SLICE_CONTROLLER,
  type SliceContent,
} from '../../shared/services/endpoints-compute';
import type { Action } from './actions';
import { applyActions, type ControllerContext } from './apply';
import { newControllerRef } from './common';

/*
 * The Endpoints controller and the EndpointSlice controller (with the mirroring controller's
 * work for selector-less Services), keyed by Service: read the Service, its namespace's pods and
 * what exists, compute what is wanted (shared/services/endpoints-compute.ts, pure), write only
 * the difference. A Service without a selector leaves its Endpoints to the user.
 */

export const ENDPOINTS_COMPONENT = 'endpoint-controller';
export const SLICES_COMPONENT = 'endpointslice-controller';

const hasSelector = (svc: KubeObject | undefined) => Object.keys(((svc?.spec ?? {}) as { selector?: Record<string, string> }).selector ?? {}).length > 0;
const get = (ctx: ControllerContext, resource: string, namespace: string, name: string) => ctx.store.get(ctx.tenant, resourceByName(resource), namespace, name);

/** Endpoints: the wanted object next to the stored one → create, update or delete. */
export function endpointsActions(svc: KubeObject | undefined, pods: readonly KubeObject[], current: KubeObject | undefined, namespace: string, name: string): Action[] {
  // As Kubernetes: the Service is gone (this key comes from its removal), so are its Endpoints.
  if (!svc) return current ? [{ type: 'delete', resource: 'endpoints', namespace, name, uid: current.metadata.uid }] : [];
  if (!hasSelector(svc)) return [];
  const wanted = desiredEndpoints(svc, pods);
  if (!current) return [{ type: 'create', resource: 'endpoints', object: wanted }];
  const same = canonicalJson([current.subsets ?? [], current.metadata.labels ?? {}, current.metadata.annotations ?? {}]) === canonicalJson([wanted.subsets ?? [], wanted.metadata.labels ?? {}, wanted.metadata.annotations ?? {}]);
  if (same) return [];
  const next: KubeObject = { ...current, metadata: { ...current.metadata, labels: wanted.metadata.labels, annotations: wanted.metadata.annotations } };
  for (const f of ['labels', 'annotations'] as const) if (next.metadata[f] === undefined) delete next.metadata[f];
  if (wanted.subsets) next.subsets = wanted.subsets;
  else delete next.subsets;
  return [{ type: 'update', resource: 'endpoints', object: next }];
}

function sliceObject(svc: KubeObject, content: SliceContent, managedBy: string, owner: KubeObject, ownerKind: string): KubeObject {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: {
      namespace: svc.metadata.namespace,
      labels: { ...(svc.metadata.labels ?? {}), [SERVICE_NAME_LABEL]: svc.metadata.name!, [MANAGED_BY_LABEL]: managedBy },
      ownerReferences: [newControllerRef(owner, 'v1', ownerKind)],
    },
    addressType: 'IPv4',
    endpoints: content.endpoints,
    ports: content.ports,
  };
}

/** EndpointSlices of one manager: wanted contents next to the stored slices → creates, updates, deletes. */
export function sliceActions(svc: KubeObject | undefined, wanted: readonly SliceContent[], existing: readonly KubeObject[], managedBy: string, owner: KubeObject | undefined, ownerKind: string): Action[] {
  if (!svc || !owner) return existing.map((s) => ({ type: 'delete', resource: 'endpointslices', namespace: s.metadata.namespace!, name: s.metadata.name!, uid: s.metadata.uid }));
  const plan = planSlices(wanted, existing);
  const prefix = `${svc.metadata.name!.slice(0, 57)}-`;
  return [
    ...plan.update.map(({ slice, content }): Action => ({ type: 'update', resource: 'endpointslices', object: { ...slice, endpoints: content.endpoints, ports: content.ports } })),
    ...plan.create.map((content): Action => ({ type: 'create', resource: 'endpointslices', object: sliceObject(svc, content, managedBy, owner, ownerKind), generateName: prefix })),
    ...plan.delete.map((s): Action => ({ type: 'delete', resource: 'endpointslices', namespace: s.metadata.namespace!, name: s.metadata.name!, uid: s.metadata.uid })),
  ];
}

async function podsOf(ctx: ControllerContext, namespace: string): Promise<KubeObject[]> {
  return (await ctx.store.list(ctx.tenant, resourceByName('pods'), { namespace, versioned: false })).items;
}

async function slicesOf(ctx: ControllerContext, namespace: string, service: string, managedBy: string): Promise<KubeObject[]> {
  const { items } = await ctx.store.list(ctx.tenant, resourceByName('endpointslices'), {
    namespace,
    versioned: false,
    filter: (s) => s.metadata.labels?.[SERVICE_NAME_LABEL] === service && s.metadata.labels?.[MANAGED_BY_LABEL] === managedBy,
  });
  return items;
}

export async function syncEndpoints(ctx: ControllerContext, k: string, namespace: string, name: string): Promise<void> {
  const svc = await get(ctx, 'services', namespace, name);
  const current = await get(ctx, 'endpoints', namespace, name);
  const pods = hasSelector(svc) ? await podsOf(ctx, namespace) : [];
  await applyActions(ctx, ENDPOINTS_COMPONENT, k, endpointsActions(svc, pods, current, namespace, name));
}

export async function syncEndpointSlices(ctx: ControllerContext, k: string, namespace: string, name: string): Promise<void> {
  const svc = await get(ctx, 'services', namespace, name);
  const actions: Action[] = [];
  // The EndpointSlice controller: Services with a selector.
  const own = await slicesOf(ctx, namespace, name, SLICE_CONTROLLER);
  if (svc && hasSelector(svc)) actions.push(...sliceActions(svc, desiredSlices(svc, await podsOf(ctx, namespace)), own, SLICE_CONTROLLER, svc, 'Service'));
  else actions.push(...sliceActions(undefined, [], own, SLICE_CONTROLLER, undefined, 'Service'));
  // The mirroring controller: user-written Endpoints of selector-less Services.
  const mirrored = await slicesOf(ctx, namespace, name, MIRROR_CONTROLLER);
  const endpoints = svc && !hasSelector(svc) ? await get(ctx, 'endpoints', namespace, name) : undefined;
  if (shouldMirror(endpoints, svc)) actions.push(...sliceActions(svc, mirroredSlices(endpoints!), mirrored, MIRROR_CONTROLLER, endpoints, 'Endpoints'));
  else actions.push(...sliceActions(undefined, [], mirrored, MIRROR_CONTROLLER, undefined, 'Endpoints'));
  await applyActions(ctx, SLICES_COMPONENT, k, actions);
}
