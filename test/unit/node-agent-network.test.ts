import type Docker from 'dockerode';
import { describe, expect, it } from 'vitest';
import { DOCKER_BRIDGE_LABELS, DockerBridgeNetwork, destroyDockerBridge, dockerBridgeHostPorts, dockerBridgeName, dockerBridgeTable, type NftTables } from '../../node-agent/network/docker-bridge';
import { podDns, sandboxHostConfig, type PodNetwork } from '../../node-agent/network/pod-network';
import type { Pod } from '../../node-agent/types';

/** A Docker with just the network calls, holding networks by name (a 404 for unknown ones). */
function fakeDocker(networks: Record<string, { Labels?: Record<string, string> }> = {}) {
  const created: Docker.NetworkCreateOptions[] = [];
  const notFound = () => Object.assign(new Error('no such network'), { statusCode: 404 });
  const docker = {
    getNetwork: (name: string) => ({ inspect: async () => networks[name] ?? Promise.reject(notFound()) }),
    createNetwork: async (o: Docker.NetworkCreateOptions) => {
      created.push(o);
      networks[o.Name] = { Labels: o.Labels as Record<string, string> };
    },
  } as unknown as Docker;
  return { docker, created };
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
    { what: 'no address pool left: at once', status: 404, error: /address pool/, creates: 1 },
  ])('network creation failing: $what', async ({ status, error, creates }) => {
    let created = 0;
    const docker = {
      getNetwork: () => ({ inspect: async () => Promise.reject(Object.assign(new Error('no such network'), { statusCode: 404 })) }),
      createNetwork: async () => {
        created++;
        throw Object.assign(new Error(status === 403 ? 'networks have same bridge name' : 'could not find an available, non-overlapping IPv4 address pool'), { statusCode: status });
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
