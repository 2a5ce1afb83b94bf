/**
 * The cluster DNS (CoreDNS's role), one per node agent: UDP and TCP on the node bridge's gateway
 * address, port 53, answering its pods from the agent's cluster view (dns-records.ts has the
 * records) and forwarding every other name to the host's resolvers.
 *
 * - Pods reach it as `nameserver 10.96.0.10` (the kube-dns Service's ClusterIP): the node's nft
 *   table DNATs that address to the gateway (node-bridge.ts), so DNS works without the service
 *   proxy, and the table's input chain lets pods reach only this address and port of the host.
 * - The index is rebuilt once per snapshot (subscribe), never per query.
 * - Malformed packets are dropped (never answered, never thrown): a query is decoded in a try,
 *   each answer encoded in a try; a socket error is logged and the server keeps serving.
 * - UDP answers larger than the client's limit (512 bytes, or its EDNS payload size up to 4096)
 *   are truncated (TC, no records) so the client retries over TCP.
 * - Forwarding: to the host resolv.conf's nameservers in turn (never to a cluster name, never to
 *   the server's own address), at most `maxInFlight` at once (SERVFAIL beyond), each attempt
 *   bounded by `timeoutMs`; a truncated upstream answer to a TCP client is fetched again over TCP.
 * - An ExternalName CNAME is followed (A/AAAA of the target through the upstream), as CoreDNS
 *   does, so stub resolvers get addresses in one answer.
 */
import { createSocket, type Socket as UdpSocket, type RemoteInfo } from 'node:dgram';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { readFile } from 'node:fs/promises';
import * as dnsPacket from 'dns-packet';
import type { Answer, Packet } from 'dns-packet';
import type { ClusterView } from './cluster-view';
import { answerQuery, buildIndex, DEFAULT_CLUSTER_DOMAIN, DnsIndexer, normalizeName, RCODE, response, type DnsIndex } from './dns-records';
import { errorMessage, type Logger } from '../log';

export interface Upstream {
  readonly address: string;
  readonly port: number;
}

