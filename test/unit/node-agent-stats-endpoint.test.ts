import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KubeletServer } from '../../node-agent/kubelet-server';
import { silentLogger } from '../../node-agent/log';
import type { Summary } from '../../node-agent/stats';
import { kubeletCall, testNodeTls, type TestNodeTls } from '../helpers/kubelet-tls';

const summary: Summary = { node: { nodeName: 'n', cpu: { time: 't', usageNanoCores: 1, usageCoreNanoSeconds: 1, windowSeconds: 1 }, memory: { time: 't', workingSetBytes: 1 } }, pods: [] };
let server: KubeletServer;
let port: number;
let reads = 0;
let tls: TestNodeTls;

beforeAll(async () => {
  tls = await testNodeTls();
  server = new KubeletServer({
    logs: { containerLogs: () => Promise.resolve({ ok: false, code: 404, message: 'no' }) },
    stats: { summary: () => (reads++, Promise.resolve(summary)) },
    tls: tls.server,
    host: '127.0.0.1',
    log: silentLogger,
  });
  port = await server.listen();
});
afterAll(() => server.close());

describe('kubelet endpoint /stats/summary', () => {
  it("answers the summary to the API's client certificate only", async () => {
    await expect(kubeletCall(tls, port, '/stats/summary', { as: 'none' })).rejects.toThrow();
    expect(reads).toBe(0);
    const ok = await kubeletCall(tls, port, '/stats/summary');
    expect(ok.status).toBe(200);
    expect(JSON.parse(ok.text)).toEqual(summary);
  });

  it('a serving certificate naming another node is refused by the API side', async () => {
    await expect(kubeletCall({ ...tls, nodeName: 'other' }, port, '/stats/summary')).rejects.toThrow(/system:node:other/);
  });

  it('refuses other methods (405) and other stats paths (404)', async () => {
    expect((await kubeletCall(tls, port, '/stats/summary', { method: 'POST' })).status).toBe(405);
    expect((await kubeletCall(tls, port, '/stats/other')).status).toBe(404);
  });
});
