/**
 * The local runtime serves the api function from several instances, each a process with its own
 * event loop (infra/local/http-instances.ts), as concurrent requests on AWS run in separate Lambda
 * instances. Each response names the instance that served it (x-stratus-local-instance: N/pid).
 * No timed assertions: requests held open at the same time must be spread over the instances, and
 * whatever the instances write to the one audit log must arrive whole.
 */
import { existsSync, readFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import { Api, eventually, uniqueName } from '../helpers/api';

const stack = inject('stack');
const api = new Api(`${stack.apiUrl}/clusters/${stack.tenant}`, stack.adminToken, stack.caCert);
const HEADER = 'x-stratus-local-instance';
const instances = Number(process.env.STRATUS_API_INSTANCES || 2);

/** Opens a watch on a connection of its own and answers which instance serves it, keeping it open until `close`. */
function openWatch(): Promise<{ instance: string; close: () => void }> {
  return new Promise((resolve, reject) => {
    const req = request(
      new URL(`${api.base}/api/v1/namespaces/default/configmaps?watch=1`),
      { ca: api.ca, agent: false, headers: { authorization: `Bearer ${api.token}`, accept: 'application/json' } },
      (res) => {
        expect(res.statusCode).toBe(200);
        resolve({ instance: String(res.headers[HEADER] ?? ''), close: () => req.destroy() });
      },
    );
    req.on('error', (e) => (req.destroyed ? undefined : reject(e)));
    req.end();
  });
}

describe.skipIf(instances < 2)('api instances', () => {
  it('serves requests that are open at the same time from different instances, each its own process', async () => {
    // Twelve watches held open at once, each on its own connection: the runtime gives each new
    // connection to the instance with the fewest, so they cannot all land on one.
    const watches = await Promise.all(Array.from({ length: 12 }, () => openWatch()));
    try {
      const seen = new Set(watches.map((w) => w.instance));
      for (const id of seen) expect(id).toMatch(/^\d+\/\d+$/);
      const pids = new Set([...seen].map((id) => id.split('/')[1]));
      expect(pids.size).toBeGreaterThanOrEqual(2);
      // None of them is the process that started the stack (it runs the stream consumers).
      expect(pids.has(String(process.pid))).toBe(false);
    } finally {
      for (const w of watches) w.close();
    }
  });

  it('writes every instance’s audit events to the one audit log, each a whole line', async () => {
    const prefix = uniqueName('inst');
    const names = Array.from({ length: 30 }, (_, i) => `${prefix}-${i}`);
    // Agent-less requests: a connection each, spread over the instances.
    const replies = await Promise.all(names.map((name) => api.send('POST', '/api/v1/namespaces/default/configmaps', { metadata: { name }, data: { k: 'v' } })));
    for (const r of replies) expect(r.status, r.text).toBe(201);
    expect(new Set(replies.map((r) => r.headers[HEADER])).size).toBeGreaterThanOrEqual(2);

    const logPath = join(stack.stateDir, 'audit.log');
    const created = await eventually(
      async () => {
        if (!existsSync(logPath)) return undefined;
        const lines = readFileSync(logPath, 'utf8').split('\n').filter(Boolean);
        // Every line is one event: none cut or interleaved with another instance's.
        const events = lines.map((l) => JSON.parse(l) as { verb: string; objectRef?: { name?: string } });
        const made = new Set(events.filter((e) => e.verb === 'create' && e.objectRef?.name?.startsWith(`${prefix}-`)).map((e) => e.objectRef!.name));
        return made.size === names.length ? made : undefined;
      },
      30_000,
      'every create in the audit log',
    );
    expect([...created].sort()).toEqual([...names].sort());
  });
});
