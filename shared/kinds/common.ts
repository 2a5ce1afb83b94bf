import type { KubeObject } from '../resources';

/** For kinds with no checks beyond their schema. */
export const noValidation = () => [];
/** For kinds with no defaults. */
export const identity = (o: KubeObject) => o;

/**
 * PrepareForCreate of a kind with a status subresource: the status a client sent is dropped and
 * the object starts from Kubernetes' zero status, as its Go type serializes it (the fields that
 * are not `omitempty` appear as zeros, e.g. a ReplicaSet's `replicas: 0`). Clients read those
 * fields straight after a create (the official Python client reads a new Deployment's status).
 */
export const freshStatus =
  (zero: Record<string, unknown>) =>
  (o: KubeObject): KubeObject => ({ ...o, status: structuredClone(zero) });
