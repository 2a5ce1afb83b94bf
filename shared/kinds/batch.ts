import type { ResourceType } from '../resources';

/** batch/v1: Job, CronJob (issue #4). */
export const batchTypes: readonly ResourceType[] = [];
