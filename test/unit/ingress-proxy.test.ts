import { request as httpRequest } from 'node:http';
import { connect as http2Connect } from 'node:http2';
import { connect as netConnect, createServer as createNetServer, type AddressInfo, type Server } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { staticClusterView, type ClusterSnapshot } from '../../node-agent/network/cluster-view';
import { IngressProxy } from '../../node-agent/network/ingress-proxy';
import type { Logger } from '../../node-agent/log';

/*
 * The Ingress proxy's HTTP handling on loopback (node-agent/network/ingress-proxy.ts), with a raw
 * TCP backend on 127.0.0.2 (inside the test's "pod range" 127.0.0.0/24) answering by path: what
 * the lenient upstream parser lets through but no response writer accepts (a control character in
 * a header) is a 502 on HTTP/1.1 and HTTP/2, never a crash; bare-LF headers are relayed; HTTP/2
 * requests reach the backend as HTTP/1.1 with Host and X-Forwarded-Proto https; an endpoint outside
 * the allowed ranges gets no connection. The e2e test (test/e2e/ingress-tls.test.ts) covers TLS,
 * SNI and WebSocket with real containers.
 */

const silent: Logger = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined } as unknown as Logger;

let backend: Server;
let proxy: IngressProxy;
let port = 0;
let tlsPort = 0;
const seen: string[] = [];

function answer(path: string, request: string): string {
  if (path === '/bad-header') return 'HTTP/1.1 200 OK\r\nX-Bad: a\x01b\r\nContent-Length: 2\r\n\r\nok';
  if (path === '/lf') return 'HTTP/1.1 200 OK\nContent-Type: text/plain\nConnection: close\n\nlf ok';
  const proto = /x-forwarded-proto: (\S+)/i.exec(request)?.[1] ?? '';
  const host = /\r\nhost: (\S+)/i.exec(request)?.[1] ?? '';
  const body = `proto=${proto} host=${host}`;
  return `HTTP/1.1 200 OK\r\nConnection: close, X-Secret-Hop\r\nX-Secret-Hop: 1\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
}

const snapshot = (backendPort: number): ClusterSnapshot =>
  ({
    version: '1',
    pods: [],
    services: [
      { apiVersion: 'v1', kind: 'Service', metadata: { namespace: 'default', name: 's' }, spec: { ports: [{ name: 'http', port: 80, protocol: 'TCP' }] } },
      { apiVersion: 'v1', kind: 'Service', metadata: { namespace: 'default', name: 'host' }, spec: { ports: [{ name: 'http', port: 80, protocol: 'TCP' }] } },
    ],
    endpointSlices: [
      { apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', metadata: { namespace: 'default', name: 's-1', labels: { 'kubernetes.io/service-name': 's' } }, addressType: 'IPv4', ports: [{ name: 'http', port: backendPort, protocol: 'TCP' }], endpoints: [{ addresses: ['127.0.0.2'], conditions: { ready: true } }] },
      // The range's gateway address (.1): never connected to.
      { apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', metadata: { namespace: 'default', name: 'host-1', labels: { 'kubernetes.io/service-name': 'host' } }, addressType: 'IPv4', ports: [{ name: 'http', port: backendPort, protocol: 'TCP' }], endpoints: [{ addresses: ['127.0.0.1'], conditions: { ready: true } }] },
    ],
    ingressClasses: [{ metadata: { name: 'stratus' }, spec: { controller: 'stratus.dev/ingress' } }],
    ingresses: [
      {
        metadata: { namespace: 'default', name: 'i' },
        spec: {
          ingressClassName: 'stratus',
          rules: [
            { host: 'app.example.com', http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: 's', port: { number: 80 } } } }] } },
            { host: 'host.example.com', http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: 'host', port: { number: 80 } } } }] } },
          ],
        },
      },
    ],
  }) as unknown as ClusterSnapshot;

beforeAll(async () => {
  backend = createNetServer((c) => {
    let buf = '';
    c.on('error', () => c.destroy());
    c.on('data', (d: Buffer) => {
      buf += d.toString('latin1');
      if (!buf.includes('\r\n\r\n')) return;
      const path = buf.split(' ')[1] ?? '/';
      seen.push(buf);
      if (path === '/ws') {
        // A 101 by hand, then an echo (the pass-through joins the connections byte for byte).
        c.removeAllListeners('data');
        c.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n');
        c.pipe(c);
        return;
      }
      c.end(answer(path, buf));
    });
  });
  await new Promise<void>((r) => backend.listen(0, '127.0.0.2', r));
  proxy = new IngressProxy({
    view: staticClusterView(snapshot((backend.address() as AddressInfo).port)),
    log: silent,
    controller: 'stratus.dev/ingress',
    address: '127.0.0.1',
    clusterPodCIDRs: () => Promise.resolve(['127.0.0.0/24']),
    podCidrPool: '127.0.0.0/8',
    readSecret: () => Promise.resolve(undefined),
  });
  port = await proxy.listen();
  tlsPort = proxy.tlsPort!;
  // The address filter is read asynchronously after listen.
  await new Promise((r) => setTimeout(r, 200));
});

afterAll(async () => {
  await proxy?.close();
  backend?.close();
});

function get(host: string, path: string): Promise<{ status: number; body: string; headers: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, headers: { host }, agent: false }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
    });
    req.on('error', reject);
    req.end();
  });
}

function h2Get(authority: string, path: string): Promise<{ status: number; body: string; alpn: string | undefined; subject: string }> {
  return new Promise((resolve, reject) => {
    const session = http2Connect(`https://127.0.0.1:${tlsPort}`, { servername: authority, rejectUnauthorized: false });
    session.on('error', reject);
    const stream = session.request({ ':path': path, ':authority': authority });
    let status = 0;
    let body = '';
    stream.on('response', (h) => (status = Number(h[':status'])));
    stream.on('data', (d: Buffer) => (body += d.toString()));
    stream.on('end', () => {
      const subject = (session.socket as TLSSocket).getPeerX509Certificate()?.subject ?? '';
      resolve({ status, body, alpn: session.alpnProtocol, subject });
      session.close();
    });
    stream.on('error', reject);
    stream.end();
  });
}

