import { canonicalJson } from '../../shared/canonical';
import { resourceByName, type KubeObject } from '../../shared/resources';
import { SERVICE_NAME_LABEL, selects } from '../../shared/services/endpoints-compute';
import type { ObjectChange } from '../../shared/store/changes';
import type { ObjectStore } from '../../shared/store/store';
import type { ControllerKey } from './dispatch';

/*
 * Which Endpoints / EndpointSlice controller keys (one per Service) a change concerns:
 *  - a Service: itself;
 *  - a pod: the Services of its namespace whose selector matches its old or new labels, only when
 *    something an endpoint shows changed (labels, IP, node, readiness, phase, deletion, ports);
 *  - Endpoints: the slice controller's key (mirroring); a removal also the endpoints controller's
 *    (it makes them again while the Service lives);
 *  - an EndpointSlice: the slice controller's key of the Service it names.
 */

function endpointShape(p: KubeObject | undefined) {
  if (!p) return '';
  const status = (p.status ?? {}) as { podIP?: string; phase?: string; conditions?: { type: string; status: string }[] };
  const spec = (p.spec ?? {}) as { nodeName?: string; hostname?: string; subdomain?: string; containers?: { ports?: unknown }[] };
  return canonicalJson([
    p.metadata.labels ?? {},
    p.metadata.deletionTimestamp ?? null,
    status.podIP ?? null,
    status.phase ?? null,
    status.conditions?.find((c) => c.type === 'Ready')?.status ?? null,
    spec.nodeName ?? null,
    spec.hostname ?? null,
    spec.subdomain ?? null,
    (spec.containers ?? []).map((c) => c.ports ?? null),
  ]);
}

export async function serviceKeysFor(c: ObjectChange, store: ObjectStore): Promise<ControllerKey[]> {
  const obj = c.newObject ?? c.oldObject;
  if (!obj || c.group !== (c.resource === 'endpointslices' ? 'discovery.k8s.io' : '')) return [];
  const namespace = obj.metadata.namespace ?? '';
  const both = (name: string): ControllerKey[] => [
    { controller: 'endpoints', namespace, name },
    { controller: 'endpointslices', namespace, name },
  ];
  switch (c.resource) {
    case 'services':
      return both(obj.metadata.name!);
    case 'pods': {
      if (c.eventName === 'MODIFY' && endpointShape(c.oldObject) === endpointShape(c.newObject)) return [];
      const { items } = await store.list(c.tenant, resourceByName('services'), {
        namespace,
        versioned: false,
        filter: (svc) => selects(svc, c.oldObject?.metadata.labels) || selects(svc, c.newObject?.metadata.labels),
      });
      return items.flatMap((svc) => both(svc.metadata.name!));
    }
    case 'endpoints':
      return c.eventName === 'REMOVE' ? both(obj.metadata.name!) : [{ controller: 'endpointslices', namespace, name: obj.metadata.name! }];
    case 'endpointslices': {
      const service = obj.metadata.labels?.[SERVICE_NAME_LABEL];
      return service ? [{ controller: 'endpointslices', namespace, name: service }] : [];
    }
    default:
      return [];
  }
}
