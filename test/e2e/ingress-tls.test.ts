import type { ChildProcess } from 'node:child_process';
import { createHash, X509Certificate } from 'node:crypto';
import { rmSync } from 'node:fs';
import { connect as http2Connect } from 'node:http2';
import { request as httpsRequest, type RequestOptions } from 'node:https';
import { connect as netConnect } from 'node:net';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import Docker from 'dockerode';
import { generate } from 'selfsigned';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bridgeName, destroyNodeBridge } from '../../node-agent/network/node-bridge';
import { destroyServiceTable } from '../../node-agent/network/service-proxy';
import { proxyTableName } from '../../node-agent/network/service-rules';
import { removeNodeContainers, startNodeAgent, stopProcess } from '../helpers/agent';
import { eventually, uniqueName } from '../helpers/api';
import { hostGet } from '../helpers/http';
import { createTestCluster, type TestCluster } from '../helpers/clusters';
import { TEST_IMAGES } from '../helpers/images';

/*
 * The node agent's Ingress proxy over TLS with real containers (issue #15): spec.tls Secrets
 * (kubernetes.io/tls, self-signed certificates) picked by SNI, exact and wildcard; the default
 * (fake) certificate for hosts without a usable one (no Secret, a malformed one) while other hosts
 * keep theirs; a Secret replaced is served without restarting the agent; HTTP/2 negotiated by ALPN;
 * ssl-redirect; a WebSocket upgrade passed through to the backend (plain and over TLS); a backend
 * answering with bare-LF header lines (busybox CGI) still answers; and the attack: an Upgrade to a
 * Service whose Endpoints name the host (the bridge gateway) gets no connection (503).
 */

const docker = new Docker();

interface TlsAnswer {
  status: number;
  body: string;
  cert: X509Certificate;
  alpn: string | false | null;
  location?: string;
}

/** A GET over TLS to the proxy's TLS port with an SNI name (and that Host), HTTP/1.1. */
function tlsGet(port: number, servername: string, path = '/'): Promise<TlsAnswer | undefined> {
  return new Promise((resolve) => {
    // ALPNProtocols reaches tls.connect (the https module's types do not list it).
    const options: RequestOptions & { ALPNProtocols: string[] } = { host: '127.0.0.1', port, path, servername, headers: { host: servername }, rejectUnauthorized: false, ALPNProtocols: ['http/1.1'], agent: false, timeout: 5000 };
    const req = httpsRequest(options, (res) => {
      const socket = res.socket as TLSSocket;
      const cert = new X509Certificate(socket.getPeerX509Certificate()!.raw);
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: body.trim(), cert, alpn: socket.alpnProtocol }));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(undefined));
    req.end();
  });
}

/** An HTTP/2 GET (ALPN h2) with an SNI name: the status, body and the protocol negotiated. */
function h2Get(port: number, servername: string, path = '/'): Promise<{ status: number; body: string; alpn: string | undefined; cn: string } | undefined> {
  return new Promise((resolve) => {
    const session = http2Connect(`https://127.0.0.1:${port}`, { servername, rejectUnauthorized: false });
    session.on('error', () => resolve(undefined));
    const stream = session.request({ ':path': path, ':authority': servername });
    let status = 0;
    let body = '';
    stream.on('response', (h) => (status = Number(h[':status'])));
    stream.on('data', (d: Buffer) => (body += d.toString()));
    stream.on('end', () => {
      const cn = new X509Certificate((session.socket as TLSSocket).getPeerX509Certificate()!.raw).subject;
      resolve({ status, body: body.trim(), alpn: session.alpnProtocol, cn });
      session.close();
    });
    stream.on('error', () => resolve(undefined));
    stream.end();
  });
}

/**
 * A WebSocket handshake by hand on `socket` (plain or TLS): the answer's head, the key sent, and
 * the bytes the far end echoes back after `payload` is sent once the 101 arrived.
 */
