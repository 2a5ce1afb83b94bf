// Pins the nft text of both pod networks' tables: test/fixtures/nft-tables/*.nft hold the bodies as
// the code wrote them before their isolation rules came from one helper (isolation-rules.ts). Each
// table's comment is the hash of this text, and a changed hash makes every agent rewrite its table
// at restart, so a refactor must leave it byte-identical.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tableScript } from '../../node-agent/network/node-bridge';
import { dockerBridgeTable, type HostPort } from '../../node-agent/network/docker-bridge';

const pinned = (file: string) => readFileSync(join(import.meta.dirname, '..', 'fixtures', 'nft-tables', file), 'utf8').replace(/\n$/, '');

const hostPorts: HostPort[] = [
  { address: '172.17.0.1', protocol: 'tcp', port: 6443 },
  { address: '10.0.0.2', protocol: 'udp', port: 53 },
];

describe('table text and hash (pinned)', () => {
  it.each([
    { what: 'node-bridge, without host ports or cluster DNS', file: 'node-bridge.nft', hash: '9787612e2cf2d8c1', table: () => tableScript('10.128.5.0/24', '10.128.0.0/12') },
    { what: 'node-bridge, with host ports and the cluster DNS', file: 'node-bridge-dns.nft', hash: '9ac8cf0c368d4eda', table: () => tableScript('10.128.5.0/24', '10.128.0.0/12', hostPorts, '10.96.0.10') },
    { what: 'docker-bridge, without host ports', file: 'docker-bridge.nft', hash: '475d4fbb53fbe054', table: () => dockerBridgeTable('stratus-d123abc', []) },
    { what: 'docker-bridge, with host ports (a repeated one once)', file: 'docker-bridge-host-ports.nft', hash: '9c9360bde83be743', table: () => dockerBridgeTable('stratus-d123abc', [...hostPorts, hostPorts[0]!]) },
  ])('$what', ({ file, hash, table }) => {
    const t = table();
    expect(t.body).toBe(pinned(file));
    expect(t.hash).toBe(hash);
  });
});
