/**
 * The local stack's internal services are out of pods' reach: DynamoDB Local, the SQS emulator
 * and the API's HTTPS server listen on loopback only, never on 0.0.0.0 / :: (a pod on Docker's
 * bridge reaches every host address but 127.0.0.1); the one exception is the API's pod-facing
 * address and port (infra/local/pod-facing.ts), which test/e2e/in-cluster-api.test.ts shows pods
 * reach while no other host port. Read from /proc, so it sees the sockets themselves, not a
 * firewall's view of them.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import type { StackFile } from '../../infra/local/stack';
import { isLoopback, listenersOf } from '../helpers/sockets';

const stack = inject('stack');
const file = JSON.parse(readFileSync(join(stack.stateDir, 'stack.json'), 'utf8')) as StackFile;
const portOf = (url: string) => Number(new URL(url).port);

describe('local stack listeners', () => {
  it('isLoopback tells loopback from wildcard and host addresses', () => {
    expect([
      isLoopback('127.0.0.1'),
      isLoopback('::ffff:127.0.0.1'),
      isLoopback('0:0:0:0:0:0:0:1'),
      isLoopback('0.0.0.0'),
      isLoopback('0:0:0:0:0:0:0:0'),
      isLoopback('172.17.0.1'),
    ]).toEqual([true, true, true, false, false, false]);
  });

  it('DynamoDB Local listens on 127.0.0.1 only', () => {
    const listeners = listenersOf(file.dynamodbPid);
    expect(listeners.map((l) => l.port)).toContain(portOf(stack.env.AWS_ENDPOINT_URL_DYNAMODB!));
    expect(listeners.filter((l) => !isLoopback(l.address))).toEqual([]);
  });

  it('the stack process (SQS emulator, API) listens on 127.0.0.1 only, but for the API\'s one pod-facing address and port', () => {
    const listeners = listenersOf(file.pid);
    const ports = listeners.map((l) => l.port);
    expect(ports).toContain(portOf(stack.env.AWS_ENDPOINT_URL_SQS!));
    expect(ports).toContain(portOf(stack.apiUrl));
    const podFacing = { address: stack.env.STRATUS_API_POD_ADDRESS, port: Number(stack.env.STRATUS_API_POD_PORT) };
    expect(podFacing.address).toBeDefined();
    expect(isLoopback(podFacing.address!)).toBe(false);
    expect(listeners.filter((l) => !isLoopback(l.address)).map((l) => ({ address: l.address.replace(/^::ffff:/, ''), port: l.port }))).toEqual([podFacing]);
  });

  it('no process on the host carries a token of the stack on its command line', () => {
    const secrets = [stack.adminToken, stack.nodeToken, stack.joinToken];
    let seen = 0;
    for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
      let cmdline = '';
      try {
        cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      } catch {
        continue; // gone meanwhile
      }
      seen++;
      for (const secret of secrets) expect(cmdline.includes(secret), `process ${pid}: ${cmdline.replaceAll('\0', ' ').slice(0, 200)}`).toBe(false);
    }
    expect(seen).toBeGreaterThan(1);
  });
});
