import type { KubeObject } from '../../shared/resources';
import type { LabelSelector } from '../../shared/schemas/apps';
import { selectorMatches } from '../../shared/kinds/apps';
import { controllerRefOf, type OwnerReference } from './common';

/** What a controller owns after adopting and releasing, as Kubernetes' ControllerRefManager decides. */
export interface Claim {
  readonly owned: KubeObject[];
  /** Orphans that match the selector: take them (copies with our controllerRef added). */
  readonly adopt: KubeObject[];
  /** Ours but no longer matching: let go (copies with our reference removed). */
  readonly release: KubeObject[];
}

/**
 * Claims objects for `owner`: its own that still match, plus matching orphans (not while the
 * owner or the orphan is being deleted); its own that stopped matching are released.
 * Pure: returns updated copies, never mutates its input.
 */
export function claim(owner: KubeObject, selector: LabelSelector | undefined, candidates: readonly KubeObject[], ref: OwnerReference): Claim {
  const owned: KubeObject[] = [];
  const adopt: KubeObject[] = [];
  const release: KubeObject[] = [];
  const ownerDeleting = !!owner.metadata.deletionTimestamp;
  for (const o of candidates) {
    const cref = controllerRefOf(o);
    const matches = selectorMatches(selector, o.metadata.labels);
    if (cref) {
      if (cref.uid !== owner.metadata.uid) continue; // someone else's
      if (matches) owned.push(o);
      else if (!ownerDeleting && !o.metadata.deletionTimestamp) {
        const refs = (o.metadata.ownerReferences ?? []).filter((r) => r.uid !== owner.metadata.uid);
        const copy = structuredClone(o);
        if (refs.length) copy.metadata.ownerReferences = refs;
        else delete copy.metadata.ownerReferences;
        release.push(copy);
      }
      continue;
    }
    if (!matches || ownerDeleting || o.metadata.deletionTimestamp) continue;
    const copy = structuredClone(o);
    copy.metadata.ownerReferences = [...(o.metadata.ownerReferences ?? []).filter((r) => r.uid !== ref.uid), ref];
    adopt.push(copy);
    owned.push(copy);
  }
  return { owned, adopt, release };
}
