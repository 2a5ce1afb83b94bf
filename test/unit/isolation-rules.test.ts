// Pins the nft text of both pod networks' tables, as written before their isolation rules came from
// one helper (isolation-rules.ts): each table's comment is the hash of this text, and a changed hash
// makes every agent rewrite its table at restart, so a refactor must leave it byte-identical.
import { describe, expect, it } from 'vitest';
import { tableScript } from '../../node-agent/network/node-bridge';
import { dockerBridgeTable, type HostPort } from '../../node-agent/network/docker-bridge';

const hostPorts: HostPort[] = [
  { address: '172.17.0.1', protocol: 'tcp', port: 6443 },
  { address: '10.0.0.2', protocol: 'udp', port: 53 },
];

const filter = (name: string, outAccept: string[], inAccept: string[], v6 = false) => [
  `  chain forward {`,
  `    type filter hook forward priority filter - 10; policy accept;`,
  `    iifname "${name}" ip daddr 169.254.169.254 drop`,
  ...(v6 ? [`    iifname "${name}" ip6 daddr fd00:ec2::254 drop`] : []),
  ...outAccept,
  `    iifname "${name}" oifname "stratus-*" drop`,
  `    iifname "${name}" oifname "docker*" drop`,
  `    iifname "${name}" oifname "br-*" drop`,
  ...inAccept,
  `    oifname "${name}" iifname "stratus-*" drop`,
  `    oifname "${name}" iifname "docker*" drop`,
  `    oifname "${name}" iifname "br-*" drop`,
  `  }`,
  `  chain input {`,
  `    type filter hook input priority filter - 10; policy accept;`,
  `    iifname "${name}" ct state established,related accept`,
  `    iifname "${name}" ip daddr . meta l4proto . th dport @host_ports accept`,
  `    iifname "${name}" drop`,
  `  }`,
];

describe('node-bridge table text (pinned)', () => {
  const n = 'stratus-0a8005';
  const head = (elements: string) => [`  set cluster_ifs { type ifname; }`, `  set host_ports { type ipv4_addr . inet_proto . inet_service;${elements} }`];
  const forward = filter(n, [`    iifname "${n}" oifname @cluster_ifs accept`], [`    oifname "${n}" iifname @cluster_ifs accept`]);
  const postrouting = [
    `  chain postrouting {`,
    `    type nat hook postrouting priority srcnat + 10; policy accept;`,
    `    ip saddr 10.128.5.0/24 ip daddr != 10.128.0.0/12 oifname != "${n}" masquerade`,
    `  }`,
  ];

  it('without host ports or cluster DNS', () => {
    const t = tableScript('10.128.5.0/24', '10.128.0.0/12');
    expect(t.body).toBe([...head(''), ...forward, ...postrouting].join('\n'));
    expect(t.hash).toBe('9787612e2cf2d8c1');
  });

  it('with host ports and the cluster DNS', () => {
    const t = tableScript('10.128.5.0/24', '10.128.0.0/12', hostPorts, '10.96.0.10');
    const dns = [
      `  chain dns {`,
      `    type nat hook prerouting priority dstnat - 10; policy accept;`,
      `    iifname "${n}" ip daddr 10.96.0.10 udp dport 53 dnat ip to 10.128.5.1:53`,
      `    iifname "${n}" ip daddr 10.96.0.10 tcp dport 53 dnat ip to 10.128.5.1:53`,
      `  }`,
    ];
    const elements = ' elements = { 172.17.0.1 . tcp . 6443, 10.0.0.2 . udp . 53, 10.128.5.1 . udp . 53, 10.128.5.1 . tcp . 53 };';
    expect(t.body).toBe([...head(elements), ...forward, ...postrouting, ...dns].join('\n'));
    expect(t.hash).toBe('9ac8cf0c368d4eda');
  });
});

describe('docker-bridge table text (pinned)', () => {
  const n = 'stratus-d123abc';
  const forward = filter(n, [`    iifname "${n}" oifname "${n}" accept`], [], true);

  it('without host ports', () => {
    const t = dockerBridgeTable(n, []);
    expect(t.body).toBe([`  set host_ports { type ipv4_addr . inet_proto . inet_service; }`, ...forward].join('\n'));
    expect(t.hash).toBe('475d4fbb53fbe054');
  });

  it('with host ports, a repeated one once', () => {
    const t = dockerBridgeTable(n, [...hostPorts, hostPorts[0]!]);
    expect(t.body).toBe([`  set host_ports { type ipv4_addr . inet_proto . inet_service; elements = { 172.17.0.1 . tcp . 6443, 10.0.0.2 . udp . 53 }; }`, ...forward].join('\n'));
    expect(t.hash).toBe('9c9360bde83be743');
  });
});
