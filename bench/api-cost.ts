/**
 * What one api request costs in Lambda duration (issue #7; run by hand: `npm run bench:api-cost`;
 * figures go to BENCHMARKS.md and docs/cost.md). Never a test assertion.
 *
 * The api function's handler (functions/api/handler.ts: middy, streamed response, router, auth,
 * admission, the store, brotli, the AWS SDK) is called IN THIS PROCESS, as the Lambda runtime
 * calls it, against a real DynamoDB Local (another process) with the tables and a tenant made as
 * the local stack makes them. The local stack itself is not started: its stream consumers and
 * schedules would run in this process and their CPU would be counted as the api's.
 *
 * For each request of one pod lifecycle (as docs/cost.md lists them) and of a node's own loop,
 * after a warm-up: N sequential requests, each timed (wall ms, p50/p99) and charged with this
 * process's CPU time (process.cpuUsage(): user + system, all threads, GC included; DynamoDB
 * Local's CPU is not ours). CPU ms is the robust figure on a shared machine: other processes
 * stretch wall time, not our CPU time. Every DynamoDB call the handler makes is counted by kind
 * with a middleware on its client, so the I/O side of the model is counted, not guessed.
 *
 * Then the Lambda model: a function gets CPU in proportion to its memory, one vCPU at 1,769 MB
 * (docs.aws.amazon.com/lambda/latest/dg/configuration-memory.html), so
 *   duration(M) ≈ CPU ms × max(1, 1769 / M) + DynamoDB round trips × in-region latency
 * and GB-s, $ per million pod lifecycles and per node-month follow at 512 … 1,769 MB.
 * Progress goes to stderr, the tables (markdown) to stdout.
 */
import { randomUUID } from 'node:crypto';
import { cpus, loadavg } from 'node:os';
import { Writable } from 'node:stream';
import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import { Command, InvalidArgumentError } from 'commander';
import { LOCAL_REGION } from '../infra/local/dynamodb';
import { functionUrlEvent, installAwsLambdaGlobals, makeContext } from '../infra/local/runtime';
import { createTenantTokens } from '../infra/local/stack';
import { createNodeToken } from '../shared/auth/node-identity';
import { wiring } from '../infra/wiring';
import { buildNodeStatus, type HostFacts } from '../node-agent/node-status';
import { computePodStatus } from '../node-agent/status';
import { PodSchema } from '../node-agent/types';
import { approximateBytes } from '../shared/store/codec';
import { pct, startBenchDynamoDB } from './lib';

// ---------------------------------------------------------------------------------------------
// Prices and figures the model uses (docs/cost.md "Prices used").

/** Memory at which a Lambda function has one full vCPU (Lambda developer guide, "Configuring function memory"). */
const ONE_VCPU_MB = 1769;
/** Lambda duration, arm64, us-east-1, first 7.5 billion GB-s a month. */
const USD_PER_GB_S = 0.0000133334;
const MEMORY_SIZES = [512, 768, 1024, 1769];

const progress = (s: string) => process.stderr.write(`[api-cost ${new Date().toISOString().slice(11, 19)}] ${s}\n`);

interface Options {
  requests: number;
  warmup: number;
  rttMs: number;
  txRttMs: number;
  rttP99Ms: number;
  txRttP99Ms: number;
  cpuFactor: number;
}

// ---------------------------------------------------------------------------------------------
// Calling the handler as the Lambda runtime does (streaming Function URL, payload 2.0).

type StreamingHandler = (event: APIGatewayProxyEventV2, stream: Writable, context: Context) => Promise<void>;

interface Call {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  path: string;
  token: string;
  query?: Record<string, string>;
  body?: unknown;
  contentType?: string;
  accept?: string;
  userAgent?: string;
}

interface Reply {
  status: number;
  body: any;
}

const KUBECTL_UA = 'kubectl/v1.32.0 (linux/amd64) kubernetes/0000000';
const AGENT_UA = 'stratus-node-agent';
/** What `kubectl get` asks for: a Table, else a plain list. */
const KUBECTL_TABLE = 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json';

/** The Function URL event (payload 2.0) for `c`, built by the local runtime's own functionUrlEvent. */
function urlEvent(c: Call): APIGatewayProxyEventV2 {
  const query = new URLSearchParams(c.query ?? {}).toString();
  const body = c.body === undefined ? Buffer.alloc(0) : Buffer.from(JSON.stringify(c.body));
  const headers: Record<string, string> = {
    host: 'localapi.lambda-url.us-east-1.on.aws',
    authorization: `Bearer ${c.token}`,
    accept: c.accept ?? 'application/json',
    'user-agent': c.userAgent ?? AGENT_UA,
    'accept-encoding': 'gzip',
    ...(body.length ? { 'content-type': c.contentType ?? 'application/json', 'content-length': String(body.length) } : {}),
  };
  return functionUrlEvent(
    {
      url: `/clusters/default${c.path}${query ? `?${query}` : ''}`,
      method: c.method,
      httpVersion: '1.1',
      headersDistinct: Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, [v]])),
      socket: { remoteAddress: '127.0.0.1' },
    },
    body,
    'localapi',
  );
}

