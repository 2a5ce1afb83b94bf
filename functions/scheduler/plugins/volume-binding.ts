import { isConflict, isNotFound } from '../../../shared/errors';
import { STORAGE } from '../../../shared/kinds/storage';
import { resourceByName, type KubeObject } from '../../../shared/resources';
import type { ObjectStore } from '../../../shared/store/store';
import {
  canProvision,
  claimClass,
  findMatchingVolume,
  isWaitForFirstConsumer,
  podClaimNames,
  selectedNodeOf,
  volumeAllowsNode,
  type Claim,
} from '../../controllers/volumes-match';
import type { ObjectChange } from '../../../shared/store/changes';
import { fits, unfit, type ClusterSnapshot, type CycleState, type FilterPlugin } from '../framework';

/*
 * VolumeBinding, as Kubernetes' plugin (pkg/scheduler/framework/plugins/volumebinding): a pod
 * that mounts PersistentVolumeClaims fits a node only if
 *  - every claim exists and is not being deleted (else: persistentvolumeclaim "x" not found);
 *  - every bound claim's volume may be used on the node (its nodeAffinity);
 *  - every unbound claim is WaitForFirstConsumer (an unbound Immediate claim waits for its
 *    binding, not for a node) and can be satisfied on the node: a matching Available volume
 *    usable there, or a class whose provisioner Stratus runs (stratus.io/local-volume).
 * After the bind the scheduler records its choice on each unbound claim
 * (volume.kubernetes.io/selected-node), and the volume controller provisions or binds for that
 * node. Claims, volumes and classes are read once per scheduling batch (loadVolumeView), only
 * when a pending pod mounts a claim, and attached to the batch's snapshot.
 */

/** The claims, volumes and classes a batch of pods needs. Contract: read-only. */
export interface VolumeView {
  claim(namespace: string, name: string): KubeObject | undefined;
  storageClass(name: string): KubeObject | undefined;
  volume(name: string): KubeObject | undefined;
  readonly volumes: readonly KubeObject[];
}

export function volumeView(claims: readonly KubeObject[], volumes: readonly KubeObject[], classes: readonly KubeObject[]): VolumeView {
  const claimMap = new Map(claims.map((c) => [`${c.metadata.namespace}/${c.metadata.name}`, c]));
  const volumeMap = new Map(volumes.map((v) => [v.metadata.name!, v]));
  const classMap = new Map(classes.map((c) => [c.metadata.name!, c]));
  return {
    claim: (ns, name) => claimMap.get(`${ns}/${name}`),
    storageClass: (name) => classMap.get(name),
    volume: (name) => volumeMap.get(name),
    volumes,
  };
}

const views = new WeakMap<ClusterSnapshot, VolumeView>();

/** Makes `view` what VolumeBinding sees for decisions on `cluster`. */
export function attachVolumeView(cluster: ClusterSnapshot, view: VolumeView | undefined): void {
  if (view) views.set(cluster, view);
}

/** Reads what the pods' claims need; undefined (and no reads) when none of them mounts a claim. */
export async function loadVolumeView(store: ObjectStore, tenant: string, pods: readonly KubeObject[]): Promise<VolumeView | undefined> {
  if (!pods.some((p) => podClaimNames(p).length > 0)) return undefined;
  const [claims, volumes, classes] = await Promise.all([
    store.list(tenant, resourceByName('persistentvolumeclaims'), { versioned: false }),
    store.list(tenant, resourceByName('persistentvolumes'), { versioned: false }),
    store.list(tenant, resourceByName('storageclasses'), { versioned: false }),
  ]);
  return volumeView(claims.items, volumes.items, classes.items);
}

export const REASONS = {
  notFound: (name: string) => `persistentvolumeclaim "${name}" not found`,
  deleting: (name: string) => `persistentvolumeclaim "${name}" is being deleted`,
  unboundImmediate: 'pod has unbound immediate PersistentVolumeClaims',
  missingVolume: 'node(s) unavailable due to one or more pvc(s) bound to non-existent pv(s)',
  affinityConflict: 'node(s) had volume node affinity conflict',
  noVolume: "node(s) didn't find available persistent volumes to bind",
} as const;

/** What VolumeBinding works out once per pod (Kubernetes' PreFilter). */
interface PodVolumes {
  readonly problem?: string;
  readonly bound: KubeObject[];
  readonly unbound: { claim: KubeObject; storageClass: KubeObject | undefined }[];
}

