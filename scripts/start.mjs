#!/usr/bin/env node
// `npm start`: from a fresh clone to a running local Stratus with a demo pod.
//   1. node_modules (npm ci when missing)
//   2. Docker must answer (as root with dockerd installed, or in CI, it is started for you)
//   3. the busybox test images (scripts/build-test-images.sh, idempotent)
//   4. scripts/start-stack.ts: local stack in .stratus/, one node agent, the demo pod; foreground
//      until Ctrl-C.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { constants } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
// The AWS SDK's Node 20 support notice only (aws/aws-sdk-js-v3#7983), for the stack and agents
// started below; other warnings still print, and a user's own setting wins.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

if (args.includes('--help') || args.includes('-h')) {
  console.log(`Usage: npm start [-- --port N] [-- --state-dir DIR] [-- --reset] [-- --nodes N]
       node scripts/start.mjs [--port N] [--state-dir DIR] [--reset] [--nodes N]

Starts Stratus locally: DynamoDB Local, the SQS emulator and the API (the same Lambda handlers as on
AWS) with state in .stratus/, one node agent running containers with Docker, and a demo pod
default/hello. Prints a kubeconfig for kubectl and stays in the foreground until Ctrl-C
(or \`npx stratus stop\`). The state persists: the next start reuses every cluster, object,
token, the CA and the API port, so kubeconfigs written before keep working.

Options:
  --port N          fixed HTTPS port for the API (or set STRATUS_PORT); default: the last run's, else a free port
  --state-dir DIR   state directory (default: .stratus in the repository)
  --reset           throw away the clusters of earlier runs and start empty
  --nodes N         start N node agents (1-8) on this machine, each its own Node with its own
                    bridge and podCIDR, named after the host: NAME, NAME-2, ... (default 1)

Needs: Node 20+, Docker running, /bin/busybox (Debian: apt-get install -y busybox-static), Java 17.`);
  process.exit(0);
}

const say = (msg) => console.log(`[start] ${msg}`);
const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
const isCI = !!process.env.CI && process.env.CI !== 'false';

function runSync(cmd, cmdArgs) {
  const r = spawnSync(cmd, cmdArgs, { cwd: root, stdio: 'inherit' });
  if (r.error) {
    console.error(`[start] cannot run ${cmd}: ${r.error.message}`);
    return 127;
  }
  return r.status ?? 1;
}

function has(cmd) {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

function dockerAnswers() {
  return spawnSync('docker', ['info'], { stdio: 'ignore' }).status === 0;
}

function dockerHelp() {
  console.error(`
[start] Docker must be running: Stratus' node agent runs pods as Docker containers.

  Debian/Ubuntu:   sudo apt-get install -y docker.io busybox-static
  then start it:   sudo systemctl start docker
  (no systemd:     sudo nohup dockerd >/tmp/stratus-dockerd.log 2>&1 &)
  and let your user use it: sudo usermod -aG docker $USER   (log in again)

Or, as root: bash scripts/ensure-docker.sh   (installs and starts it)

Then run npm start again.`);
}

// 1. node_modules
if (!existsSync(join(root, 'node_modules', 'tsx', 'package.json'))) {
  say('node_modules missing: npm ci');
  if (runSync('npm', ['ci', '--no-audit', '--no-fund']) !== 0) {
    console.error('[start] npm ci failed');
    process.exit(1);
  }
}

// 2. Docker (and /bin/busybox for the images)
if (isCI || (isRoot && has('dockerd'))) {
  // Starts dockerd if needed (and in CI installs what is missing).
  if (runSync('bash', [join(root, 'scripts', 'ensure-docker.sh')]) !== 0) {
    dockerHelp();
    process.exit(1);
  }
} else if (!dockerAnswers()) {
  console.error('[start] `docker info` failed: Docker is not installed, not running, or not usable by this user.');
  dockerHelp();
  process.exit(1);
} else {
  say('Docker is running');
}

// 3. images
if (runSync('bash', [join(root, 'scripts', 'build-test-images.sh')]) !== 0) {
  console.error('[start] building the images failed (see above)');
  process.exit(1);
}

// 3b. the web dashboard's bundle (served by the api function at /clusters/NAME/dashboard/)
if (runSync(process.execPath, [join(root, 'scripts', 'build-dashboard.mjs')]) !== 0) {
  console.error('[start] building the dashboard failed (see above)');
  process.exit(1);
}

// 4. the stack, in the foreground. `node --import tsx` = `npx tsx` without the wrapper processes.
const child = spawn(process.execPath, ['--import', 'tsx', join(root, 'scripts', 'start-stack.ts'), ...args], {
  cwd: root,
  stdio: 'inherit',
  env: process.env,
});
// Pass signals on and wait for the child's orderly shutdown. (A terminal Ctrl-C reaches the child
// directly as well; start-stack.ts treats repeats within 1.5 s as one.)
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => {
    if (child.exitCode === null && child.signalCode === null) child.kill(sig);
  });
}
child.on('error', (err) => {
  console.error(`[start] cannot start scripts/start-stack.ts: ${err.message}`);
  process.exit(1);
});
child.on('exit', (code, signal) => {
  process.exit(code ?? 128 + (constants.signals[signal] ?? 1));
});