function websocket(socket: Duplex, host: string, path: string, payload: string): Promise<{ head: string; echoed: string; key: string }> {
  const key = Buffer.from(uniqueName('k').padEnd(16, 'x').slice(0, 16)).toString('base64');
  return new Promise((resolve) => {
    let buf = '';
    let head = '';
    const done = () => {
      clearTimeout(timer);
      socket.destroy();
      resolve({ head, echoed: buf, key });
    };
    const timer = setTimeout(done, 8000);
    socket.on('data', (d: Buffer) => {
      buf += d.toString('latin1');
      if (!head && buf.includes('\r\n\r\n')) {
        head = buf.slice(0, buf.indexOf('\r\n\r\n'));
        buf = buf.slice(head.length + 4);
        if (!head.startsWith('HTTP/1.1 101')) return done();
        socket.write(payload);
      }
      if (head && buf.length >= payload.length) done();
    });
    socket.on('error', done);
    socket.write(`GET ${path} HTTP/1.1\r\nHost: ${host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
  });
}

/** Sec-WebSocket-Accept as RFC 6455 derives it from the key. */
const acceptFor = (key: string) => createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
const acceptOf = (head: string) => /sec-websocket-accept: (\S+)/i.exec(head)?.[1];

const deployment = (name: string, image: string, command: string[]) => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name },
  spec: {
    replicas: 1,
    selector: { matchLabels: { app: name } },
    template: {
      metadata: { labels: { app: name } },
      spec: { terminationGracePeriodSeconds: 1, containers: [{ name: 'main', image, imagePullPolicy: 'Never', command, readinessProbe: { tcpSocket: { port: 8080 }, periodSeconds: 1 } }] },
    },
  },
});
const service = (name: string, selector?: Record<string, string>) => ({ apiVersion: 'v1', kind: 'Service', metadata: { name }, spec: { ...(selector ? { selector } : {}), ports: [{ name: 'http', port: 80, targetPort: 8080 }] } });

// busybox httpd: a page and a CGI whose header lines end in a bare LF (busybox passes them on as written).
const WEB = [
  'sh',
  '-c',
  'mkdir -p /www/cgi-bin && echo "web $(hostname)" > /www/index.html && printf \'#!/bin/sh\\nprintf "Content-Type: text/plain\\\\n\\\\nlf ok\\\\n"\\n\' > /www/cgi-bin/lf && chmod +x /www/cgi-bin/lf && exec httpd -f -p 8080 -h /www',
];
// A WebSocket backend: answers the handshake (Sec-WebSocket-Accept from the key) and echoes every byte.
const WS = [
  'node',
  '-e',
  "const h=require('http'),c=require('crypto');const s=h.createServer((q,r)=>r.end('ws backend\\n'));s.on('upgrade',(q,k,b)=>{const a=c.createHash('sha1').update(q.headers['sec-websocket-key']+'258EAFA5-E914-47DA-95CA-C5AB0DC85B11').digest('base64');k.write('HTTP/1.1 101 Switching Protocols\\r\\nUpgrade: websocket\\r\\nConnection: Upgrade\\r\\nSec-WebSocket-Accept: '+a+'\\r\\nX-Backend-Path: '+q.url+'\\r\\n\\r\\n');if(b.length)k.write(b);k.pipe(k);});s.listen(8080);",
];

async function certificate(cn: string, names: string[], organization?: string): Promise<{ cert: string; key: string }> {
  const c = await generate([{ name: 'commonName', value: cn }, ...(organization ? [{ name: 'organizationName', value: organization }] : [])], {
    keyType: 'ec',
    algorithm: 'sha256',
    extensions: [{ name: 'subjectAltName', altNames: names.map((value) => ({ type: 2 as const, value })) }],
  });
  return { cert: c.cert, key: c.private };
}
const tlsSecret = (name: string, pem: { cert: string; key: string }) => ({
  apiVersion: 'v1',
  kind: 'Secret',
  metadata: { name },
  type: 'kubernetes.io/tls',
  data: { 'tls.crt': Buffer.from(pem.cert).toString('base64'), 'tls.key': Buffer.from(pem.key).toString('base64') },
});
const rule = (host: string, svc = 'web', path = '/') => ({ host, http: { paths: [{ path, pathType: 'Prefix', backend: { service: { name: svc, port: { number: 80 } } } }] } });

describe('ingress proxy: TLS, HTTP/2, WebSocket', { timeout: 400_000 }, () => {
  let c: TestCluster;
  const node = `itls-${uniqueName('').replace(/[^a-z0-9-]/g, '').slice(-7)}`;
  let agent: ChildProcess | undefined;
  let cidr = '';
  let port = 0;
  let tlsPort = 0;
  let nodeIP = '';
  let shop: { cert: string; key: string };

  beforeAll(async () => {
    c = await createTestCluster('itls');
    agent = startNodeAgent(node, { tenant: c.tenant, joinToken: c.joinToken, podNetwork: 'node-bridge', args: ['--ingress-secret-refresh-seconds', '2'] });
    const n = await eventually(async () => {
      const r = (await c.api.get(`/api/v1/nodes/${node}`)).body as { metadata?: { annotations?: Record<string, string> }; spec?: { podCIDR?: string }; status?: { addresses?: { type: string; address: string }[] } };
      return r.spec?.podCIDR && r.metadata?.annotations?.['stratus.dev/ingress-tls-port'] ? r : undefined;
    }, 90_000, `node ${node} registered`);
    cidr = n.spec!.podCIDR!;
    port = Number(n.metadata!.annotations!['stratus.dev/ingress-port']);
    tlsPort = Number(n.metadata!.annotations!['stratus.dev/ingress-tls-port']);
    nodeIP = n.status?.addresses?.find((a) => a.type === 'InternalIP')?.address ?? '';
    shop = await certificate('shop.example.com', ['shop.example.com']);
    const wild = await certificate('wildcard.apps.example.com', ['*.apps.example.com']);
    for (const [path, body] of [
      ['/apis/apps/v1/namespaces/default/deployments', deployment('web', TEST_IMAGES.busybox, WEB)],
      ['/apis/apps/v1/namespaces/default/deployments', deployment('ws', TEST_IMAGES.node, WS)],
      ['/api/v1/namespaces/default/services', service('web', { app: 'web' })],
      ['/api/v1/namespaces/default/services', service('ws', { app: 'ws' })],
      ['/api/v1/namespaces/default/secrets', tlsSecret('shop-tls', shop)],
      ['/api/v1/namespaces/default/secrets', tlsSecret('wild-tls', wild)],
      ['/api/v1/namespaces/default/secrets', { ...tlsSecret('bad-tls', shop), data: { 'tls.crt': Buffer.from('not a certificate').toString('base64'), 'tls.key': Buffer.from(shop.key).toString('base64') } }],
    ] as const) {
      const r = await c.api.post(path, body);
      expect(r.status, r.text).toBe(201);
    }
    const ing = await c.api.post('/apis/networking.k8s.io/v1/namespaces/default/ingresses', {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'Ingress',
      metadata: { name: 'secure', annotations: { 'nginx.ingress.kubernetes.io/ssl-redirect': 'true' } },
      spec: {
        tls: [
          { hosts: ['shop.example.com'], secretName: 'shop-tls' },
          { hosts: ['*.apps.example.com'], secretName: 'wild-tls' },
          { hosts: ['broken.example.com'], secretName: 'bad-tls' },
          { hosts: ['none.example.com'], secretName: 'missing-tls' },
        ],
        rules: [rule('shop.example.com'), rule('*.apps.example.com'), rule('broken.example.com'), rule('none.example.com'), rule('ws.example.com', 'ws'), rule('plain.example.com')],
      },
    });
    expect(ing.status, ing.text).toBe(201);
    await eventually(async () => {
      const r = await hostGet(port, 'plain.example.com', '/');
      return r?.status === 200 && r.body.startsWith('web ') ? true : undefined;
    }, 150_000, 'the web backend answers through the Ingress');
  }, 300_000);

  afterAll(async () => {
    await stopProcess(agent);
    removeNodeContainers(node);
    rmSync(join('/var/lib/stratus', node), { recursive: true, force: true });
    if (cidr) {
      await destroyServiceTable(proxyTableName(bridgeName(cidr)));
      await destroyNodeBridge(docker, cidr);
    }
    await c?.api.send('DELETE', `/api/v1/nodes/${node}`);
  }, 120_000);

  it('status.loadBalancer lists the node\'s HTTP port, then its TLS port', async () => {
    const lb = await eventually(async () => {
      const r = (await c.api.get('/apis/networking.k8s.io/v1/namespaces/default/ingresses/secure')).body as { status?: { loadBalancer?: { ingress?: { ip: string; ports: { port: number }[] }[] } } };
      return r.status?.loadBalancer?.ingress?.length ? r.status.loadBalancer.ingress : undefined;
    }, 60_000, 'ingress status');
    expect(lb).toEqual([{ ip: nodeIP, ports: [{ port, protocol: 'TCP' }, { port: tlsPort, protocol: 'TCP' }] }]);
  });

  it('SNI picks the Secret\'s certificate (exact and wildcard); the default certificate otherwise, and routing still works', async () => {
    const s = await eventually(async () => {
      const r = await tlsGet(tlsPort, 'shop.example.com');
      return r?.cert.subject === 'CN=shop.example.com' ? r : undefined;
    }, 60_000, 'the shop certificate served');
    expect(s.status).toBe(200);
    expect(s.body).toMatch(/^web /);
    expect(s.cert.fingerprint256).toBe(new X509Certificate(shop.cert).fingerprint256);
    const w = await tlsGet(tlsPort, 'foo.apps.example.com');
    expect(w?.cert.subject).toBe('CN=wildcard.apps.example.com');
    expect(w?.status).toBe(200);
    // A malformed Secret, a missing one, a host without tls, no host at all: the fake certificate; the other hosts keep theirs.
    for (const name of ['broken.example.com', 'none.example.com', 'plain.example.com', 'a.b.apps.example.com']) {
      const r = await tlsGet(tlsPort, name);
      expect(r?.cert.subject, name).toBe('CN=Stratus Ingress Controller Fake Certificate');
    }
    expect((await tlsGet(tlsPort, 'broken.example.com'))?.status).toBe(200);
    expect((await tlsGet(tlsPort, 'unknown.example.org'))?.status).toBe(404);
    expect((await tlsGet(tlsPort, 'shop.example.com'))?.cert.subject).toBe('CN=shop.example.com');
  });

  it('HTTP/2 is negotiated by ALPN and proxied to the HTTP/1.1 backend', async () => {
    const r = await h2Get(tlsPort, 'shop.example.com');
    expect(r).toMatchObject({ status: 200, alpn: 'h2', cn: 'CN=shop.example.com' });
    expect(r?.body).toMatch(/^web /);
    // A client offering only http/1.1 gets it.
    expect((await tlsGet(tlsPort, 'shop.example.com'))?.alpn).toBe('http/1.1');
  });

  it('ssl-redirect: plain HTTP to a host with a certificate is redirected (308) to the TLS port', async () => {
    expect(await hostGet(port, 'shop.example.com', '/x?y=1')).toMatchObject({ status: 308, location: `https://shop.example.com:${tlsPort}/x?y=1` });
    // No usable certificate for the host: no redirect.
    expect((await hostGet(port, 'none.example.com', '/'))?.status).toBe(200);
  });

  it('a backend whose header lines end in a bare LF (CGI) is answered, not 502', async () => {
    const r = await hostGet(port, 'plain.example.com', '/cgi-bin/lf');
    expect(r).toMatchObject({ status: 200, body: 'lf ok' });
  });

  it('a WebSocket upgrade passes through to the backend, over HTTP and over TLS', async () => {
    await eventually(async () => ((await hostGet(port, 'ws.example.com', '/'))?.status === 200 ? true : undefined), 120_000, 'the ws backend is ready');
    const plain = netConnect(port, '127.0.0.1');
    await new Promise((r) => plain.once('connect', r));
    const a = await websocket(plain, 'ws.example.com', '/chat?room=1', 'hello over ws');
    expect(a.head).toMatch(/^HTTP\/1\.1 101/);
    expect(a.head).toMatch(/x-backend-path: \/chat\?room=1/i);
    expect(acceptOf(a.head)).toBe(acceptFor(a.key));
    expect(a.echoed).toBe('hello over ws');
    const secure = tlsConnect({ host: '127.0.0.1', port: tlsPort, servername: 'ws.example.com', rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] });
    await new Promise((r) => secure.once('secureConnect', r));
    const b = await websocket(secure, 'ws.example.com', '/chat', 'hello over wss');
    expect(b.head).toMatch(/^HTTP\/1\.1 101/);
    expect(b.echoed).toBe('hello over wss');
  });

  it('WebSocket over HTTP/2 (RFC 8441 extended CONNECT) reaches the backend as an HTTP/1.1 Upgrade and echoes', async () => {
    // Prepare
    await eventually(async () => ((await hostGet(port, 'ws.example.com', '/'))?.status === 200 ? true : undefined), 120_000, 'the ws backend is ready');
    const session = http2Connect(`https://127.0.0.1:${tlsPort}`, { servername: 'ws.example.com', rejectUnauthorized: false });
    session.on('error', () => undefined);
    const settings = await new Promise<{ enableConnectProtocol?: boolean }>((r) => session.once('remoteSettings', r));
    // Act
    const stream = session.request({ ':method': 'CONNECT', ':protocol': 'websocket', ':scheme': 'https', ':path': '/chat?room=2', ':authority': 'ws.example.com', 'sec-websocket-version': '13' });
    const head = await new Promise<Record<string, unknown>>((r) => stream.once('response', r));
    const echoed = await new Promise<string>((resolve) => {
      let got = '';
      stream.on('data', (d: Buffer) => {
        got += d.toString('latin1');
        if (got.endsWith('hello over h2')) resolve(got);
      });
      stream.write('hello over h2');
    });
    stream.close();
    session.close();
    // Assess
    expect(settings.enableConnectProtocol).toBe(true);
    expect(session.alpnProtocol).toBe('h2');
    expect(head[':status']).toBe(200);
    expect(head['x-backend-path']).toBe('/chat?room=2');
    expect(head['sec-websocket-accept']).toBeUndefined();
    expect(echoed).toBe('hello over h2');
  });

  it('a replaced Secret is served without restarting the agent', async () => {
    const rotated = await certificate('shop.example.com', ['shop.example.com'], 'rotated');
    const r = await c.api.send('PUT', '/api/v1/namespaces/default/secrets/shop-tls', tlsSecret('shop-tls', rotated));
    expect(r.status, r.text).toBe(200);
    await eventually(async () => {
      const a = await tlsGet(tlsPort, 'shop.example.com');
      return a?.cert.fingerprint256 === new X509Certificate(rotated.cert).fingerprint256 ? true : undefined;
    }, 60_000, 'the rotated certificate served');
    // Deleting it: the host falls back to the default certificate, still answered.
    expect((await c.api.send('DELETE', '/api/v1/namespaces/default/secrets/shop-tls')).status).toBe(200);
    const after = await eventually(async () => {
      const a = await tlsGet(tlsPort, 'shop.example.com');
      return a?.cert.subject === 'CN=Stratus Ingress Controller Fake Certificate' ? a : undefined;
    }, 60_000, 'the default certificate after the Secret is gone');
    expect(after.status).toBe(200);
    expect((await tlsGet(tlsPort, 'foo.apps.example.com'))?.cert.subject).toBe('CN=wildcard.apps.example.com');
  });

  it('an Upgrade to a Service whose Endpoints name the host (bridge gateway) gets no connection', async () => {
    const gateway = `${cidr.split('.').slice(0, 3).join('.')}.1`;
    expect((await c.api.post('/api/v1/namespaces/default/services', service('sneaky'))).status).toBe(201);
    const ep = await c.api.post('/api/v1/namespaces/default/endpoints', { apiVersion: 'v1', kind: 'Endpoints', metadata: { name: 'sneaky' }, subsets: [{ addresses: [{ ip: gateway }], ports: [{ name: 'http', port }] }] });
    expect(ep.status, ep.text).toBe(201);
    const ing = await c.api.post('/apis/networking.k8s.io/v1/namespaces/default/ingresses', {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'Ingress',
      metadata: { name: 'sneaky' },
      spec: { rules: [rule('sneaky.example.com', 'sneaky')] },
    });
    expect(ing.status, ing.text).toBe(201);
    await eventually(async () => {
      const s = (await c.api.get('/apis/discovery.k8s.io/v1/namespaces/default/endpointslices?labelSelector=kubernetes.io%2Fservice-name%3Dsneaky')).body as { items: unknown[] };
      return s.items.length ? true : undefined;
    }, 60_000, 'the mirrored EndpointSlice');
    await eventually(async () => ((await hostGet(port, 'sneaky.example.com', '/'))?.status === 503 ? true : undefined), 30_000, 'the route exists (503)');
    const plain = netConnect(port, '127.0.0.1');
    await new Promise((r) => plain.once('connect', r));
    expect((await websocket(plain, 'sneaky.example.com', '/', 'x')).head).toMatch(/^HTTP\/1\.1 503/);
    const secure = tlsConnect({ host: '127.0.0.1', port: tlsPort, servername: 'sneaky.example.com', rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] });
    await new Promise((r) => secure.once('secureConnect', r));
    expect((await websocket(secure, 'sneaky.example.com', '/', 'x')).head).toMatch(/^HTTP\/1\.1 503/);
    expect((await tlsGet(tlsPort, 'sneaky.example.com'))?.status).toBe(503);
    expect((await h2Get(tlsPort, 'sneaky.example.com'))?.status).toBe(503);
  });
});
