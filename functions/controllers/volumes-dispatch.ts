import { resourceByName, type KubeObject } from '../../shared/resources';
import type { ObjectStore } from '../../shared/store/store';
import type { ObjectChange } from '../../shared/store/changes';
import type { ControllerKey } from './dispatch';
import { isTerminal } from './common';
import { podClaimNames, type Claim, type Volume } from './volumes-match';

/*
 * Which persistent volume controller keys one change concerns (volumes.ts reconciles them):
 *  - a claim: itself; when it goes, the volume it was bound to (and the one provisioned for it);
 *  - a volume: itself and the claim its claimRef names; a volume that became Available may
 *    satisfy any claim still Pending, so those are looked at too;
 *  - a pod that mounts claims: those claims when the pod is bound to a node (a WaitForFirstConsumer
 *    claim may provision now) and when it finishes or goes (pvc-protection may let a claim go).
 */

const phaseOf = (o: KubeObject | undefined) => (o?.status as { phase?: string } | undefined)?.phase;
const nodeNameOf = (o: KubeObject | undefined) => (o?.spec as { nodeName?: string } | undefined)?.nodeName;

export async function volumeKeysFor(c: ObjectChange, store: ObjectStore): Promise<ControllerKey[]> {
  const obj = c.newObject ?? c.oldObject;
  if (!obj) return [];
  const keys: ControllerKey[] = [];
  const claimKey = (namespace: string, name: string): ControllerKey => ({ controller: 'persistentvolumeclaims', namespace, name });
  const volumeKey = (name: string): ControllerKey => ({ controller: 'persistentvolumes', namespace: '', name });
  if (c.resource === 'persistentvolumeclaims') {
    keys.push(claimKey(obj.metadata.namespace!, obj.metadata.name!));
    if (c.eventName === 'REMOVE') {
      const volumeName = (obj as Claim).spec?.volumeName;
      if (volumeName) keys.push(volumeKey(volumeName));
      keys.push(volumeKey(`pvc-${obj.metadata.uid}`));
    }
  } else if (c.resource === 'persistentvolumes') {
    keys.push(volumeKey(obj.metadata.name!));
    for (const o of [c.oldObject, c.newObject]) {
      const ref = (o as Volume | undefined)?.spec?.claimRef;
      if (ref?.namespace && ref.name) keys.push(claimKey(ref.namespace, ref.name));
    }
    const nowAvailable = c.newObject && !(c.newObject as Volume).spec?.claimRef && phaseOf(c.newObject) === 'Available' && phaseOf(c.oldObject) !== 'Available';
    if (nowAvailable) {
      const { items } = await store.list(c.tenant, resourceByName('persistentvolumeclaims'), { versioned: false, filter: (o) => !(o as Claim).spec?.volumeName && !o.metadata.deletionTimestamp });
      for (const claim of items) keys.push(claimKey(claim.metadata.namespace!, claim.metadata.name!));
    }
  } else if (c.resource === 'pods') {
    const claims = new Set([...podClaimNames(c.oldObject), ...podClaimNames(c.newObject)]);
    if (claims.size === 0) return keys;
    const bound = !!nodeNameOf(c.newObject) && !nodeNameOf(c.oldObject);
    const finished = c.eventName === 'REMOVE' || (!!c.newObject && isTerminal(c.newObject) && !(c.oldObject && isTerminal(c.oldObject)));
    if (bound || finished) for (const name of claims) keys.push(claimKey(obj.metadata.namespace!, name));
  }
  return keys;
}
