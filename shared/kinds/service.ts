import type { KubeObject, ResourceType } from '../resources';
import { EndpointSliceSchema, EndpointsSchema, ServiceSchema } from '../schemas/service';
import { endpoints, endpointSlices, services } from '../printers/service';
import { allocateService, releaseService } from '../services/allocator';
import { defaultService, prepareServiceUpdate, validateService } from '../services/validation';
import { defaultEndpoints, defaultEndpointSlice, validateEndpoints, validateEndpointSlice } from '../services/endpoints-validation';

/*
 * Issue #15 (API side): core/v1 Service (ClusterIP, headless, NodePort, LoadBalancer,
 * ExternalName; ClusterIP and NodePort allocation in shared/services/allocator.ts), core/v1
 * Endpoints and discovery.k8s.io/v1 EndpointSlice.
 */

/** PrepareForCreate: status starts empty (`loadBalancer: {}`), whatever the client sent. */
const freshStatus = (o: KubeObject): KubeObject => ({ ...o, status: { loadBalancer: {} } });

export const serviceTypes: readonly ResourceType[] = [
  {
    group: '',
    version: 'v1',
    resource: 'services',
    table: services,
    kind: 'Service',
    singular: 'service',
    namespaced: true,
    shortNames: ['svc'],
    subresources: ['status', 'proxy'],
    schema: ServiceSchema,
    validate: validateService,
    applyDefaults: defaultService,
    prepareForCreate: freshStatus,
    prepareForUpdate: prepareServiceUpdate,
    allocate: allocateService,
    release: releaseService,
    // A Service's name becomes a DNS label (its cluster DNS name): RFC 1035 in Kubernetes.
    nameIsLabel: true,
  },
  {
    group: '',
    version: 'v1',
    resource: 'endpoints',
    table: endpoints,
    kind: 'Endpoints',
    singular: 'endpoints',
    namespaced: true,
    shortNames: ['ep'],
    subresources: [],
    schema: EndpointsSchema,
    validate: validateEndpoints,
    applyDefaults: defaultEndpoints,
    nameIsLabel: false,
  },
  {
    group: 'discovery.k8s.io',
    version: 'v1',
    resource: 'endpointslices',
    table: endpointSlices,
    kind: 'EndpointSlice',
    singular: 'endpointslice',
    namespaced: true,
    shortNames: [],
    subresources: [],
    schema: EndpointSliceSchema,
    validate: validateEndpointSlice,
    applyDefaults: defaultEndpointSlice,
    nameIsLabel: false,
  },
];
