/**
 * The node's own bridge (--pod-network node-bridge): every pod of this node on one Docker bridge
 * network whose subnet is the Node's spec.podCIDR (a /24 of the deployment-wide pool, so no two
 * nodes on a host overlap, whichever cluster they belong to: shared/store/pod-cidrs.ts), each
 * sandbox with a fixed address of it, and this node's filtering in one nftables table.
 * docs/networking.md has the design and its diagram; in short:
 *
 * - Names come from the podCIDR, unique in the deployment: 10.128.5.0/24 → bridge interface,
 *   Docker network and nft table `stratus-0a8005` (the /24's 24 network bits in hex; 14
 *   characters, within Linux's 15 for an interface name).
 * - Addresses: .1 is the bridge (the pods' gateway), pods get .2–.254. The uid → address map is
 *   a file under the agent's root dir (written before the sandbox is made), so a re-created
 *   sandbox and a restarted agent keep every pod's address; Docker keeps the address of a
 *   running sandbox in its own endpoint config.
 * - No NAT between pods: Docker's masquerade is off for the network
 *   (com.docker.network.bridge.enable_ip_masquerade=false); the node's table masquerades only
 *   what goes from its pods to outside the pool. On one host every bridge is a connected route,
 *   so pods of several local nodes reach each other by pod IP through the host's routing.
 * - Filtering (tenant isolation), on interfaces, never on source addresses (pods can spoof):
 *   the table's forward chain drops what enters or leaves this bridge from or to a bridge not of
 *   this node's cluster (set `cluster_ifs`, kept from the cluster's Node list), to Docker's own
 *   bridges, and to 169.254.169.254; its input chain drops what pods send to the host except
 *   replies and the addresses in set `host_ports` (the API's pod-facing address, the cluster DNS:
 *   seams for the Services slice). A drop in any table is final, but an accept is not: the host's
 *   FORWARD policy is DROP and Docker isolates bridges from each other, so what this table lets
 *   through from the bridge is accepted by one rule in Docker's DOCKER-USER chain (iptables),
 *   `-i stratus-0a8005 -j ACCEPT`, added after the table exists.
 * - Rules are idempotent and survive restarts: the table carries a hash of its static part in its
 *   comment, and is replaced (in one transaction, never leaving a moment without it) only when
 *   that changes; set elements change by `nft -f` transactions of only what changed. Nothing is
 *   removed when the agent stops (its pods keep running): destroyNodeBridge removes it all.
 * - resolv.conf: a user-defined network makes Docker write 127.0.0.11 (its embedded DNS) into
 *   the sandbox, so after the sandbox starts the agent writes the file Docker mounts in every
 *   container of the pod (as dockershim did): the host's resolvers without loopback ones (Docker's
 *   rule for the default bridge), or dnsConfig for dnsPolicy None. `dnsFor` is the seam for the
 *   cluster DNS.
 * - hairpin_mode is set on every port of the bridge after each sandbox starts.
 */
import { execFile } from 'node:child_process';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import type Docker from 'dockerode';
import { type PodDns, type PodNetwork, type SandboxNetwork } from './pod-network';
import type { ClusterView } from './cluster-view';
import { DnsServer } from './dns-server';
import { kubeletPodDns } from './pod-dns';
import { isolationRules, replaceTableScript, tableHash, type HostPort } from './isolation-rules';
import type { Pod, PodKey } from '../types';
import { errorMessage, type Logger } from '../log';

const run = promisify(execFile);

/** Labels on what this network makes in Docker. */
export const NETWORK_LABELS = { tenant: 'io.stratus.tenant', node: 'io.stratus.node', podCIDR: 'io.stratus.pod-cidr' } as const;

/** The id of a node's network objects, from its /24: `stratus-0a8005` for 10.128.5.0/24. */
export function bridgeName(podCIDR: string): string {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.0\/24$/.exec(podCIDR);
  if (!m) throw new Error(`pod CIDR ${JSON.stringify(podCIDR)} is not a /24`);
  const hex = m.slice(1, 4).map((o) => Number(o).toString(16).padStart(2, '0')).join('');
  return `stratus-${hex}`;
}

const prefix24 = (podCIDR: string) => podCIDR.replace(/\.0\/24$/, '');
export const gatewayOf = (podCIDR: string) => `${prefix24(podCIDR)}.1`;

