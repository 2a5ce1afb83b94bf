/**
 * Names of object-item attributes that the CDK wiring (infra/wiring.ts, stream filters) reads
 * as well as the store: kept here, free of dependencies, so infra/ imports no store code.
 */

/**
 * On a node's item: its last write changed only the allocation sums (a bind, a release), not the
 * node object; the next write of the object removes it (shared/store/store.ts).
 */
export const ALLOC_ONLY_ATTRIBUTE = 'allocOnly';
