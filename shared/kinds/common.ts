import type { KubeObject } from '../resources';

/** For kinds with no checks beyond their schema. */
export const noValidation = () => [];
/** For kinds with no defaults. */
export const identity = (o: KubeObject) => o;
