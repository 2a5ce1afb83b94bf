import type Docker from 'dockerode';
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_DOCKER_BRIDGE_POOL,
  DOCKER_BRIDGE_LABELS,
  DockerBridgeNetwork,
  destroyDockerBridge,
  dockerBridgeHostPorts,
  dockerBridgeName,
  dockerBridgeSubnets,
  dockerBridgeTable,
  parseDockerBridgePool,
  parseHostRoutes,
  type NftTables,
} from '../../node-agent/network/docker-bridge';
import { podDns, sandboxHostConfig, type PodNetwork } from '../../node-agent/network/pod-network';
import type { Pod } from '../../node-agent/types';

type FakeNetwork = { Labels?: Record<string, string>; IPAM?: { Config?: { Subnet?: string; Gateway?: string }[] } };

const subnetOf = (n: FakeNetwork | Docker.NetworkCreateOptions) => n.IPAM?.Config?.[0]?.Subnet;

/**
 * A Docker with just the network calls, holding networks by name (a 404 for unknown ones). Its
 * creation refuses a taken name (409) and a subnet another network has, or one in `unlisted`
 * (networks made since the list), with Docker 20.10's 403 "Pool overlaps"; `subnetFirst` checks
 * the subnet before the name (a network of the name still being made).
 */
function fakeDocker(networks: Record<string, FakeNetwork> = {}, o: { unlisted?: string[]; subnetFirst?: boolean } = {}) {
  const created: Docker.NetworkCreateOptions[] = [];
  const notFound = () => Object.assign(new Error('no such network'), { statusCode: 404 });
  const docker = {
    getNetwork: (name: string) => ({ inspect: async () => networks[name] ?? Promise.reject(notFound()) }),
    listNetworks: async () => Object.entries(networks).map(([Name, n]) => ({ Name, ...n })),
    createNetwork: async (c: Docker.NetworkCreateOptions) => {
      created.push(c);
      const nameTaken = () => {
        if (networks[c.Name]) throw Object.assign(new Error(`(HTTP code 409) unexpected - network with name ${c.Name} already exists `), { statusCode: 409 });
      };
      const subnet = subnetOf(c);
      if (!o.subnetFirst) nameTaken();
      if (subnet && [...(o.unlisted ?? []), ...Object.values(networks).map(subnetOf)].includes(subnet)) {
        throw Object.assign(new Error('(HTTP code 403) unexpected - Pool overlaps with other one on this address space '), { statusCode: 403 });
      }
      nameTaken();
      networks[c.Name] = { Labels: c.Labels as Record<string, string>, ...(c.IPAM ? { IPAM: c.IPAM as FakeNetwork['IPAM'] } : {}) };
    },
  } as unknown as Docker;
  return { docker, created, networks };
}

