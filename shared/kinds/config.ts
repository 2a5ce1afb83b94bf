import type { ResourceType } from '../resources';

/** core/v1 ConfigMap, Secret, PersistentVolume(Claim) and the like (issue #5). */
export const configTypes: readonly ResourceType[] = [];
