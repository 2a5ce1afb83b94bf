import { canonicalJson } from '../../shared/canonical';
import { resourceByName, type KubeObject } from '../../shared/resources';
import { MAX_SIGNAL_CHANGES, type NodeQueues } from '../../shared/queue';
import type { ObjectChange } from '../../shared/store/changes';
import type { ObjectStore } from '../../shared/store/store';

/*
 * Getting Service changes to every node (docs/networking.md, docs/cost.md): after a stream batch
 * that changed any Service or EndpointSlice of a cluster (Ingresses, NetworkPolicies...), one
 * `{"kind":"services","changes":[...]}` message goes to each node queue of that cluster
 * (shared/queue.ts signalServices) naming the changed objects (`Kind/namespace/name`, up to
 * MAX_SIGNAL_CHANGES: beyond, none, and the agents list whole); the agents read only those
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

/** What a hostPort pod is to its node's service proxy (its hostPorts are DNATed to its address while it runs). */
function hostPortFacts(p: KubeObject | undefined): string {
  const containers = ((p?.spec as { containers?: { ports?: { hostPort?: number }[] }[] } | undefined)?.containers ?? []);
  if (!p || !containers.some((c) => (c.ports ?? []).some((x) => (x.hostPort ?? 0) > 0))) return '';
  const status = (p.status ?? {}) as { podIP?: string; phase?: string };
  return canonicalJson({ ip: status.podIP ?? '', phase: status.phase ?? '', deleting: !!p.metadata.deletionTimestamp, node: (p.spec as { nodeName?: string }).nodeName ?? '' });
}

/** A pod with hostPorts got or lost its address, finished or is deleting (its node's service proxy maps them). */
export const changesHostPorts = (c: ObjectChange): boolean => c.group === '' && c.resource === 'pods' && hostPortFacts(c.oldObject) !== hostPortFacts(c.newObject);

const KINDS: Readonly<Record<string, string>> = {
  '/services': 'Service',
  'discovery.k8s.io/endpointslices': 'EndpointSlice',
  'networking.k8s.io/ingresses': 'Ingress',
  'networking.k8s.io/ingressclasses': 'IngressClass',
  'networking.k8s.io/networkpolicies': 'NetworkPolicy',
  '/namespaces': 'Namespace',
  '/pods': 'Pod',
};

/** The signal's key of a changed object (`Kind/namespace/name`; undefined: a kind the nodes' view does not hold). */
export function changeKey(c: ObjectChange): string | undefined {
  const kind = KINDS[`${c.group}/${c.resource}`];
  const m = (c.newObject ?? c.oldObject)?.metadata;
  if (!kind || !m?.name) return undefined;
  return `${kind}/${m.namespace ?? ''}/${m.name}`;
}

/**
 * The changed objects of one cluster in one stream batch: their keys, or "all" once a change
 * could not be named or there are more than MAX_SIGNAL_CHANGES (the nodes then list whole).
 */
export class ChangedKeys {
  private keys: Set<string> | 'all' = new Set();

  add(c: ObjectChange): void {
    const k = changeKey(c);
    if (this.keys === 'all') return;
    if (k === undefined) this.keys = 'all';
    else {
      this.keys.add(k);
      if (this.keys.size > MAX_SIGNAL_CHANGES) this.keys = 'all';
    }
  }

  /** The keys to name, undefined for "list everything". */
  get named(): string[] | undefined {
    return this.keys === 'all' ? undefined : [...this.keys];
  }
}

/** Sends the services signal to every node of the cluster, naming `changes` (undefined: list everything); resolves to the number reached. */
export async function signalServiceChange(store: ObjectStore, queues: NodeQueues, tenant: string, changes?: readonly string[]): Promise<number> {
  const { items } = await store.list(tenant, resourceByName('nodes'), { versioned: false });
  const names = items.map((n) => n.metadata.name!).filter(Boolean);
  return names.length ? queues.signalServices(tenant, names, changes) : 0;
}
