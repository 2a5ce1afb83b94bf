import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type Docker from 'dockerode';
import { describe, expect, it } from 'vitest';
import { bridgeName, freeAddress, NodeBridgeNetwork, parseTableComment, podResolvers, resolvConf, tableScript } from '../../node-agent/network/node-bridge';
import { silentLogger } from '../../node-agent/log';
import type { Pod } from '../../node-agent/types';

/*
 * The node-bridge pod network's pure parts (names, addresses, resolv.conf, the table script) and
 * its PodNetwork contract with a Docker that has no network yet (setUp reads it, tolerates none).
 * test/e2e/pod-network.test.ts runs it for real.
 */

const pod = (uid: string, spec: Record<string, unknown> = {}): Pod => ({
  metadata: { name: uid, namespace: 'default', uid },
  spec: { containers: [{ name: 'main', image: 'busybox' }], ...spec },
});

const noDocker = { getNetwork: () => ({ inspect: () => Promise.reject(Object.assign(new Error('no such network'), { statusCode: 404 })) }) } as unknown as Docker;

const network = (stateDir = mkdtempSync(join(tmpdir(), 'stratus-nb-'))) =>
  new NodeBridgeNetwork({ docker: noDocker, tenant: 't', nodeName: 'n', stateDir, podCidrPool: '10.128.0.0/12', clusterPodCIDRs: () => Promise.resolve([]), log: silentLogger, podCIDRs: ['10.128.5.0/24'] });

describe('node-bridge names and addresses', () => {
  it.each([
    ['10.128.5.0/24', 'stratus-0a8005'],
    ['10.143.255.0/24', 'stratus-0a8fff'],
    ['192.168.0.0/24', 'stratus-c0a800'],
  ])('%s → %s (an interface name of at most 15 characters)', (cidr, name) => {
    expect(bridgeName(cidr)).toBe(name);
    expect(name.length).toBeLessThanOrEqual(15);
  });

  it.each(['10.128.5.0/23', '10.128.5.1/24', 'x'])('refuses %s', (cidr) => {
    expect(() => bridgeName(cidr)).toThrow();
  });

  it('hands out .2 upwards, skipping used ones, none when full', () => {
    expect(freeAddress('10.128.5.0/24', new Set(['10.128.5.1']))).toBe('10.128.5.2');
    expect(freeAddress('10.128.5.0/24', new Set(['10.128.5.2', '10.128.5.3']))).toBe('10.128.5.4');
    const all = new Set(Array.from({ length: 253 }, (_, i) => `10.128.5.${i + 2}`));
    expect(freeAddress('10.128.5.0/24', all)).toBeUndefined();
  });
});

describe('pod resolv.conf', () => {
  it.each([
    ['nameserver 10.255.255.53\n', { nameservers: ['10.255.255.53'], searches: [], options: [] }],
    ['nameserver 127.0.0.53\nsearch corp.example\noptions edns0 trust-ad\n', { nameservers: ['8.8.8.8', '8.8.4.4'], searches: ['corp.example'], options: ['edns0', 'trust-ad'] }],
    ['# comment\nnameserver ::1\nnameserver 1.1.1.1 # x\n', { nameservers: ['1.1.1.1'], searches: [], options: [] }],
  ])('host %j → pods %j', (host, want) => {
    expect(podResolvers(host)).toEqual(want);
  });

  it('writes nameserver, search and options lines', () => {
    expect(resolvConf({ nameservers: ['1.1.1.1', '8.8.8.8'], searches: ['a.example', 'b'], options: ['ndots:5'] })).toBe('nameserver 1.1.1.1\nnameserver 8.8.8.8\nsearch a.example b\noptions ndots:5\n');
  });

  it('honours dnsPolicy None with dnsConfig, else the host resolvers', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'stratus-nb-'));
    const hostFile = join(dir, 'resolv.conf');
    await import('node:fs/promises').then((fs) => fs.writeFile(hostFile, 'nameserver 10.0.0.2\nsearch lan\n'));
    const net = new NodeBridgeNetwork({ docker: noDocker, tenant: 't', nodeName: 'n', stateDir: dir, podCidrPool: '10.128.0.0/12', clusterPodCIDRs: () => Promise.resolve([]), log: silentLogger, hostResolvConf: hostFile });
    expect(await net.dnsFor(pod('a'))).toEqual({ nameservers: ['10.0.0.2'], searches: ['lan'], options: [] });
    expect(await net.dnsFor(pod('b', { dnsPolicy: 'None', dnsConfig: { nameservers: ['9.9.9.9'] } }))).toEqual({ nameservers: ['9.9.9.9'], searches: [], options: [] });
  });
});

