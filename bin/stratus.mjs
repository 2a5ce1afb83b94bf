#!/usr/bin/env node
// The Stratus CLI (`npx stratus --help`).
//   stratus start        start the local stack, a node agent and a demo pod (same as `npm start`)
//   stratus kubeconfig   print the admin kubeconfig of the running local cluster
//   stratus status       whether the local stack runs, where, and what it keeps
//   stratus stop         stop the running local stack (its state stays for the next start)
//   stratus cluster ...  create, list, delete clusters; their kubeconfigs and join tokens
//   stratus dashboard    the web dashboard's address for the current cluster (--url: only it)
//   stratus agent ...    run a node agent (node-agent/main.ts)
// TypeScript modules are loaded through tsx, registered only when needed.
import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { constants } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Command, InvalidArgumentError, Option } from 'commander';

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..');
// The AWS SDK warns on each run under Node 20 that its releases after January 2027 need Node 22:
// the switch it documents for that notice alone (aws/aws-sdk-js-v3#7983), inherited by what we
// start (the local stack, its agents). Other warnings still print; a user's own setting wins.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
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
  } catch (err) {
    return err.code === 'EPERM';
  }
  // An exited process its parent has not reaped yet (a zombie) is gone for us.
  try {
    return !/^\d+ \(.*\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return true; // no /proc: trust kill(0)
  }
}

/** stack.json of a running stack in `stateDir` ({pid, apiUrl, ...}), or undefined. */
function runningStack(stateDir) {
  let file;
  try {
    file = JSON.parse(readFileSync(join(stateDir, 'stack.json'), 'utf8'));
  } catch {
    return undefined;
  }
  const pid = Number(file?.pid) || 0;
  return pid && pidAlive(pid) ? { ...file, pid } : undefined;
}

/** GET `path` of the API with a token, trusting only the stack's CA: resolves {status, body}. */
function apiGet(stack, token, path) {
  return apiCall(stack, token, 'GET', path);
}