function podVolumes(pod: KubeObject, view: VolumeView): PodVolumes {
  const ns = pod.metadata.namespace ?? 'default';
  const bound: KubeObject[] = [];
  const unbound: PodVolumes['unbound'] = [];
  for (const name of podClaimNames(pod)) {
    const claim = view.claim(ns, name);
    if (!claim) return { problem: REASONS.notFound(name), bound, unbound };
    if (claim.metadata.deletionTimestamp) return { problem: REASONS.deleting(name), bound, unbound };
    const volumeName = (claim as Claim).spec?.volumeName;
    if (volumeName) {
      const volume = view.volume(volumeName);
      if (!volume) return { problem: REASONS.missingVolume, bound, unbound };
      bound.push(volume);
      continue;
    }
    const storageClass = view.storageClass(claimClass(claim));
    if (!isWaitForFirstConsumer(storageClass)) return { problem: REASONS.unboundImmediate, bound, unbound };
    unbound.push({ claim, storageClass });
  }
  return { bound, unbound };
}

const STATE_KEY = 'VolumeBinding';

export const VolumeBinding: FilterPlugin = {
  name: 'VolumeBinding',
  skips: (pod) => podClaimNames(pod).length === 0,
  filter(pod, node, cluster, state: CycleState) {
    if (podClaimNames(pod).length === 0) return fits;
    // No view attached: this snapshot was built by a caller that does not load volumes; the
    // node agent still waits for the claims to be bound before it starts the pod.
    const view = views.get(cluster);
    if (!view) return fits;
    let pv = state.get(STATE_KEY) as PodVolumes | undefined;
    if (!pv) {
      pv = podVolumes(pod, view);
      state.set(STATE_KEY, pv);
    }
    if (pv.problem) return unfit(pv.problem);
    if (!pv.bound.every((v) => volumeAllowsNode(v, node.node))) return unfit(REASONS.affinityConflict);
    for (const { claim, storageClass } of pv.unbound) {
      if (findMatchingVolume(claim, view.volumes, node.node)) continue;
      if (canProvision(storageClass)) continue;
      return unfit(REASONS.noVolume);
    }
    return fits;
  },
};

/**
 * After a bind: records the node on the pod's unbound claims (Kubernetes' PreBind), so the volume
 * controller provisions there. Best effort: the volume controller falls back to the node of a
 * bound pod that uses the claim, so a failure here only costs time.
 */
export async function annotateSelectedNode(store: ObjectStore, tenant: string, pod: KubeObject, nodeName: string): Promise<void> {
  const claims = resourceByName('persistentvolumeclaims');
  for (const name of podClaimNames(pod)) {
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        const claim = await store.get(tenant, claims, pod.metadata.namespace, name);
        if (!claim || (claim as Claim).spec?.volumeName || selectedNodeOf(claim) === nodeName) break;
        await store.update(tenant, claims, { ...claim, metadata: { ...claim.metadata, annotations: { ...claim.metadata.annotations, [STORAGE.selectedNodeAnnotation]: nodeName } } }, claim.metadata.resourceVersion!);
        break;
      } catch (e) {
        if (isConflict(e)) continue;
        if (!isNotFound(e)) console.warn(JSON.stringify({ level: 'warn', message: 'selected-node annotation not written', claim: name, error: String(e) }));
        break;
      }
    }
  }
}

const phaseOf = (o: KubeObject | undefined) => (o?.status as { phase?: string } | undefined)?.phase;

/** Whether a change may let a pod waiting on its claims fit now (the scheduler then retries pending pods). */
export function volumeChangeMayUnblock(c: ObjectChange): boolean {
  if (c.resource === 'persistentvolumeclaims')
    return c.eventName === 'INSERT' || (c.eventName === 'MODIFY' && (c.oldObject as Claim | undefined)?.spec?.volumeName !== (c.newObject as Claim | undefined)?.spec?.volumeName);
  if (c.resource === 'persistentvolumes') return c.eventName === 'INSERT' || (c.eventName === 'MODIFY' && phaseOf(c.newObject) === 'Available' && phaseOf(c.oldObject) !== 'Available');
  if (c.resource === 'storageclasses') return c.eventName === 'INSERT';
  return false;
}