/** The lowest pod address (.2–.254) not in use, or undefined when the /24 is full. */
export function freeAddress(podCIDR: string, used: ReadonlySet<string>): string | undefined {
  for (let i = 2; i <= 254; i++) {
    const ip = `${prefix24(podCIDR)}.${i}`;
    if (!used.has(ip)) return ip;
  }
  return undefined;
}

/** The host's resolvers as pods get them: loopback ones dropped (Docker's rule), Google's when none is left. */
export function podResolvers(hostResolvConf: string): PodDns {
  const nameservers: string[] = [];
  let searches: string[] = [];
  const options: string[] = [];
  for (const raw of hostResolvConf.split('\n')) {
    const line = raw.replace(/[#;].*$/, '').trim();
    const [key, ...rest] = line.split(/\s+/);
    if (key === 'nameserver' && rest[0] && !/^127\./.test(rest[0]) && rest[0] !== '::1') nameservers.push(rest[0]);
    else if (key === 'search' || key === 'domain') searches = rest;
    else if (key === 'options') options.push(...rest);
  }
  return { nameservers: nameservers.length ? nameservers : ['8.8.8.8', '8.8.4.4'], searches, options };
}

/** A resolv.conf file of a PodDns. */
export function resolvConf(dns: PodDns): string {
  const lines = dns.nameservers.map((n) => `nameserver ${n}`);
  if (dns.searches.length) lines.push(`search ${dns.searches.join(' ')}`);
  if (dns.options.length) lines.push(`options ${dns.options.join(' ')}`);
  return `${lines.join('\n')}\n`;
}

export interface NodeBridgeOptions {
  readonly docker: Docker;
  readonly tenant: string;
  readonly nodeName: string;
  /** Where the address map lives (the agent's per-node root dir). */
  readonly stateDir: string;
  /** The whole deployment's pod CIDR pool: what is not in it is outside the cluster (masqueraded). */
  readonly podCidrPool: string;
  /** The podCIDRs of this cluster's Nodes (this one included), read from the API. */
  readonly clusterPodCIDRs: () => Promise<string[]>;
  /** host address . protocol . port pods may reach on the host (the API's pod-facing address, DNS). @default none */
  readonly hostPorts?: readonly HostPort[];
  readonly log: Logger;
  /**
   * Period of the cluster_ifs sync (one Node list per period: on AWS an api invocation each; the
   * Services slice's change fan-out to nodes should carry Node ranges too). @default 15 s
   */
  readonly syncSeconds?: number;
  /** The host's resolv.conf. @default /etc/resolv.conf */
  readonly hostResolvConf?: string;
  /** The node's podCIDRs when already known (configure sets them otherwise). @default none */
  readonly podCIDRs?: readonly string[];
  /**
   * The cluster DNS: with a view, the node serves DNS on its gateway (dns-server.ts), DNATs
   * `clusterDNS`:53 from its pods there, and pods get resolv.conf as the kubelet writes it.
   * Without one, pods get the host's resolvers (no cluster names). @default none
   */
  readonly clusterView?: ClusterView;
  /** The kube-dns Service's ClusterIP (the kubelet's clusterDNS). @default 10.96.0.10 */
  readonly clusterDNS?: string;
  /** @default cluster.local */
  readonly clusterDomain?: string;
}

/** The nft script of a node's table (static part: what its comment hashes). */
export function tableScript(podCIDR: string, pool: string, hostPorts: NodeBridgeOptions['hostPorts'] = [], clusterDNS?: string): { name: string; body: string; hash: string } {
  const name = bridgeName(podCIDR);
  const gateway = gatewayOf(podCIDR);
  // The node's own DNS answers its pods on the gateway: its address is one pods may reach.
  if (clusterDNS) hostPorts = [...hostPorts, { address: gateway, protocol: 'udp', port: 53 }, { address: gateway, protocol: 'tcp', port: 53 }];
  const body = [
    `  set cluster_ifs { type ifname; }`,
    // This cluster's other bridges pass both ways; other clusters' and Docker's are dropped.
    ...isolationRules({ bridge: name, hostPorts, acceptTo: '@cluster_ifs', acceptFrom: '@cluster_ifs' }),
    `  chain postrouting {`,
    `    type nat hook postrouting priority srcnat + 10; policy accept;`,
    `    ip saddr ${podCIDR} ip daddr != ${pool} oifname != "${name}" masquerade`,
    `  }`,
    // NodeLocal DNSCache's trick: the kube-dns ClusterIP from this node's pods is this node's DNS,
    // before (priority) and without the service proxy.
    ...(clusterDNS
      ? [
          `  chain dns {`,
          `    type nat hook prerouting priority dstnat - 10; policy accept;`,
          `    iifname "${name}" ip daddr ${clusterDNS} udp dport 53 dnat ip to ${gateway}:53`,
          `    iifname "${name}" ip daddr ${clusterDNS} tcp dport 53 dnat ip to ${gateway}:53`,
          `  }`,
        ]
      : []),
  ].join('\n');
  return { name, body, hash: tableHash(body) };
}

/** Runs an nft script (one transaction). */
export async function nft(script: string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const child = execFile('nft', ['-f', '-'], (err, _out, stderr) => (err ? reject(new Error(`nft: ${stderr || err.message}`)) : resolve()));
    child.stdin!.end(script);
  });
}