/** `method` `path` of the API (JSON `body` if given): resolves {status, body}; status 0 = no answer. */
function apiCall(stack, token, method, path, body) {
  return new Promise((resolvePromise) => {
    let ca;
    try {
      ca = readFileSync(stack.caCertPath, 'utf8');
    } catch {
      resolvePromise({ status: 0, body: 'no CA file' });
      return;
    }
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const headers = { authorization: `Bearer ${token}`, accept: 'application/json', ...(payload ? { 'content-type': 'application/json' } : {}) };
    const req = httpsRequest(new URL(path, stack.apiUrl), { method, ca, timeout: 60_000, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (body += d));
      res.on('end', () => resolvePromise({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', (err) => resolvePromise({ status: 0, body: err.message }));
    req.end(payload);
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * `stratus agent --node-name NAME` with no --server, in the checkout while the local stack runs:
 * mints a join token of the stack's cluster with the operator credential and joins as NAME
 * (identity and pod volumes under .stratus/agent-root/NAME). Answers the agent's arguments.
 */
async function localAgentArgs(agentArgs) {
  if (agentArgs.includes('--server') || agentArgs.includes('--help') || agentArgs.includes('-h')) return agentArgs;
  // The stack `npm start` runs (.stratus/, or $STRATUS_STATE_DIR for one started with --state-dir).
  const stateDir = process.env.STRATUS_STATE_DIR ? resolve(process.env.STRATUS_STATE_DIR) : join(repoRoot, '.stratus');
  const { stack, token } = operatorContext(stateDir);
  const minted = expectStatus(await apiCall(stack, token, 'POST', `/stratus/v1/clusters/${encodeURIComponent(stack.tenant)}/join-tokens`), [201]);
  // The stack's endpoints (SQS) and credentials for its emulators; the join token in the environment, never on the command line.
  Object.assign(process.env, stack.env ?? {}, { STRATUS_JOIN_TOKEN: minted.token });
  // `--relay`: relay mode against the stack's kubelet relay emulator (docs/exec.md): no listening kubelet port.
  if (agentArgs.includes('--relay')) {
    const url = stack.env?.STRATUS_KUBELET_RELAY_URL;
    if (!url) throw new Error('the running stack has no kubelet relay (started before it existed): restart it with npm start');
    agentArgs = agentArgs.flatMap((a) => (a === '--relay' ? ['--relay-url', url] : [a]));
  }
  const hasRoot = agentArgs.includes('--root-dir');
  // The pod network of the nodes `npm start` runs: its own bridge and podCIDR, routed to the others.
  const hasNetwork = agentArgs.includes('--pod-network');
  return [
    '--server',
    `${stack.apiUrl}/clusters/${stack.tenant}`,
    '--ca-file',
    stack.caCertPath,
    ...(hasRoot ? [] : ['--root-dir', join(stateDir, 'agent-root')]),
    ...(hasNetwork ? [] : ['--pod-network', 'node-bridge']),
    ...agentArgs,
  ];
}

/** `stratus agent ...`: everything after `agent` belongs to the node agent's own CLI (and its --help). */
async function runAgent(agentArgs) {
  agentArgs = await localAgentArgs(agentArgs);
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

program
  .command('status')
  .description('say whether the local stack runs (exit 0) or not (exit 3), its API, pid and state directory')
  .option('--state-dir <dir>', 'state directory of the local stack', join(repoRoot, '.stratus'))
  .action(async (opts) => {
    const stateDir = resolve(opts.stateDir);
    const stack = runningStack(stateDir);
    const kept = existsSync(join(stateDir, 'dynamodb')) ? `kept in ${stateDir} (the next \`npm start\` reuses it)` : 'none kept';
    if (!stack) {
      console.log(`Stratus is not running (state directory ${stateDir}; state: ${kept}).`);
      process.exit(3);
    }
    const version = await apiGet(stack, stack.adminToken, `/clusters/${stack.tenant}/version`);
    let answer = `not answering (${version.status || version.body})`;
    if (version.status === 200) {
      try {
        answer = `answering (${JSON.parse(version.body).gitVersion})`;
      } catch {
        answer = 'answering';
      }
    }
    console.log(`Stratus is running (pid ${stack.pid}).
  API:         ${stack.apiUrl} — ${answer}
  Kubeconfig:  ${stack.kubeconfigPath}
  State:       ${kept}`);
  });

program
  .command('stop')
  .description('stop the running local stack and its node agent (SIGTERM, as Ctrl-C); the state stays for the next start')
  .option('--state-dir <dir>', 'state directory of the local stack', join(repoRoot, '.stratus'))
  .option('--timeout <seconds>', 'how long to wait for it to exit', '60')
  .action(async (opts) => {
    const stateDir = resolve(opts.stateDir);
    const stack = runningStack(stateDir);
    if (!stack) {
      console.log(`Stratus is not running (state directory ${stateDir}).`);
      return;
    }
    process.kill(stack.pid, 'SIGTERM');
    const deadline = Date.now() + Number(opts.timeout) * 1000;
    while (pidAlive(stack.pid) && Date.now() < deadline) await sleep(200);
    if (pidAlive(stack.pid)) {
      console.error(`Stratus (pid ${stack.pid}) is still stopping after ${opts.timeout} s.`);
      process.exit(1);
    }
    console.log(`Stratus stopped (pid ${stack.pid}); its state stays in ${stateDir}.`);
  });

/** The running stack and its operator token, or exit with why not. */
function operatorContext(stateDir) {
  const stack = runningStack(stateDir);
  if (!stack) {
    console.error(`Stratus is not running (state directory ${stateDir}). Start it with \`npm start\`.`);
    process.exit(1);
  }
  const tokenFile = stack.operatorTokenPath ?? join(stateDir, 'operator-token');
  let token;
  try {
    token = readFileSync(tokenFile, 'utf8').trim();
  } catch {
    console.error(`No operator credential at ${tokenFile}.`);
    process.exit(1);
  }
  return { stack, token };
}

/** Exits with the API's Status message unless `res` has one of the `ok` codes; else its JSON. */
function expectStatus(res, ok) {
  if (ok.includes(res.status)) return res.body ? JSON.parse(res.body) : undefined;
  let message = res.body;
  try {
    message = JSON.parse(res.body).message ?? res.body;
  } catch {
    // not JSON
  }
  console.error(`Error from server (${res.status || 'no answer'}): ${message}`);
  process.exit(1);
}

async function writeClusterKubeconfig(stack, name, token, file) {
  const { writeKubeconfigFile } = await importTs('infra/local/kubeconfig.ts');
  await writeKubeconfigFile(file, { apiUrl: stack.apiUrl, caCert: readFileSync(stack.caCertPath, 'utf8'), tenant: name, token });
}

/** A --rate-limit value: a whole number of requests per second. */
function limitArg(value) {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('a whole number of requests per second (0: no limit)');
  return n;
}
/** A --long-running-limit value: a whole number of open watches, log follows and exec sessions. */
function capArg(value) {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('a whole number of open long-running requests (0: no cap)');
  return n;
}
const LIMIT_FIELDS = ['rateLimit', 'userRateLimit', 'longRunningLimit', 'userLongRunningLimit'];
const limitsSpec = (opts) => Object.fromEntries(LIMIT_FIELDS.filter((f) => opts[f] !== undefined).map((f) => [f, opts[f]]));
const describeLimits = (spec) =>
  `${spec.rateLimit || 'no limit'}${spec.rateLimit ? ' req/s' : ''} per cluster, ${spec.userRateLimit || 'no limit'}${spec.userRateLimit ? ' req/s' : ''} per user; ` +
  `open long-running requests: ${spec.longRunningLimit || 'no cap'} per cluster, ${spec.userLongRunningLimit || 'no cap'} per user`;
const longRunningHelp = {
  cluster: 'watches, log follows and exec/attach/port-forward sessions the whole cluster may hold open at once (0: no cap; default 200)',
  user: 'of those, how many each user may hold open at once (0: no cap; default 100)',
};

const stateDirOption = ['--state-dir <dir>', 'state directory of the local stack', join(repoRoot, '.stratus')];

/** The running local stack's tables and the key code of `module` (exits when no stack runs). */
async function keysOfStack(opts, module) {
  const stack = runningStack(resolve(opts.stateDir));
  if (!stack) {
    console.error('No local stack is running (npm start).');
    process.exit(1);
  }
  Object.assign(process.env, stack.env);
  const { loadConfig } = await importTs('shared/config.ts');
  const { createDocumentClient } = await importTs('shared/store/dynamo.ts');
  const code = await importTs(module);
  const config = loadConfig();
  return { doc: createDocumentClient(config), config, code };
}
/**
 * A key command of `parent` (secrets and serviceaccounts rotate-key/prune-keys) run against the
 * running local stack's tables: its own `options`, then --cluster (default: every cluster with
 * `clustersWith`) and --state-dir. `run` gets the options and the tables with the key code of
 * `module`, and returns what to print and whether the command failed (exit code 1).
 */
function keyCommand(parent, name, { description, options = [], clustersWith, module, run }) {
  const cmd = parent.command(name).description(description);
  for (const o of options) cmd.option(...o);
  cmd
    .option('--cluster <name...>', `only these clusters (default: every cluster with ${clustersWith})`)
    .option(...stateDirOption)
    .action(async (opts) => {
      const { out, failed } = await run(opts, await keysOfStack(opts, module));
      console.log(out);
      if (failed) process.exitCode = 1;
    });
}
const clusterList = (r) => `clusters: ${r.clusters.join(', ') || '(none)'}`;

const secretsCmd = program.command('secrets').description('Secrets encryption at rest (docs/security.md)');
const secretKeys = { clustersWith: 'a data key', module: 'shared/secrets/rotate.ts' };
keyCommand(secretsCmd, 'rotate-key', {
  ...secretKeys,
  description:
    'rotate the keys Secrets are encrypted with: --kek makes a new key-encryption key and re-wraps every data key under it; --data-key gives each cluster a new data key and re-encrypts its Secrets. Old keys stay readable (each ciphertext names its key). Runs against the running local stack\'s tables.',
  options: [
    ['--kek', 'new key-encryption key; re-wrap every data key'],
    ['--data-key', 'new data key per cluster; re-encrypt every Secret'],
  ],
  run: async (opts, { doc, config, code }) => {
    const both = !opts.kek && !opts.dataKey;
    const r = await code.rotateSecretKeys(doc, config, { kek: both || !!opts.kek, dataKey: both || !!opts.dataKey, clusters: opts.cluster });
    return {
      out: `${clusterList(r)}\n${r.kek ? `new key-encryption key ${r.kek}; ${r.rewrapped} data keys re-wrapped\n` : ''}${r.newDataKeys ? `${r.newDataKeys} new data keys; ${r.reencrypted} Secrets and ${r.resealed} key items re-encrypted\n` : ''}${r.pruned.length ? `pruned unused data keys: ${r.pruned.join(', ')}\n` : ''}running processes pick up a new data key within 60 s (until then new writes use the previous one, which stays readable)`,
    };
  },
});
keyCommand(secretsCmd, 'prune-keys', {
  ...secretKeys,
  description:
    'delete data keys no stored ciphertext names any more (Secrets, their change log, signing keys, node PKI), superseded longer ago than --grace (default 24 h: stream records keep images that long). rotate-key prunes too.',
  options: [['--grace <seconds>', 'how long ago the key that superseded one must have been made', (v) => Number(v), 86400]],
  run: async (opts, { doc, config, code }) => {
    const r = await code.rotateSecretKeys(doc, config, { kek: false, dataKey: false, clusters: opts.cluster, graceMs: opts.grace * 1000 });
    return { out: `${clusterList(r)}\npruned: ${r.pruned.join(', ') || '(none)'}` };
  },
});
const saCmd = program.command('serviceaccounts').description('ServiceAccount token signing keys (docs/security.md, "Service accounts")');
const signingKeys = { clustersWith: 'signing keys', module: 'shared/serviceaccounts/rotate.ts' };
keyCommand(saCmd, 'rotate-key', {
  ...signingKeys,
  description:
    "give each cluster a new ServiceAccount token signing key: new tokens are signed by it (within 60 s on every running process), tokens signed by the old keys keep verifying, JWKS serves both. Remove the old key later with prune-keys. Runs against the running local stack's tables.",
  run: async (opts, { doc, config, code }) => {
    const r = await code.rotateSigningKeys(doc, config, { clusters: opts.cluster });
    return {
      out: `${clusterList(r)}\nnew signing keys: ${r.added.join(', ') || '(none)'}${r.conflicts.length ? `\nchanged meanwhile, not rotated (run again): ${r.conflicts.join(', ')}` : ''}`,
      failed: r.conflicts.length > 0,
    };
  },
});
keyCommand(saCmd, 'prune-keys', {
  ...signingKeys,
  description:
    'remove signing keys superseded longer ago than --grace (default 49 h: the longest token lives 48 h, and processes may sign with a superseded key for 60 s). Tokens signed by a removed key are refused (within 60 s: the key cache). A key that signed a legacy service-account-token Secret is kept until that Secret is deleted. The newest key always stays.',
  options: [
    [
      '--grace <seconds>',
      'how long ago the key that superseded one must have been made',
      (v) => {
        const n = Number(v);
        if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('a whole number of seconds');
        return n;
      },
      49 * 3600,
    ],
  ],
  run: async (opts, { doc, config, code }) => {
    const r = await code.pruneSigningKeys(doc, config, { clusters: opts.cluster, graceSeconds: opts.grace });
    return {
      out: `${clusterList(r)}\npruned: ${r.pruned.join(', ') || '(none)'}${r.kept.length ? `\nkept for legacy token Secrets: ${r.kept.join(', ')}` : ''}${r.conflicts.length ? `\nchanged meanwhile, not pruned (run again): ${r.conflicts.join(', ')}` : ''}`,
      failed: r.conflicts.length > 0,
    };
  },
});
const cluster = program.command('cluster').description('manage clusters (virtual Kubernetes clusters) of the running local stack with the operator credential');

cluster
  .command('create')
  .description('create a cluster: usable at once, nothing running while idle; writes its admin kubeconfig')
  .argument('<name>', 'cluster name (a DNS label: lower case letters, digits, -; at most 63)')
  .option('--kubeconfig <file>', 'where to write its admin kubeconfig (default: STATE_DIR/clusters/NAME.kubeconfig)')
  .addOption(new Option('--pod-security <level>', 'Pod Security level enforced by default').choices(['privileged', 'baseline', 'restricted']).default('baseline'))
  .option('--rate-limit <n>', 'requests per second the whole cluster may make (0: no limit; default 100)', limitArg)
  .option('--user-rate-limit <n>', 'requests per second each user of the cluster may make (0: no limit; default 50)', limitArg)
  .option('--long-running-limit <n>', longRunningHelp.cluster, capArg)
  .option('--user-long-running-limit <n>', longRunningHelp.user, capArg)
  .option(...stateDirOption)
  .action(async (name, opts) => {
    const stateDir = resolve(opts.stateDir);
    const { stack, token } = operatorContext(stateDir);
    const spec = { podSecurity: opts.podSecurity, ...limitsSpec(opts) };
    const created = expectStatus(await apiCall(stack, token, 'POST', '/stratus/v1/clusters', { metadata: { name }, spec }), [201]);
    const file = resolve(opts.kubeconfig ?? join(stateDir, 'clusters', `${name}.kubeconfig`));
    await writeClusterKubeconfig(stack, name, created.credentials.token, file);
    console.log(`cluster ${name} created (pod security: ${created.spec.podSecurity}; rate limits: ${describeLimits(created.spec)})\nkubeconfig: ${file}\n  export KUBECONFIG=${file}; kubectl get namespaces`);
  });

cluster
  .command('set-limits')
  .description("change a cluster's request rate limits (requests per second) and caps on open long-running requests (0: no limit)")
  .argument('<name>', 'cluster name')
  .option('--rate-limit <n>', 'requests per second the whole cluster may make', limitArg)
  .option('--user-rate-limit <n>', 'requests per second each user of the cluster may make', limitArg)
  .option('--long-running-limit <n>', 'watches, log follows and exec/attach/port-forward sessions the whole cluster may hold open at once', capArg)
  .option('--user-long-running-limit <n>', 'of those, how many each user may hold open at once', capArg)
  .option(...stateDirOption)
  .action(async (name, opts) => {
    const { stack, token } = operatorContext(resolve(opts.stateDir));
    const updated = expectStatus(await apiCall(stack, token, 'PATCH', `/stratus/v1/clusters/${encodeURIComponent(name)}`, { spec: limitsSpec(opts) }), [200]);
    console.log(`cluster ${name}: rate limits ${describeLimits(updated.spec)}`);
  });

cluster
  .command('list')
  .description('list the clusters')
  .option(...stateDirOption)
  .action(async (opts) => {
    const { stack, token } = operatorContext(resolve(opts.stateDir));
    const list = expectStatus(await apiCall(stack, token, 'GET', '/stratus/v1/clusters'), [200]);
    const rows = [
      ['NAME', 'POD-SECURITY', 'RATE-LIMIT', 'USER-RATE-LIMIT', 'LONG-RUNNING-LIMIT', 'USER-LONG-RUNNING-LIMIT', 'CREATED'],
      ...list.items.map((c) => [
        c.metadata.name,
        c.spec.podSecurity,
        String(c.spec.rateLimit ?? '-'),
        String(c.spec.userRateLimit ?? '-'),
        String(c.spec.longRunningLimit ?? '-'),
        String(c.spec.userLongRunningLimit ?? '-'),
        c.metadata.creationTimestamp,
      ]),
    ];
    const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
    for (const r of rows) console.log(r.map((v, i) => v.padEnd(widths[i] + 3)).join('').trimEnd());
  });

cluster
  .command('delete')
  .description('delete a cluster and everything it owns (objects, change log, tokens, queues)')
  .argument('<name>', 'cluster name')
  .option(...stateDirOption)
  .action(async (name, opts) => {
    const { stack, token } = operatorContext(resolve(opts.stateDir));
    expectStatus(await apiCall(stack, token, 'DELETE', `/stratus/v1/clusters/${encodeURIComponent(name)}`), [200]);
    console.log(`cluster ${name} deleted`);
  });

cluster
  .command('kubeconfig')
  .description("print a kubeconfig for a cluster, with a new admin token (tokens are kept hashed: earlier ones can't be shown again)")
  .argument('<name>', 'cluster name')
  .option('--kubeconfig <file>', 'write it to this file (0600) instead of printing it')
  .option(...stateDirOption)
  .action(async (name, opts) => {
    const stateDir = resolve(opts.stateDir);
    const { stack, token } = operatorContext(stateDir);
    const minted = expectStatus(await apiCall(stack, token, 'POST', `/stratus/v1/clusters/${encodeURIComponent(name)}/credentials`), [201]);
    if (opts.kubeconfig) {
      await writeClusterKubeconfig(stack, name, minted.token, resolve(opts.kubeconfig));
      return;
    }
    const { mkdtempSync, rmSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const dir = mkdtempSync(join(tmpdir(), 'stratus-kubeconfig-'));
    try {
      await writeClusterKubeconfig(stack, name, minted.token, join(dir, 'kubeconfig'));
      process.stdout.write(readFileSync(join(dir, 'kubeconfig'), 'utf8'));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

cluster
  .command('join-token')
  .description('mint a short-lived (1 h) bootstrap token a node agent of the cluster joins with (groups system:bootstrappers, system:bootstrappers:stratus:NAME)')
  .argument('<name>', 'cluster name')
  .option(...stateDirOption)
  .action(async (name, opts) => {
    const { stack, token } = operatorContext(resolve(opts.stateDir));
    const minted = expectStatus(await apiCall(stack, token, 'POST', `/stratus/v1/clusters/${encodeURIComponent(name)}/join-tokens`), [201]);
    console.log(`${minted.token}\n(expires ${minted.expirationTimestamp}; give it to the agent with --join-token-file FILE or $STRATUS_JOIN_TOKEN, never on its command line)`);
  });

cluster
  .command('revoke-node')
  .description("revoke every API credential of one node of a cluster (its agent is refused with 401 within 10 s; it needs a new join token to come back). The Node object stays: delete it with kubectl")
  .argument('<name>', 'cluster name')
  .argument('<node>', 'node name')
  .option(...stateDirOption)
  .action(async (name, node, opts) => {
    const { stack, token } = operatorContext(resolve(opts.stateDir));
    const done = expectStatus(await apiCall(stack, token, 'DELETE', `/stratus/v1/clusters/${encodeURIComponent(name)}/node-credentials/${encodeURIComponent(node)}`), [200]);
    console.log(`cluster ${name}: ${done.message}`);
  });

/**
 * The dashboard's address for a kubeconfig's current (or named) context: the cluster's `server:`
 * (which carries /clusters/NAME) followed by /dashboard/. Throws with a reason when it has none.
 */
async function dashboardUrl(file, contextName) {
  const { load } = await import('js-yaml');
  const kc = load(readFileSync(file, 'utf8')) ?? {};
  const name = contextName ?? kc['current-context'];
  if (!name) throw new Error(`${file} has no current-context (pass --context)`);
  const ctx = (kc.contexts ?? []).find((c) => c.name === name);
  if (!ctx) throw new Error(`context "${name}" is not in ${file}`);
  const cl = (kc.clusters ?? []).find((c) => c.name === ctx.context?.cluster);
  const server = cl?.cluster?.server;
  if (!server) throw new Error(`context "${name}" of ${file} names no cluster with a server`);
  return `${server.replace(/\/+$/, '')}/dashboard/`;
}

program
  .command('dashboard')
  .description("print the web dashboard's address for the current cluster (open it in a browser and sign in with a token)")
  .option('--url', 'print only the address')
  .option('--kubeconfig <file>', 'kubeconfig whose current context names the cluster (default: $KUBECONFIG, else the running local stack\'s, else ~/.kube/config)')
  .option('--context <name>', 'use this context instead of the current one')
  .option(...stateDirOption)
  .action(async (opts) => {
    const stack = runningStack(resolve(opts.stateDir));
    const home = process.env.HOME ? join(process.env.HOME, '.kube', 'config') : undefined;
    const candidates = [opts.kubeconfig, process.env.KUBECONFIG?.split(':')[0], stack?.kubeconfigPath, home].filter(Boolean);
    const file = candidates.find((f) => existsSync(f));
    if (!file) {
      console.error('No kubeconfig found: start the local stack (`npm start`) or pass --kubeconfig.');
      process.exit(1);
    }
    let url;
    try {
      url = await dashboardUrl(resolve(file), opts.context);
    } catch (err) {
      console.error(`stratus dashboard: ${err.message}`);
      process.exit(1);
    }
    if (opts.url) {
      console.log(url);
      return;
    }
    console.log(`Dashboard: ${url}
Sign in with a bearer token: the \`token:\` of your kubeconfig's user (${file}).
The local stack's certificate is signed by its own CA (${stack?.caCertPath ?? 'see `npx stratus status`'}): trust it in the browser, or accept the warning.`);
  });

// Registered for `stratus --help`; the arguments are handled by the agent's own CLI (see below).
program
  .command('agent')
  .description('run a node agent (see `stratus agent --help`)')
  .helpOption(false)
  .allowUnknownOption()
  .allowExcessArguments()
  .argument('[args...]', "the node agent's arguments");


/** One audit event as a line of text: time, code, verb, user, what. */
function auditLine(e) {
  const ref = e.objectRef ?? {};
  const what = ref.resource ? `${ref.resource}${ref.subresource ? `/${ref.subresource}` : ''}${ref.namespace ? ` ${ref.namespace}/` : ' '}${ref.name ?? ''}`.trim() : e.requestURI;
  const cluster = e.annotations?.['stratus.io/cluster'] ?? '-';
  const as = e.impersonatedUser ? ` (as ${e.impersonatedUser.username})` : '';
  return `${e.stageTimestamp}  ${e.responseStatus?.code ?? '?'}  ${cluster}  ${e.user?.username ?? '?'}${as}  ${e.verb}  ${what}`;
}

program
  .command('audit')
  .description('print the local stack\'s audit log (audit.k8s.io/v1 events, one JSON object a line), optionally following it')
  .option('-f, --follow', 'keep printing new events as they are written (Ctrl-C to stop)')
  .option('--cluster <name>', 'only events of this cluster')
  .option('--user <name>', 'only events of this user (the authenticated one, or the one impersonated)')
  .option('--verb <verb>', 'only events with this verb (get, list, watch, create, update, patch, delete, ...)')
  .option('--tail <n>', 'only the last N matching events already in the log (default: all)')
  .option('-o, --output <format>', 'json (the events as written) or text (one summary line each)', 'text')
  .option(...stateDirOption)
  .action(async (opts) => {
    const file = process.env.STRATUS_AUDIT_LOG ?? join(resolve(opts.stateDir), 'audit.log');
    if (!['json', 'text'].includes(opts.output)) throw new Error(`--output must be json or text, not ${opts.output}`);
    const matches = (e) =>
      (!opts.cluster || e.annotations?.['stratus.io/cluster'] === opts.cluster) &&
      (!opts.user || e.user?.username === opts.user || e.impersonatedUser?.username === opts.user) &&
      (!opts.verb || e.verb === opts.verb);
    const show = (line) => {
      let e;
      try {
        e = JSON.parse(line);
      } catch {
        return false;
      }
      if (!matches(e)) return false;
      console.log(opts.output === 'json' ? line : auditLine(e));
      return true;
    };
    if (!existsSync(file) && !opts.follow) {
      console.error(`no audit log at ${file} (the local stack writes it once it serves requests)`);
      process.exit(1);
    }
    let offset = 0;
    if (existsSync(file)) {
      const text = readFileSync(file, 'utf8');
      offset = Buffer.byteLength(text);
      let lines = text.split('\n').filter(Boolean);
      if (opts.tail !== undefined) {
        const n = Number(opts.tail);
        if (!Number.isInteger(n) || n < 0) throw new Error(`--tail must be a whole number, not ${opts.tail}`);
        const kept = [];
        for (let i = lines.length - 1; i >= 0 && kept.length < n; i--) {
          try {
            if (matches(JSON.parse(lines[i]))) kept.unshift(lines[i]);
          } catch {
            // not an event
          }
        }
        lines = kept;
      }
      for (const line of lines) show(line);
    }
    if (!opts.follow) return;
    let partial = '';
    for (;;) {
      await new Promise((r) => setTimeout(r, 500));
      let size;
      try {
        size = statSync(file).size;
      } catch {
        continue; // rotated away for a moment, or not written yet
      }
      if (size < offset) offset = 0; // rotated: the new file starts over
      if (size === offset) continue;
      const fd = openSync(file, 'r');
      const buf = Buffer.alloc(size - offset);
      readSync(fd, buf, 0, buf.length, offset);
      closeSync(fd);
      offset = size;
      const text = partial + buf.toString('utf8');
      const lines = text.split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) if (line) show(line);
    }
  });

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
