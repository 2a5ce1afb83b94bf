/**
 * NodePorts of two clusters on one host (pure; service-proxy.ts runs nft and records the Events).
 *
 * NodePorts are allocated per cluster, so two clusters with nodes on one host may both hold port
 * 30080; both node tables would DNAT the host's traffic to it, and the first table nft runs takes
 * it: one tenant's NodePort traffic silently served by another tenant's pods. Kubernetes has one
 * cluster per host, so no answer there; here the first to program a NodePort on the host keeps it:
 *
 * - every service table's `node_ports` map carries its cluster in its comment
 *   (`cluster=<name>`, proxyTableScript), which `nft -j list maps ip` returns with the elements
 *   (unlike table comments, which nft 1.0 leaves out of JSON): one call reads the whole host;
 * - before it programs a Service's NodePorts, the agent drops those another cluster's table on
 *   this host already has (a table without the comment counts as another cluster's: an older
 *   agent's, whose cluster is unknown) and records a Warning `NodePortConflict` on the Service;
 * - its own other tables (two nodes of one cluster on one host) are not a conflict: they serve the
 *   very same Services;
 * - two agents programming one port in the same instant may both find it free; every 30 s each
 *   agent reads the host again, and where two tables hold a port, the one whose name sorts later
 *   gives it up (`yields`), so the host converges on one.
 */
import type { ProxyRuleset } from './service-rules';

/** The comment on a service table's node_ports map, naming its cluster. */
export const nodePortsComment = (cluster: string): string => `cluster=${cluster}`;

/** A NodePort held on this host by another cluster's service table. */
export interface ForeignNodePort {
  /** The node_ports key, `tcp . 30080`. */
  readonly key: string;
  /** The table holding it. */
  readonly table: string;
  /** Its cluster; undefined when its table does not say (an older agent's). */
  readonly cluster: string | undefined;
}

interface NftMap {
  readonly name?: unknown;
  readonly table?: unknown;
  readonly comment?: unknown;
  readonly elem?: unknown;
}

/** The `proto . port` key of one element of a node_ports map in nft's JSON (`[{concat: ["tcp", 30080]}, verdict]`). */
function elementKey(elem: unknown): string | undefined {
  const key = Array.isArray(elem) ? (elem[0] as unknown) : undefined;
  const concat = (key as { concat?: unknown } | undefined)?.concat;
  if (!Array.isArray(concat) || concat.length !== 2) return undefined;
  const [proto, port] = concat as unknown[];
  if (typeof proto !== 'string' || (typeof port !== 'number' && typeof port !== 'string')) return undefined;
  return `${proto} . ${port}`;
}

/**
 * The NodePorts other clusters' service tables hold on this host, by key, from `nft -j list maps
 * ip`: every `node_ports` map of a table named `*-svc` other than `ownTable` whose comment does not
 * name `ownCluster`.
 */
export function foreignNodePorts(listMapsJson: unknown, ownTable: string, ownCluster: string): Map<string, ForeignNodePort> {
  const out = new Map<string, ForeignNodePort>();
  const items = (listMapsJson as { nftables?: unknown } | undefined)?.nftables;
  if (!Array.isArray(items)) return out;
  for (const item of items) {
    const map = (item as { map?: NftMap }).map;
    if (!map || map.name !== 'node_ports' || typeof map.table !== 'string' || !map.table.endsWith('-svc') || map.table === ownTable) continue;
    const m = typeof map.comment === 'string' ? /^cluster=(\S+)$/.exec(map.comment) : null;
    const cluster = m?.[1];
    if (cluster === ownCluster) continue;
    for (const e of Array.isArray(map.elem) ? (map.elem as unknown[]) : []) {
      const key = elementKey(e);
      if (key && !out.has(key)) out.set(key, { key, table: map.table, cluster });
    }
  }
  return out;
}

/**
 * Whether this table gives up a NodePort another cluster's table has too: always when it does not
 * hold it yet (the first to program it keeps it); when both hold it (two agents programmed it in
 * the same instant), the table whose name sorts first keeps it, so both agents agree.
 */
export const yields = (f: ForeignNodePort, ownTable: string, held: boolean): boolean => !held || f.table < ownTable;

/**
 * A Service's share without the NodePorts held by another cluster, and those it gave up. `held`:
 * whether this table holds a key already (for this Service).
 */
export function withoutForeignNodePorts(
  rules: ProxyRuleset,
  foreign: ReadonlyMap<string, ForeignNodePort>,
  ownTable = '',
  held: (key: string) => boolean = () => false,
): { rules: ProxyRuleset; refused: ForeignNodePort[] } {
  const refused = [...rules.node_ports.keys()].flatMap((k) => {
    const f = foreign.get(k);
    return f && yields(f, ownTable, held(k)) ? [f] : [];
  });
  if (!refused.length) return { rules, refused };
  const nodePorts = new Map(rules.node_ports);
  for (const f of refused) nodePorts.delete(f.key);
  return { rules: { ...rules, node_ports: nodePorts }, refused };
}

/** The Event's message for a Service's refused NodePorts: never names the other cluster (another tenant's name). */
export function nodePortConflictMessage(refused: readonly ForeignNodePort[], nodeName: string): string {
  const ports = refused.map((f) => {
    const [proto, port] = f.key.split(' . ');
    return `${port}/${(proto ?? '').toUpperCase()}`;
  });
  const which = ports.length === 1 ? `NodePort ${ports[0]} is` : `NodePorts ${ports.join(', ')} are`;
  return `${which} already in use on the host of node ${nodeName} by another cluster's Service; node ${nodeName} does not serve ${ports.length === 1 ? 'it' : 'them'} (NodePorts are allocated per cluster: choose another nodePort, or run this cluster's nodes on hosts of their own)`;
}
