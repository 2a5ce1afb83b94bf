#!/usr/bin/env node
// The Stratus CLI (`npx stratus --help`).
//   stratus start        start the local stack, a node agent and a demo pod (same as `npm start`)
//   stratus kubeconfig   print the admin kubeconfig of the running local cluster
//   stratus agent ...    run a node agent (node-agent/main.ts)
// TypeScript modules are loaded through tsx, registered only when needed.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { constants } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Command } from 'commander';

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..');
const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8'));

/** Imports a TypeScript module of the repository through tsx. */
async function importTs(relativePath) {
  const { register } = await import('tsx/esm/api');
  register();
  return import(pathToFileURL(join(repoRoot, relativePath)).href);
}

function pidAlive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return err.code === 'EPERM';
  }
}

/** `stratus agent ...`: everything after `agent` belongs to the node agent's own CLI (and its --help). */
async function runAgent(agentArgs) {
  const mod = await importTs('node-agent/main.ts');
  if (typeof mod.runAgentCli !== 'function') {
    throw new Error('node-agent/main.ts does not export runAgentCli(argv)');
  }
  // runAgentCli takes argv starting at the command: ['agent', ...].
  await mod.runAgentCli(['agent', ...agentArgs]);
}

const program = new Command('stratus')
  .description('Stratus: a Kubernetes-compatible control plane that runs serverless')
  .version(pkg.version)
  .showHelpAfterError();

program
  .command('start')
  .description('start the local stack (state in .stratus/), one node agent and a demo pod; same as `npm start`')
  .option('-p, --port <port>', 'fixed HTTPS port for the API (default: $STRATUS_PORT, else a free port)')
  .option('--state-dir <dir>', 'state directory', join(repoRoot, '.stratus'))
  .action((opts) => {
    const args = ['--state-dir', resolve(opts.stateDir)];
    if (opts.port !== undefined) args.push('--port', String(opts.port));
    const child = spawn(process.execPath, [join(repoRoot, 'scripts', 'start.mjs'), ...args], {
      cwd: repoRoot,
      stdio: 'inherit',
    });
    for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
      process.on(sig, () => {
        if (child.exitCode === null && child.signalCode === null) child.kill(sig);
      });
    }
    child.on('exit', (code, signal) => process.exit(code ?? 128 + (constants.signals[signal] ?? 1)));
  });

program
  .command('kubeconfig')
  .description('print the admin kubeconfig of the running local cluster (use: npx stratus kubeconfig > kubeconfig)')
  .option('--state-dir <dir>', 'state directory of the local stack', join(repoRoot, '.stratus'))
  .action((opts) => {
    const stateDir = resolve(opts.stateDir);
    const file = join(stateDir, 'kubeconfig');
    if (!existsSync(file)) {
      console.error(`No kubeconfig at ${file}: the local stack isn't running. Start it with \`npm start\` (or \`npx stratus start\`).`);
      process.exit(1);
    }
    // A running stack keeps stack.json (with its pid) beside the kubeconfig; stop() removes it.
    const stackFile = join(stateDir, 'stack.json');
    let pid = 0;
    try {
      pid = Number(JSON.parse(readFileSync(stackFile, 'utf8')).pid) || 0;
    } catch {
      // absent or unreadable
    }
    if (!pid || !pidAlive(pid)) {
      console.error(
        `The local stack isn't running (${file} is left from an earlier run). Start it with \`npm start\` (or \`npx stratus start\`).`,
      );
      process.exit(1);
    }
    process.stdout.write(readFileSync(file, 'utf8'));
  });

// Registered for `stratus --help`; the arguments are handled by the agent's own CLI (see below).
program
  .command('agent')
  .description('run a node agent (see `stratus agent --help`)')
  .helpOption(false)
  .allowUnknownOption()
  .allowExcessArguments()
  .argument('[args...]', "the node agent's arguments");

const argv = process.argv.slice(2);
if (argv[0] === 'agent') {
  try {
    await runAgent(argv.slice(1));
    process.exit(0);
  } catch (err) {
    // commander (exitOverride) has already printed help or the usage error; --help is exit code 0.
    if (err && typeof err.code === 'string' && err.code.startsWith('commander.')) process.exit(err.exitCode ?? 1);
    console.error(`stratus agent: ${err instanceof Error ? err.message : err}`);
    process.exit(1);
  }
} else {
  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (err) {
    console.error(`stratus: ${err instanceof Error ? err.message : err}`);
    process.exit(1);
  }
}
