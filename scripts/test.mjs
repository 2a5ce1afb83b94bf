#!/usr/bin/env node
// `npm test`: prepares everything the test suite needs on a fresh clone, checks the code, then
// runs vitest.
//   1. node_modules (npm ci when missing)
//   2. tsc --noEmit and eslint (npm run typecheck, npm run lint); either failing stops here
//   3. Docker engine and /bin/busybox (scripts/ensure-docker.sh)
//   4. the busybox test images (scripts/build-test-images.sh, idempotent)
//   4b. the dashboard bundle (scripts/build-dashboard.mjs), chromium for its browser tests and the
//       official Python client (python3-kubernetes) for the second-client tests (scripts/ensure-apt.sh)
//   5. npx vitest run <your args>   (test/global-setup.ts starts the local stack and a node agent)
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { constants, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
// The AWS SDK's Node 20 support notice only (aws/aws-sdk-js-v3#7983), as the CLI and npm start do:
// kept out of the test output; other warnings still print, and a user's own setting wins.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

if (args.includes('--help') || args.includes('-h')) {
  console.log(`Usage: npm test [-- <vitest args>]
       node scripts/test.mjs [<vitest args>]

Installs node_modules if missing (npm ci), type-checks (\`tsc --noEmit\`, as \`npm run typecheck\`)
and lints (typescript-eslint, as \`npm run lint\`; rules in eslint.config.mjs) and stops at the
first of them that fails, makes sure Docker runs (scripts/ensure-docker.sh), builds the test
images (scripts/build-test-images.sh), then runs \`vitest run <vitest args>\` with the local stack
and one node agent started once by test/global-setup.ts.

Examples:
  npm test                                  # everything
  npm test -- test/unit                     # only files under test/unit
  npm test -- -t "binding"                  # only tests whose name matches
  STRATUS_KEEP_TEST_STATE=1 npm test        # keep the temp state directory (logs) afterwards
  STRATUS_SKIP_CHECKS=1 npm test -- test/unit   # skip tsc and eslint (quicker local runs)

vitest's own options: npx vitest --help`);
  process.exit(0);
}

const step = (msg) => console.log(`\n[test] ${msg}`);

/** Runs a command with inherited stdio; resolves to its exit code (128+n when killed by signal n). */
function run(cmd, cmdArgs, { forwardSignals = false } = {}) {
  return new Promise((resolve) => {
    const child = spawn(cmd, cmdArgs, { cwd: root, stdio: 'inherit', env: process.env });
    const handlers = [];
    if (forwardSignals) {
      // Ctrl-C in a terminal already reaches the child (same process group); stay alive so the
      // child's teardown can finish and its exit code is propagated. SIGTERM/SIGHUP sent only to
      // us are passed on.
      for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
        const h = () => {
          if (sig !== 'SIGINT') child.kill(sig);
        };
        process.on(sig, h);
        handlers.push([sig, h]);
      }
    }
    child.on('error', (err) => {
      console.error(`[test] cannot run ${cmd}: ${err.message}`);
      resolve(127);
    });
    child.on('exit', (code, signal) => {
      for (const [sig, h] of handlers) process.off(sig, h);
      resolve(code ?? 128 + (constants.signals[signal] ?? 1));
    });
  });
}

async function main() {
  const vitestBin = join(root, 'node_modules', 'vitest', 'vitest.mjs');
  if (!existsSync(vitestBin)) {
    step('node_modules missing: npm ci');
    const code = await run('npm', ['ci', '--no-audit', '--no-fund']);
    if (code !== 0) {
      console.error('[test] npm ci failed');
      return code;
    }
  }

  if (process.env.STRATUS_SKIP_CHECKS !== '1') {
    // Fail fast: a type or lint error stops the run before the slower stack tests start.
    step('type check: tsc --noEmit');
    const tsc = await run(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json', '--noEmit']);
    if (tsc !== 0) {
      console.error('[test] type check failed (tsc --noEmit, see above): fix the errors, or run `npm run typecheck` alone');
      return tsc;
    }
    step('type check: tsc -p dashboard/tsconfig.json (the dashboard, DOM library)');
    const tscDash = await run(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join('dashboard', 'tsconfig.json'), '--noEmit']);
    if (tscDash !== 0) {
      console.error('[test] type check of dashboard/ failed (see above)');
      return tscDash;
    }
    step('lint: eslint .');
    const lint = await run(process.execPath, [join(root, 'node_modules', 'eslint', 'bin', 'eslint.js'), '.']);
    if (lint !== 0) {
      console.error('[test] lint failed (eslint, see above; rules in eslint.config.mjs): fix the errors, or run `npm run lint` alone');
      return lint;
    }
  }

  step('checking Docker');
  let code = await run('bash', [join(root, 'scripts', 'ensure-docker.sh')]);
  if (code !== 0) {
    console.error('[test] Docker is required for the tests (see the messages above).');
    return code;
  }

  step('test images');
  code = await run('bash', [join(root, 'scripts', 'build-test-images.sh')]);
  if (code !== 0) {
    console.error('[test] building the test images failed');
    return code;
  }

  step('dashboard bundle');
  code = await run(process.execPath, [join(root, 'scripts', 'build-dashboard.mjs')]);
  if (code !== 0) {
    console.error('[test] building the dashboard failed');
    return code;
  }

  step('checking chromium (browser tests of the dashboard) and the official Python client');
  code = await run('bash', [
    join(root, 'scripts', 'ensure-apt.sh'),
    `${process.env.STRATUS_CHROMIUM ?? '/usr/bin/chromium'}=chromium`,
    '/usr/lib/python3/dist-packages/kubernetes=python3-kubernetes',
  ]);
  if (code !== 0) {
    console.error('[test] chromium (dashboard tests) and python3-kubernetes (Python client tests) are required (see the messages above).');
    return code;
  }

  step(`vitest run ${args.join(' ')}`.trimEnd());
  // Same as `npx vitest run ...`, minus the npx wrapper process. A JSON report beside the usual
  // output gives the plain closing line ("N passed, N failed, N skipped") that CI reads.
  const report = join(mkdtempSync(join(tmpdir(), 'stratus-vitest-')), 'report.json');
  code = await run(
    process.execPath,
    [vitestBin, 'run', '--reporter=default', '--reporter=json', `--outputFile.json=${report}`, ...args],
    { forwardSignals: true },
  );
  try {
    const r = JSON.parse(readFileSync(report, 'utf8'));
    const skipped = (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0);
    console.log(`\n${r.numPassedTests} passed, ${r.numFailedTests} failed, ${skipped} skipped`);
  } catch {
    // No report (vitest failed before running tests): its own output says why.
  }
  return code;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
