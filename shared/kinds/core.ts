import type { KubeObject, ResourceType } from '../resources';
import type { PodSpec } from '../schemas/pod';
import { EventSchema, LeaseSchema, NamespaceSchema, NodeSchema, PodSchema } from '../schemas';
import { validatePod, defaultPod, qosClass } from '../validation/pod';
import { identity, noValidation } from './common';
import { healSystemNamespaces } from '../system-namespaces';
import { eventConvertor, leaseConvertor, namespaceConvertor, nodeConvertor, podConvertor } from '../printers/core';

/** core/v1 and coordination.k8s.io/v1 kinds of the foundation. */
export const coreTypes: readonly ResourceType[] = [
  {
    group: '',
    version: 'v1',
    resource: 'namespaces',
    table: namespaceConvertor,
    kind: 'Namespace',
    singular: 'namespace',
    namespaced: false,
    shortNames: ['ns'],
    subresources: ['status'],
    schema: NamespaceSchema,
    validate: noValidation,
    deletion: 'namespace',
    beforeRead: healSystemNamespaces,
    deleteCollection: false,
    fieldSelectors: { 'status.phase': (o) => (o.status as { phase?: string } | undefined)?.phase ?? '' },
    applyDefaults: (o) => ({
      ...o,
      // Kubernetes' namespace strategy keeps this label equal to the name on every write, so
      // selectors (a NetworkPolicy's namespaceSelector) can name a namespace.
      metadata: o.metadata.name ? { ...o.metadata, labels: { ...o.metadata.labels, 'kubernetes.io/metadata.name': o.metadata.name } } : o.metadata,
      spec: { finalizers: ['kubernetes'], ...(o.spec as object | undefined) },
      status: { phase: 'Active', ...(o.status as object | undefined) },
    }),
    nameIsLabel: true,
  },
  {
    group: '',
    version: 'v1',
    resource: 'pods',
    table: podConvertor,
    kind: 'Pod',
    singular: 'pod',
    namespaced: true,
    shortNames: ['po'],
    subresources: ['status', 'eviction', 'log', 'binding', 'exec', 'attach', 'portforward', 'proxy'],
    schema: PodSchema,
    validate: validatePod,
    applyDefaults: defaultPod,
    // Status is the system's to write; a new pod is Pending until scheduled and started.
    prepareForCreate: (o) => ({ ...o, status: { phase: 'Pending', qosClass: qosClass((o.spec ?? {}) as PodSpec) } }),
    deletion: 'graceful',
    allowUnconditionalUpdate: false,
    fieldSelectors: {
      'spec.nodeName': (o) => (o.spec as { nodeName?: string } | undefined)?.nodeName ?? '',
      'spec.restartPolicy': (o) => (o.spec as { restartPolicy?: string } | undefined)?.restartPolicy,
      'spec.schedulerName': (o) => (o.spec as { schedulerName?: string } | undefined)?.schedulerName,
      'spec.serviceAccountName': (o) => (o.spec as { serviceAccountName?: string } | undefined)?.serviceAccountName ?? '',
      'status.phase': (o) => (o.status as { phase?: string } | undefined)?.phase ?? '',
      'status.podIP': (o) => (o.status as { podIP?: string } | undefined)?.podIP ?? '',
      'status.nominatedNodeName': (o) => (o.status as { nominatedNodeName?: string } | undefined)?.nominatedNodeName ?? '',
    },
    nameIsLabel: false,
  },
  {
    group: '',
    version: 'v1',
    resource: 'nodes',
    table: nodeConvertor,
    kind: 'Node',
    singular: 'node',
    namespaced: false,
    shortNames: ['no'],
    subresources: ['status'],
    schema: NodeSchema,
    validate: noValidation,
    fieldSelectors: { 'spec.unschedulable': (o) => String((o.spec as { unschedulable?: boolean } | undefined)?.unschedulable ?? false) },
    applyDefaults: identity,
    nameIsLabel: false,
  },
  {
    group: '',
    version: 'v1',
    resource: 'events',
    table: eventConvertor,
    kind: 'Event',
    singular: 'event',
    namespaced: true,
    shortNames: ['ev'],
    subresources: [],
    schema: EventSchema,
    validate: noValidation,
    allowCreateOnUpdate: true,
    fieldSelectors: {
      ...Object.fromEntries(
        ['kind', 'namespace', 'name', 'uid', 'apiVersion', 'resourceVersion', 'fieldPath'].map((f) => [
          `involvedObject.${f}`,
          (o: KubeObject) => String((o.involvedObject as Record<string, unknown> | undefined)?.[f] ?? ''),
        ]),
      ),
      reason: (o) => String(o.reason ?? ''),
      type: (o) => String(o.type ?? ''),
      source: (o) => String((o.source as { component?: string } | undefined)?.component ?? ''),
    },
    applyDefaults: identity,
    nameIsLabel: false,
  },
  {
    group: 'coordination.k8s.io',
    version: 'v1',
    resource: 'leases',
    table: leaseConvertor,
    kind: 'Lease',
    singular: 'lease',
    namespaced: true,
    shortNames: [],
    subresources: [],
    schema: LeaseSchema,
    validate: noValidation,
    allowCreateOnUpdate: true,
    applyDefaults: identity,
    nameIsLabel: false,
  },
];

