/**
 * The kubelet relay's cost and latency per call (docs/exec.md, "Every API → agent call through
 * the outbound relay"), in one process: the API side's https.Agent, the relay emulator
 * (infra/local/kubelet-relay.ts) and an agent's relay client feeding a kubelet server, with the
 * session items in memory (the DynamoDB and SQS calls per session are fixed and counted in
 * docs). The relay is the AWS handler (functions/relay/handler.ts) behind the local API Gateway
 * emulator. What it measures: the messages one call needs (each is one API Gateway message in,
 * one `$default` invocation and, but for `ready`, one message out on AWS: `ready` ×2, the data
 * messages, the in-band end `e` ×2 and its ack `a` ×2), the bytes, and the time of a call
 * through the relay next to the same call over a direct mutual-TLS connection.
 *
 *   npx tsx bench/kubelet-relay.ts [--calls N]
 */
import https from 'node:https';
import { Readable } from 'node:stream';
import { PutCommand } from '@aws-sdk/lib-dynamodb';
import { makeCertificates } from '../infra/local/stack';
import { startKubeletRelay } from '../infra/local/kubelet-relay';
import { checkNodeIdentity, type KubeletTls } from '../shared/auth/kubelet-client';
import { hashToken } from '../shared/auth/tokens';
import { loadConfig } from '../shared/config';
import { relayAgent } from '../shared/relay/api-side';
import { KubeletRelayClient } from '../node-agent/kubelet-relay';
import { KubeletServer } from '../node-agent/kubelet-server';
import type { Logger } from '../node-agent/log';
import { testNodeTls } from '../test/helpers/kubelet-tls';
import { memoryDoc } from '../test/helpers/relay-memory-doc';
import { pct } from './lib';

const calls = Number(process.argv[process.argv.indexOf('--calls') + 1]) || 200;
/** $ per message on AWS: API Gateway message received + posted ($1.00/M each) + one 128 MB, 20 ms `$default` invocation. */
const PER_FRAME = 2 * 1e-6 + 0.2e-6 + 0.128 * 0.02 * 0.0000133334;
/**
 * $ fixed per session: 8 WRU (session put, 2 claims, 2 connection items, 2 `ready` updates, the
 * delete), about 9 RRU (the item per `$connect`, the node's token, the item per side's first data
 * message and per `$disconnect`, the connection items), 3 SQS requests, 4 `$connect`/`$disconnect`
 * invocations, 2 connection-minutes. (`paired`'s two posts are counted with the two `ready` messages.)
 */
const PER_SESSION = 8 * 0.625e-6 + 9 * 0.125e-6 + 3 * 0.4e-6 + 4 * (0.2e-6 + 0.128 * 0.02 * 0.0000133334) + 2 * 0.25e-6;

const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined } as unknown as Logger;

async function main(): Promise<void> {
  const config = loadConfig({});
  const doc = memoryDoc();
  const certs = await makeCertificates({ dns: ['localhost'], ips: ['127.0.0.1'] });
  const relay = await startKubeletRelay({ doc, config, tls: { key: certs.key, cert: certs.cert }, log: () => undefined });
  const token = 'st_bench-node';
  await doc.send(new PutCommand({ TableName: config.objectsTable, Item: { pk: `token#${hashToken(token)}`, sk: 'token', tenant: 't1', user: 'system:node:n1', groups: ['system:nodes'] } }));
  const node = await testNodeTls('n1', 't1');
  const sizes: Record<string, number> = { small: 200, '100KB': 100 * 1024 };
  const kubelet = new KubeletServer({
    logs: { containerLogs: async (ref) => ({ ok: true, stream: Readable.from([Buffer.alloc(sizes[ref.pod] ?? 0, 'x')]) }) },
    tls: node.server,
    host: '127.0.0.1',
    log: quiet,
  });
  const port = await kubelet.listen();
  const client = new KubeletRelayClient({ url: relay.url, tenant: 't1', token: () => token, ca: certs.caCert, server: kubelet, log: quiet });
  const tls: KubeletTls = { ca: node.pki.nodeCaCert, cert: node.pki.apiClientCert, key: node.pki.apiClientKey, rejectUnauthorized: true, checkServerIdentity: checkNodeIdentity('n1') };
  const viaRelay = relayAgent({ doc, config, tenant: 't1', node: 'n1', url: relay.url, kubeletTls: tls, ca: certs.caCert, notify: (m) => client.serve(m) });

  const get = (url: string, agent: https.Agent | false) =>
    new Promise<number>((resolve, reject) => {
      https
        .get(url, { ...tls, agent }, (res) => {
          let n = 0;
          res.on('data', (d: Buffer) => (n += d.length));
          res.on('end', () => resolve(n));
        })
        .on('error', reject);
    });

  console.log(`kubelet relay: ${calls} calls each, in one process (load average ${(await import('node:os')).loadavg()[0]!.toFixed(1)})`);
  console.log('| call | direct p50 / p99 ms | relay p50 / p99 ms | frames per call | bytes per call | AWS $ per call |');
  console.log('|---|---|---|---|---|---|');
  for (const pod of Object.keys(sizes)) {
    const path = `/containerLogs/default/${pod}/main`;
    const direct: number[] = [];
    const relayed: number[] = [];
    const before = { ...relay.stats };
    for (let i = 0; i < calls; i++) {
      let t = performance.now();
      await get(`https://127.0.0.1:${port}${path}`, false);
      direct.push(performance.now() - t);
      t = performance.now();
      await get(`https://n1:10250${path}`, viaRelay);
      relayed.push(performance.now() - t);
    }
    const frames = (relay.stats.frames - before.frames) / calls;
    const bytes = (relay.stats.bytes - before.bytes) / calls;
    console.log(
      `| logs, ${pod} | ${pct(direct, 50).toFixed(1)} / ${pct(direct, 99).toFixed(1)} | ${pct(relayed, 50).toFixed(1)} / ${pct(relayed, 99).toFixed(1)} | ${frames.toFixed(1)} | ${Math.round(bytes)} | ${(PER_SESSION + frames * PER_FRAME).toFixed(7)} |`,
    );
  }
  client.close();
  await kubelet.close();
  await relay.close();
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    console.error(e);
    process.exit(1);
  },
);
