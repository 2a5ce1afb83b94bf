import { STORAGE } from '../../shared/kinds/storage';
import { resourceByName, type KubeObject } from '../../shared/resources';
import { systemContext } from '../../shared/registry/context';
import { finalizeNamespace } from '../../shared/registry/generic';
import type { Action } from './actions';
import { applyActions, type ControllerContext } from './apply';
import { isTerminal, sameJson, timestamp } from './common';
import {
  canProvision,
  claimClass,
  claimRefNames,
  findMatchingVolume,
  isWaitForFirstConsumer,
  podClaimNames,
  requestedBytes,
  capacityBytes,
  selectedNodeOf,
  type Claim,
  type Class,
  type Volume,
} from './volumes-match';

/*
 * The persistent volume controller, Kubernetes' PV controller and PVC protection controller in
 * one, level-triggered over the stream like the workload controllers. Two keys:
 *
 *  - a claim (namespace/name): bind it to a matching Available volume, or provision one with the
 *    local provisioner (stratus.io/local-volume: a Docker named volume on one node) — at once for
 *    Immediate classes, once the scheduler has picked a node (volume.kubernetes.io/selected-node)
 *    for WaitForFirstConsumer ones; keep its status (Bound, capacity, access modes, Lost); grow
 *    the volume when a bound claim asks for more; and, when it is being deleted, drop the
 *    kubernetes.io/pvc-protection finalizer once no pod uses it any more;
 *  - a volume (name): Available without a claim, Bound with its claim, Released when its claim is
 *    gone, then deleted (reclaim policy Delete; the node agent removes the Docker volume) or kept
 *    (Retain); Recycle is not supported and fails the volume, as Kubernetes does without a recycler.
 *
 * Binding writes the volume first (claimRef), then the claim (volumeName, status): a claim never
 * points at a volume that is not reserved for it, and a half-done bind completes on the next run
 * because the volume's claimRef names the claim (a pre-bound volume).
 */

export const COMPONENT = 'persistentvolume-controller';

export interface ClaimObserved {
  readonly claim: KubeObject | undefined;
  readonly volumes: readonly KubeObject[];
  readonly classes: readonly KubeObject[];
  /** Pods of the claim's namespace (needed when the claim is being deleted or waits for a node). */
  readonly pods: readonly KubeObject[];
  /** The nodes by name (for volume node affinity when a node was selected). */
  readonly nodes: ReadonlyMap<string, KubeObject>;
  readonly now: Date;
}

/** Pods that use the claim and are not finished: they hold it (pvc-protection). */
export function podsUsingClaim(claim: KubeObject, pods: readonly KubeObject[]): KubeObject[] {
  return pods.filter((p) => p.metadata.namespace === claim.metadata.namespace && !isTerminal(p) && podClaimNames(p).includes(claim.metadata.name!));
}

const withAnnotations = (o: KubeObject, add: Record<string, string>): KubeObject['metadata'] => ({ ...o.metadata, annotations: { ...o.metadata.annotations, ...add } });

/** The claimRef a volume bound to `claim` carries. */
export const claimRefTo = (claim: KubeObject) => ({
  kind: 'PersistentVolumeClaim',
  namespace: claim.metadata.namespace,
  name: claim.metadata.name,
  uid: claim.metadata.uid,
  apiVersion: 'v1',
  resourceVersion: claim.metadata.resourceVersion,
});

/** The volume the local provisioner makes for a claim: a Docker volume, pinned to the selected node. */
export function provisionedVolume(claim: KubeObject, sc: KubeObject, nodeName: string | undefined): KubeObject {
  const c = claim as Claim;
  const name = `pvc-${claim.metadata.uid}`;
  return {
    apiVersion: 'v1',
    kind: 'PersistentVolume',
    metadata: { name, annotations: { [STORAGE.provisionedByAnnotation]: STORAGE.localProvisioner } },
    spec: {
      capacity: { storage: c.spec?.resources?.requests?.storage ?? '0' },
      accessModes: [...(c.spec?.accessModes ?? [])],
      persistentVolumeReclaimPolicy: (sc as Class).reclaimPolicy ?? 'Delete',
      storageClassName: sc.metadata.name,
      volumeMode: c.spec?.volumeMode ?? 'Filesystem',
      claimRef: claimRefTo(claim),
      csi: { driver: STORAGE.localProvisioner, volumeHandle: `stratus-pv-${name}` },
      ...(nodeName
        ? { nodeAffinity: { required: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'kubernetes.io/hostname', operator: 'In', values: [nodeName] }] }] } } }
        : {}),
      ...((sc as Class).mountOptions ? { mountOptions: [...(sc as Class).mountOptions!] } : {}),
    },
  };
}

