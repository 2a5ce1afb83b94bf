import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runAgentName, runContainers, runNetworks, runNodeNames, runTenants } from '../helpers/run-cleanup';

/*
 * Which containers and agents the e2e teardown takes as the run's (test/helpers/run-cleanup.ts):
 * those of the run's nodes only, never one that was there before the run nor another run's.
 * test/integration/run-cleanup.test.ts runs the clean-up against Docker.
 */

describe('runContainers', () => {
  const containers = new Map([
    ['c1', 'node-1'],
    ['c2', 'relay-7'],
    ['c3', 'node-1'],
    ['c4', 'node-2'],
  ]);
  it.each([
    { name: 'the containers of the run nodes', nodes: ['node-1', 'relay-7'], before: [], want: ['c1', 'c2', 'c3'] },
    { name: 'not one there before the run', nodes: ['node-1', 'relay-7'], before: ['c1'], want: ['c2', 'c3'] },
    { name: "not another run's node", nodes: ['node-9'], before: [], want: [] },
    { name: 'no nodes: none', nodes: [], before: [], want: [] },
  ])('$name', ({ nodes, before, want }) => {
    expect(runContainers(containers, new Set(nodes), new Set(before))).toEqual(want);
  });
});

describe('runAgentName', () => {
  const dir = '/tmp/stratus-test-abc';
  const cmd = (...args: string[]) => args.join('\0') + '\0';
  it.each([
    { name: 'an agent of the run (its --ca-file in the state directory)', cmdline: cmd('node', '--import', 'tsx', '/r/node-agent/main.ts', 'agent', '--name', 'relay-7', '--ca-file', `${dir}/ca.crt`), want: 'relay-7' },
    { name: 'an agent of another run', cmdline: cmd('node', '--import', 'tsx', '/r/node-agent/main.ts', 'agent', '--name', 'relay-7', '--ca-file', '/tmp/stratus-test-xyz/ca.crt'), want: undefined },
    { name: 'a state directory whose name only starts the same', cmdline: cmd('node', '/r/node-agent/main.ts', 'agent', '--name', 'n', '--ca-file', `${dir}x/ca.crt`), want: undefined },
    { name: 'another program naming the state directory', cmdline: cmd('node', '/r/scripts/start-stack.ts', '--name', 'x', '--state-dir', dir), want: undefined },
    { name: 'an agent without --name', cmdline: cmd('node', '/r/node-agent/main.ts', 'agent', '--root-dir', `${dir}/agent-root`), want: undefined },
  ])('$name', ({ cmdline, want }) => {
    expect(runAgentName(cmdline, dir)).toBe(want);
  });
});

describe('runNodeNames', () => {
  it("the nodes of the agents' logs in the state directory", () => {
    const dir = mkdtempSync(join(tmpdir(), 'stratus-cleanup-'));
    for (const f of ['agent-node-1.log', 'agent-relay-7.log', 'kubeconfig', 'agent-root', 'stack.log']) writeFileSync(join(dir, f), '');
    expect([...runNodeNames(dir)].sort()).toEqual(['node-1', 'relay-7']);
    expect(runNodeNames(join(dir, 'missing')).size).toBe(0);
  });
});

describe('runNetworks and runTenants (the docker-bridge networks the run leaves)', () => {
  const networks = new Map([
    ['stratus-d111111', 'team-a'],
    ['stratus-d222222', 'default'],
    ['stratus-d333333', 'other-run'],
  ]);
  it.each([
    { name: "the run's clusters' networks", tenants: ['team-a', 'default'], before: [], want: ['stratus-d111111', 'stratus-d222222'] },
    { name: 'not one there before the run (the default cluster of an earlier run)', tenants: ['team-a', 'default'], before: ['stratus-d222222'], want: ['stratus-d111111'] },
    { name: "not another run's cluster", tenants: ['team-b'], before: [], want: [] },
  ])('$name', ({ tenants, before, want }) => {
    expect(runNetworks(networks, new Set(tenants), new Set(before))).toEqual(want);
  });

  it("reads each agent log's cluster", () => {
    const dir = mkdtempSync(join(tmpdir(), 'stratus-run-tenants-'));
    writeFileSync(join(dir, 'agent-n1.log'), '{"level":"INFO","message":"joining","node":"n1","tenant":"team-a"}\n{"tenant":"ignored"}\n');
    writeFileSync(join(dir, 'agent-n2.log'), 'stratus agent: no tenant here\n');
    writeFileSync(join(dir, 'agent-n3.log'), '{"node":"n3","tenant":"default"}\n');
    writeFileSync(join(dir, 'other.log'), '{"tenant":"not-an-agent"}\n');
    expect([...runTenants(dir)].sort()).toEqual(['default', 'team-a']);
    expect(runTenants(join(dir, 'missing')).size).toBe(0);
  });
});
