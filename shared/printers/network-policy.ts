import { formatLabelSelector } from '../validation/label-selector';
import { AGE, age, col, NAME, rec, type TableConvertor } from './columns';

/* `kubectl get networkpolicy` columns, as Kubernetes' printNetworkPolicy: NAME, POD-SELECTOR, AGE. */

export const networkPolicies: TableConvertor = {
  columns: [
    NAME,
    col(
      'Pod-Selector',
      'Selects the pods to which this NetworkPolicy object applies. The array of ingress rules is applied to any pods selected by this field. Multiple network policies can select the same set of pods. In this case, the ingress rules for each are combined additively. This field is NOT optional and follows standard label selector semantics. An empty podSelector matches all pods in this namespace.',
    ),
    AGE,
  ],
  cells: (o, now) => [o.metadata.name, formatLabelSelector(rec(o.spec).podSelector as Parameters<typeof formatLabelSelector>[0]), age(o, now)],
};