/**
 * The response stream the runtime hands a streaming handler. awslambda.HttpResponseStream.from
 * (infra/local/runtime.ts, as on AWS) writes the JSON prelude (status, headers) and 8 NUL bytes
 * before the body: split them here.
 */
function responseSink(): { sink: Writable; reply: () => Reply } {
  const chunks: Buffer[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      chunks.push(chunk);
      cb();
    },
  });
  return { sink, reply: () => parseStreamed(Buffer.concat(chunks)) };
}

function parseStreamed(bytes: Buffer): Reply {
  const sep = bytes.indexOf(Buffer.alloc(8));
  if (sep < 0) throw new Error(`no response prelude in ${JSON.stringify(bytes.subarray(0, 200).toString())}`);
  const prelude = JSON.parse(bytes.subarray(0, sep).toString('utf8')) as { statusCode: number };
  const text = bytes.subarray(sep + 8).toString('utf8');
  return { status: prelude.statusCode, body: text ? JSON.parse(text) : undefined };
}

// ---------------------------------------------------------------------------------------------
// Counting DynamoDB calls by kind (a middleware on the api's own client).

type CallKind = 'token read' | 'GetItem' | 'sequence read' | 'sequence update' | 'Query' | 'PutItem' | 'TransactWriteItems' | 'other';
const ALL_KINDS: CallKind[] = ['token read', 'GetItem', 'sequence read', 'sequence update', 'Query', 'PutItem', 'TransactWriteItems', 'other'];

function kindOf(commandName: string, input: any, changesTable: string): CallKind {
  if (commandName === 'GetCommand' || commandName === 'GetItemCommand') {
    const sk = input?.Key?.sk;
    if (input?.TableName === changesTable && sk === '~seq') return 'sequence read';
    if (sk === 'token') return 'token read';
    return 'GetItem';
  }
  if (commandName === 'QueryCommand') return 'Query';
  if (commandName === 'TransactWriteCommand' || commandName === 'TransactWriteItemsCommand') return 'TransactWriteItems';
  if (commandName === 'PutCommand' || commandName === 'PutItemCommand') return 'PutItem';
  // A store that reserves versions with an UpdateItem of the sequence item instead of reading it.
  if ((commandName === 'UpdateCommand' || commandName === 'UpdateItemCommand') && input?.TableName === changesTable && input?.Key?.sk === '~seq') return 'sequence update';
  return 'other';
}

/**
 * DynamoDB write units a call consumes, estimated from its input: 1 per started KB of each item
 * written (its attributes as JSON, binary ones by length: a few bytes above DynamoDB's own item
 * size), doubled inside TransactWriteItems; an update, delete or condition check counts 1 (the
 * sequence item and the deletes of small items). The figure that moves when objects grow.
 */
function writeUnits(commandName: string, input: any): number {
  const units = (item: unknown) => Math.max(1, Math.ceil(approximateBytes(item) / 1024));
  if (commandName === 'PutCommand' || commandName === 'PutItemCommand') return units(input?.Item);
  if (['UpdateCommand', 'UpdateItemCommand', 'DeleteCommand', 'DeleteItemCommand'].includes(commandName)) return 1;
  if (commandName === 'TransactWriteCommand' || commandName === 'TransactWriteItemsCommand')
    return 2 * ((input?.TransactItems ?? []) as any[]).reduce((sum: number, t: any) => sum + (t.Put ? units(t.Put.Item) : 1), 0);
  if (commandName === 'BatchWriteCommand' || commandName === 'BatchWriteItemCommand')
    return Object.values((input?.RequestItems ?? {}) as Record<string, any[]>).flat().reduce((sum: number, r: any) => sum + (r.PutRequest ? units(r.PutRequest.Item) : 1), 0);
  return 0;
}

// ---------------------------------------------------------------------------------------------
// One measured request type.

interface Measured {
  key: string;
  label: string;
  who: string;
  n: number;
  wall: number[];
  cpu: number[];
  /** CPU ms of the whole sequential run / n (robust: includes GC between requests). */
  cpuMean: number;
  /** DynamoDB calls per request, by kind, as the bench saw them. */
  calls: Record<CallKind, number>;
  /** Estimated DynamoDB write units per request (writeUnits). */
  wcu: number;
}

interface ModelRow {
  m: Measured;
  /** Round trips per request in production (see modelCalls). */
  prod: Record<CallKind, number>;
  /** CPU ms per request in production: measured + the CPU of the reads the bench did not make. */
  cpu: number;
  /** Each measured request's CPU ms, production-adjusted as `cpu` (for the p99 simulation). */
  cpuSamples: number[];
  /** I/O wait per request, ms (average). */
  io: number;
}