/** The host resolv.conf's nameservers as upstreams (loopback ones kept: the server runs on the host). */
export function upstreamsOf(resolvConf: string): Upstream[] {
  const out: Upstream[] = [];
  for (const raw of resolvConf.split('\n')) {
    const [key, value] = raw.replace(/[#;].*$/, '').trim().split(/\s+/);
    if (key === 'nameserver' && value && /^\d{1,3}(\.\d{1,3}){3}$/.test(value)) out.push({ address: value, port: 53 });
  }
  return out;
}

export interface DnsServerOptions {
  readonly view: ClusterView;
  /** Where to listen (the bridge gateway). */
  readonly address: string;
  /** @default 53 */
  readonly port?: number;
  /** @default cluster.local */
  readonly clusterDomain?: string;
  /** The upstream resolvers; read from `resolvConfPath` when not given. */
  readonly upstreams?: readonly Upstream[];
  /** @default /etc/resolv.conf */
  readonly resolvConfPath?: string;
  /** Per upstream attempt. @default 2000 */
  readonly timeoutMs?: number;
  /** Forwarded queries at once. @default 256 */
  readonly maxInFlight?: number;
  /** TCP connections at once. @default 128 */
  readonly maxConnections?: number;
  readonly log: Logger;
}

const MAX_UDP = 4096;
const TCP_IDLE_MS = 10_000;

/** The UDP payload limit a query allows (EDNS OPT's udpPayloadSize, else 512). */
function udpLimit(query: Packet): number {
  const opt = (query.additionals ?? []).find((r) => r.type === 'OPT') as { udpPayloadSize?: number } | undefined;
  return Math.min(MAX_UDP, Math.max(512, opt?.udpPayloadSize ?? 512));
}

export class DnsServer {
  private index: DnsIndex;
  private udp: UdpSocket | undefined;
  private tcp: Server | undefined;
  private unsubscribe: (() => void) | undefined;
  private upstreams: readonly Upstream[] = [];
  private inFlight = 0;
  private readonly connections = new Set<Socket>();
  private readonly zone: string;
  /** The index kept in step with the view's changes (dns-records.ts). */
  private readonly indexer: DnsIndexer;

  constructor(private readonly opts: DnsServerOptions) {
    this.zone = normalizeName(opts.clusterDomain ?? DEFAULT_CLUSTER_DOMAIN);
    this.indexer = new DnsIndexer(this.zone);
    this.index = buildIndex(opts.view.current(), this.zone);
  }

  /** Binds UDP and TCP; resolves once both listen. */
  async start(): Promise<void> {
    this.unsubscribe = this.opts.view.subscribe((s) => {
      this.index = this.indexer.update(s);
    });
    this.index = this.indexer.update(this.opts.view.current());
    const own = this.opts.address;
    const given = this.opts.upstreams ?? upstreamsOf(await readFile(this.opts.resolvConfPath ?? '/etc/resolv.conf', 'utf8').catch(() => ''));
    // Never ourselves (a loop): the gateway, or the kube-dns address DNATed to it.
    this.upstreams = given.filter((u) => !(u.address === own && u.port === (this.opts.port ?? 53)));
    const port = this.opts.port ?? 53;
    const udp = createSocket({ type: 'udp4' });
    udp.on('message', (msg, rinfo) => void this.onUdp(msg, rinfo));
    udp.on('error', (e) => this.opts.log.warn('cluster DNS UDP socket error', { error: errorMessage(e) }));
    await new Promise<void>((resolve, reject) => {
      udp.once('error', reject);
      udp.bind(port, own, () => {
        udp.off('error', reject);
        resolve();
      });
    });
    this.udp = udp;
    const tcp = createServer((socket) => this.onTcp(socket));
    tcp.maxConnections = this.opts.maxConnections ?? 128;
    tcp.on('error', (e) => this.opts.log.warn('cluster DNS TCP server error', { error: errorMessage(e) }));
    await new Promise<void>((resolve, reject) => {
      tcp.once('error', reject);
      tcp.listen(port, own, () => {
        tcp.off('error', reject);
        resolve();
      });
    });
    this.tcp = tcp;
    this.opts.log.info('cluster DNS listening', { address: own, port, zone: this.zone, upstreams: this.upstreams.map((u) => `${u.address}:${u.port}`) });
  }

  /** The UDP port it listens on (tests bind port 0). */
  get port(): number {
    return this.udp?.address().port ?? 0;
  }

  async close(): Promise<void> {
    this.unsubscribe?.();
    this.udp?.close();
    this.udp = undefined;
    for (const c of this.connections) c.destroy();
    await new Promise<void>((resolve) => (this.tcp ? this.tcp.close(() => resolve()) : resolve()));
    this.tcp = undefined;
  }

  private async onUdp(msg: Buffer, rinfo: RemoteInfo): Promise<void> {
    try {
      const out = await this.handle(msg, 'udp');
      if (out) this.udp?.send(out, rinfo.port, rinfo.address);
    } catch {
      // an answer that does not encode is dropped, like a malformed query
    }
  }

  private onTcp(socket: Socket): void {
    this.connections.add(socket);
    socket.setTimeout(TCP_IDLE_MS, () => socket.destroy());
    socket.on('close', () => this.connections.delete(socket));
    socket.on('error', () => socket.destroy());
    let buf = Buffer.alloc(0);
    socket.on('data', (chunk) => {
      buf = Buffer.concat([buf, chunk]);
      while (buf.length >= 2) {
        const len = buf.readUInt16BE(0);
        if (buf.length < 2 + len) break;
        const msg = buf.subarray(2, 2 + len);
        buf = buf.subarray(2 + len);
        void this.handle(msg, 'tcp').then(
          (out) => {
            if (!out || socket.destroyed) return;
            const head = Buffer.alloc(2);
            head.writeUInt16BE(out.length);
            socket.write(Buffer.concat([head, out]));
          },
          () => undefined, // dropped, like a malformed query
        );
      }
    });
  }

  /** One query's answer bytes, or undefined to drop it. Public for tests and the bench. */
  async handle(msg: Buffer, transport: 'udp' | 'tcp'): Promise<Buffer | undefined> {
    let query: Packet;
    try {
      query = dnsPacket.decode(msg);
    } catch {
      return undefined; // malformed: dropped
    }
    const decision = answerQuery(query, this.index);
    if (decision.kind === 'drop') return undefined;
    if (decision.kind === 'forward') return this.forward(msg, query, transport);
    let packet = decision.packet;
    const q = query.questions?.[0];
    const cname = packet.answers?.find((r) => r.type === 'CNAME') as { data: string } | undefined;
    if (q && cname && (q.type === 'A' || q.type === 'AAAA')) packet = await this.followCname(packet, cname.data, q.type);
    return this.encode(packet, query, transport);
  }

  private encode(packet: Packet, query: Packet, transport: 'udp' | 'tcp'): Buffer {
    const out = dnsPacket.encode(packet);
    if (transport === 'tcp' || out.length <= udpLimit(query)) return out;
    // Too big for UDP: TC set, no records; the client asks again over TCP.
    return dnsPacket.encode({ ...packet, flags: (packet.flags ?? 0) | dnsPacket.TRUNCATED_RESPONSE, answers: [], authorities: [], additionals: [] });
  }

  /** An ExternalName's target resolved upstream (a cluster name is never forwarded). */
  private async followCname(packet: Packet, target: string, type: 'A' | 'AAAA'): Promise<Packet> {
    const name = normalizeName(target);
    if (name === this.zone || name.endsWith(`.${this.zone}`)) return packet;
    const sub = dnsPacket.encode({ type: 'query', id: (Math.random() * 65536) | 0, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type, name, class: 'IN' }] });
    const reply = await this.ask(sub, 'udp');
    if (!reply) return packet;
    try {
      const decoded = dnsPacket.decode(reply);
      return { ...packet, answers: [...(packet.answers ?? []), ...((decoded.answers ?? []) as Answer[])] };
    } catch {
      return packet;
    }
  }

  private async forward(msg: Buffer, query: Packet, transport: 'udp' | 'tcp'): Promise<Buffer | undefined> {
    const q = query.questions?.[0];
    // Only one question, never a cluster name (answerQuery answered those); no upstream: SERVFAIL.
    if (!q || this.upstreams.length === 0) return this.encode(response(query, RCODE.SERVFAIL), query, transport);
    const reply = await this.ask(msg, transport);
    return reply ?? this.encode(response(query, RCODE.SERVFAIL), query, transport);
  }

  /** Asks the upstreams in turn; undefined when none answered (or too many are in flight). */
  private async ask(msg: Buffer, transport: 'udp' | 'tcp'): Promise<Buffer | undefined> {
    if (this.inFlight >= (this.opts.maxInFlight ?? 256)) return undefined;
    this.inFlight++;
    try {
      const timeout = this.opts.timeoutMs ?? 2000;
      for (const u of this.upstreams) {
        try {
          let reply = await udpExchange(u, msg, timeout);
          if (transport === 'tcp' && reply.length >= 3 && (reply[2]! & 0x02) !== 0) reply = await tcpExchange(u, msg, timeout);
          // The reply must answer this query (same id), else it is not ours.
          if (reply.length >= 2 && reply.readUInt16BE(0) === msg.readUInt16BE(0)) return reply;
        } catch {
          // next upstream
        }
      }
      return undefined;
    } finally {
      this.inFlight--;
    }
  }
}

