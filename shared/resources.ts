import type { z } from 'zod';
import type { StatusCause } from './errors';
import type { ObjectMeta } from './schemas';
import type { ObjectStore } from './store/store';
import type { TableConvertor } from './printers/columns';
import { patchTableFor, type PatchTable } from './patch/strategy';
import { dns1123LabelProblem, dns1123SubdomainProblem } from './schemas/meta';
import { appsTypes } from './kinds/apps';
import { batchTypes } from './kinds/batch';
import { configTypes } from './kinds/config';
import { coreTypes } from './kinds/core';
import { policyTypes } from './kinds/policy';
import { replicationTypes } from './kinds/replication';
import { serviceTypes } from './kinds/service';
import { ingressTypes } from './kinds/ingress';
import { storageTypes } from './kinds/storage';
import { rbacTypes } from './kinds/rbac';
import { authorizationTypes } from './kinds/authorization';
import { serviceAccountTypes } from './kinds/serviceaccount';
import { metricsTypes } from './kinds/metrics';
import { autoscalingTypes } from './kinds/autoscaling';
import { quotaTypes } from './kinds/quota';
import { networkPolicyTypes } from './kinds/network-policy';
import type { RegistryContext, Target } from './registry/context';
import type { ListOutcome, ListQuery } from './registry/generic';

export type Subresource = 'status' | 'scale' | 'log' | 'binding' | 'eviction' | 'exec' | 'attach' | 'portforward' | 'proxy' | 'ephemeralcontainers' | 'token';

/** Any stored Kubernetes object: typed fields are checked by the kind's zod schema. */
export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
  [field: string]: unknown;
}

/**
 * One served resource type and its strategy (as Kubernetes' pkg/registry/.../strategy.go): what
 * the kind is (group, version, names, scope, schema) and how the generic registry
 * (shared/registry/generic.ts) treats it. REST handling, admission, discovery, openapi, field
 * selectors and Table output read only this declaration; a new kind is a new entry (see the
 * README's "Adding a kind"). Optional fields have the defaults their comments state.
 */
export interface ResourceType {
  readonly group: string;
  readonly version: string;
  /** Plural, lower case, as in the URL: `pods`. */
  readonly resource: string;
  readonly kind: string;
  readonly singular: string;
  readonly namespaced: boolean;
  readonly shortNames: readonly string[];
  readonly subresources: readonly Subresource[];
  readonly schema: z.ZodType;
  /** Semantic validation beyond the schema's shape; each problem becomes a 422 cause. */
  readonly validate: (obj: KubeObject, old?: KubeObject) => StatusCause[];
  /** Fills in defaults, as Kubernetes' defaulting does, on create and update. */
  readonly applyDefaults: (obj: KubeObject) => KubeObject;
  /** Whether `metadata.name` must be an RFC 1123 label (63) rather than a subdomain (253). */
  readonly nameIsLabel: boolean;
  /**
   * PrepareForCreate: what the system owns on a new object, whatever the client sent (a pod's
   * status starts Pending). Default: the object as defaulted.
   */
  readonly prepareForCreate?: (obj: KubeObject) => KubeObject;
  /**
   * PrepareForUpdate: carries over from the stored object what the client may leave out of an
   * update (a Service's allocated ClusterIP and NodePorts), after defaults, before validation.
   * Default: the object as defaulted.
   */
  readonly prepareForUpdate?: (obj: KubeObject, old: KubeObject) => KubeObject;
  /**
   * BeginCreate/BeginUpdate: claims what the object holds outside itself (a Service's ClusterIP
   * and NodePorts), once it is valid and before it is written; under dry-run it only checks.
   * The registry runs the returned `abort` when the write fails and `commit` once it succeeded
   * (giving back what the old state held and the new one does not). Errors are StatusErrors.
   * Default: nothing to claim.
   */
  readonly allocate?: (ctx: RegistryContext, obj: KubeObject, old: KubeObject | undefined, dryRun: boolean) => Promise<Allocation>;
  /** After the object is removed for good, whichever path removed it: gives back what it held. */
  readonly release?: (ctx: RegistryContext, obj: KubeObject) => Promise<void>;
  /**
   * How DELETE proceeds. `graceful`: an object running on a node gets deletionTimestamp and a
   * grace period, its node agent finishes the deletion (pods). `namespace`: it goes Terminating,
   * its contents are deleted, then it goes. Default: finalizers and propagationPolicy decide.
   */
  readonly deletion?: 'graceful' | 'namespace';
  /** Propagation when a DELETE names none. Default: Background. */
  readonly defaultPropagation?: 'Orphan' | 'Background' | 'Foreground';
  /** A PUT of an object that does not exist creates it (Kubernetes: Leases, Events). Default: false. */
  readonly allowCreateOnUpdate?: boolean;
  /** A PUT without metadata.resourceVersion overwrites the latest state. Default: true. */
  readonly allowUnconditionalUpdate?: boolean;
  /** DELETE of the collection is served (Kubernetes serves none for namespaces). Default: true. */
  readonly deleteCollection?: boolean;
  /**
   * Field selectors this kind supports beyond metadata.name and metadata.namespace, with how
   * each field is read (Kubernetes' GetAttrs / field label conversion).
   */
  readonly fieldSelectors?: Readonly<Record<string, (o: KubeObject) => string | undefined>>;
  /** Runs before a get or list of this kind (the namespaces' self-heal of the system namespaces). */
  readonly beforeRead?: (store: ObjectStore, tenant: string) => Promise<void>;
  /**
   * Strategic-merge-patch metadata by field path (list merge keys and strategies, from the
   * Kubernetes schema's patchStrategy/patchMergeKey tags); absent: the table of the kind's
   * GroupKind in shared/patch/strategy.ts (patchTableOf).
   */
  readonly patchTable?: PatchTable;
  /** `kubectl get` columns and cells (shared/printers); absent: NAME and AGE. */
  readonly table?: TableConvertor;
  /** The name rule, when not a DNS label or subdomain (RBAC names are path segments). */
  readonly nameProblem?: (name: string) => string | undefined;
  /** Every write bumps the cluster's RBAC generation (the authorizer's cache key). Default: false. */
  readonly bumpsRbacGeneration?: boolean;
  /**
   * A kind served for create only, whose answer is computed from the request and never stored
   * (Kubernetes' SelfSubjectAccessReview and the like): the decoded object in, the response out.
   */
  readonly createOnly?: (ctx: RegistryContext, obj: KubeObject) => Promise<KubeObject>;
  /**
   * Read-only REST storage of its own instead of the store (Kubernetes' rest.Getter/Lister, as
   * metrics-server serves metrics.k8s.io): only get and list are served, nothing is stored.
   */
  readonly rest?: ReadOnlyRest;
  /**
   * A version served from another version's storage (autoscaling/v1 HorizontalPodAutoscaler from
   * v2's): a decoded body goes to the stored version before defaulting and validation (which are
   * the stored version's), and what is returned comes back. Absent: stored as served.
   */
  readonly conversion?: { readonly toStorage: (o: KubeObject) => KubeObject; readonly fromStorage: (o: KubeObject) => KubeObject };
}

