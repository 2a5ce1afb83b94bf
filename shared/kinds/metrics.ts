import { z } from 'zod';
import type { ResourceType } from '../resources';
import { getNodeMetrics, getPodMetrics, listNodeMetrics, listPodMetrics } from '../metrics/resource-metrics';
import { ObjectMetaSchema } from '../schemas/meta';
import { identity } from './common';

/*
 * Issue #17: metrics.k8s.io/v1beta1 NodeMetrics and PodMetrics, served as metrics-server serves
 * them (read-only, get and list, nothing stored): each read asks the node agents hosting the
 * objects for their usage (shared/metrics/).
 */

const Usage = z.record(z.string(), z.string());
const NodeMetricsSchema = z.looseObject({
  apiVersion: z.string().optional(),
  kind: z.string().optional(),
  metadata: ObjectMetaSchema,
  timestamp: z.string().optional(),
  window: z.string().optional(),
  usage: Usage.optional(),
});
const PodMetricsSchema = z.looseObject({
  apiVersion: z.string().optional(),
  kind: z.string().optional(),
  metadata: ObjectMetaSchema,
  timestamp: z.string().optional(),
  window: z.string().optional(),
  containers: z.array(z.looseObject({ name: z.string(), usage: Usage })).optional(),
});

const readOnly = { validate: () => [], applyDefaults: identity, nameIsLabel: false, subresources: [], shortNames: [], deleteCollection: false } as const;

export const metricsTypes: readonly ResourceType[] = [
  {
    ...readOnly,
    group: 'metrics.k8s.io',
    version: 'v1beta1',
    resource: 'nodes',
    kind: 'NodeMetrics',
    singular: 'nodemetrics',
    namespaced: false,
    schema: NodeMetricsSchema,
    rest: { get: (ctx, t) => getNodeMetrics(ctx, t.name!), list: (ctx, _t, q) => listNodeMetrics(ctx, q) },
  },
  {
    ...readOnly,
    group: 'metrics.k8s.io',
    version: 'v1beta1',
    resource: 'pods',
    kind: 'PodMetrics',
    singular: 'podmetrics',
    namespaced: true,
    schema: PodMetricsSchema,
    rest: { get: getPodMetrics, list: listPodMetrics },
  },
];