describe('IngressProxy over loopback', () => {
  it('relays a response, dropping the hop-by-hop headers its Connection names', async () => {
    const r = await get('app.example.com', '/');
    expect(r).toMatchObject({ status: 200, body: 'proto=http host=app.example.com' });
    expect(r.headers['x-secret-hop']).toBeUndefined();
  });

  it('accepts a backend\'s bare-LF header lines', async () => {
    expect(await get('app.example.com', '/lf')).toMatchObject({ status: 200, body: 'lf ok' });
  });

  it('answers 502 to a header the HTTP/1.1 writer refuses (no crash on HTTP/1.1 or HTTP/2), and keeps serving', async () => {
    expect((await get('app.example.com', '/bad-header')).status).toBe(502);
    // node:http2 hands the value to nghttp2 without that check: relayed or refused, never a throw.
    expect([200, 502]).toContain((await h2Get('app.example.com', '/bad-header')).status);
    expect((await get('app.example.com', '/')).status).toBe(200);
  });

  it('HTTP/2 (ALPN h2, default certificate without a Secret) reaches the backend as HTTP/1.1 with Host and X-Forwarded-Proto https', async () => {
    const r = await h2Get('app.example.com', '/');
    expect(r).toMatchObject({ status: 200, alpn: 'h2', body: 'proto=https host=app.example.com', subject: 'CN=Stratus Ingress Controller Fake Certificate' });
    expect(seen.at(-1)).toMatch(/^GET \/ HTTP\/1\.1\r\n/);
  });

  it('never connects to an address outside the allowed ranges (the range\'s gateway)', async () => {
    const before = seen.length;
    expect((await get('host.example.com', '/')).status).toBe(503);
    expect((await h2Get('host.example.com', '/')).status).toBe(503);
    expect(seen.length).toBe(before);
  });

  it('WebSocket over HTTP/2 (RFC 8441 extended CONNECT): 200, then echoed through the backend\'s HTTP/1.1 Upgrade', async () => {
    // Prepare
    const session = http2Connect(`https://127.0.0.1:${tlsPort}`, { servername: 'app.example.com', rejectUnauthorized: false });
    session.on('error', () => undefined);
    const settings = await new Promise<{ enableConnectProtocol?: boolean }>((r) => session.once('remoteSettings', r));
    const before = seen.length;
    const open = (authority: string, protocol: string) => session.request({ ':method': 'CONNECT', ':protocol': protocol, ':scheme': 'https', ':path': '/ws', ':authority': authority, 'sec-websocket-version': '13', 'sec-websocket-protocol': 'chat' });
    const statusOf = (st: ReturnType<typeof open>) => new Promise<number>((r) => st.once('response', (h) => r(Number(h[':status']))));
    // Act
    const ws = open('app.example.com', 'websocket');
    const status = await statusOf(ws);
    const echoed = await new Promise<string>((resolve) => {
      let got = '';
      ws.on('data', (d: Buffer) => {
        got += d.toString('latin1');
        if (got.endsWith('echo me')) resolve(got);
      });
      ws.write('echo me');
    });
    const unrouted = await statusOf(open('nowhere.example.com', 'websocket'));
    const otherProtocol = await statusOf(open('app.example.com', 'connect-udp'));
    ws.close();
    session.close();
    // Assess
    expect(settings.enableConnectProtocol).toBe(true);
    expect(status).toBe(200);
    expect(echoed).toBe('echo me');
    const upgrade = seen.slice(before).find((r) => r.startsWith('GET /ws HTTP/1.1'));
    expect(upgrade).toMatch(/\r\nupgrade: websocket\r\n/i);
    expect(upgrade).toMatch(/\r\nconnection: upgrade\r\n/i);
    expect(upgrade).toMatch(/\r\nsec-websocket-key: [A-Za-z0-9+/]{22}==\r\n/i);
    expect(upgrade).toMatch(/\r\nsec-websocket-protocol: chat\r\n/i);
    expect(unrouted).toBe(404);
    expect(otherProtocol).toBe(405);
  });

  it('passes an Upgrade through and, on close, ends the upgraded connection too (the agent stops)', async () => {
    const client = netConnect(port, '127.0.0.1');
    const closed = new Promise<void>((r) => client.once('close', () => r()));
    client.on('error', () => undefined);
    let got = '';
    await new Promise<void>((resolve) => {
      client.on('data', (d: Buffer) => {
        got += d.toString('latin1');
        if (got.endsWith('\r\n\r\n')) client.write('echo me');
        if (got.endsWith('echo me')) resolve();
      });
      client.write('GET /ws HTTP/1.1\r\nHost: app.example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n');
    });
    expect(got).toMatch(/^HTTP\/1\.1 101 Switching Protocols\r\n/);
    await proxy.close();
    await closed;
  });
});