/** One UDP exchange on a fresh socket (a random source port per query). */
export function udpExchange(u: Upstream, msg: Buffer, timeoutMs: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const s = createSocket('udp4');
    const done = (e: Error | undefined, b?: Buffer) => {
      clearTimeout(timer);
      s.close();
      if (e) reject(e);
      else resolve(b!);
    };
    const timer = setTimeout(() => done(new Error(`no answer from ${u.address}:${u.port} within ${timeoutMs} ms`)), timeoutMs);
    s.on('error', (e) => done(e));
    s.on('message', (b, rinfo) => {
      if (rinfo.address === u.address && rinfo.port === u.port && b.length >= 2 && b.readUInt16BE(0) === msg.readUInt16BE(0)) done(undefined, b);
    });
    s.send(msg, u.port, u.address);
  });
}

/** One TCP exchange (length-prefixed), for answers that did not fit UDP. */
export function tcpExchange(u: Upstream, msg: Buffer, timeoutMs: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const s = connect(u.port, u.address);
    let buf = Buffer.alloc(0);
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`no TCP answer from ${u.address}:${u.port} within ${timeoutMs} ms`));
    }, timeoutMs);
    s.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    s.on('connect', () => {
      const head = Buffer.alloc(2);
      head.writeUInt16BE(msg.length);
      s.write(Buffer.concat([head, msg]));
    });
    s.on('data', (c) => {
      buf = Buffer.concat([buf, c]);
      if (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        clearTimeout(timer);
        s.destroy();
        resolve(buf.subarray(2, 2 + buf.readUInt16BE(0)));
      }
    });
    s.on('close', () => {
      clearTimeout(timer);
      reject(new Error('connection closed before an answer'));
    });
  });
}