describe('the node table', () => {
  const t = tableScript('10.128.5.0/24', '10.128.0.0/12');
  it.each([
    'iifname "stratus-0a8005" ip daddr 169.254.169.254 drop',
    'iifname "stratus-0a8005" oifname @cluster_ifs accept',
    'iifname "stratus-0a8005" oifname "stratus-*" drop',
    'oifname "stratus-0a8005" iifname "stratus-*" drop',
    'iifname "stratus-0a8005" drop',
    'ip saddr 10.128.5.0/24 ip daddr != 10.128.0.0/12 oifname != "stratus-0a8005" masquerade',
  ])('has %s', (rule) => {
    expect(t.body).toContain(rule);
  });

  it('matches interfaces, never pod source addresses, in its filter chains', () => {
    const filter = t.body.slice(0, t.body.indexOf('chain postrouting'));
    expect(filter).not.toMatch(/saddr/);
  });

  it('is named after the node\'s range and hashes to the same comment for the same input', () => {
    expect(t.name).toBe('stratus-0a8005');
    expect(tableScript('10.128.5.0/24', '10.128.0.0/12').hash).toBe(t.hash);
    expect(tableScript('10.128.5.0/24', '10.128.0.0/12', [{ address: '10.128.5.1', protocol: 'udp', port: 53 }]).hash).not.toBe(t.hash);
  });
});

describe('NodeBridgeNetwork contract', () => {
  it('gives a pod a fixed address of the range, the same again for the same uid, another for another', async () => {
    const net = network();
    const a = await net.setUp(pod('a'));
    const again = await net.setUp(pod('a'));
    const b = await net.setUp(pod('b'));
    expect(a).toEqual({ networkMode: 'stratus-0a8005', endpoint: { IPAMConfig: { IPv4Address: '10.128.5.2' } } });
    expect(again).toEqual(a);
    expect(b.endpoint?.IPAMConfig?.IPv4Address).toBe('10.128.5.3');
  });

  it('keeps addresses across a restart (a new instance on the same root dir) and frees them on tearDown', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'stratus-nb-'));
    await network(dir).setUp(pod('a'));
    const restarted = network(dir);
    expect((await restarted.setUp(pod('a'))).endpoint?.IPAMConfig?.IPv4Address).toBe('10.128.5.2');
    await restarted.tearDown({ uid: 'a', namespace: 'default', name: 'a' });
    await restarted.tearDown({ uid: 'a', namespace: 'default', name: 'a' });
    await restarted.tearDown({ uid: 'never', namespace: 'default', name: 'x' });
    expect(JSON.parse(readFileSync(join(dir, 'network', 'addresses.json'), 'utf8'))).toEqual({});
  });

  it('parallel set-ups get distinct addresses', async () => {
    const net = network();
    const all = await Promise.all(Array.from({ length: 20 }, (_, i) => net.setUp(pod(`p${i}`))));
    expect(new Set(all.map((n) => n.endpoint?.IPAMConfig?.IPv4Address)).size).toBe(20);
  });

  it('reads the pod IP of an adopted sandbox from its endpoint on the node bridge', () => {
    const info = { NetworkSettings: { Networks: { 'stratus-0a8005': { IPAddress: '10.128.5.7' } } } } as unknown as Docker.ContainerInspectInfo;
    expect(network().podIPs(info)).toEqual(['10.128.5.7']);
  });
});

describe('parseTableComment (nft 1.0 leaves table comments out of its JSON)', () => {
  it.each([
    ['table inet stratus-0a8008 {\n\tcomment "94b329216e01de8c"\n\tset cluster_ifs {\n\t\ttype ifname\n\t}\n}\n', '94b329216e01de8c'],
    ['table inet t {\n\tcomment "a \\"quoted\\" one"\n}\n', 'a \\"quoted\\" one'],
    // a set's or rule's comment is not the table's
    ['table inet t {\n\tset s {\n\t\ttype ifname\n\t\tcomment "not me"\n\t}\n}\n', null],
    ['table inet t {\n}\n', null],
    ['', null],
  ])('%j → %j', (listing, want) => {
    expect(parseTableComment(listing)).toBe(want);
  });
});
