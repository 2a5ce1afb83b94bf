/** What the bench scripts share: the local stack with one agent, an HTTPS client for it, percentiles. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Docker from 'dockerode';
import { spawnAgent, stopProcesses, type AgentProcess } from '../infra/local/agent-process';
import { LOCAL_CREDENTIALS, LOCAL_REGION, startDynamoDBLocal, type DynamoDBLocal } from '../infra/local/dynamodb';
import { startLocalStack, type LocalStack } from '../infra/local/stack';
import { createTables } from '../infra/local/tables';
import { loadConfig, type Config } from '../shared/config';

// The AWS SDK's Node 20 support notice only (aws/aws-sdk-js-v3#7983), as the CLI and npm start
// hide it (before any client is made, and inherited by the agents started): other warnings still
// print, and a user's own setting wins.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

/** Unique per run: the clean-up removes this run's containers only, whatever else runs here. */
const BENCH_NODE = `bench-${process.pid}`;

/** One API call with the stack's CA and a bearer token; the body is parsed as JSON. */
export function call(base: string, ca: string, token: string, method: string, path: string, body?: unknown, type = 'application/json'): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : JSON.stringify(body);
    const headers: Record<string, string> = { authorization: `Bearer ${token}`, 'content-type': type };
    if (data) headers['content-length'] = String(Buffer.byteLength(data));
    const req = request(new URL(base + path), { method, ca, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString() || 'null') }));
    });
    req.on('error', reject);
    if (data) req.write(data);
    req.end();
  });
}

/** The p-th percentile (nearest rank) of `xs`; NaN for no samples. */
export function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]! : NaN;
}

/** A local stack with one real node agent (`bench-PID`), as the pod benchmarks need it. */
export interface BenchCluster {
  readonly stack: LocalStack;
  /** The Nodes' names: `bench-PID`, then `bench-PID-2` ... with `nodes` > 1. */
  readonly nodes: readonly string[];
  /** Calls the default tenant's API as its admin. */
  readonly api: (method: string, path: string, body?: unknown, type?: string) => Promise<{ status: number; body: any }>;
}

/**
 * Starts the local stack and a node agent, waits for the node to be Ready, runs `fn`, then
 * stops the agent, removes the agent's containers and stops the stack, whatever `fn` did.
 * `opts.nodes` (default 1) starts more agents on this machine (`bench-PID-2`, ...), each its own
 * Node (own identity and kubelet endpoint; the default docker-bridge pod network, shared).
 */
export async function withBenchCluster<T>(progress: (s: string) => void, fn: (c: BenchCluster) => Promise<T>, opts: { nodes?: number } = {}): Promise<T> {
  const names = [BENCH_NODE, ...Array.from({ length: Math.max(0, (opts.nodes ?? 1) - 1) }, (_, i) => `${BENCH_NODE}-${i + 2}`)];
  const stateDir = mkdtempSync(join(tmpdir(), 'stratus-bench-'));
  progress(`[1/5] starting the local stack in ${stateDir}`);
  const stack = await startLocalStack({ stateDir });
  const caFile = join(stateDir, 'ca.crt');
  writeFileSync(caFile, stack.caCert);
  const base = `${stack.apiUrl}/clusters/default`;
  const api: BenchCluster['api'] = (method, path, body, type) => call(base, stack.caCert, stack.adminToken, method, path, body, type);
  let agent: AgentProcess | undefined;
  const more: AgentProcess[] = [];
  try {
    progress(names.length > 1 ? `[2/5] starting ${names.length} node agents` : '[2/5] starting a node agent');
    // Node itself (not npx), so SIGTERM reaches the agent and it exits before the stack stops.
    // Each agent joins with the cluster's join token (in the environment, never on the command
    // line) and gets its own node identity under the run's --root-dir: the node authorizer lets
    // a node write only its own Node.
    const startAgent = (name: string, log: string) =>
      spawnAgent({ server: base, name, caFile, joinToken: stack.joinToken, env: stack.env, rootDir: join(stateDir, 'agent-root'), logFile: join(stateDir, log), logFlags: 'w', logOutput: 'stderr' });
    agent = startAgent(names[0]!, 'agent.log');
    for (const name of names.slice(1)) more.push(startAgent(name, `agent-${name}.log`));
    for (const name of names) {
      for (;;) {
        for (const a of [agent, ...more]) if (a.exitCode !== null) throw new Error(`a node agent exited (code ${a.exitCode}); its log is in ${stateDir}`);
        const r = await api('GET', `/api/v1/nodes/${name}`);
        if (r.status === 200 && r.body.status?.conditions?.some((c: { type: string; status: string }) => c.type === 'Ready' && c.status === 'True')) break;
        await new Promise((r) => setTimeout(r, 200));
      }
    }
    return await fn({ stack, api, nodes: names });
  } finally {
    await stopProcesses([agent, ...more]);
    const docker = new Docker();
    // Docker ANDs label filters: one list per node.
    const leftovers = (await Promise.all(names.map((n) => docker.listContainers({ all: true, filters: { label: [`io.stratus.node=${n}`] } })))).flat();
    await Promise.all(leftovers.map((c) => docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined)));
    await stack.stop();
  }
}

/**
 * DynamoDB Local alone (no SQS, no runtime, no stream consumers whose CPU would be counted as
 * ours), with the system's tables, and process.env set as the local stack sets it for its
 * clients (DynamoDB Local keeps one database per access key). The caller stops `ddb`.
 */
export async function startBenchDynamoDB(progress: (s: string) => void): Promise<{ ddb: DynamoDBLocal; config: Config }> {
  const ddb = await startDynamoDBLocal({ log: (s) => progress(`dynamodb: ${s}`) });
  try {
    Object.assign(process.env, {
      AWS_REGION: LOCAL_REGION,
      AWS_DEFAULT_REGION: LOCAL_REGION,
      AWS_ACCESS_KEY_ID: LOCAL_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: LOCAL_CREDENTIALS.secretAccessKey,
      AWS_ENDPOINT_URL_DYNAMODB: ddb.endpoint,
      STRATUS_TENANT: 'default',
    });
    const config = { ...loadConfig(), region: LOCAL_REGION };
    progress(`creating tables ${config.objectsTable}, ${config.changesTable}`);
    await createTables(config, ddb.endpoint);
    return { ddb, config };
  } catch (e) {
    await ddb.stop();
    throw e;
  }
}