async function nftJson(args: string[]): Promise<unknown> {
  const { stdout } = await run('nft', ['-j', ...args]);
  return JSON.parse(stdout) as unknown;
}

/**
 * The comment of table inet NAME, null when it has none, or undefined when there is no such table.
 * Read from nft's text listing: nft 1.0.x leaves table comments out of its JSON.
 */
export async function tableComment(name: string): Promise<string | undefined | null> {
  let listing: string;
  try {
    listing = (await run('nft', ['list', 'table', 'inet', name])).stdout;
  } catch {
    return undefined;
  }
  return parseTableComment(listing);
}

/** The table-level comment of one `nft list table` listing (the line right after its header). */
export function parseTableComment(listing: string): string | null {
  return /^table \S+ \S+ \{\n\s*comment "((?:[^"\\]|\\.)*)"\s*$/m.exec(listing)?.[1] ?? null;
}

async function setElements(table: string, set: string): Promise<string[]> {
  const out = (await nftJson(['list', 'set', 'inet', table, set])) as { nftables?: { set?: { elem?: unknown[] } }[] };
  const elems = out.nftables?.find((x) => x.set)?.set?.elem ?? [];
  return elems.filter((e): e is string => typeof e === 'string');
}

const dockerUserRule = (name: string) => ['DOCKER-USER', '-i', name, '-m', 'comment', '--comment', `stratus:${name}`, '-j', 'ACCEPT'];

async function ensureDockerUserAccept(name: string): Promise<void> {
  try {
    await run('iptables', ['-w', '-C', ...dockerUserRule(name)]);
  } catch {
    const [chain, ...rest] = dockerUserRule(name);
    await run('iptables', ['-w', '-I', chain!, '1', ...rest]);
  }
}

/**
 * Removes a node bridge: its Docker network (with any container still on it disconnected), its
 * nft table and its DOCKER-USER rule. For tests and for a node that is gone for good.
 */
export async function destroyNodeBridge(docker: Docker, podCIDR: string): Promise<void> {
  const name = bridgeName(podCIDR);
  try {
    await docker.getNetwork(name).remove();
  } catch {
    // gone already
  }
  for (;;) {
    try {
      await run('iptables', ['-w', '-D', ...dockerUserRule(name)]);
    } catch {
      break;
    }
  }
  await nft(`add table inet ${name}\ndelete table inet ${name}\n`).catch(() => undefined);
  // The service proxy's table of this bridge (service-proxy.ts), which outlives its agent by design.
  await nft(`add table ip ${name}-svc\ndelete table ip ${name}-svc\n`).catch(() => undefined);
  // The NetworkPolicy table of this bridge (network-policy.ts), which outlives its agent too.
  await nft(`add table ip ${name}-pol\ndelete table ip ${name}-pol\n`).catch(() => undefined);
}

export class NodeBridgeNetwork implements PodNetwork {
  readonly name = 'node-bridge';
  private cidrs: string[] = [];
  private timer: NodeJS.Timeout | undefined;
  private addresses: Record<string, string> | undefined;
  private lock: Promise<unknown> = Promise.resolve();
  private dns: DnsServer | undefined;

  constructor(private readonly opts: NodeBridgeOptions) {
    this.cidrs = [...(opts.podCIDRs ?? [])];
  }

  get podCIDRs(): readonly string[] {
    return this.cidrs;
  }

