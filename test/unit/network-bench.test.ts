import { execFile } from 'node:child_process';
import { createServer, type AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { DNS, networkBenchProgram, nftTransactionMs, REQUESTS, type NetworkBenchOptions } from '../../bench/network';
import { staticClusterView } from '../../node-agent/network/cluster-view';
import { DnsServer } from '../../node-agent/network/dns-server';
import { silentLogger } from '../../node-agent/log';

/*
 * bench/network.ts (issue #15): its command line, and the programs it runs inside a pod, run here
 * on the host (no figures asserted: a benchmark's numbers are not a test's business).
 */

const run = promisify(execFile);
const parse = (args: string[]) => networkBenchProgram().exitOverride().configureOutput({ writeErr: () => undefined, writeOut: () => undefined }).parse(['node', 'bench/network.ts', ...args]).opts<NetworkBenchOptions>();

describe('bench/network.ts', () => {
  it.each([
    [[], { samples: 20, interval: 25, parallel: 8, requests: 10_000, dnsServices: 50, dnsQueries: 50_000, dnsConcurrency: 32, only: ['programming', 'requests', 'dns'] }],
    [['--samples', '30', '--requests', '500', '--only', 'dns,requests'], { samples: 30, requests: 500, only: ['dns', 'requests'] }],
    [['--interval', '50', '--parallel', '4', '--dns-queries', '10', '--dns-concurrency', '2', '--dns-services', '3'], { interval: 50, parallel: 4, dnsQueries: 10, dnsConcurrency: 2, dnsServices: 3 }],
  ])('parses %j', (args, want) => {
    expect(parse(args)).toMatchObject(want);
  });

  it.each([[['--samples', '0']], [['--requests', 'x']], [['--only', 'dns,nope']], [['--bogus']]])('rejects %j', (args) => {
    expect(() => parse(args)).toThrow();
  });

  it('reads the nft transaction times of an agent log since a time, skipping other and non-JSON lines', () => {
    const log = [
      '(node:1) Warning: something',
      '{"message":"service proxy rules changed","timestamp":"2026-12-06T21:10:00.000Z","ms":50}',
      '{"message":"service proxy rules changed","timestamp":"2026-12-06T21:11:00.000Z","ms":21}',
      '{"message":"cluster view updated","timestamp":"2026-12-06T21:11:01.000Z","ms":999}',
      '{"message":"service proxy rules changed","timestamp":"2026-12-06T21:11:02.000Z","ms":7}',
      '',
    ].join('\n');
    expect(nftTransactionMs(log, Date.parse('2026-12-06T21:10:30Z'))).toEqual([21, 7]);
    expect(nftTransactionMs(log, 0)).toEqual([50, 21, 7]);
  });

  it('--help prints the options and exits 0', { timeout: 60_000 }, async () => {
    const { stdout } = await run(process.execPath, ['--import', 'tsx', 'bench/network.ts', '--help']);
    expect(stdout).toContain('--samples');
    expect(stdout).toContain('--dns-concurrency');
  });

  it('the request program reaches both targets and reports one latency per request', async () => {
    const server = createServer((s) => s.end('stable\n'));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = String((server.address() as AddressInfo).port);
    try {
      const { stdout } = await run(process.execPath, ['-e', REQUESTS, '5', '127.0.0.1', port, '127.0.0.1', port, '1']);
      const r = JSON.parse(stdout) as { a: number[]; b: number[]; names: string[] };
      expect(r.a).toHaveLength(5);
      expect(r.b).toHaveLength(5);
      expect(r.names).toEqual(['stable']);
    } finally {
      server.close();
    }
  });

  it("the DNS program's hand-made queries get NOERROR and NXDOMAIN answers from the cluster DNS server", async () => {
    const view = staticClusterView({
      version: 't',
      services: [{ apiVersion: 'v1', kind: 'Service', metadata: { name: 'web', namespace: 'default' }, spec: { clusterIP: '10.96.0.20', ports: [{ port: 80 }] } }],
      endpointSlices: [],
      pods: [],
    });
    const dns = new DnsServer({ view, address: '127.0.0.1', port: 0, upstreams: [], log: silentLogger });
    await dns.start();
    try {
      const { stdout } = await run(process.execPath, ['-e', DNS, `127.0.0.1:${dns.port}`, '20', '4', JSON.stringify(['web.default.svc.cluster.local', 'nothing.default.svc.cluster.local'])]);
      const r = JSON.parse(stdout) as { answers: number; noerror: number; nxdomain: number; other: number; lost: number };
      expect(r.answers).toBe(20);
      expect(r.noerror + r.nxdomain).toBe(20);
      expect(r.noerror).toBeGreaterThan(0);
      expect(r.nxdomain).toBeGreaterThan(0);
      expect(r.other + r.lost).toBe(0);
    } finally {
      await dns.close();
    }
  });
});
