import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KubeletServer } from '../../node-agent/kubelet-server';
import { silentLogger } from '../../node-agent/log';
import type { Summary } from '../../node-agent/stats';

const summary: Summary = { node: { nodeName: 'n', cpu: { time: 't', usageNanoCores: 1, usageCoreNanoSeconds: 1, windowSeconds: 1 }, memory: { time: 't', workingSetBytes: 1 } }, pods: [] };
let server: KubeletServer;
let port: number;
let reads = 0;

beforeAll(async () => {
  server = new KubeletServer({
    logs: { containerLogs: () => Promise.resolve({ ok: false, code: 404, message: 'no' }) },
    stats: { summary: () => (reads++, Promise.resolve(summary)) },
    token: 'secret',
    host: '127.0.0.1',
    log: silentLogger,
  });
  port = await server.listen();
});
afterAll(() => server.close());

const get = (path: string, headers: Record<string, string> = {}, method = 'GET') => fetch(`http://127.0.0.1:${port}${path}`, { method, headers });

describe('kubelet endpoint /stats/summary', () => {
  it('answers the summary to the shared secret only', async () => {
    expect((await get('/stats/summary')).status).toBe(401);
    expect((await get('/stats/summary', { authorization: 'Bearer wrong' })).status).toBe(401);
    expect(reads).toBe(0);
    const ok = await get('/stats/summary', { authorization: 'Bearer secret' });
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual(summary);
  });

  it('refuses other methods (405) and other stats paths (404)', async () => {
    expect((await get('/stats/summary', { authorization: 'Bearer secret' }, 'POST')).status).toBe(405);
    expect((await get('/stats/other', { authorization: 'Bearer secret' })).status).toBe(404);
  });
});
