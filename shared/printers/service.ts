import { AGE, age, arr, col, NAME, num, rec, str, type TableConvertor } from './columns';

/*
 * `kubectl get` columns of Services, Endpoints and EndpointSlices, as Kubernetes' printers
 * (pkg/printers/internalversion/printers.go: printService, printEndpoints, printEndpointSlice).
 */

const formatLabels = (labels: unknown) =>
  Object.entries((labels ?? {}) as Record<string, string>)
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([k, v]) => `${k}=${v}`)
    .join(',') || '<none>';

/** makePortString: `80/TCP`, `80:30080/TCP`, comma-separated. */
export function servicePorts(ports: unknown): string {
  return arr(ports)
    .map((p) => (num(p.nodePort) > 0 ? `${num(p.port)}:${num(p.nodePort)}/${str(p.protocol)}` : `${num(p.port)}/${str(p.protocol)}`))
    .join(',');
}

const LB_WIDTH = 16;

/** getServiceExternalIP: external IPs, a LoadBalancer's ingress (or <pending>), an ExternalName's name. */
export function serviceExternalIp(spec: Record<string, unknown>, status: Record<string, unknown>, wide: boolean): string {
  const external = (spec.externalIPs ?? []) as string[];
  switch (str(spec.type)) {
    case 'ClusterIP':
    case 'NodePort':
      return external.length > 0 ? external.join(',') : '<none>';
    case 'LoadBalancer': {
      const ingress = arr(rec(status.loadBalancer).ingress)
        .map((i) => str(i.ip) || str(i.hostname))
        .filter(Boolean);
      const all = [...ingress, ...external];
      if (all.length === 0) return '<pending>';
      const joined = all.join(',');
      return !wide && joined.length > LB_WIDTH ? `${joined.slice(0, LB_WIDTH - 3)}...` : joined;
    }
    case 'ExternalName':
      return str(spec.externalName);
    default:
      return '<unknown>';
  }
}

export const services: TableConvertor = {
  columns: [
    NAME,
    col('Type', 'type determines how the Service is exposed.'),
    col('Cluster-IP', 'clusterIP is the IP address of the service and is usually assigned randomly.'),
    col('External-IP', 'externalIPs is a list of IP addresses for which nodes in the cluster will also accept traffic for this service.'),
    col('Port(s)', 'The list of ports that are exposed by this service.'),
    AGE,
    col('Selector', 'Route service traffic to pods with label keys and values matching this selector.', 1),
  ],
  cells: (o, now) => {
    const spec = rec(o.spec);
    const ips = (spec.clusterIPs ?? []) as string[];
    return [o.metadata.name, str(spec.type), ips[0] ?? '<none>', serviceExternalIp(spec, rec(o.status), false), servicePorts(spec.ports) || '<none>', age(o, now), formatLabels(spec.selector)];
  },
};

const MAX_SHOWN = 3;

/** formatEndpoints: up to three `ip:port`, then ` + N more...`. */
export function endpointsCell(subsets: unknown): string {
  const list = arr(subsets);
  if (list.length === 0) return '<none>';
  const shown: string[] = [];
  let count = 0;
  let more = false;
  for (const ss of list) {
    const addresses = arr(ss.addresses).map((a) => str(a.ip));
    const ports = arr(ss.ports);
    const pairs = ports.length === 0 ? addresses : ports.flatMap((p) => addresses.map((ip) => `${ip}:${num(p.port)}`));
    count += pairs.length;
    for (const pair of pairs) {
      if (shown.length === MAX_SHOWN) {
        more = true;
        break;
      }
      shown.push(pair);
    }
  }
  const joined = shown.join(',');
  if (more) return `${joined} + ${count - MAX_SHOWN} more...`;
  return joined || '<none>';
}

export const endpoints: TableConvertor = {
  columns: [NAME, col('Endpoints', 'Endpoints is the list of endpoints.'), AGE],
  cells: (o, now) => [o.metadata.name, endpointsCell(o.subsets), age(o, now)],
};

/** listWithMoreString: up to three, ` + N more...`, `<unset>` when empty. */
function listWithMore(values: string[]): string {
  const shown = values.slice(0, MAX_SHOWN).join(',');
  if (values.length > MAX_SHOWN) return `${shown} + ${values.length - MAX_SHOWN} more...`;
  return shown || '<unset>';
}

export const endpointSlices: TableConvertor = {
  columns: [
    NAME,
    col('AddressType', 'The IP protocol for this slice'),
    col('Ports', 'The ports of this slice'),
    col('Endpoints', 'The endpoints of this slice'),
    AGE,
  ],
  cells: (o, now) => [
    o.metadata.name,
    str(o.addressType),
    listWithMore(arr(o.ports).map((p) => (typeof p.port === 'number' ? String(p.port) : str(p.name) || '*'))),
    listWithMore(arr(o.endpoints).flatMap((e) => (e.addresses ?? []) as string[])),
    age(o, now),
  ],
};
