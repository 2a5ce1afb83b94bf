import { AGE, age, arr, col, NAME, rec, str, type TableConvertor } from './columns';

/* `kubectl get ingress` / `ingressclass` columns, as Kubernetes' printIngress and printIngressClass. */

/** formatHosts: up to three hosts, ` + N more...`, `*` when no rule names one. */
export function ingressHosts(rules: unknown): string {
  const list: string[] = [];
  const all = arr(rules);
  let more = false;
  for (const r of all) {
    if (list.length === 3) more = true;
    if (!more && str(r.host)) list.push(str(r.host));
  }
  if (list.length === 0) return '*';
  return more ? `${list.join(',')} + ${all.length - 3} more...` : list.join(',');
}

export const ingresses: TableConvertor = {
  columns: [
    NAME,
    col('Class', 'The name of the IngressClass resource.'),
    col('Hosts', 'Hosts that incoming requests are matched against before the ingress rule'),
    col('Address', 'Address is a list containing ingress points for the load-balancer'),
    col('Ports', 'Ports of TLS configurations that open'),
    AGE,
  ],
  cells: (o, now) => {
    const spec = rec(o.spec);
    const address = arr(rec(rec(o.status).loadBalancer).ingress)
      .map((i) => str(i.ip) || str(i.hostname))
      .filter(Boolean)
      .join(',');
    return [o.metadata.name, str(spec.ingressClassName) || '<none>', ingressHosts(spec.rules), address, arr(spec.tls).length > 0 ? '80, 443' : '80', age(o, now)];
  },
};

export const ingressClasses: TableConvertor = {
  columns: [NAME, col('Controller', 'Controller that is responsible for handling this class'), col('Parameters', 'A reference to a resource with additional parameters'), AGE],
  cells: (o, now) => {
    const spec = rec(o.spec);
    const p = spec.parameters === undefined ? undefined : rec(spec.parameters);
    const parameters = p ? `${str(p.kind)}${str(p.apiGroup) ? `.${str(p.apiGroup)}` : ''}/${str(p.name)}` : '<none>';
    return [o.metadata.name, str(spec.controller), parameters, age(o, now)];
  },
};
