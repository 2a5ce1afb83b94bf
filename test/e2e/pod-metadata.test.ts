/**
 * Issue #16, attack: a pod reaching the cloud's instance metadata service (169.254.169.254) would
 * take the node's credentials. The node bridge's nft table drops what pods send there
 * (node-agent/network/node-bridge.ts). Locally there is no metadata service, so the test makes
 * one: a network namespace behind a veth that answers HTTP on 169.254.169.254 and, as the
 * control, on 169.254.99.99, with policy routing that sends only the pods' traffic for those two
 * addresses to it (the host's own route to a real metadata service is untouched). The control
 * answers the pod, so the path works; the metadata address must not.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { Api, eventually, uniqueName } from '../helpers/api';
import { allRunning, createPod, waitForPod } from '../helpers/pods';

const IMAGE = 'stratus-test/busybox:1.36';
const NS = '/api/v1/namespaces/default';
const METADATA = '169.254.169.254';
const CONTROL = '169.254.99.99';
const id = (process.pid % 100_000).toString(36);
const netns = `stratus-imds-${id}`;
const hostIf = `imh${id}`;
const nsIf = `imn${id}`;
const table = String(20_000 + (process.pid % 10_000));
let api: Api;
let podCIDR: string;
let server: ChildProcess | undefined;

const ip = (...args: string[]) => execFileSync('ip', args, { encoding: 'utf8' });
const quietly = (fn: () => unknown) => {
  try {
    fn();
  } catch {
    // cleanup of what may not exist
  }
};

beforeAll(async () => {
  api = Api.forTenant('default');
  podCIDR = (await api.get(`/api/v1/nodes/${inject('stack').nodeName}`)).body.spec.podCIDR;
  ip('netns', 'add', netns);
  ip('link', 'add', hostIf, 'type', 'veth', 'peer', 'name', nsIf);
  ip('link', 'set', nsIf, 'netns', netns);
  // TEST-NET-2 on the link: no route of the host to a link-local address changes.
  ip('addr', 'add', '198.51.100.1/24', 'dev', hostIf);
  ip('link', 'set', hostIf, 'up');
  ip('-n', netns, 'addr', 'add', '198.51.100.2/24', 'dev', nsIf);
  ip('-n', netns, 'addr', 'add', `${METADATA}/32`, 'dev', nsIf);
  ip('-n', netns, 'addr', 'add', `${CONTROL}/32`, 'dev', nsIf);
  ip('-n', netns, 'link', 'set', nsIf, 'up');
  ip('-n', netns, 'link', 'set', 'lo', 'up');
  ip('route', 'add', `${METADATA}/32`, 'dev', hostIf, 'table', table);
  ip('route', 'add', `${CONTROL}/32`, 'dev', hostIf, 'table', table);
  for (const to of [METADATA, CONTROL]) ip('rule', 'add', 'from', podCIDR, 'to', `${to}/32`, 'lookup', table, 'priority', table);
  server = spawn('ip', ['netns', 'exec', netns, process.execPath, '-e', "require('http').createServer((q, s) => s.end('iam-credentials')).listen(80, '0.0.0.0')"], { stdio: 'ignore' });
});

afterAll(() => {
  server?.kill('SIGKILL');
  for (const to of [METADATA, CONTROL]) quietly(() => ip('rule', 'del', 'from', podCIDR, 'to', `${to}/32`, 'lookup', table, 'priority', table));
  quietly(() => ip('route', 'flush', 'table', table));
  quietly(() => ip('link', 'del', hostIf));
  quietly(() => ip('netns', 'del', netns));
});

describe('instance metadata', () => {
  it('a pod cannot reach 169.254.169.254, while the same path to another address answers', async () => {
    // Prepare
    const name = uniqueName('imds');
    await createPod(api, NS, name, [{ name: 'main', image: IMAGE, command: ['sleep', '3600'] }]);
    const pod = await waitForPod(api, NS, name, 'running', allRunning);
    const container = String(pod.status.containerStatuses[0].containerID).replace('docker://', '');
    const fetch = (address: string) => {
      try {
        // nc, not the test image's wget (which crashes); -w 3 bounds the connect and the read.
        const out = execFileSync('docker', ['exec', container, 'sh', '-c', `printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 ${address} 80`], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
        return out.includes('iam-credentials') ? 'iam-credentials' : 'unreachable';
      } catch {
        return 'unreachable';
      }
    };
    // Act: the control first (the listener may take a moment to start)
    const control = await eventually(async () => (fetch(CONTROL) === 'iam-credentials' ? 'iam-credentials' : undefined), 30_000, 'the control address to answer the pod');
    const metadata = fetch(METADATA);
    // Assess
    expect(control).toBe('iam-credentials');
    expect(metadata).toBe('unreachable');
    await api.delete(`${NS}/pods/${name}?gracePeriodSeconds=0`);
  }, 90_000);
});