/** The claim's status when bound to `volume`. */
function boundStatus(claim: Claim, volume: Volume) {
  return { ...claim.status, phase: 'Bound' as const, accessModes: [...(volume.spec?.accessModes ?? [])], capacity: { ...volume.spec?.capacity } };
}

/** Writes that bind `claim` to `volume`: the volume first (claimRef, Bound), then the claim. */
function bind(claim: Claim, volume: Volume, now: Date): Action[] {
  const actions: Action[] = [];
  const volumeBound = volume.spec?.claimRef?.uid === claim.metadata.uid && volume.status?.phase === 'Bound';
  if (!volumeBound) {
    actions.push({
      type: 'update',
      resource: 'persistentvolumes',
      object: {
        ...volume,
        metadata: volume.spec?.claimRef ? volume.metadata : withAnnotations(volume, { [STORAGE.boundByControllerAnnotation]: 'yes' }),
        spec: { ...volume.spec, claimRef: claimRefTo(claim) },
        status: { ...volume.status, phase: 'Bound', lastPhaseTransitionTime: timestamp(now) },
      },
    });
  }
  const annotations: Record<string, string> = { [STORAGE.bindCompletedAnnotation]: 'yes' };
  if (!claim.spec?.volumeName) annotations[STORAGE.boundByControllerAnnotation] = 'yes';
  const next: KubeObject = {
    ...claim,
    metadata: withAnnotations(claim, annotations),
    spec: { ...claim.spec, volumeName: volume.metadata.name },
    status: boundStatus(claim, volume),
  };
  if (!sameJson(next, claim))
    actions.push({
      type: 'update',
      resource: 'persistentvolumeclaims',
      object: next,
      event: { about: claim, type: 'Normal', reason: 'Bound', message: `Successfully bound to volume ${volume.metadata.name}` },
    });
  return actions;
}

/** A pod already on a node that uses the claim: its node stands in for the scheduler's choice. */
function nodeOfConsumer(claim: KubeObject, pods: readonly KubeObject[]): string | undefined {
  for (const p of podsUsingClaim(claim, pods)) {
    const n = (p.spec as { nodeName?: string } | undefined)?.nodeName;
    if (n) return n;
  }
  return undefined;
}

