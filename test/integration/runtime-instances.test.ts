/**
 * The local runtime serving an HTTP function from several instances (infra/local/http-instances.ts),
 * with the fixture handlers: requests open at the same time are served by different processes,
 * and an instance that dies is replaced while the others keep serving. No timed assertions.
 */
import { request as httpsRequest } from 'node:https';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '../../shared/config';
import { LOCAL_REGION } from '../../infra/local/dynamodb';
import type { FunctionWiring } from '../../infra/wiring';
import { startFixtureRuntime, type FixtureRuntime } from '../helpers/fixture-runtime';

const wiring: readonly FunctionWiring[] = [
  {
    name: 'streamer',
    entry: 'test/fixtures/streaming.ts',
    handler: 'handler',
    trigger: { type: 'http', streaming: true },
    memoryMiB: 128,
    timeoutSeconds: 30,
  },
];

const config: Config = {
  region: LOCAL_REGION,
  objectsTable: 'runtime-instances-objects',
  changesTable: 'runtime-instances-changes',
  queuePrefix: 'runtime-instances',
  changeLogTtlSeconds: 3600,
};

const HEADER = 'x-stratus-local-instance';
const logs: string[] = [];
let fixture: FixtureRuntime | undefined;

/** Opens /forever (streams until the client leaves) on a connection of its own: which instance serves it. */
function hold(): Promise<{ instance: string; close: () => void }> {
  const f = fixture!;
  return new Promise((resolve, reject) => {
    const req = httpsRequest(new URL('/forever', f.runtime.urls.streamer), { ca: f.caCert, agent: false }, (res) => {
      expect(res.statusCode).toBe(201);
      res.once('data', () => resolve({ instance: String(res.headers[HEADER] ?? ''), close: () => req.destroy() }));
    });
    req.on('error', (e) => (req.destroyed ? undefined : reject(e)));
    // Not an assertion: a request that went to a dying instance is given up and asked again.
    req.setTimeout(10_000, () => {
      req.destroy();
      reject(new Error('no answer'));
    });
    req.end();
  });
}

async function heldPids(n: number): Promise<Set<string>> {
  const held = await Promise.all(Array.from({ length: n }, () => hold()));
  for (const h of held) h.close();
  for (const h of held) expect(h.instance).toMatch(/^\d+\/\d+$/);
  return new Set(held.map((h) => h.instance.split('/')[1]!));
}

beforeAll(async () => {
  fixture = await startFixtureRuntime(config, wiring, (s) => logs.push(s), 2);
}, 120_000);

afterAll(async () => {
  await fixture?.stop();
}, 60_000);

describe('HTTP function instances', () => {
  it('serves requests open at the same time from two instances, neither of them this process', async () => {
    const pids = await heldPids(4);
    expect(pids.size).toBe(2);
    expect(pids.has(String(process.pid))).toBe(false);
  });

  it('replaces an instance that dies; the other serves meanwhile', async () => {
    const before = await heldPids(4);
    const victim = [...before][0]!;
    process.kill(Number(victim), 'SIGKILL');
    // Until the new one is ready, and after: every request is answered by a live instance.
    const deadline = Date.now() + 90_000;
    let after = new Set<string>();
    while (Date.now() < deadline) {
      // A connection handed to the dying instance before its exit was seen is reset: ask again.
      after = await heldPids(4).catch(() => new Set<string>());
      if (after.size === 2 && !after.has(victim)) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(after.has(victim)).toBe(false);
    expect(after.size).toBe(2);
    expect(logs.some((l) => l.includes('replaced: pid')), logs.slice(-20).join('\n')).toBe(true);
  }, 120_000);
});