async function main(opts: Options): Promise<void> {
  const started = Date.now();
  progress(`starting DynamoDB Local (the only other process); ${cpus().length} CPUs, load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  // What the local stack gives every client (infra/local/stack.ts), without the stack itself.
  const { ddb, config } = await startBenchDynamoDB(progress);
  try {
    // As the Lambda runtime: the awslambda global exists before the handler module loads.
    installAwsLambdaGlobals();
    // The cold start's own work (module load and clients), for the record: transpiled by tsx
    // here, so more than the bundled function's init on AWS.
    const i0 = process.cpuUsage();
    const api = await import('../functions/api/handler');
    const handler = api.handler as unknown as StreamingHandler;
    const deps = api.getDeps();
    const iUsed = process.cpuUsage(i0);
    const initCpu = (iUsed.user + iUsed.system) / 1000;
    progress(`api module loaded: ${initCpu.toFixed(0)} ms CPU`);
    const { adminToken } = await createTenantTokens(deps.doc, deps.config, 'default');
    // The node's own credential (system:node:cost-node), as a joined agent holds.
    const nodeToken = await createNodeToken(deps.doc, deps.config, 'default', 'cost-node');
    const apiRow = wiring.find((w) => w.name === 'api')!;

    let counting: Record<CallKind, number> | undefined;
    let wcu = 0;
    deps.doc.middlewareStack.add(
      (next, context) => async (args) => {
        if (counting) counting[kindOf(context.commandName ?? '', args.input, config.changesTable)]++;
        if (counting) wcu += writeUnits(context.commandName ?? '', args.input);
        return next(args);
      },
      { step: 'initialize', name: 'benchCallCounter' },
    );

    const send = async (c: Call): Promise<Reply> => {
      const { sink, reply } = responseSink();
      await handler(urlEvent(c), sink, makeContext(apiRow, LOCAL_REGION, Date.now() + 900_000));
      return reply();
    };
    const must = async (c: Call, expect: number[] = [200, 201]): Promise<any> => {
      const r = await send(c);
      if (!expect.includes(r.status)) throw new Error(`${c.method} ${c.path}: ${r.status} ${JSON.stringify(r.body)}`);
      return r.body;
    };

    // ---- request bodies, as kubectl and the node agent send them --------------------------
    const NODE = 'cost-node';
    const facts: HostFacts = {
      hostname: NODE,
      internalIP: '10.0.1.23',
      cpus: 2,
      memoryBytes: 2 * 1024 ** 3,
      kernelVersion: '6.1.0-aws',
      osImage: 'Amazon Linux 2023',
      architecture: 'arm64',
      containerRuntimeVersion: 'docker://25.0.3',
      machineID: 'ec2a0b1c2d3e4f5a6b7c8d9e0f1a2b3c',
      bootID: '5d3f0c1e-7b2a-4c8e-9f61-0a1b2c3d4e5f',
    };
    const images = [
      { names: ['stratus-test/busybox:1.36'], sizeBytes: 4_500_000 },
      { names: ['stratus/pause:1'], sizeBytes: 700_000 },
      { names: ['public.ecr.aws/nginx/nginx:1.27'], sizeBytes: 190_000_000 },
    ];
    // Each heartbeat 30 s after the last, as agent.ts sends them: heartbeat times have second
    // precision, so sent back to back with the real clock most would change nothing (no write).
    let heartbeatAt = Date.now();
    // Room for every pod the runs bind (the binding checks the node's pod capacity).
    const maxPods = opts.requests + 10 + Math.ceil(opts.warmup / 15);
    const nodeStatus = (previous: { type: string; status: string; lastTransitionTime?: string }[]) =>
      buildNodeStatus(facts, maxPods, new Date((heartbeatAt += 30_000)), previous, { kubeletPort: 10250, images });
    /** What `kubectl create -f pod.yaml` sends for a one-container pod. */
    const podManifest = (name: string, namespace: string, labels: Record<string, string>) => ({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name, namespace, labels },
      spec: { containers: [{ name: 'web', image: 'stratus-test/busybox:1.36', command: ['httpd', '-f', '-p', '8080'], ports: [{ containerPort: 8080 }] }] },
    });
    const podPath = (ns: string, name: string) => `/api/v1/namespaces/${ns}/pods/${name}`;
    /** The status the agent patches after starting the pod (node-agent/status.ts, as agent.ts computes it). */
    const runningStatus = (pod: unknown) => {
      const p = PodSchema.parse(pod);
      const at = new Date().toISOString();
      const state = { status: 'running', running: true, exitCode: 0, startedAt: at, finishedAt: '0001-01-01T00:00:00Z', oomKilled: false, error: '' };
      return computePodStatus(
        p,
        {
          sandbox: { id: `sb${p.metadata.uid}`, running: true, ips: ['172.17.0.5'] },
          containers: [{ name: 'web', attempt: 0, id: randomUUID().replaceAll('-', '').repeat(2), image: 'stratus-test/busybox:1.36', imageID: `sha256:${'ab'.repeat(32)}`, state }],
          waiting: new Map(),
        },
        { hostIP: facts.internalIP, now: new Date() },
      );
    };
    let eventSeq = 0;
    /** A kubelet Event (node-agent/events.ts). */
    const event = (pod: { metadata: { name: string; namespace: string; uid: string } }, reason: string) => {
      const now = new Date();
      const time = now.toISOString().replace(/\.\d{3}Z$/, 'Z');
      return {
        apiVersion: 'v1',
        kind: 'Event',
        metadata: { name: `${pod.metadata.name}.${(BigInt(now.getTime()) * 1_000_000n + BigInt(++eventSeq)).toString(16)}`, namespace: pod.metadata.namespace },
        involvedObject: { apiVersion: 'v1', kind: 'Pod', namespace: pod.metadata.namespace, name: pod.metadata.name, uid: pod.metadata.uid, fieldPath: 'spec.containers{web}' },
        reason,
        message: reason === 'Pulled' ? 'Container image "stratus-test/busybox:1.36" already present on machine' : `${reason} container web`,
        type: 'Normal',
        source: { component: 'kubelet', host: NODE },
        firstTimestamp: time,
        lastTimestamp: time,
        count: 1,
        reportingComponent: 'kubelet',
        reportingInstance: NODE,
      };
    };
    const EVENT_REASONS = ['Pulled', 'Created', 'Started', 'Killing'];

    // ---- the per-request calls ------------------------------------------------------------
    const leaseBase = '/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases';
    let lease: any;
    let nodeConditions: any[] = [];
    const calls = {
      createPod: (ns: string, name: string, labels: Record<string, string> = { app: 'cost' }): Call => ({
        method: 'POST', path: `/api/v1/namespaces/${ns}/pods`, token: adminToken, userAgent: KUBECTL_UA,
        query: { fieldManager: 'kubectl-create', fieldValidation: 'Strict' }, body: podManifest(name, ns, labels),
      }),
      getPod: (ns: string, name: string): Call => ({ method: 'GET', path: podPath(ns, name), token: adminToken, userAgent: KUBECTL_UA }),
      bind: (ns: string, name: string): Call => ({
        method: 'POST', path: `${podPath(ns, name)}/binding`, token: adminToken,
        body: { apiVersion: 'v1', kind: 'Binding', metadata: { name, namespace: ns }, target: { apiVersion: 'v1', kind: 'Node', name: NODE } },
      }),
      postEvent: (pod: any, reason: string): Call => ({ method: 'POST', path: `/api/v1/namespaces/${pod.metadata.namespace}/events`, token: nodeToken, body: event(pod, reason) }),
      patchStatus: (pod: any): Call => ({
        method: 'PATCH', path: `${podPath(pod.metadata.namespace, pod.metadata.name)}/status`, token: nodeToken,
        contentType: 'application/merge-patch+json', body: { status: runningStatus(pod) },
      }),
      deleteGraceful: (ns: string, name: string): Call => ({
        method: 'DELETE', path: podPath(ns, name), token: adminToken, userAgent: KUBECTL_UA,
        body: { kind: 'DeleteOptions', apiVersion: 'v1', propagationPolicy: 'Background' },
      }),
      deleteFinal: (pod: any): Call => ({
        method: 'DELETE', path: podPath(pod.metadata.namespace, pod.metadata.name), token: nodeToken,
        body: { kind: 'DeleteOptions', apiVersion: 'v1', gracePeriodSeconds: 0, preconditions: { uid: pod.metadata.uid } },
      }),
      listPods: (ns: string): Call => ({
        method: 'GET', path: `/api/v1/namespaces/${ns}/pods`, token: adminToken, userAgent: KUBECTL_UA, accept: KUBECTL_TABLE,
        query: { labelSelector: 'app=listed', limit: '500' },
      }),
      resync: (): Call => ({ method: 'GET', path: '/api/v1/pods', token: nodeToken, query: { fieldSelector: `spec.nodeName=${NODE}` } }),
      renewLease: (): Call => ({
        method: 'PUT', path: `${leaseBase}/${NODE}`, token: nodeToken,
        body: { ...lease, spec: { ...lease.spec, renewTime: new Date().toISOString().replace('Z', '000Z') } },
      }),
      getNode: (): Call => ({ method: 'GET', path: `/api/v1/nodes/${NODE}`, token: nodeToken }),
      patchNodeStatus: (): Call => ({
        method: 'PATCH', path: `/api/v1/nodes/${NODE}/status`, token: nodeToken,
        contentType: 'application/merge-patch+json', body: { status: nodeStatus(nodeConditions) },
      }),
    };

    // ---- setup (not measured): the node, its Lease, a namespace for the LIST ----------------
    progress('registering the node, its Lease and the LIST namespace');
    await must({ method: 'POST', path: '/api/v1/nodes', token: nodeToken, body: { apiVersion: 'v1', kind: 'Node', metadata: { name: NODE, labels: { 'kubernetes.io/hostname': NODE, 'kubernetes.io/os': 'linux', 'kubernetes.io/arch': 'arm64' } }, spec: {}, status: nodeStatus([]) } });
    nodeConditions = (await must(calls.patchNodeStatus())).status.conditions;
    const node = await must(calls.getNode());
    lease = await must({
      method: 'POST', path: leaseBase, token: nodeToken,
      body: { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: NODE, namespace: 'kube-node-lease', ownerReferences: [{ apiVersion: 'v1', kind: 'Node', name: NODE, uid: node.metadata.uid }] }, spec: { holderIdentity: NODE, leaseDurationSeconds: 40, renewTime: new Date().toISOString().replace('Z', '000Z') } },
    });
    // The LIST reads a namespace of 10 pods, 5 of which its selector matches; the node runs those 10.
    await must({ method: 'POST', path: '/api/v1/namespaces', token: adminToken, body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'listing' } } });
    for (let i = 0; i < 10; i++) {
      await must(calls.createPod('listing', `l-${i}`, { app: i % 2 ? 'other' : 'listed' }));
      await must(calls.bind('listing', `l-${i}`));
    }

    // ---- one lifecycle of all request types, for the warm-up ------------------------------
    const lifecycle = async (name: string) => {
      const created = await must(calls.createPod('default', name));
      await must(calls.getPod('default', name));
      await must(calls.bind('default', name));
      const bound = await must(calls.getPod('default', name));
      for (const r of EVENT_REASONS.slice(0, 3)) await must(calls.postEvent(created, r));
      await must(calls.patchStatus(bound));
      await must(calls.deleteGraceful('default', name));
      await must(calls.postEvent(created, 'Killing'));
      await must(calls.deleteFinal(created));
      await must(calls.listPods('listing'));
      await must(calls.resync());
      lease = await must(calls.renewLease());
      nodeConditions = (await must(calls.getNode())).status.conditions;
      await must(calls.patchNodeStatus());
    };
    const warmLifecycles = Math.max(1, Math.ceil(opts.warmup / 15));
    progress(`warming up: ${warmLifecycles} lifecycles (${warmLifecycles * 15} requests)`);
    for (let i = 0; i < warmLifecycles; i++) await lifecycle(`warm-${i}`);

    // ---- the measured runs ----------------------------------------------------------------
    const N = opts.requests;
    const results: Measured[] = [];
    /**
     * N sequential requests of one type: each timed and charged with this process's CPU; the
     * run's whole CPU delta / N is the mean (it includes what falls between requests, e.g. GC).
     * `make(i)` builds the call outside the timed part (on AWS, the runtime builds the event).
     */
    const measure = async (key: string, label: string, who: string, make: (i: number) => Call | Promise<Call>, after?: (i: number, body: any) => void, n = N) => {
      progress(`${label}: ${n} requests`);
      const wall: number[] = [];
      const cpu: number[] = [];
      const calls = Object.fromEntries(ALL_KINDS.map((k) => [k, 0])) as Record<CallKind, number>;
      let runCpu = 0;
      wcu = 0;
      for (let i = 0; i < n; i++) {
        const c = await make(i);
        const event = urlEvent(c);
        const { sink, reply } = responseSink();
        const context = makeContext(apiRow, LOCAL_REGION, Date.now() + 900_000);
        counting = calls;
        const c0 = process.cpuUsage();
        const t0 = performance.now();
        await handler(event, sink, context);
        const t1 = performance.now();
        const used = process.cpuUsage(c0);
        counting = undefined;
        const ms = (used.user + used.system) / 1000;
        wall.push(t1 - t0);
        cpu.push(ms);
        runCpu += ms;
        const r = reply();
        if (r.status >= 300) throw new Error(`${label} #${i}: ${c.method} ${c.path}: ${r.status} ${JSON.stringify(r.body)}`);
        after?.(i, r.body);
      }
      for (const k of ALL_KINDS) calls[k] /= n;
      const m: Measured = { key, label, who, n, wall, cpu, cpuMean: runCpu / n, calls, wcu: wcu / n };
      progress(`  wall p50 ${pct(wall, 50).toFixed(1)} ms, p99 ${pct(wall, 99).toFixed(1)} ms; CPU ${m.cpuMean.toFixed(2)} ms/request (p99 ${pct(cpu, 99).toFixed(2)}); DynamoDB ${describeCalls(calls)}; ~${m.wcu.toFixed(2)} write units`);
      results.push(m);
      return m;
    };

    const names = Array.from({ length: N }, (_, i) => `cost-${i}`);
    const created: any[] = [];
    const bound: any[] = [];
    await measure('create', 'POST pod', 'user (kubectl create)', (i) => calls.createPod('default', names[i]!), (i, b) => (created[i] = b));
    await measure('get', 'GET pod', 'user (kubectl get -o json)', (i) => calls.getPod('default', names[i]!));
    progress(`binding the ${N} pods to ${NODE} (not measured: the scheduler's work)`);
    for (const name of names) await must(calls.bind('default', name));
    for (let i = 0; i < N; i++) bound[i] = await must(calls.getPod('default', names[i]!));
    await measure('event', 'POST event', 'agent (Pulled/Created/Started/Killing)', (i) => calls.postEvent(created[i], EVENT_REASONS[i % 4]!));
    await measure('status', 'PATCH pod status (merge patch)', 'agent', (i) => calls.patchStatus(bound[i]));
    // Not in a lifecycle: what a CPU-heavy request becomes at a small memory size.
    const bigListRuns = Math.max(10, Math.round(N / 10));
    await measure('bigList', `LIST ${N} running pods (Table)`, `user (kubectl get pods; ${bigListRuns} requests)`, () => ({ ...calls.listPods('default'), query: { limit: '500' } }), undefined, bigListRuns);
    await measure('delete', 'DELETE pod (graceful)', 'user (kubectl delete)', (i) => calls.deleteGraceful('default', names[i]!));
    await measure('delete0', 'DELETE pod (grace 0, uid precondition)', 'agent', (i) => calls.deleteFinal(created[i]));
    await measure('list', 'LIST pods, label selector (Table)', 'user (kubectl get -l; 10 pods in the namespace, 5 match)', () => calls.listPods('listing'));
    await measure('resync', 'LIST pods on the node (resync)', 'agent, every 10 s (10 pods on the node)', () => calls.resync());
    await measure('lease', 'PUT node Lease', 'agent, every 10 s', () => calls.renewLease(), (_i, b) => (lease = b));
    await measure('getNode', 'GET node', 'agent, every 30 s', () => calls.getNode(), (_i, b) => (nodeConditions = b.status.conditions));
    await measure('nodeStatus', 'PATCH node status (merge patch)', 'agent, when changed or every 5 min', () => calls.patchNodeStatus());

    // What a read the bench did not make costs in CPU: the strongly consistent GetItem of a
    // sequence item that a write after a pause makes (store.ts commitGroup), through the same client.
    progress(`CPU of one GetItem through the api's client: ${N} sequence reads`);
    const { GetCommand } = await import('@aws-sdk/lib-dynamodb');
    const g0 = process.cpuUsage();
    for (let i = 0; i < N; i++) await deps.doc.send(new GetCommand({ TableName: config.changesTable, Key: { pk: 'default#pods', sk: '~seq' }, ConsistentRead: true }));
    const gUsed = process.cpuUsage(g0);
    const getItemCpu = (gUsed.user + gUsed.system) / 1000 / N;
    progress(`  ${getItemCpu.toFixed(3)} ms CPU per GetItem`);

    console.log(report(results, getItemCpu, opts, started));
    const rss = process.resourceUsage().maxRSS / 1024;
    console.log('');
    console.log(`Init (loading functions/api/handler.ts and its clients, transpiled by tsx): ${initCpu.toFixed(0)} ms CPU; this whole process's peak RSS ${rss.toFixed(0)} MB (the bench's own data included).`);
  } finally {
    await ddb.stop();
  }
}