export function reconcileClaim({ claim: obj, volumes, classes, pods, nodes, now }: ClaimObserved): Action[] {
  if (!obj) return [];
  const claim = obj as Claim;
  // Being deleted: hold it while a pod uses it, then let it go.
  if (claim.metadata.deletionTimestamp) {
    const finalizers = claim.metadata.finalizers ?? [];
    if (!finalizers.includes(STORAGE.pvcProtectionFinalizer) || podsUsingClaim(claim, pods).length > 0) return [];
    return [{ type: 'update', resource: 'persistentvolumeclaims', object: { ...claim, metadata: { ...claim.metadata, finalizers: finalizers.filter((f) => f !== STORAGE.pvcProtectionFinalizer) } } }];
  }
  const byName = new Map(volumes.map((v) => [v.metadata.name!, v as Volume]));
  const sc = classes.find((c) => c.metadata.name === claimClass(claim)) as Class | undefined;

  if (claim.spec?.volumeName) {
    const volume = byName.get(claim.spec.volumeName);
    if (!volume) {
      if (claim.status?.phase === 'Lost' || claim.status?.phase === 'Pending') return [];
      // Bound once, and the volume is gone.
      return [
        {
          type: 'update',
          resource: 'persistentvolumeclaims',
          object: { ...claim, status: { ...claim.status, phase: 'Lost' } },
          event: { about: claim, type: 'Warning', reason: 'ClaimLost', message: 'Bound claim has lost reference to PersistentVolume. Data on the volume is lost!' },
        },
      ];
    }
    const ref = volume.spec?.claimRef;
    if (ref && !claimRefNames(volume, claim)) {
      if (claim.status?.phase === 'Pending') return [];
      return [
        {
          type: 'update',
          resource: 'persistentvolumeclaims',
          object: { ...claim, status: { ...claim.status, phase: 'Pending' } },
          event: { about: claim, type: 'Warning', reason: 'FailedBinding', message: `volume "${volume.metadata.name}" already bound to a different claim.` },
        },
      ];
    }
    const actions = bind(claim, volume, now);
    if (actions.length === 0) actions.push(...expand(claim, volume, sc));
    return actions;
  }

  // Unbound: a volume reserved for this claim, or a matching Available one, or a new one.
  const wffc = isWaitForFirstConsumer(sc);
  const nodeName = wffc ? (selectedNodeOf(claim) ?? nodeOfConsumer(claim, pods)) : undefined;
  const preBound = volumes.find((v) => claimRefNames(v, claim) && !v.metadata.deletionTimestamp);
  if (preBound) return bind(claim, preBound as Volume, now);
  if (wffc && !nodeName) {
    // Waiting for a pod to be scheduled. Said once: the annotation records that the claim was seen.
    if (!sc?.provisioner || claim.metadata.annotations?.[STORAGE.storageProvisionerAnnotation]) return [];
    return [
      {
        type: 'update',
        resource: 'persistentvolumeclaims',
        object: { ...claim, metadata: withAnnotations(claim, { [STORAGE.storageProvisionerAnnotation]: sc.provisioner, [STORAGE.betaStorageProvisionerAnnotation]: sc.provisioner }) },
        event: { about: claim, type: 'Normal', reason: 'WaitForFirstConsumer', message: 'waiting for first consumer to be created before binding' },
      },
    ];
  }
  const node = nodeName ? nodes.get(nodeName) : undefined;
  if (nodeName && !node) return []; // the node is not known (yet): nothing can be decided for it
  const match = findMatchingVolume(claim, volumes, node);
  if (match) return bind(claim, match as Volume, now);
  if (!sc || !canProvision(sc)) return [];
  const pv = provisionedVolume(claim, sc, nodeName);
  const actions: Action[] = [];
  // Record the node choice the provisioning followed (the scheduler normally has already).
  if (nodeName && selectedNodeOf(claim) !== nodeName)
    actions.push({ type: 'update', resource: 'persistentvolumeclaims', object: { ...claim, metadata: withAnnotations(claim, { [STORAGE.selectedNodeAnnotation]: nodeName }) } });
  actions.push({
    type: 'create',
    resource: 'persistentvolumes',
    object: pv,
    event: { about: claim, type: 'Normal', reason: 'ProvisioningSucceeded', message: `Successfully provisioned volume ${pv.metadata.name}` },
  });
  return actions;
}

/** A bound claim asking for more than its volume has: grow the volume, when the class allows it. */
function expand(claim: Claim, volume: Volume, sc: Class | undefined): Action[] {
  const want = claim.spec?.resources?.requests?.storage;
  if (!want || requestedBytes(claim) <= capacityBytes(volume)) return [];
  if (!sc?.allowVolumeExpansion) return [];
  const grown = { ...volume, spec: { ...volume.spec, capacity: { ...volume.spec?.capacity, storage: want } } };
  return [
    { type: 'update', resource: 'persistentvolumes', object: grown },
    {
      type: 'update',
      resource: 'persistentvolumeclaims',
      object: { ...claim, status: { ...claim.status, capacity: { ...claim.status?.capacity, storage: want } } },
      event: { about: claim, type: 'Normal', reason: 'FileSystemResizeSuccessful', message: `volume ${volume.metadata.name} resized to ${want}` },
    },
  ];
}

export interface VolumeObserved {
  readonly volume: KubeObject | undefined;
  /** The claim its claimRef names, if it exists. */
  readonly claim: KubeObject | undefined;
  readonly now: Date;
}