/** nft tables in memory: the comment each table has, and every script applied. */
function fakeNft(comments: Record<string, string> = {}) {
  const scripts: string[] = [];
  const tables: NftTables = {
    comment: async (name) => comments[name],
    apply: async (script) => {
      scripts.push(script);
      const m = /table inet (\S+) \{\n {2}comment "([0-9a-f]+)"/.exec(script);
      if (m) comments[m[1]!] = m[2]!;
    },
  };
  return { tables, scripts };
}

const dockerBridge = (tenant = 't') => new DockerBridgeNetwork({ docker: fakeDocker().docker, tenant, nft: fakeNft().tables });

/*
 * The PodNetwork contract (node-agent/network/pod-network.ts), checked on every implementation
 * the agent can be configured with. Each runs without Docker: podIPs reads an inspect document,
 * setUp and tearDown of the default bridge touch nothing.
 */
const IMPLEMENTATIONS: { name: string; make: () => PodNetwork }[] = [{ name: 'docker-bridge', make: () => dockerBridge() }];

const pod = (spec: Record<string, unknown> = {}): Pod => ({
  metadata: { name: 'p', namespace: 'default', uid: 'uid-1' },
  spec: { containers: [{ name: 'main', image: 'busybox' }], ...spec },
});

/** A docker inspect document with just the network part filled. */
const inspected = (networks: Record<string, Partial<Docker.NetworkInfo>>): Docker.ContainerInspectInfo =>
  ({ HostConfig: { NetworkMode: 'bridge' }, NetworkSettings: { Networks: networks } }) as unknown as Docker.ContainerInspectInfo;

describe.each(IMPLEMENTATIONS)('PodNetwork contract: $name', ({ make }) => {
  it('answers the same sandbox network when set up again for the same pod (sandbox re-created)', async () => {
    // Prepare
    const net = make();
    // Act
    const first = await net.setUp(pod());
    const again = await net.setUp(pod());
    // Assess
    expect(again).toEqual(first);
    expect(sandboxHostConfig(first).NetworkMode).toBe(first.networkMode);
  });

  it('tears down safely twice, and for a pod it never set up (after an agent restart)', async () => {
    // Prepare
    const net = make();
    await net.setUp(pod());
    // Act / Assess
    await expect(net.tearDown({ uid: 'uid-1', namespace: 'default', name: 'p' })).resolves.toBeUndefined();
    await expect(net.tearDown({ uid: 'uid-1', namespace: 'default', name: 'p' })).resolves.toBeUndefined();
    await expect(net.tearDown({ uid: 'never-seen', namespace: 'default', name: 'q' })).resolves.toBeUndefined();
  });

  it('gives the pod DNS of dnsPolicy None with its dnsConfig', async () => {
    // Act
    const net = await make().setUp(pod({ dnsPolicy: 'None', dnsConfig: { nameservers: ['1.1.1.1'], searches: ['a.example'], options: [{ name: 'ndots', value: '2' }] } }));
    // Assess
    expect(sandboxHostConfig(net)).toMatchObject({ Dns: ['1.1.1.1'], DnsSearch: ['a.example'], DnsOptions: ['ndots:2'] });
  });

  it('reads at most one IP per family from an adopted sandbox, IPv4 first', () => {
    const ips = make().podIPs(inspected({ bridge: { IPAddress: '172.17.0.4', GlobalIPv6Address: 'fd00::4' } }));
    expect(ips).toEqual(['172.17.0.4', 'fd00::4']);
  });
});

describe('DockerBridgeNetwork', () => {
  it('puts sandboxes on the cluster\'s own network (never Docker\'s default bridge), with no podCIDR of its own', async () => {
    const net = dockerBridge('tenant-a');
    expect(await net.setUp(pod())).toEqual({ networkMode: dockerBridgeName('tenant-a') });
    expect(net.podCIDRs).toEqual([]);
  });

  it('names one network per cluster: distinct, within 15 characters, never a node-bridge name, matched by its stratus-* drops', () => {
    const a = dockerBridgeName('a');
    const b = dockerBridgeName('b');
    expect(a).not.toBe(b);
    expect(a).toBe(dockerBridgeName('a'));
    for (const n of [a, b]) {
      expect(n.length).toBeLessThanOrEqual(15);
      expect(n).toMatch(/^stratus-d[0-9a-f]{6}$/);
      expect(n).not.toMatch(/^stratus-[0-9a-f]{6}$/);
    }
  });

  it('makes the network, labelled with its cluster, and the table before the first pod; once', async () => {
    const { docker, created } = fakeDocker();
    const { tables, scripts } = fakeNft();
    const net = new DockerBridgeNetwork({ docker, tenant: 'a', nft: tables });
    await Promise.all([net.setUp(pod()), net.setUp(pod()), net.configure()]);
    expect(created).toHaveLength(1);
    expect(created[0]).toMatchObject({ Name: net.network, Driver: 'bridge', Labels: { [DOCKER_BRIDGE_LABELS.tenant]: 'a' }, Options: { 'com.docker.network.bridge.name': net.network } });
    expect(scripts).toHaveLength(1);
    expect(scripts[0]).toContain(`table inet ${net.network} {`);
  });

  it('leaves a table with the same content alone on restart, and replaces one that differs in one transaction', async () => {
    const { docker } = fakeDocker();
    const { tables, scripts } = fakeNft();
    await new DockerBridgeNetwork({ docker, tenant: 'a', nft: tables }).configure();
    await new DockerBridgeNetwork({ docker, tenant: 'a', nft: tables }).configure();
    expect(scripts).toHaveLength(1);
    await new DockerBridgeNetwork({ docker, tenant: 'a', nft: tables, hostPorts: [{ address: '172.17.0.1', protocol: 'tcp', port: 6443 }] }).configure();
    expect(scripts).toHaveLength(2);
    expect(scripts[1]).toMatch(/^add table inet (\S+)\ndelete table inet \1\ntable inet \1 \{/);
  });

  it.each([
    { what: 'this cluster\'s agent: uses it', owner: 'a', fails: false },
    { what: 'another cluster\'s: refuses it', owner: 'b', fails: true },
  ])('another agent of the host makes the network meanwhile (Docker: 403 same bridge name), $what', async ({ owner, fails }) => {
    const name = dockerBridgeName('a');
    const networks: Record<string, { Labels?: Record<string, string> }> = {};
    const docker = {
      getNetwork: () => ({ inspect: async () => networks[name] ?? Promise.reject(Object.assign(new Error('no such network'), { statusCode: 404 })) }),
      listNetworks: async () => [],
      createNetwork: async () => {
        networks[name] = { Labels: { [DOCKER_BRIDGE_LABELS.tenant]: owner } };
        throw Object.assign(new Error('networks have same bridge name'), { statusCode: 403 });
      },
    } as unknown as Docker;
    const setUp = new DockerBridgeNetwork({ docker, tenant: 'a', nft: fakeNft().tables }).setUp(pod());
    if (fails) await expect(setUp).rejects.toThrow(/belongs to cluster "b"/);
    else await expect(setUp).resolves.toEqual({ networkMode: name });
  });

  it.each([
    { what: 'readable after two more reads: uses it', pending: 2, otherFails: false },
    { what: 'the other creation failed: creates it itself', pending: 1, otherFails: true },
  ])('another agent\'s network conflicts (403 same bridge name) before Docker shows it, $what', async ({ pending: reads, otherFails }) => {
    const name = dockerBridgeName('a');
    const conflict = () => Object.assign(new Error('networks have same bridge name'), { statusCode: 403 });
    let network: { Labels: Record<string, string> } | undefined;
    let pending = 0; // reads before the other agent's creation ends (meanwhile: 404 and 403)
    let created = 0;
    const docker = {
      getNetwork: () => ({
        inspect: async () => {
          if (pending > 0 && --pending === 0 && !otherFails) network = { Labels: { [DOCKER_BRIDGE_LABELS.tenant]: 'a' } };
          return network ?? Promise.reject(Object.assign(new Error('no such network'), { statusCode: 404 }));
        },
      }),
      listNetworks: async () => [],
      createNetwork: async () => {
        if (++created === 1) pending = reads;
        if (pending > 0) throw conflict();
        network = { Labels: { [DOCKER_BRIDGE_LABELS.tenant]: 'a' } };
      },
    } as unknown as Docker;
    await expect(new DockerBridgeNetwork({ docker, tenant: 'a', nft: fakeNft().tables, conflictRetryMs: 1 }).setUp(pod())).resolves.toEqual({ networkMode: name });
    expect(created).toBe(2);
    expect(network).toBeDefined();
  });

  it.each([
    { what: 'a conflict that never clears: the conflict, after ~5 s of attempts', status: 403, error: /same bridge name/, creates: 20 },
    { what: 'any other refusal: at once', status: 500, error: /failed to set up the bridge/, creates: 1 },
  ])('network creation failing: $what', async ({ status, error, creates }) => {
    let created = 0;
    const docker = {
      getNetwork: () => ({ inspect: async () => Promise.reject(Object.assign(new Error('no such network'), { statusCode: 404 })) }),
      listNetworks: async () => [],
      createNetwork: async () => {
        created++;
        throw Object.assign(new Error(status === 403 ? 'networks have same bridge name' : 'failed to set up the bridge'), { statusCode: status });
      },
    } as unknown as Docker;
    await expect(new DockerBridgeNetwork({ docker, tenant: 'a', nft: fakeNft().tables, conflictRetryMs: 1 }).setUp(pod())).rejects.toThrow(error);
    expect(created).toBe(creates);
  });

  it('refuses a network of its name that another cluster labelled (a name collision): no pod is set up on it', async () => {
    const name = dockerBridgeName('a');
    const { docker } = fakeDocker({ [name]: { Labels: { [DOCKER_BRIDGE_LABELS.tenant]: 'b' } } });
    const net = new DockerBridgeNetwork({ docker, tenant: 'a', nft: fakeNft().tables });
    await expect(net.setUp(pod())).rejects.toThrow(/belongs to cluster "b"/);
  });

  it.each([
    { what: 'an empty network: network, then table', network: { Labels: { [DOCKER_BRIDGE_LABELS.tenant]: 'a' }, Containers: {} }, removed: true, table: true },
    { what: 'a network with containers left: neither (its pods keep their rules)', network: { Labels: { [DOCKER_BRIDGE_LABELS.tenant]: 'a' }, Containers: { c1: {} } }, removed: false, table: false },
    { what: 'another cluster\'s network of that name: neither', network: { Labels: { [DOCKER_BRIDGE_LABELS.tenant]: 'b' }, Containers: {} }, removed: false, table: false },
    { what: 'no network: the table', network: undefined, removed: false, table: true },
  ])('destroyDockerBridge: $what', async ({ network, removed, table }) => {
    let gone = false;
    const docker = {
      getNetwork: () => ({
        inspect: async () => network ?? Promise.reject(Object.assign(new Error('no such network'), { statusCode: 404 })),
        remove: async () => {
          gone = true;
        },
      }),
    } as unknown as Docker;
    const { tables, scripts } = fakeNft();
    expect(await destroyDockerBridge(docker, 'a', tables)).toBe(table);
    expect(gone).toBe(removed);
    expect(scripts).toEqual(table ? [`add table inet ${dockerBridgeName('a')}\ndelete table inet ${dockerBridgeName('a')}\n`] : []);
  });

  it('table: drops metadata, other bridges both ways and the host except replies and host_ports; passes the bridge itself', () => {
    const name = dockerBridgeName('a');
    const { body } = dockerBridgeTable(name, [{ address: '172.17.0.1', protocol: 'tcp', port: 6443 }]);
    const lines = body.split('\n').map((l) => l.trim());
    const forward = lines.slice(lines.indexOf('chain forward {'), lines.indexOf('chain input {'));
    const at = (rule: string) => forward.indexOf(rule);
    expect(at(`iifname "${name}" ip daddr 169.254.169.254 drop`)).toBeGreaterThan(0);
    expect(at(`iifname "${name}" ip6 daddr fd00:ec2::254 drop`)).toBeGreaterThan(0);
    // within the bridge passes, and before the wildcard drops its own name matches
    expect(at(`iifname "${name}" oifname "${name}" accept`)).toBeLessThan(at(`iifname "${name}" oifname "stratus-*" drop`));
    for (const other of ['stratus-*', 'docker*', 'br-*']) {
      expect(at(`iifname "${name}" oifname "${other}" drop`)).toBeGreaterThan(0);
      expect(at(`oifname "${name}" iifname "${other}" drop`)).toBeGreaterThan(0);
    }
    const input = lines.slice(lines.indexOf('chain input {'));
    expect(input).toEqual(expect.arrayContaining([`iifname "${name}" ct state established,related accept`, `iifname "${name}" ip daddr . meta l4proto . th dport @host_ports accept`, `iifname "${name}" drop`]));
    expect(input.indexOf(`iifname "${name}" drop`)).toBeGreaterThan(input.indexOf(`iifname "${name}" ip daddr . meta l4proto . th dport @host_ports accept`));
    expect(body).toContain('elements = { 172.17.0.1 . tcp . 6443 }');
  });

  it('host ports: the given ones and port 53 of the IPv4 resolvers pods get', () => {
    expect(dockerBridgeHostPorts([{ address: '172.17.0.1', protocol: 'tcp', port: 6443 }], { nameservers: ['10.0.0.2', 'fd00::53'], searches: [], options: [] })).toEqual([
      { address: '172.17.0.1', protocol: 'tcp', port: 6443 },
      { address: '10.0.0.2', protocol: 'udp', port: 53 },
      { address: '10.0.0.2', protocol: 'tcp', port: 53 },
    ]);
  });

  it.each<{ what: string; networks: Record<string, Partial<Docker.NetworkInfo>>; want: string[] }>([
    { what: 'the bridge address', networks: { bridge: { IPAddress: '172.17.0.5' } }, want: ['172.17.0.5'] },
    { what: 'the bridge first, whatever other network comes first', networks: { other: { IPAddress: '10.9.0.2' }, bridge: { IPAddress: '172.17.0.6' } }, want: ['172.17.0.6'] },
    { what: 'the cluster\'s network before the default bridge', networks: { bridge: { IPAddress: '172.17.0.6' }, [dockerBridgeName('t')]: { IPAddress: '172.18.0.3' } }, want: ['172.18.0.3'] },
    { what: 'another network when not on the bridge', networks: { podnet: { IPAddress: '10.244.1.7' } }, want: ['10.244.1.7'] },
    { what: 'IPv4 and IPv6', networks: { bridge: { IPAddress: '172.17.0.8', GlobalIPv6Address: 'fd00::8' } }, want: ['172.17.0.8', 'fd00::8'] },
    { what: 'nothing for a stopped sandbox (empty addresses)', networks: { bridge: { IPAddress: '' } }, want: [] },
    { what: 'nothing without networks', networks: {}, want: [] },
  ])('podIPs: $what', ({ networks, want }) => {
    expect(dockerBridge().podIPs(inspected(networks))).toEqual(want);
  });
});

describe('DockerBridgeNetwork: the network\'s /24 out of --docker-bridge-pool', () => {
  const POOL = DEFAULT_DOCKER_BRIDGE_POOL;
  /** The network of a cluster made with a fake Docker and no host routes but the given ones. */
  const bridgeOf = (docker: Docker, tenant = 'a', o: { pool?: string; routes?: string[] } = {}) =>
    new DockerBridgeNetwork({ docker, tenant, nft: fakeNft().tables, conflictRetryMs: 1, hostRoutes: () => o.routes ?? [], ...(o.pool ? { pool: o.pool } : {}) });
  const ipam = (subnet: string) => ({ Driver: 'default', Config: [{ Subnet: subnet, Gateway: subnet.replace(/0\/24$/, '1') }] });
  /** Two cluster names whose hashes pick the same first /24 of a pool. */
  const sameFirst = (pool: string): [string, string] => {
    const seen = new Map<string, string>();
    for (let i = 0; ; i++) {
      const first = dockerBridgeSubnets(`c${i}`, pool)[0]!;
      const other = seen.get(first);
      if (other) return [other, `c${i}`];
      seen.set(first, `c${i}`);
    }
  };

  it('orders a cluster\'s candidates from its name\'s hash through every /24 of the pool, wrapping, the same on every agent', () => {
    const a = dockerBridgeSubnets('a', POOL);
    expect(a).toHaveLength(256);
    expect(new Set(a).size).toBe(256);
    for (const s of a) expect(s).toMatch(/^10\.224\.\d{1,3}\.0\/24$/);
    expect(dockerBridgeSubnets('a', POOL)).toEqual(a);
    // the next ones in order from the first, wrapping at the end of the pool
    const third = (i: number) => Number(a[i]!.split('.')[2]);
    for (let i = 1; i < 256; i++) expect(third(i)).toBe((third(0) + i) % 256);
    // another cluster starts elsewhere (these two names' hashes differ)
    expect(dockerBridgeSubnets('b', POOL)[0]).not.toBe(a[0]);
    expect(dockerBridgeSubnets('a', '10.9.8.0/24')).toEqual(['10.9.8.0/24']);
  });

  it('creates the network on the first candidate, gateway .1, the rest of the network as before', async () => {
    const { docker, created } = fakeDocker();
    await bridgeOf(docker).configure();
    expect(created).toHaveLength(1);
    const first = dockerBridgeSubnets('a', POOL)[0]!;
    expect(created[0]).toEqual({
      Name: dockerBridgeName('a'),
      Driver: 'bridge',
      CheckDuplicate: true,
      IPAM: ipam(first),
      Options: { 'com.docker.network.bridge.name': dockerBridgeName('a'), 'com.docker.network.bridge.enable_icc': 'true' },
      Labels: { [DOCKER_BRIDGE_LABELS.tenant]: 'a', [DOCKER_BRIDGE_LABELS.podNetwork]: 'docker-bridge' },
    });
  });

  it.each([
    { what: 'a Docker network has it: skipped without asking Docker', networks: (s: string) => ({ other: { IPAM: { Config: [{ Subnet: s }] } } }), routes: () => [], unlisted: () => [], creates: 1 },
    { what: 'a wider Docker network covers it', networks: (s: string) => ({ other: { IPAM: { Config: [{ Subnet: s.replace(/\.\d+\.0\/24$/, '.0.0/16') }] } } }), routes: () => [], unlisted: () => [], creates: 1, all: true },
    { what: 'a host route overlaps it (a LAN Docker would not check)', networks: () => ({}), routes: (s: string) => [s.replace(/0\/24$/, '128/25')], unlisted: () => [], creates: 1 },
    { what: 'Docker refuses it as overlapping (a network made since the list): the next', networks: () => ({}), routes: () => [], unlisted: (s: string) => [s], creates: 2 },
  ])('first candidate taken, $what', async ({ networks, routes, unlisted, creates, all }) => {
    const [first, second] = dockerBridgeSubnets('a', POOL);
    const { docker, created } = fakeDocker(networks(first!) as Record<string, FakeNetwork>, { unlisted: unlisted(first!) });
    const configured = bridgeOf(docker, 'a', { routes: routes(first!) }).configure();
    if (all) {
      // a /16 over the whole pool leaves nothing
      await expect(configured).rejects.toThrow(/no free \/24 left in the docker-bridge pool 10\.224\.0\.0\/16/);
      expect(created).toHaveLength(0);
      return;
    }
    await configured;
    expect(created).toHaveLength(creates);
    expect(created.at(-1)!.IPAM).toEqual(ipam(second!));
  });

  it('gives up with a clear error once Docker refused every /24 of the pool', async () => {
    const pool = '10.224.8.0/22';
    const { docker, created } = fakeDocker({}, { unlisted: dockerBridgeSubnets('a', pool) });
    await expect(bridgeOf(docker, 'a', { pool }).configure()).rejects.toThrow(
      `no free /24 left in the docker-bridge pool ${pool} for the network ${dockerBridgeName('a')}: each of its 4 overlaps another Docker network or a route of the host`,
    );
    expect(created.map(subnetOf)).toEqual(dockerBridgeSubnets('a', pool));
  });

  it.each([
    { what: 'Docker answers the name (409)', subnetFirst: false },
    { what: 'Docker answers the subnet (403 Pool overlaps, the name\'s network still being made)', subnetFirst: true },
  ])('two agents of one cluster making the network at once end on one network: $what', async ({ subnetFirst }) => {
    const { docker, networks } = fakeDocker({}, { subnetFirst });
    await Promise.all([bridgeOf(docker).configure(), bridgeOf(docker).configure()]);
    expect(Object.keys(networks)).toEqual([dockerBridgeName('a')]);
    expect(subnetOf(networks[dockerBridgeName('a')]!)).toBe(dockerBridgeSubnets('a', POOL)[0]);
  });

  it('two clusters whose hashes pick the same /24, made at once, end on two networks with different subnets', async () => {
    const [x, y] = sameFirst(POOL);
    const { docker, networks } = fakeDocker();
    await Promise.all([bridgeOf(docker, x).configure(), bridgeOf(docker, y).configure()]);
    const subnets = [x, y].map((t) => subnetOf(networks[dockerBridgeName(t)]!));
    expect(subnets).toContain(dockerBridgeSubnets(x, POOL)[0]);
    expect(subnets).toContain(dockerBridgeSubnets(x, POOL)[1]);
  });

  it('uses the cluster\'s network an older agent made, with the subnet Docker chose, as it is', async () => {
    const name = dockerBridgeName('a');
    const { docker, created, networks } = fakeDocker({ [name]: { Labels: { [DOCKER_BRIDGE_LABELS.tenant]: 'a' }, IPAM: { Config: [{ Subnet: '172.18.0.0/16', Gateway: '172.18.0.1' }] } } });
    await expect(bridgeOf(docker).setUp(pod())).resolves.toEqual({ networkMode: name });
    expect(created).toHaveLength(0);
    expect(subnetOf(networks[name]!)).toBe('172.18.0.0/16');
  });

  it.each([
    { pool: '10.224.0.0/16', want: undefined },
    { pool: ' 10.0.0.0/8 ', want: undefined },
    { pool: '10.224.0.0/25', want: /prefix must be between \/8 and \/24/ },
    { pool: '10.224.0.1/16', want: /host bits are set/ },
    { pool: '10.300.0.0/16', want: /is not an IPv4 CIDR/ },
    { pool: 'fd00::/64', want: /is not an IPv4 CIDR/ },
  ])('pool $pool', ({ pool, want }) => {
    if (want) {
      expect(() => parseDockerBridgePool(pool)).toThrow(want);
      expect(() => new DockerBridgeNetwork({ docker: fakeDocker().docker, tenant: 'a', pool })).toThrow(want);
    } else expect(() => parseDockerBridgePool(pool)).not.toThrow();
  });

  it('reads the host\'s routes but the default one from /proc/net/route', () => {
    const text = [
      'Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT',
      'eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0',
      'docker0\t000011AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0',
      'eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0',
      'wg0\t8005E00A\t00000000\t0001\t0\t0\t0\t80FFFFFF\t0\t0\t0',
      '',
    ].join('\n');
    expect(parseHostRoutes(text)).toEqual(['172.17.0.0/16', '192.0.2.0/24', '10.224.5.128/25']);
  });
});

describe('podDns', () => {
  it.each([
    { what: 'no policy: the node\'s resolvers (Docker default)', spec: {}, want: undefined },
    { what: 'Default: the node\'s resolvers', spec: { dnsPolicy: 'Default', dnsConfig: { nameservers: ['9.9.9.9'] } }, want: undefined },
    { what: 'ClusterFirst without a cluster DNS: the node\'s', spec: { dnsPolicy: 'ClusterFirst' }, want: undefined },
    {
      what: 'None: exactly dnsConfig, options with and without values',
      spec: { dnsPolicy: 'None', dnsConfig: { nameservers: ['1.2.3.4', '5.6.7.8'], searches: ['ns.svc'], options: [{ name: 'ndots', value: '5' }, { name: 'edns0' }] } },
      want: { nameservers: ['1.2.3.4', '5.6.7.8'], searches: ['ns.svc'], options: ['ndots:5', 'edns0'] },
    },
    { what: 'None with a malformed dnsConfig: empty', spec: { dnsPolicy: 'None', dnsConfig: { nameservers: 'oops' } }, want: { nameservers: [], searches: [], options: [] } },
  ])('$what', ({ spec, want }) => {
    expect(podDns(pod(spec))).toEqual(want);
  });
});