  private get podCIDR(): string {
    const c = this.cidrs[0];
    if (!c) throw new Error('the node has no podCIDR yet');
    return c;
  }

  private get bridge(): string {
    return bridgeName(this.podCIDR);
  }

  private get stateFile(): string {
    return join(this.opts.stateDir, 'network', 'addresses.json');
  }

  /** Called once the Node is registered: makes (or finds) the bridge, the table, the DOCKER-USER accept. */
  async configure(podCIDRs: readonly string[]): Promise<void> {
    this.cidrs = [...podCIDRs];
    const cidr = this.podCIDR;
    const name = this.bridge;
    await this.ensureDockerNetwork(cidr, name);
    const t = tableScript(cidr, this.opts.podCidrPool, this.opts.hostPorts, this.opts.clusterView ? this.clusterDNS : undefined);
    if ((await tableComment(name)) !== t.hash) {
      // One transaction: the table is replaced, never absent, and keeps the cluster_ifs it had (the
      // sync below brings them up to date), so a restart drops no packet between this cluster's nodes.
      const keep = await setElements(name, 'cluster_ifs').catch(() => []);
      const carry = keep.length ? `add element inet ${name} cluster_ifs { ${keep.map((x) => `"${x}"`).join(', ')} }\n` : '';
      await nft(`${replaceTableScript(name, t.hash, t.body)}${carry}`);
      this.opts.log.info('node bridge table written', { table: name });
    }
    await ensureDockerUserAccept(name);
    if (this.opts.clusterView && !this.dns) {
      const dns = new DnsServer({
        view: this.opts.clusterView,
        address: gatewayOf(cidr),
        clusterDomain: this.opts.clusterDomain ?? 'cluster.local',
        resolvConfPath: this.opts.hostResolvConf ?? '/etc/resolv.conf',
        log: this.opts.log,
      });
      await dns.start();
      this.dns = dns;
    }
    await this.syncClusterInterfaces();
    const period = (this.opts.syncSeconds ?? 15) * 1000;
    this.timer = setInterval(() => {
      void this.syncClusterInterfaces().catch((e: unknown) => this.opts.log.warn('cluster interface sync failed', { error: errorMessage(e) }));
    }, period);
    this.timer.unref();
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    void this.dns?.close();
    this.dns = undefined;
  }

  private get clusterDNS(): string {
    return this.opts.clusterDNS ?? '10.96.0.10';
  }

  private async ensureDockerNetwork(cidr: string, name: string): Promise<void> {
    const { docker, tenant, nodeName } = this.opts;
    try {
      const info = (await docker.getNetwork(name).inspect()) as Docker.NetworkInspectInfo;
      const labels = info.Labels ?? {};
      if (labels[NETWORK_LABELS.tenant] === tenant && labels[NETWORK_LABELS.node] === nodeName) return;
      // Another node's, left behind after its /24 went back to the pool: only if empty.
      if (Object.keys(info.Containers ?? {}).length > 0) throw new Error(`Docker network ${name} belongs to node ${labels[NETWORK_LABELS.tenant]}/${labels[NETWORK_LABELS.node]} and has containers`);
      await docker.getNetwork(name).remove();
    } catch (e) {
      if ((e as { statusCode?: number }).statusCode !== 404) throw e;
    }
    await docker.createNetwork({
      Name: name,
      Driver: 'bridge',
      CheckDuplicate: true,
      IPAM: { Driver: 'default', Config: [{ Subnet: cidr, Gateway: gatewayOf(cidr) }] },
      Options: {
        'com.docker.network.bridge.name': name,
        'com.docker.network.bridge.enable_ip_masquerade': 'false',
        'com.docker.network.bridge.enable_icc': 'true',
      },
      Labels: { [NETWORK_LABELS.tenant]: tenant, [NETWORK_LABELS.node]: nodeName, [NETWORK_LABELS.podCIDR]: cidr },
    });
    this.opts.log.info('node bridge network created', { network: name, subnet: cidr });
  }

