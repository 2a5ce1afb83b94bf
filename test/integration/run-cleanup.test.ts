import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cleanUpRun, nodeContainers } from '../helpers/run-cleanup';

/*
 * The e2e teardown's clean-up (test/helpers/run-cleanup.ts, called by test/global-setup.ts)
 * against Docker: a test file whose afterAll never got to stop its agent and remove its
 * containers. The agent still runs (and ignores SIGTERM) and its pod's container runs; the
 * clean-up stops the agent, removes the containers of the run's nodes, and leaves those that were
 * there before the run and another run's alone.
 */
const IMAGE = 'stratus-test/busybox:1.36';
const tag = `${process.pid}-${Date.now().toString(36)}`;
const created: string[] = [];
const docker = (...args: string[]) => execFileSync('docker', args, { encoding: 'utf8' }).trim();
const run = (node: string) => {
  const id = docker('run', '-d', '--label', `io.stratus.node=${node}`, IMAGE, 'sleep', '300');
  created.push(id);
  return id;
};

afterAll(() => {
  const there = created.filter((id) => nodeContainers().has(id));
  if (there.length) docker('rm', '-f', ...there);
});

describe('the e2e teardown clean-up', () => {
  it("stops the run's agents still running and removes its containers, and only those", async () => {
    const stateDir = mkdtempSync(join(tmpdir(), 'stratus-test-'));
    // A node the run started and stopped (its log), and one whose agent still runs (no log needed).
    writeFileSync(join(stateDir, `agent-gone-${tag}.log`), '');
    const before = run(`gone-${tag}`); // there before the run: kept
    const started = new Set(nodeContainers().keys());
    const ofGone = run(`gone-${tag}`);
    const ofRunning = run(`running-${tag}`);
    const otherRun = run(`other-${tag}`);
    // An agent of the run (it names the state dir) that does not exit on SIGTERM.
    const agent = spawn(process.execPath, ['-e', "process.on('SIGTERM', () => {}); setInterval(() => {}, 1000);", join(process.cwd(), 'node-agent', 'main.ts'), 'agent', '--name', `running-${tag}`, '--ca-file', join(stateDir, 'ca.crt')], { stdio: 'ignore' });
    const exited = new Promise<NodeJS.Signals | null>((r) => agent.once('exit', (_code, signal) => r(signal)));
    await new Promise((r) => setTimeout(r, 500)); // its handler in place

    const r = await cleanUpRun({ stateDir, before: started, graceMs: 1_000 });

    expect([...r.stoppedAgents.values()]).toEqual([`running-${tag}`]);
    expect(await exited).toBe('SIGKILL');
    expect([...r.removed].sort()).toEqual([ofGone, ofRunning].sort());
    expect(r.left).toEqual([]);
    const now = nodeContainers();
    expect(now.has(ofGone) || now.has(ofRunning)).toBe(false);
    expect(now.has(before) && now.has(otherRun)).toBe(true);
  }, 60_000);

  it('with keep: the agents stopped, the containers left', async () => {
    const stateDir = mkdtempSync(join(tmpdir(), 'stratus-test-'));
    writeFileSync(join(stateDir, `agent-kept-${tag}.log`), '');
    const started = new Set(nodeContainers().keys());
    const id = run(`kept-${tag}`);
    const r = await cleanUpRun({ stateDir, before: started, keep: true });
    expect(r.removed).toEqual([]);
    expect(nodeContainers().has(id)).toBe(true);
  }, 60_000);
});
