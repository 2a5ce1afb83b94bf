import type { z } from 'zod';
import type { StatusCause } from './errors';
import { EventSchema, LeaseSchema, NamespaceSchema, NodeSchema, PodSchema, type ObjectMeta } from './schemas';
import { dns1123LabelProblem, dns1123SubdomainProblem } from './schemas/meta';
import { validatePod, defaultPod } from './validation/pod';

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
  readonly subresources: readonly ('status')[];
  readonly schema: z.ZodType;
  /** Semantic validation beyond the schema's shape; each problem becomes a 422 cause. */
  readonly validate: (obj: KubeObject, old?: KubeObject) => StatusCause[];
  /** Fills in defaults, as Kubernetes' defaulting does, on create and update. */
  readonly applyDefaults: (obj: KubeObject) => KubeObject;
  /** Whether `metadata.name` must be an RFC 1123 label (63) rather than a subdomain (253). */
  readonly nameIsLabel: boolean;
}

export const apiVersionOf = (rt: ResourceType): string => (rt.group ? `${rt.group}/${rt.version}` : rt.version);

const noValidation = () => [];
const identity = (o: KubeObject) => o;

export const resourceTypes: readonly ResourceType[] = [
  {
    group: '',
    version: 'v1',
    resource: 'namespaces',
    kind: 'Namespace',
    singular: 'namespace',
    namespaced: false,
    shortNames: ['ns'],
    subresources: ['status'],
    schema: NamespaceSchema,
    validate: noValidation,
    applyDefaults: (o) => ({
      ...o,
      spec: { finalizers: ['kubernetes'], ...(o.spec as object | undefined) },
      status: { phase: 'Active', ...(o.status as object | undefined) },
    }),
    nameIsLabel: true,
  },
  {
    group: '',
    version: 'v1',
    resource: 'pods',
    kind: 'Pod',
    singular: 'pod',
    namespaced: true,
    shortNames: ['po'],
    subresources: ['status'],
    schema: PodSchema,
    validate: validatePod,
    applyDefaults: defaultPod,
    nameIsLabel: false,
  },
  {
    group: '',
    version: 'v1',
    resource: 'nodes',
    kind: 'Node',
    singular: 'node',
    namespaced: false,
    shortNames: ['no'],
    subresources: ['status'],
    schema: NodeSchema,
    validate: noValidation,
    applyDefaults: identity,
    nameIsLabel: false,
  },
  {
    group: '',
    version: 'v1',
    resource: 'events',
    kind: 'Event',
    singular: 'event',
    namespaced: true,
    shortNames: ['ev'],
    subresources: [],
    schema: EventSchema,
    validate: noValidation,
    applyDefaults: identity,
    nameIsLabel: false,
  },
  {
    group: 'coordination.k8s.io',
    version: 'v1',
    resource: 'leases',
    kind: 'Lease',
    singular: 'lease',
    namespaced: true,
    shortNames: [],
    subresources: [],
    schema: LeaseSchema,
    validate: noValidation,
    applyDefaults: identity,
    nameIsLabel: false,
  },
];

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