function describeCalls(calls: Record<CallKind, number>): string {
  const parts = ALL_KINDS.filter((k) => calls[k] > 0).map((k) => `${fmtCount(calls[k])} ${k}`);
  return parts.length ? parts.join(' + ') : 'none';
}

function fmtCount(x: number): string {
  return Number.isInteger(x) ? String(x) : x < 0.01 ? x.toFixed(3) : x.toFixed(2);
}

/**
 * The round trips a request makes on AWS, from the counted ones. Two reads are cached in a warm
 * process and so (almost) never appear in a sequential bench, but docs/cost.md counts them:
 * - the token GetItem (functions/api/auth.ts caches identities 10 s per instance): counted once
 *   per request, an upper bound, as docs/cost.md counts its 0.5 RRU;
 * - the sequence read before a commit (store.ts: skipped while this process wrote the sequence
 *   less than 1 s ago; the api and the scheduler take turns on the pods' sequence): one per
 *   TransactWriteItems.
 */
function modelCalls(calls: Record<CallKind, number>): Record<CallKind, number> {
  // A store that reserves versions with an UpdateItem before each transaction makes that call
  // every time, in the bench too: then nothing is missing.
  const missingSequenceReads = Math.max(0, calls.TransactWriteItems - calls['sequence read'] - calls['sequence update']);
  return { ...calls, 'token read': 1, 'sequence read': calls['sequence read'] + missingSequenceReads };
}