  /** cluster_ifs := the bridges of this cluster's nodes, by a transaction of only what changed. */
  async syncClusterInterfaces(): Promise<void> {
    const name = this.bridge;
    const want = new Set([name]);
    for (const c of await this.opts.clusterPodCIDRs()) {
      try {
        want.add(bridgeName(c));
      } catch {
        // not a /24 of ours: no bridge here
      }
    }
    const have = new Set(await setElements(name, 'cluster_ifs'));
    const add = [...want].filter((x) => !have.has(x));
    const del = [...have].filter((x) => !want.has(x));
    if (!add.length && !del.length) return;
    const lines = [];
    if (add.length) lines.push(`add element inet ${name} cluster_ifs { ${add.map((x) => `"${x}"`).join(', ')} }`);
    if (del.length) lines.push(`delete element inet ${name} cluster_ifs { ${del.map((x) => `"${x}"`).join(', ')} }`);
    await nft(`${lines.join('\n')}\n`);
    this.opts.log.info('cluster interfaces changed', { table: name, added: add, removed: del });
  }

  private async loadAddresses(): Promise<Record<string, string>> {
    if (this.addresses) return this.addresses;
    try {
      this.addresses = JSON.parse(await readFile(this.stateFile, 'utf8')) as Record<string, string>;
    } catch {
      this.addresses = {};
    }
    return this.addresses;
  }

  private async saveAddresses(map: Record<string, string>): Promise<void> {
    await mkdir(dirname(this.stateFile), { recursive: true });
    const tmp = `${this.stateFile}.tmp`;
    await writeFile(tmp, JSON.stringify(map));
    await rename(tmp, this.stateFile);
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.lock.then(fn, fn);
    this.lock = next.catch(() => undefined);
    return next;
  }

  /** The pod's address: the one it has, else the lowest free (Docker's own endpoints count as used). */
  private address(uid: string): Promise<string> {
    return this.serial(async () => {
      const map = await this.loadAddresses();
      const known = map[uid];
      if (known) return known;
      const used = new Set(Object.values(map));
      used.add(gatewayOf(this.podCIDR));
      try {
        const info = (await this.opts.docker.getNetwork(this.bridge).inspect()) as Docker.NetworkInspectInfo;
        for (const c of Object.values(info.Containers ?? {})) used.add(c.IPv4Address.replace(/\/\d+$/, ''));
      } catch {
        // no network to read: the map alone
      }
      const ip = freeAddress(this.podCIDR, used);
      if (!ip) throw new Error(`no free pod address in ${this.podCIDR}`);
      map[uid] = ip;
      await this.saveAddresses(map);
      return ip;
    });
  }

  /** The pod's DNS as the kubelet makes it (pod-dns.ts); without a cluster DNS, ClusterFirst falls back to Default. */
  async dnsFor(pod: Pod): Promise<PodDns> {
    const host = podResolvers(await readFile(this.opts.hostResolvConf ?? '/etc/resolv.conf', 'utf8').catch(() => ''));
    return kubeletPodDns(pod, { host, ...(this.opts.clusterView ? { clusterDNS: this.clusterDNS } : {}), clusterDomain: this.opts.clusterDomain ?? 'cluster.local' }).dns;
  }

  async setUp(pod: Pod): Promise<SandboxNetwork> {
    const ip = await this.address(pod.metadata.uid);
    return { networkMode: this.bridge, endpoint: { IPAMConfig: { IPv4Address: ip } } };
  }

  async afterSandboxStart(pod: Pod, sandbox: Docker.ContainerInspectInfo): Promise<void> {
    if (sandbox.ResolvConfPath) await writeFile(sandbox.ResolvConfPath, resolvConf(await this.dnsFor(pod)));
    await this.hairpin();
  }

  /** hairpin_mode on every port of the bridge (a pod reaching itself through a Service). */
  private async hairpin(): Promise<void> {
    const dir = `/sys/class/net/${this.bridge}/brif`;
    let ports: string[] = [];
    try {
      ports = readdirSync(dir);
    } catch {
      return;
    }
    for (const p of ports) await writeFile(join(dir, p, 'hairpin_mode'), '1').catch(() => undefined);
  }

  podIPs(sandbox: Docker.ContainerInspectInfo): string[] {
    const nets = sandbox.NetworkSettings?.Networks ?? {};
    const mine = this.cidrs[0] ? nets[this.bridge] : undefined;
    const n = mine ?? Object.values(nets)[0];
    return n?.IPAddress ? [n.IPAddress] : [];
  }

  async tearDown(pod: PodKey): Promise<void> {
    await this.serial(async () => {
      const map = await this.loadAddresses();
      if (!(pod.uid in map)) return;
      delete map[pod.uid];
      await this.saveAddresses(map);
    });
  }
}
