import type { ResourceType } from '../resources';

/** policy/v1 PodDisruptionBudget, scheduling.k8s.io PriorityClass and the like (issue #6). */
export const policyTypes: readonly ResourceType[] = [];