/** Round trips other than transactions (each a GetItem, Query, PutItem or UpdateItem). */
const plainRoundTrips = (c: Record<CallKind, number>) => ALL_KINDS.filter((k) => k !== 'TransactWriteItems').reduce((s, k) => s + c[k], 0);

function report(results: Measured[], getItemCpu: number, o: Options, started: number): string {
  const rows: ModelRow[] = results.map((m) => {
    const prod = modelCalls(m.calls);
    const extraReads = plainRoundTrips(prod) - plainRoundTrips(m.calls);
    return {
      m,
      prod,
      cpu: (m.cpuMean + extraReads * getItemCpu) * o.cpuFactor,
      cpuSamples: m.cpu.map((c) => (c + extraReads * getItemCpu) * o.cpuFactor),
      io: plainRoundTrips(prod) * o.rttMs + prod.TransactWriteItems * o.txRttMs,
    };
  });
  const by = (k: string) => rows.find((r) => r.m.key === k)!;
  const scale = (mb: number) => Math.max(1, ONE_VCPU_MB / mb);
  /** Billed duration of one request at `mb`: Lambda bills each invocation up to the next ms. */
  const billedMs = (r: ModelRow, mb: number) => Math.ceil(r.cpu * scale(mb) + r.io);
  // p99: not the sum of every part's p99 (they are rarely slow together) but the p99 of
  // simulated requests: a measured request's CPU, scaled, plus each of its round trips drawn
  // from a lognormal with the assumed average and p99 (seeded: the same inputs, the same figure).
  const rng = mulberry32(7);
  const plain = lognormal(rng, o.rttMs, o.rttP99Ms);
  const tx = lognormal(rng, o.txRttMs, o.txRttP99Ms);
  const draws = (x: number) => Math.floor(x) + (rng() < x - Math.floor(x) ? 1 : 0);
  const p99Cache = new Map<string, number>();
  const p99Ms = (r: ModelRow, mb: number) => {
    const key = `${r.m.key}@${mb}`;
    if (!p99Cache.has(key)) {
      const sims: number[] = [];
      for (let i = 0; i < P99_DRAWS; i++) {
        let ms = r.cpuSamples[Math.floor(rng() * r.cpuSamples.length)]! * scale(mb);
        for (let k = draws(plainRoundTrips(r.prod)); k > 0; k--) ms += plain();
        for (let k = draws(r.prod.TransactWriteItems); k > 0; k--) ms += tx();
        sims.push(ms);
      }
      p99Cache.set(key, pct(sims, 99));
    }
    return p99Cache.get(key)!;
  };
  const gbS = (ms: number, mb: number) => (ms / 1000) * (mb / 1024);

  // docs/cost.md "One pod lifecycle": 8 api calls (POST pod, 4 Events, status patch, 2 DELETEs).
  const lifecycle: [string, number][] = [['create', 1], ['event', 4], ['status', 1], ['delete', 1], ['delete0', 1]];
  // docs/cost.md "Per node, per month": Lease and resync every 10 s, GET node every 30 s, the
  // status PATCH when it changed or every 5 minutes (node-agent/agent.ts patchNodeStatus).
  const nodeMonth: [string, number][] = [['lease', 259_200], ['resync', 259_200], ['getNode', 86_400], ['nodeStatus', 8_640]];

  const out: string[] = [];
  const load = loadavg().map((l) => l.toFixed(2)).join(', ');
  out.push(`Api request cost: ${o.requests} sequential requests per type (unless said otherwise) after a warm-up of ${o.warmup}; ${cpus().length} × ${cpus()[0]?.model ?? '?'}; load average at the end ${load}; ${((Date.now() - started) / 1000).toFixed(0)} s in all.`);
  out.push('');
  out.push('| request | sent by | DynamoDB calls per request (bench) | modelled on AWS | wall p50 / p99 ms | **CPU ms / request** (p99) |');
  out.push('|---|---|---|---|---|---|');
  for (const r of rows) {
    out.push(`| ${r.m.label} | ${r.m.who} | ${describeCalls(r.m.calls)} | ${describeCalls(r.prod)} | ${pct(r.m.wall, 50).toFixed(1)} / ${pct(r.m.wall, 99).toFixed(1)} | **${r.m.cpuMean.toFixed(2)}** (${pct(r.m.cpu, 99).toFixed(2)}) |`);
  }
  out.push('');
  const lifeWcu = lifecycle.reduce((sum, [k, n]) => sum + n * by(k).m.wcu, 0);
  out.push(`Estimated DynamoDB write units per request (items' JSON size, 1 per started KB, ×2 in transactions): ${rows.filter((r) => r.m.wcu > 0).map((r) => `${r.m.label} ${r.m.wcu.toFixed(1)}`).join(', ')}; **one pod lifecycle's api writes (POST pod, 4 Events, status patch, 2 DELETEs): ${lifeWcu.toFixed(1)}**.`);
  out.push('');
  out.push(`One GetItem through the api's client: ${getItemCpu.toFixed(3)} ms CPU (added for each modelled read the bench did not make).`);
  out.push(`Model: duration(M) = CPU ms${o.cpuFactor !== 1 ? ` × ${o.cpuFactor}` : ''} × max(1, ${ONE_VCPU_MB}/M) + round trips × ${o.rttMs} ms (GetItem, Query, PutItem) + transactions × ${o.txRttMs} ms, billed up to the next ms; p99 of ${P99_DRAWS} simulated requests (a measured request's CPU + round trips drawn from lognormals with p99 ${o.rttP99Ms} / ${o.txRttP99Ms} ms); $${USD_PER_GB_S} per GB-s (arm64).`);
  out.push('');
  out.push(`| memory | ${rows.map((r) => r.m.label).join(' | ')} |`);
  out.push(`|---|${rows.map(() => '---').join('|')}|`);
  for (const mb of MEMORY_SIZES) {
    out.push(`| ${mb} MB: ms (p99) | ${rows.map((r) => `${billedMs(r, mb)} (${p99Ms(r, mb).toFixed(0)})`).join(' | ')} |`);
  }
  out.push('');
  out.push('| memory | GB-s per request: POST pod / GET pod / POST event | GB-s per lifecycle (8 api calls) | $ per million lifecycles (duration) | api per node-month (duration) | p99 of GET pod / POST pod / POST event |');
  out.push('|---|---|---|---|---|---|');
  for (const mb of MEMORY_SIZES) {
    const life = lifecycle.reduce((s, [k, n]) => s + n * gbS(billedMs(by(k), mb), mb), 0);
    const month = nodeMonth.reduce((s, [k, n]) => s + n * gbS(billedMs(by(k), mb), mb), 0);
    out.push(
      `| ${mb} MB | ${['create', 'get', 'event'].map((k) => gbS(billedMs(by(k), mb), mb).toFixed(4)).join(' / ')} | ${life.toFixed(3)} | $${(life * 1e6 * USD_PER_GB_S).toFixed(2)} | $${(month * USD_PER_GB_S).toFixed(2)} | ${['get', 'create', 'event'].map((k) => p99Ms(by(k), mb).toFixed(0)).join(' / ')} ms |`,
    );
  }
  return out.join('\n');
}

