/**
 * The AWS SDK's Node 20 support notice (aws/aws-sdk-js-v3#7983) is hidden in vitest workers (by
 * vitest.config.ts; the processes they and the global setup start inherit it) and in the benches
 * (bench/lib.ts), as the CLI, npm start and npm test hide it; other warnings still print. Each case
 * runs a fresh Node process that makes an SDK client (the notice is printed once per process, at
 * the first client) and emits another warning.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const repoRoot = join(import.meta.dirname, '..', '..');
const NOTICE = /NodeVersionSupportWarning/;
const SWITCH = 'AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED';
const major = Number(process.versions.node.split('.')[0]);

function run(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, args, { cwd: repoRoot, encoding: 'utf8', env, timeout: 60_000 }, (err, _stdout, stderr) => resolve({ code: err ? 1 : 0, stderr }));
  });
}
const without = (): NodeJS.ProcessEnv => {
  const env = { ...process.env };
  delete env[SWITCH];
  return env;
};
const MAKE_CLIENT = "new (require('@aws-sdk/client-dynamodb').DynamoDBClient)({ region: 'us-east-1' }); process.emitWarning('another warning');";
const TSX = join(repoRoot, 'node_modules', 'tsx', 'dist', 'cli.mjs');

// On Node 22 and later the SDK has nothing to say: the cases would prove nothing.
describe.runIf(major < 22)('the AWS SDK Node support notice', { timeout: 120_000 }, () => {
  it('a process started without the switch prints it (what the cases below hide)', async () => {
    const r = await run(['-e', MAKE_CLIENT], without());
    expect(r.stderr).toMatch(NOTICE);
  });

  it('a vitest worker has the switch on: what it starts prints only the other warnings', async () => {
    expect(process.env[SWITCH]).toBe('true');
    const r = await run(['-e', MAKE_CLIENT], process.env);
    expect(r.code).toBe(0);
    expect(r.stderr).not.toMatch(NOTICE);
    expect(r.stderr).toContain('another warning');
  });

  it('a bench (bench/lib.ts loaded) prints only the other warnings', async () => {
    const script = `import './bench/lib.ts'; ${MAKE_CLIENT.replace("require('@aws-sdk/client-dynamodb')", "(await import('@aws-sdk/client-dynamodb'))")}`;
    const r = await run([TSX, '--input-type=module', '-e', script], without());
    expect(r.stderr).not.toMatch(NOTICE);
    expect(r.stderr).toContain('another warning');
  });
});
