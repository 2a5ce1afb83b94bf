import type Docker from 'dockerode';
import { describe, expect, it } from 'vitest';
import { DockerBridgeNetwork } from '../../node-agent/network/docker-bridge';
import { podDns, sandboxHostConfig, type PodNetwork } from '../../node-agent/network/pod-network';
import type { Pod } from '../../node-agent/types';

/*
 * The PodNetwork contract (node-agent/network/pod-network.ts), checked on every implementation
 * the agent can be configured with. Each runs without Docker: podIPs reads an inspect document,
 * setUp and tearDown of the default bridge touch nothing.
 */
const IMPLEMENTATIONS: { name: string; make: () => PodNetwork }[] = [{ name: 'docker-bridge', make: () => new DockerBridgeNetwork() }];

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
  it('puts sandboxes on Docker\'s default bridge with no podCIDR of its own', async () => {
    const net = new DockerBridgeNetwork();
    expect(await net.setUp(pod())).toEqual({ networkMode: 'bridge' });
    expect(net.podCIDRs).toEqual([]);
  });

  it.each<{ what: string; networks: Record<string, Partial<Docker.NetworkInfo>>; want: string[] }>([
    { what: 'the bridge address', networks: { bridge: { IPAddress: '172.17.0.5' } }, want: ['172.17.0.5'] },
    { what: 'the bridge first, whatever other network comes first', networks: { other: { IPAddress: '10.9.0.2' }, bridge: { IPAddress: '172.17.0.6' } }, want: ['172.17.0.6'] },
    { what: 'another network when not on the bridge', networks: { podnet: { IPAddress: '10.244.1.7' } }, want: ['10.244.1.7'] },
    { what: 'IPv4 and IPv6', networks: { bridge: { IPAddress: '172.17.0.8', GlobalIPv6Address: 'fd00::8' } }, want: ['172.17.0.8', 'fd00::8'] },
    { what: 'nothing for a stopped sandbox (empty addresses)', networks: { bridge: { IPAddress: '' } }, want: [] },
    { what: 'nothing without networks', networks: {}, want: [] },
  ])('podIPs: $what', ({ networks, want }) => {
    expect(new DockerBridgeNetwork().podIPs(inspected(networks))).toEqual(want);
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
