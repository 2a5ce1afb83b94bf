import { canonicalJson } from '../../shared/canonical';
import { resourceByName } from '../../shared/resources';
import type { NodeQueues } from '../../shared/queue';
import type { ObjectChange } from '../../shared/store/changes';
import type { ObjectStore } from '../../shared/store/store';

/*
 * Getting Service changes to every node (docs/networking.md, docs/cost.md): after a stream batch
 * that changed any Service or EndpointSlice of a cluster, one `{"kind":"services"}` message goes to
 * each node queue of that cluster (shared/queue.ts signalServices); the agents list again
 * (node-agent/network/api-cluster-view.ts). A batch of 100 changes is one message per node, and
 * no process holds a watch. A failed send is logged, not retried: each agent also lists every
 * 5 minutes.
 */

/** Whether a change is one the nodes' service proxies, DNS and Ingress proxies must see (an Ingress's status write is not). */
export const changesServices = (c: ObjectChange): boolean =>
  (c.group === '' && c.resource === 'services') ||
  (c.group === 'discovery.k8s.io' && c.resource === 'endpointslices') ||
  (c.group === 'networking.k8s.io' && c.resource === 'ingressclasses') ||
  (c.group === 'networking.k8s.io' && c.resource === 'ingresses' && canonicalJson([c.oldObject?.spec, c.oldObject?.metadata.annotations]) !== canonicalJson([c.newObject?.spec, c.newObject?.metadata.annotations]));

/** Sends the services signal to every node of the cluster; resolves to the number reached. */
export async function signalServiceChange(store: ObjectStore, queues: NodeQueues, tenant: string): Promise<number> {
  const { items } = await store.list(tenant, resourceByName('nodes'), { versioned: false });
  const names = items.map((n) => n.metadata.name!).filter(Boolean);
  return names.length ? queues.signalServices(tenant, names) : 0;
}
