/**
 * The CLI prints its answers and nothing else: no notices on stderr (e.g. the AWS SDK's Node 20
 * support warning, turned off in bin/stratus.mjs). The commands that make AWS SDK clients against
 * a running stack are checked in test/e2e/clusters.test.ts (secrets rotate-key, prune-keys).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const repoRoot = join(import.meta.dirname, '..', '..');

function stratus(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  // As a user runs it: without the switch in the environment (the CLI sets it itself).
  const env = { ...process.env };
  delete env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED;
  return new Promise((resolve) => {
    execFile(process.execPath, [join(repoRoot, 'bin/stratus.mjs'), ...args], { encoding: 'utf8', env, timeout: 60_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }),
    );
  });
}

describe('stratus CLI output', { timeout: 120_000 }, () => {
  const empty = mkdtempSync(join(tmpdir(), 'stratus-cli-'));
  it.each([
    { args: ['--help'], code: 0, says: 'Usage: stratus' },
    { args: ['cluster', '--help'], code: 0, says: 'Usage: stratus cluster' },
    // Loads the node agent (and with it the AWS SDK) to print its options.
    { args: ['agent', '--help'], code: 0, says: '--server' },
    { args: ['status', '--state-dir', empty], code: 3, says: 'Stratus is not running' },
  ])('stratus $args prints no noise on stderr', async ({ args, code, says }) => {
    const r = await stratus(args);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(code);
    expect(r.stdout).toContain(says);
  });
});