const P99_DRAWS = 20_000;

/** A small seeded PRNG (mulberry32): uniform in [0, 1). */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Draws from the lognormal with this mean and 99th percentile: with ln X ~ N(mu, s²),
 * mean = e^(mu + s²/2) and p99 = e^(mu + 2.326 s), so s solves s²/2 − 2.326 s + ln(p99/mean) = 0.
 */
function lognormal(rng: () => number, mean: number, p99: number): () => number {
  const z99 = 2.326;
  const r = Math.log(p99 / mean);
  if (r <= 0 || z99 * z99 < 2 * r) throw new Error(`no lognormal has mean ${mean} and p99 ${p99}: the p99 must be 1-14.9 times the mean`);
  const s = z99 - Math.sqrt(z99 * z99 - 2 * r);
  const mu = Math.log(mean) - (s * s) / 2;
  return () => {
    const u = 1 - rng(); // (0, 1]
    const normal = Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rng());
    return Math.exp(mu + s * normal);
  };
}

// ---------------------------------------------------------------------------------------------

const positive = (name: string) => (v: string) => {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`${name} must be a positive number`);
  return n;
};

const program = new Command('bench:api-cost')
  .description(
    'Measures what one api request costs (CPU ms, wall ms, DynamoDB calls) by calling the api handler in-process against DynamoDB Local, ' +
      'for the requests of one pod lifecycle and of a node\'s loop, and models Lambda duration, GB-s and $ at 512-1,769 MB. ' +
      'Prints markdown tables on stdout, progress on stderr.',
  )
  .option('-n, --requests <n>', 'sequential requests measured per request type', positive('requests'), 300)
  .option('-w, --warmup <n>', 'requests of the warm-up (whole lifecycles of every type)', positive('warmup'), 300)
  .option('--rtt-ms <ms>', 'assumed in-region DynamoDB round trip of a GetItem, Query or PutItem (average)', positive('rtt-ms'), 5)
  .option('--tx-rtt-ms <ms>', 'assumed round trip of a TransactWriteItems (average)', positive('tx-rtt-ms'), 10)
  .option('--rtt-p99-ms <ms>', 'assumed p99 of one GetItem, Query or PutItem round trip', positive('rtt-p99-ms'), 12)
  .option('--tx-rtt-p99-ms <ms>', 'assumed p99 of one TransactWriteItems round trip', positive('tx-rtt-p99-ms'), 25)
  .option('--cpu-factor <x>', "Lambda's CPU time per CPU ms measured here (e.g. 1.3 if a Lambda vCPU is 30% slower than this machine's core)", positive('cpu-factor'), 1)
  .action(async (o: Options) => {
    // Fail before the run, not after it, on a p99 no lognormal has.
    lognormal(Math.random, o.rttMs, o.rttP99Ms);
    lognormal(Math.random, o.txRttMs, o.txRttP99Ms);
    await main({ ...o, requests: Math.round(o.requests), warmup: Math.round(o.warmup) });
  });

program.parseAsync(process.argv).then(
  () => process.exit(0),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
