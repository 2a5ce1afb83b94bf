import type { ResourceType } from '../resources';
import type { ObjectStore } from '../store/store';

/** Who a request speaks for (authentication's result, k8s.io/apiserver user.Info). */
export interface UserInfo {
  readonly username: string;
  readonly groups: readonly string[];
  readonly extra?: Readonly<Record<string, readonly string[]>>;
  readonly uid?: string;
}

/**
 * What every registry operation runs with: one tenant's store and who asks. The api function
 * makes one per request; a controller or the scheduler one per reconcile (so what admission
 * plugins memoise in `memo`, such as namespace lookups, lives as long as that unit of work).
 */
export interface RegistryContext {
  readonly store: ObjectStore;
  readonly tenant: string;
  /** The caller; absent for the system's own components. */
  readonly user?: UserInfo;
  /** True when the caller is a node agent (group system:nodes). */
  readonly nodeIdentity?: boolean;
  /** Per-context memo for admission plugins (keyed by plugin). */
  readonly memo?: Map<string, unknown>;
}

/** One object or collection of a kind: the URL's resource, namespace, name and subresource. */
export interface Target {
  readonly rt: ResourceType;
  readonly namespace?: string;
  readonly name?: string;
  readonly subresource?: string;
}

/** A controller's or component's context: the system itself, with a memo for the run. */
export const systemContext = (store: ObjectStore, tenant: string): RegistryContext => ({ store, tenant, memo: new Map() });
