import type { z } from 'zod';
import type { StatusCause } from './errors';
import type { ObjectMeta } from './schemas';
import { dns1123LabelProblem, dns1123SubdomainProblem } from './schemas/meta';
import { appsTypes } from './kinds/apps';
import { batchTypes } from './kinds/batch';
import { configTypes } from './kinds/config';
import { coreTypes } from './kinds/core';
import { policyTypes } from './kinds/policy';
import { replicationTypes } from './kinds/replication';
import { storageTypes } from './kinds/storage';

export type Subresource = 'status' | 'scale' | 'log' | 'binding' | 'eviction' | 'exec' | 'attach' | 'portforward' | 'proxy' | 'ephemeralcontainers';

/** Any stored Kubernetes object: typed fields are checked by the kind's zod schema. */
export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
  [field: string]: unknown;
}

/**
 * One served resource type. The api function routes, validates and defaults through this
 * table; discovery (issue #3) is generated from it.
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
}

export const apiVersionOf = (rt: ResourceType): string => (rt.group ? `${rt.group}/${rt.version}` : rt.version);

/**
 * Every served kind, one file per API area under shared/kinds/ (so areas grow independently).
 */
export const resourceTypes: readonly ResourceType[] = [...coreTypes, ...appsTypes, ...batchTypes, ...configTypes, ...policyTypes, ...storageTypes, ...replicationTypes];

export function findResource(group: string, version: string, resource: string): ResourceType | undefined {
  return resourceTypes.find((r) => r.group === group && r.version === version && r.resource === resource);
}

export function resourceByName(resource: string): ResourceType {
  const rt = resourceTypes.find((r) => r.resource === resource);
  if (!rt) throw new Error(`unknown resource ${resource}`);
  return rt;
}

export function nameProblem(rt: ResourceType, name: string): string | undefined {
  return rt.nameIsLabel ? dns1123LabelProblem(name) : dns1123SubdomainProblem(name);
}