/** A volume's phase from its claimRef and that claim, and the reclaim of a released volume. */
export function reconcileVolume({ volume: obj, claim, now }: VolumeObserved): Action[] {
  if (!obj || obj.metadata.deletionTimestamp) return [];
  const volume = obj as Volume;
  const ref = volume.spec?.claimRef;
  const phase = volume.status?.phase;
  const setPhase = (p: 'Available' | 'Bound' | 'Released' | 'Failed', extra: { reason?: string; message?: string } = {}): Action[] =>
    phase === p ? [] : [{ type: 'update', resource: 'persistentvolumes', object: { ...volume, status: { phase: p, ...extra, lastPhaseTransitionTime: timestamp(now) } } }];
  if (!ref) return setPhase('Available');
  // Pre-bound by name only: available for that claim (which binds it when it comes).
  if (!ref.uid) return setPhase('Available');
  if (claim && claim.metadata.uid === ref.uid) return setPhase('Bound');
  // Its claim is gone: released; then reclaimed as its policy says.
  const policy = volume.spec?.persistentVolumeReclaimPolicy ?? 'Retain';
  if (phase === 'Failed') return [];
  if (policy === 'Delete') {
    return [
      ...setPhase('Released'),
      { type: 'delete', resource: 'persistentvolumes', namespace: '', name: volume.metadata.name!, uid: volume.metadata.uid },
    ];
  }
  if (policy === 'Recycle') {
    return [
      ...setPhase('Failed', { reason: 'VolumeFailedRecycle', message: 'No recycler plugin found for the volume!' }),
      { type: 'event', note: { about: volume, type: 'Warning', reason: 'VolumeFailedRecycle', message: 'No recycler plugin found for the volume!' } },
    ];
  }
  return setPhase('Released');
}

const rt = (resource: string) => resourceByName(resource);

export async function syncClaim(ctx: ControllerContext, key: string, namespace: string, name: string): Promise<void> {
  const claim = await ctx.store.get(ctx.tenant, rt('persistentvolumeclaims'), namespace, name);
  if (!claim) return;
  const [volumes, classes] = await Promise.all([ctx.store.list(ctx.tenant, rt('persistentvolumes'), { versioned: false }), ctx.store.list(ctx.tenant, rt('storageclasses'), { versioned: false })]);
  const c = claim as Claim;
  const sc = classes.items.find((x) => x.metadata.name === claimClass(claim));
  // Pods matter only while deleting (protection) or while waiting for a node (a bound consumer).
  const needPods = !!claim.metadata.deletionTimestamp || (!c.spec?.volumeName && isWaitForFirstConsumer(sc) && !selectedNodeOf(claim));
  const pods = needPods ? (await ctx.store.list(ctx.tenant, rt('pods'), { namespace, versioned: false })).items : [];
  const nodeName = selectedNodeOf(claim) ?? (needPods ? nodeOfConsumer(claim, pods) : undefined);
  const nodes = new Map<string, KubeObject>();
  if (nodeName && !c.spec?.volumeName) {
    const node = await ctx.store.get(ctx.tenant, rt('nodes'), undefined, nodeName);
    if (node) nodes.set(nodeName, node);
  }
  await applyActions(ctx, COMPONENT, key, reconcileClaim({ claim, volumes: volumes.items, classes: classes.items, pods, nodes, now: ctx.now }));
  // The last claim of a terminating namespace may be what kept it: finish the namespace.
  if (claim.metadata.deletionTimestamp) {
    const ns = await ctx.store.get(ctx.tenant, rt('namespaces'), undefined, namespace);
    if (ns?.metadata.deletionTimestamp) await finalizeNamespace(systemContext(ctx.store, ctx.tenant), namespace);
  }
}

export async function syncVolume(ctx: ControllerContext, key: string, name: string): Promise<void> {
  const volume = await ctx.store.get(ctx.tenant, rt('persistentvolumes'), undefined, name);
  if (!volume) return;
  const ref = (volume as Volume).spec?.claimRef;
  const claim = ref?.name && ref.namespace ? await ctx.store.get(ctx.tenant, rt('persistentvolumeclaims'), ref.namespace, ref.name) : undefined;
  await applyActions(ctx, COMPONENT, key, reconcileVolume({ volume, claim, now: ctx.now }));
}