/** A kind's own read-only storage (see ResourceType.rest). */
export interface ReadOnlyRest {
  get(ctx: RegistryContext, t: Target): Promise<KubeObject>;
  list(ctx: RegistryContext, t: Target, q: ListQuery): Promise<ListOutcome>;
}

/** Whether a kind's objects live in the store (every kind but those with their own read-only storage). */
export const isStored = (rt: ResourceType): boolean => rt.rest === undefined;

/** What a strategy's allocate hook claimed for one write. */
export interface Allocation {
  readonly object: KubeObject;
  readonly abort: () => Promise<void>;
  readonly commit: () => Promise<void>;
}

/** The strategy's status rules: status is written only through /status when the kind has it. */
export const hasStatusSubresource = (rt: ResourceType): boolean => rt.subresources.includes('status');

/** The strategic-merge-patch table a kind's patches and managedFields use. */
export const patchTableOf = (rt: ResourceType): PatchTable => rt.patchTable ?? patchTableFor(rt.group, rt.kind);

export const apiVersionOf = (rt: ResourceType): string => (rt.group ? `${rt.group}/${rt.version}` : rt.version);

/**
 * Every served kind, one file per API area under shared/kinds/ (so areas grow independently).
 */
export const resourceTypes: readonly ResourceType[] = [...coreTypes, ...appsTypes, ...batchTypes, ...configTypes, ...policyTypes, ...storageTypes, ...replicationTypes, ...rbacTypes, ...authorizationTypes, ...serviceAccountTypes, ...metricsTypes, ...autoscalingTypes, ...serviceTypes, ...ingressTypes, ...quotaTypes, ...networkPolicyTypes];

export function findResource(group: string, version: string, resource: string): ResourceType | undefined {
  return resourceTypes.find((r) => r.group === group && r.version === version && r.resource === resource);
}

export function resourceByName(resource: string): ResourceType {
  const rt = resourceTypes.find((r) => r.resource === resource);
  if (!rt) throw new Error(`unknown resource ${resource}`);
  return rt;
}

export function nameProblem(rt: ResourceType, name: string): string | undefined {
  if (rt.nameProblem) return rt.nameProblem(name);
  return rt.nameIsLabel ? dns1123LabelProblem(name) : dns1123SubdomainProblem(name);
}
