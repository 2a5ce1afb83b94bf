import type { ResourceType } from '../resources';

/** apps/v1: Deployment, ReplicaSet, DaemonSet, StatefulSet (issue #4). */
export const appsTypes: readonly ResourceType[] = [];
