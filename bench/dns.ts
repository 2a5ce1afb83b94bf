/**
 * Cluster DNS benchmark (issue #15; run by hand: `node --import tsx bench/dns.ts`, figures go to
 * BENCHMARKS.md). Never a test assertion.
 *
 * One DnsServer (node-agent/network/dns-server.ts) on 127.0.0.1, a view of BENCH_DNS_SERVICES
 * Services (default 10,000, each with 5 endpoints; one in ten headless); a client on the host
 * keeps BENCH_DNS_CONCURRENCY queries (default 64) in flight over UDP for BENCH_DNS_QUERIES
 * queries (default 100,000), names drawn at random: Service A records, headless A records and
 * NXDOMAIN names. Prints answers/s and the latency p50/p99 of each answer.
 *   --help: this text.
 */
import { createSocket } from 'node:dgram';
import * as dnsPacket from 'dns-packet';
import { staticClusterView, type ClusterSnapshot } from '../node-agent/network/cluster-view';
import { DnsServer } from '../node-agent/network/dns-server';
import { silentLogger } from '../node-agent/log';
import { pct } from './lib';

if (process.argv.includes('--help')) {
  process.stdout.write('usage: node --import tsx bench/dns.ts\n  env BENCH_DNS_SERVICES (10000), BENCH_DNS_QUERIES (100000), BENCH_DNS_CONCURRENCY (64)\n  answers/s and p50/p99 of a DNS server with that many Services, from a client on the host\n');
  process.exit(0);
}

const services = Number(process.env.BENCH_DNS_SERVICES ?? 10_000);
const total = Number(process.env.BENCH_DNS_QUERIES ?? 100_000);
const concurrency = Number(process.env.BENCH_DNS_CONCURRENCY ?? 64);
const ip = (n: number) => `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`;

function snapshot(): ClusterSnapshot {
  const svcs: ClusterSnapshot['services'][number][] = [];
  const slices: ClusterSnapshot['endpointSlices'][number][] = [];
  for (let i = 0; i < services; i++) {
    const headless = i % 10 === 0;
    svcs.push({ apiVersion: 'v1', kind: 'Service', metadata: { name: `svc-${i}`, namespace: `ns-${i % 50}` }, spec: { clusterIP: headless ? 'None' : ip(0x600000 + i), ports: [{ name: 'http', port: 80 }] } });
    slices.push({
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: { name: `svc-${i}-x`, namespace: `ns-${i % 50}`, labels: { 'kubernetes.io/service-name': `svc-${i}` } },
      addressType: 'IPv4',
      endpoints: Array.from({ length: 5 }, (_, k) => ({ addresses: [ip(0x800000 + i * 5 + k)], conditions: { ready: true } })),
      ports: [{ name: 'http', port: 8080 }],
    });
  }
  return { version: 'bench', services: svcs, endpointSlices: slices, pods: [] };
}

async function main(): Promise<void> {
  process.stderr.write(`building a view of ${services} Services...\n`);
  const server = new DnsServer({ view: staticClusterView(snapshot()), address: '127.0.0.1', port: 0, upstreams: [], log: silentLogger });
  await server.start();
  const client = createSocket('udp4');
  await new Promise<void>((r) => client.bind(0, '127.0.0.1', () => r()));
  const pending = new Map<number, { sent: bigint; resolve: () => void }>();
  const latencies: number[] = [];
  client.on('message', (b) => {
    const id = b.readUInt16BE(0);
    const p = pending.get(id);
    if (!p) return;
    pending.delete(id);
    latencies.push(Number(process.hrtime.bigint() - p.sent) / 1e6);
    p.resolve();
  });
  let next = 0;
  let nextId = 0;
  const one = () =>
    new Promise<void>((resolve) => {
      const i = Math.floor(Math.random() * services);
      const r = Math.random();
      const name = r < 0.1 ? `nothing-${i}.ns-${i % 50}.svc.cluster.local` : `svc-${i}.ns-${i % 50}.svc.cluster.local`;
      const id = nextId++ & 0xffff;
      pending.set(id, { sent: process.hrtime.bigint(), resolve });
      client.send(dnsPacket.encode({ type: 'query', id, flags: dnsPacket.RECURSION_DESIRED, questions: [{ name, type: 'A', class: 'IN' }] }), server.port, '127.0.0.1');
    });
  const worker = async () => {
    while (next < total) {
      next++;
      await one();
      if (next % 20_000 === 0) process.stderr.write(`${next} queries...\n`);
    }
  };
  const start = process.hrtime.bigint();
  await Promise.all(Array.from({ length: concurrency }, worker));
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  client.close();
  await server.close();
  process.stdout.write(`| Services | queries | in flight | answers/s | p50 ms | p99 ms |\n|---|---|---|---|---|---|\n`);
  process.stdout.write(`| ${services} | ${total} | ${concurrency} | ${Math.round(total / seconds)} | ${pct(latencies, 50).toFixed(2)} | ${pct(latencies, 99).toFixed(2)} |\n`);
}

void main();
