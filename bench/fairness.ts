/**
 * Fairness under a flood (run by hand: `npm run bench:fairness`, `-- --help`; figures go to
 * BENCHMARKS.md): does one tenant flooding the API at 10x its rate limit slow another tenant down?
 *
 * Two clusters through the local HTTPS Function URL. This process runs the local stack (the api
 * in instances of its own, STRATUS_API_INSTANCES, whose CPU is counted with this process's;
 * DynamoDB Local in memory is another process); the two clients run in
 * processes of their own (bench/fairness-client.ts; keep-alive connections, as client-go's), as
 * they would on AWS, where clients are elsewhere (`--in-process` puts them back in this process,
 * as the bench did before). The quiet tenant GETs one ConfigMap open-loop at BENCH_QUIET_RATE
 * req/s (default 40: within its default limits, 100 per cluster and 50 per user). Phases, each
 * BENCH_SECONDS long (default 10):
 *
 *   - alone, at its limit, and flooded: the noisy tenant (rate limit BENCH_LIMIT req/s, default
 *     50, per user too) GETs open-loop at its limit (50 req/s), then at 10x that (500 req/s), most
 *     refused with 429 — alternating, for BENCH_ROUNDS rounds (default 4), so the machine's load
 *     drifts over all alike. "At its limit" is what the noisy tenant may use; the flood's excess
 *     over it is what the limit must make harmless;
 *   - floor (in each round, unless --no-floor): the same flood sent to a bare HTTPS server in a
 *     process of its own that answers every request 429 (bench/fairness-floor-server.ts), while
 *     the quiet tenant GETs from Stratus as before. What the quiet p99 loses then is what the
 *     flood costs it on this machine by existing (its client's CPU and a minimal front's on the
 *     same 2 cores), the floor no server design can go under here; "vs floor" is Stratus' part;
 *   - last, the same flood with the noisy tenant's limit lifted (0), for comparison.
 *
 * For each kind of phase: the quiet tenant's GET p50/p99, the flood's sent/admitted/refused, and
 * this process's (the server's) CPU time and event-loop delay. The goal (issue #16): the limited
 * flood raises the quiet tenant's p99 by at most 20%. Progress to stderr, markdown to stdout.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { startLocalStack } from '../infra/local/stack';
import { makeClient, runClient, type ClientResult, type Run as ClientRun, type Setup as ClientSetup } from './fairness-client';
import { call, pct } from './lib';
import { partitionKey, sortKey } from '../shared/store/keys';

const HELP = `bench/fairness.ts: a quiet tenant's GET latency alone and while another tenant floods at 10x its rate limit.
Usage: npm run bench:fairness [-- [--nice-flood] [--in-process] [--handler-cost] [--help]]
  --nice-flood   run the flood's client under nice -n 19 (the flood's CPU is another machine's on AWS)
  --in-process   both clients in the server's process (how the bench ran before 2026-12-07)
  --handler-cost instead: the api handler's CPU per refused (429) and admitted (200) GET, called
                 in-process without the HTTPS front (bench/fairness-cost.ts; BENCH_BLOCK, BENCH_BLOCKS)
  --no-floor     leave out the floor phase (the same flood sent to a bare 429 server instead)
  --trace        the api instances trace every request (STRATUS_TRACE_REQUESTS); prints where
                 the quiet tenant's slow GETs of the flooded phase spent their time
  --no-unlimited leave out the last phase (the flood with the noisy tenant's limit lifted)
  --no-store-probe  leave out the store probe (a process of its own reading the quiet tenant's
                 ConfigMap item straight from DynamoDB Local at the quiet rate, in every phase:
                 the store's latency with no api instance in the way)
Environment:
  BENCH_SECONDS     length of each phase, default 10
  BENCH_ROUNDS      alternating rounds of (alone, at its limit, flooded, floor), default 4
  BENCH_LIMIT       the noisy tenant's rate limit (cluster and user), default 50; it floods at 10x
  BENCH_QUIET_RATE  the quiet tenant's GETs per second, default 40
  STRATUS_API_INSTANCES  api instances, each a process of its own (infra/local/http-instances.ts;
                    default 2); 0 = the api in this process, one event loop (as before 2026-12-07)`;

if (process.argv.includes('--help') || process.argv.includes('-h')) {
  console.log(HELP);
  process.exit(0);
}

const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 4);
const LIMIT = Number(process.env.BENCH_LIMIT ?? 50);
const QUIET_RATE = Number(process.env.BENCH_QUIET_RATE ?? 40);
const NICE_FLOOD = process.argv.includes('--nice-flood');
const IN_PROCESS = process.argv.includes('--in-process');
const FLOOR = !process.argv.includes('--no-floor');
const TRACE = process.argv.includes('--trace');
const STORE_PROBE = !process.argv.includes('--no-store-probe');
const UNLIMITED = !process.argv.includes('--no-unlimited');
/** The flood's requests in flight at most (an open loop must not grow without bound if the server slows down). */
const FLOOD_MAX_IN_FLIGHT = 256;
const PROBE = '/api/v1/namespaces/default/configmaps/probe';

const progress = (s: string) => process.stderr.write(`[fairness ${new Date().toISOString().slice(11, 19)}] ${s}\n`);

/** What a client is set up with, and what one run asks of it (bench/fairness-client.ts). */
type Setup = Omit<ClientSetup, 'kind'>;
type RunArgs = Omit<ClientRun, 'kind'>;
/** A client, in a child process or in this one. */
interface Runner {
  run(r: RunArgs): Promise<ClientResult>;
  stop(): Promise<void>;
}

function inProcess(setup: Setup): Runner {
  const c = makeClient(setup);
  return { run: (r) => runClient(c, r), stop: async () => c.agent.destroy() };
}

async function childProcess(setup: Setup, nice: boolean): Promise<Runner> {
  const args = ['--import', 'tsx', fileURLToPath(new URL('./fairness-client.ts', import.meta.url))];
  const child: ChildProcess = nice
    ? spawn('nice', ['-n', '19', process.execPath, ...args], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], env: { ...process.env, STRATUS_BENCH_CLIENT: '1' } })
    : spawn(process.execPath, args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], env: { ...process.env, STRATUS_BENCH_CLIENT: '1' } });
  const next = <T>(kind: string) =>
    new Promise<T>((resolve, reject) => {
      const onMessage = (m: { kind: string }) => {
        if (m.kind !== kind) return;
        child.off('message', onMessage);
        child.off('exit', onExit);
        resolve(m as T);
      };
      const onExit = (code: number | null) => reject(new Error(`fairness client exited (${code})`));
      child.on('message', onMessage);
      child.once('exit', onExit);
    });
  const ready = next('ready');
  child.send({ kind: 'setup', ...setup });
  await ready;
  return {
    run: (r) => {
      const result = next<ClientResult>('result');
      child.send({ kind: 'run', ...r });
      return result;
    },
    stop: async () => {
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.disconnect();
      await exited;
    },
  };
}

/** The floor's bare 429 server (bench/fairness-floor-server.ts), in a process of its own. */
async function floorServer(): Promise<{ base: string; ca: string; pid: number; stop(): Promise<void> }> {
  const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('./fairness-floor-server.ts', import.meta.url))], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const listening = await new Promise<{ port: number; ca: string }>((resolve, reject) => {
    child.once('message', (m: { kind: string; port: number; ca: string }) => (m.kind === 'listening' ? resolve(m) : reject(new Error(`floor server: ${m.kind}`))));
    child.once('exit', (code) => reject(new Error(`floor server exited (${code})`)));
    child.send({ kind: 'start' });
  });
  return {
    base: `https://127.0.0.1:${listening.port}`,
    ca: listening.ca,
    pid: child.pid!,
    stop: async () => {
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.disconnect();
      await exited;
    },
  };
}

interface Phase {
  quiet: number[];
  quietErrors: number;
  sent: number;
  admitted: number;
  refused: number;
  skipped: number;
  floodErrors: number;
  seconds: number;
  /** This process's CPU time (user + system), ms. */
  cpuMs: number;
  /** CPU time of the api instances in the phase, ms (0 when the api runs in this process). */
  instancesCpuMs: number;
  /** CPU time of the floor's bare server in the phase, ms. */
  floorCpuMs: number;
  /** CPU time of DynamoDB Local (Java) in the phase, ms: shared by both tenants' requests. */
  dynamoCpuMs: number;
  /** Event-loop delay samples' p99 of each phase, ms. */
  loopP99: number[];
  /** Each round's quiet p99, ms. */
  roundP99: number[];
  /** The quiet client's errors by kind. */
  errorKinds: Record<string, number>;
  /** The quiet GETs' latencies (ms) and when they were sent (epoch ms), pairwise. */
  quietSentAt: number[];
  /** When the flood's admitted answers arrived (epoch ms). */
  floodAdmittedAt: number[];
  /** The quiet GETs' x-trace-ids, pairwise with `quiet`. */
  quietIds: string[];
  /** The store probe's reads' latencies, ms, and each round's p99. */
  store: number[];
  storeRoundP99: number[];
}
/** This process's children whose command line contains `match`. */
function instancePids(match = 'http-instance-worker'): number[] {
  const pids: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === process.pid && readFileSync(`/proc/${d}/cmdline`, 'utf8').includes(match)) pids.push(Number(d));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

/** CPU time (user + system) of these processes, ms (Linux /proc; clock ticks of 10 ms). */
function cpuMsOf(pids: readonly number[]): number {
  let ticks = 0;
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(f[11]) + Number(f[12]);
    } catch {
      // gone
    }
  }
  return ticks * 10;
}

const emptyPhase = (): Phase => ({ quiet: [], quietErrors: 0, sent: 0, admitted: 0, refused: 0, skipped: 0, floodErrors: 0, seconds: 0, cpuMs: 0, instancesCpuMs: 0, floorCpuMs: 0, dynamoCpuMs: 0, loopP99: [], roundP99: [], errorKinds: {}, quietSentAt: [], floodAdmittedAt: [], quietIds: [], store: [], storeRoundP99: [] });

interface TraceLine {
  id?: string;
  path?: string;
  at: number;
  ms: number;
  status: number;
  busy: number;
  lag: number;
  dynamoMs?: number;
  calls?: string[];
  /** Garbage collection and event-loop stalls (a timer more than 5 ms late) in the instance during the request, ms. */
  gcMs?: number;
  stallMs?: number;
  /** The instance's CPU time in those stalls, ms (near stallMs: busy; near 0: not scheduled). */
  stallCpuMs?: number;
  pid: number;
}

/**
 * Where the quiet tenant's slow GETs spent their time (--trace): for each phase, of the quiet GETs
 * slower than `slow` ms, the median time the server took from the request's arrival to its answer
 * (the rest is outside: TLS, the socket, the client), the requests in progress at arrival, the
 * loop's lag and the noisy tenant's requests that arrived at the same instance in the 20 ms before.
 */
function printTrace(file: string, rows: [string, Phase][], slow: number): void {
  const lines = readFileSync(file, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as TraceLine);
  const byId = new Map(lines.filter((l) => l.id).map((l) => [l.id!, l]));
  const noisyAt = new Map<number, number[]>();
  for (const l of lines) if (l.path?.startsWith('/clusters/noisy/')) (noisyAt.get(l.pid) ?? noisyAt.set(l.pid, []).get(l.pid)!).push(l.at);
  for (const v of noisyAt.values()) v.sort((a, b) => a - b);
  const countIn = (pid: number, from: number, to: number) => (noisyAt.get(pid) ?? []).filter((t) => t >= from && t < to).length;
  const med = (xs: number[]) => (xs.length ? pct(xs, 50) : NaN);
  console.log(`\ntrace (${lines.length} requests): quiet GETs slower than ${slow.toFixed(1)} ms, medians`);
  console.log('| phase | slow | client ms | server ms | of which DynamoDB ms | outside ms | in progress at arrival | loop lag ms | noisy arrivals same instance, 20 ms before | GC ms during | loop stalled ms during | of it on CPU | all quiet: server ms p99 | outside ms p99 | DynamoDB ms p99 |');
  console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const [name, p] of rows) {
    const slowOnes: { client: number; t: TraceLine }[] = [];
    const server: number[] = [];
    const outside: number[] = [];
    const dyn: number[] = [];
    p.quiet.forEach((ms, i) => {
      const t = byId.get(p.quietIds[i]!);
      if (!t) return;
      server.push(t.ms);
      dyn.push(t.dynamoMs ?? 0);
      outside.push(ms - t.ms);
      if (ms > slow) slowOnes.push({ client: ms, t });
    });
    console.log(
      `| ${name} | ${slowOnes.length} | ${med(slowOnes.map((s) => s.client)).toFixed(1)} | ${med(slowOnes.map((s) => s.t.ms)).toFixed(1)} | ${med(slowOnes.map((s) => s.t.dynamoMs ?? 0)).toFixed(1)} | ${med(slowOnes.map((s) => s.client - s.t.ms)).toFixed(1)} | ${med(slowOnes.map((s) => s.t.busy)).toFixed(0)} | ${med(slowOnes.map((s) => s.t.lag)).toFixed(1)} | ${med(slowOnes.map((s) => countIn(s.t.pid, s.t.at - 20, s.t.at))).toFixed(0)} | ${med(slowOnes.map((s) => s.t.gcMs ?? 0)).toFixed(1)} | ${med(slowOnes.map((s) => s.t.stallMs ?? 0)).toFixed(1)} | ${med(slowOnes.map((s) => s.t.stallCpuMs ?? 0)).toFixed(1)} | ${server.length ? pct(server, 99).toFixed(1) : '-'} | ${outside.length ? pct(outside, 99).toFixed(1) : '-'} | ${dyn.length ? pct(dyn, 99).toFixed(1) : '-'} |`,
    );
  }
  // The slowest quiet GETs of the flooded phase, one by one.
  const flooded = rows.find(([n]) => n.includes('10x'))?.[1];
  if (!flooded) return;
  const worst = flooded.quiet.map((ms, i) => ({ ms, t: byId.get(flooded.quietIds[i]!) })).sort((a, b) => b.ms - a.ms).slice(0, 12);
  console.log('\nslowest quiet GETs, flooded: client ms / server ms / DynamoDB calls');
  for (const w of worst) console.log(`- ${w.ms.toFixed(1)} / ${w.t?.ms.toFixed(1) ?? '?'} / ${w.t?.calls?.join(' ') ?? '?'} (in progress ${w.t?.busy ?? '?'}, lag ${w.t?.lag.toFixed(1) ?? '?'}, GC ${w.t?.gcMs?.toFixed(1) ?? '?'} ms, loop stalled ${w.t?.stallMs?.toFixed(1) ?? '?'} ms, ${w.t?.stallCpuMs?.toFixed(1) ?? '?'} of it on CPU)`);
}

async function main(): Promise<void> {
  const stateDir = mkdtempSync(join(tmpdir(), 'stratus-bench-fairness-'));
  const traceFile = join(stateDir, 'trace.jsonl');
  if (TRACE) process.env.STRATUS_TRACE_REQUESTS = traceFile;
  const stack = await startLocalStack({ stateDir, log: (s) => progress(s) });
  const runners: Runner[] = [];
  try {
    const cluster = async (name: string, spec: Record<string, unknown>) => {
      const res = await call(stack.apiUrl, stack.caCert, stack.operatorToken, 'POST', '/stratus/v1/clusters', { metadata: { name }, spec });
      if (res.status !== 201) throw new Error(`create ${name}: ${res.status} ${JSON.stringify(res.body)}`);
      const token = (res.body as { credentials: { token: string } }).credentials.token;
      const cm = await call(`${stack.apiUrl}/clusters/${name}`, stack.caCert, token, 'POST', '/api/v1/namespaces/default/configmaps', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'probe' }, data: { k: 'v' } });
      if (cm.status !== 201) throw new Error(`configmap in ${name}: ${cm.status}`);
      return { base: `${stack.apiUrl}/clusters/${name}`, ca: stack.caCert, token, path: PROBE };
    };
    // The quiet tenant keeps the default limits (100 req/s, 50 per user) and stays below them.
    const quietSetup = { ...(await cluster('quiet', {})), maxSockets: 4 };
    const noisySetup = { ...(await cluster('noisy', { rateLimit: LIMIT, userRateLimit: LIMIT })), maxSockets: 64 };
    const setNoisyLimit = async (n: number) => {
      const r = await call(stack.apiUrl, stack.caCert, stack.operatorToken, 'PATCH', '/stratus/v1/clusters/noisy', { spec: { rateLimit: n, userRateLimit: n } }, 'application/merge-patch+json');
      if (r.status !== 200) throw new Error(`set limit: ${r.status} ${JSON.stringify(r.body)}`);
      // Each instance caches a cluster's limits for 10 s; the one that served the PATCH forgot them.
    };
    const quiet = IN_PROCESS ? inProcess(quietSetup) : await childProcess(quietSetup, false);
    runners.push(quiet);
    const noisy = IN_PROCESS ? inProcess(noisySetup) : await childProcess(noisySetup, NICE_FLOOD);
    runners.push(noisy);
    const floor = FLOOR ? await floorServer() : undefined;
    if (floor) runners.push({ run: () => Promise.reject(new Error('not a client')), stop: () => floor.stop() });
    const floodFloor = floor ? await childProcess({ ...noisySetup, base: floor.base, ca: floor.ca }, NICE_FLOOD) : undefined;
    if (floodFloor) runners.push(floodFloor);
    // The store probe: the quiet tenant's ConfigMap item, read as the api reads it.
    const storeKey = { pk: partitionKey('quiet', { group: '', resource: 'configmaps' }), sk: sortKey('default', 'probe') };
    const storeProbe = STORE_PROBE ? await childProcess({ base: '', ca: '', token: '', path: '', maxSockets: 1, store: { env: stack.env, key: storeKey } }, false) : undefined;
    if (storeProbe) runners.push(storeProbe);
    progress(`clients ${IN_PROCESS ? 'in this process' : `in their own processes${NICE_FLOOD ? ' (the flood under nice -n 19)' : ''}`}`);

    const instances = instancePids();
    const dynamo = instancePids('DynamoDBLocal.jar');
    progress(instances.length ? `api instances: pids ${instances.join(', ')}` : 'the api in this process');
    const loop = monitorEventLoopDelay({ resolution: 5 });
    const runPhase = async (into: Phase, name: string, flood: boolean | Runner, seconds = SECONDS, floodRate = LIMIT * 10): Promise<void> => {
      const flooder = flood === true ? noisy : flood || undefined;
      progress(`phase: ${name} (${seconds} s, load average ${loadavg()[0]!.toFixed(1)})`);
      loop.reset();
      loop.enable();
      const cpu0 = process.cpuUsage();
      const inst0 = cpuMsOf(instances);
      const dynamo0 = cpuMsOf(dynamo);
      const floor0 = floor ? cpuMsOf([floor.pid]) : 0;
      // CPU and event-loop delay are taken when the quiet client is done (the phase's seconds),
      // not after the flood's queued requests have drained (with the held connections, seconds more).
      let cpu = { user: 0, system: 0 };
      const quietDone = quiet.run({ seconds, rate: QUIET_RATE, maxInFlight: FLOOD_MAX_IN_FLIGHT }).then((r) => {
        cpu = process.cpuUsage(cpu0);
        loop.disable();
        into.instancesCpuMs += cpuMsOf(instances) - inst0;
        into.dynamoCpuMs += cpuMsOf(dynamo) - dynamo0;
        if (floor) into.floorCpuMs += cpuMsOf([floor.pid]) - floor0;
        into.loopP99.push(loop.percentile(99) / 1e6);
        return r;
      });
      const [q, f, st] = await Promise.all([quietDone, flooder?.run({ seconds, rate: floodRate, maxInFlight: FLOOD_MAX_IN_FLIGHT }), storeProbe?.run({ seconds, rate: QUIET_RATE, maxInFlight: FLOOD_MAX_IN_FLIGHT })]);
      if (st) {
        if (st.errors || st.refused) throw new Error(`store probe: ${JSON.stringify(st.errorKinds)}`);
        into.store.push(...st.latencies);
        into.storeRoundP99.push(pct(st.latencies, 99));
      }
      into.cpuMs += (cpu.user + cpu.system) / 1000;
      into.seconds += seconds;
      into.quiet.push(...q.latencies);
      into.quietSentAt.push(...q.sentAt);
      into.quietIds.push(...q.traceIds);
      if (f) into.floodAdmittedAt.push(...f.admittedAt);
      into.roundP99.push(pct(q.latencies, 99));
      into.quietErrors += q.errors + q.refused;
      for (const [k, n] of Object.entries({ ...q.errorKinds, ...(q.refused ? { '429': q.refused } : {}) })) into.errorKinds[k] = (into.errorKinds[k] ?? 0) + n;
      if (f) {
        into.sent += f.sent;
        into.admitted += f.admitted;
        into.refused += f.refused;
        into.skipped += f.skipped;
        into.floodErrors += f.errors;
      }
    };
    const settle = () => new Promise((r) => setTimeout(r, 1000));

    // Warm-up: both tenants' first requests (token lookups, caches, JIT, connections).
    await runPhase(emptyPhase(), 'warm-up', true, 5);
    if (floodFloor) await runPhase(emptyPhase(), 'warm-up of the floor', floodFloor, 2);
    await settle();
    const alone = emptyPhase();
    const atLimit = emptyPhase();
    const flooded = emptyPhase();
    const floored = emptyPhase();
    for (let round = 1; round <= ROUNDS; round++) {
      await runPhase(alone, `round ${round}/${ROUNDS}: quiet tenant alone`, false);
      await settle();
      await runPhase(atLimit, `round ${round}/${ROUNDS}: noisy tenant at its limit`, true, SECONDS, LIMIT);
      await settle();
      await runPhase(flooded, `round ${round}/${ROUNDS}: noisy tenant at 10x its limit`, true);
      await settle();
      if (floodFloor) {
        await runPhase(floored, `round ${round}/${ROUNDS}: floor (the same flood at a bare 429 server)`, floodFloor);
        await settle();
      }
    }
    const unlimited = emptyPhase();
    if (UNLIMITED) {
      await setNoisyLimit(0);
      await settle();
      // The PATCH made one instance forget the old limits; the others keep them up to 10 s.
      if (instances.length > 1) await new Promise((r) => setTimeout(r, 10_000));
      await runPhase(unlimited, 'the same flood, noisy tenant unlimited', true);
    }

    const base = pct(alone.quiet, 99);
    const rows: [string, Phase][] = [
      ['quiet tenant alone', alone],
      [`noisy tenant at its limit (${LIMIT} req/s)`, atLimit],
      [`noisy tenant at 10x its limit (${LIMIT * 10} vs ${LIMIT} req/s)`, flooded],
      ...(floodFloor ? [['floor: the same flood at a bare 429 server (its own process)', floored] as [string, Phase]] : []),
      ...(UNLIMITED ? [['the same flood, noisy tenant unlimited', unlimited] as [string, Phase]] : []),
    ];
    const cpuPerSecond = (p: Phase) => (p.cpuMs + p.instancesCpuMs + p.floorCpuMs) / p.seconds;
    console.log(`api: ${instances.length ? `${instances.length} instances (processes)` : 'in the stack process'}; `);
    console.log(`clients: ${IN_PROCESS ? "in the server's process" : `own processes${NICE_FLOOD ? ', flood under nice -n 19' : ''}`}; ${ROUNDS} rounds of ${SECONDS} s; load average at the end ${loadavg().map((x) => x.toFixed(1)).join(' / ')}\n`);
    console.log(`| phase | quiet GETs | quiet p50 ms | quiet p99 ms | p99 vs alone | quiet errors | flood sent (req/s) | admitted | refused 429 | not sent (cap) | server CPU ms/s | of which api instances | server µs per flood request | stack process event-loop delay p99 ms | DynamoDB Local CPU ms/s |`);
    console.log(`|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|`);
    for (const [name, p] of rows) {
      const p99 = pct(p.quiet, 99);
      const perFlood = p === alone || p === atLimit || !p.sent ? '-' : (((cpuPerSecond(p) - cpuPerSecond(alone)) * 1000) / (p.sent / p.seconds)).toFixed(0);
      console.log(
        `| ${name} | ${p.quiet.length} | ${pct(p.quiet, 50).toFixed(1)} | ${p99.toFixed(1)} | ${p === alone ? '-' : `${p99 >= base ? '+' : ''}${(((p99 - base) / base) * 100).toFixed(0)}%`} | ${p.quietErrors} | ${p.sent} (${(p.sent / p.seconds).toFixed(0)}) | ${p.admitted} | ${p.refused} | ${p.skipped} | ${cpuPerSecond(p).toFixed(0)} | ${(p.instancesCpuMs / p.seconds).toFixed(0)} | ${perFlood} | ${Math.max(...p.loopP99).toFixed(1)} | ${(p.dynamoCpuMs / p.seconds).toFixed(0)} |`,
      );
    }
    const errs = rows.filter(([, p]) => p.quietErrors).map(([n, p]) => `${n}: ${Object.entries(p.errorKinds).map(([k, c]) => `${c}× ${k}`).join(', ')}`);
    if (errs.length) console.log(`\nquiet errors: ${errs.join('; ')}`);
    const ratio = (a: number, b: number) => `${a >= b ? '+' : ''}${(((a - b) / b) * 100).toFixed(0)}%`;
    const lp99 = pct(atLimit.quiet, 99);
    const fl99 = pct(flooded.quiet, 99);
    console.log(`\nquiet p99: alone ${base.toFixed(1)} ms; noisy tenant at its limit ${lp99.toFixed(1)} ms (${ratio(lp99, base)} vs alone); at 10x its limit ${fl99.toFixed(1)} ms (${ratio(fl99, base)} vs alone, ${ratio(fl99, lp99)} vs at its limit: what the refused excess adds)`);
    if (floodFloor) {
      const fp99 = pct(floored.quiet, 99);
      console.log(`floor (the flood at a bare 429 server): quiet p99 ${fp99.toFixed(1)} ms (${ratio(fp99, base)} vs alone: what a flood costs this machine by existing)`);
    }
    console.log(
      `per round, quiet p99 ms alone / at limit / flooded${floodFloor ? ' / floor' : ''}: ${alone.roundP99.map((a, i) => [a, atLimit.roundP99[i]!, flooded.roundP99[i]!, ...(floodFloor ? [floored.roundP99[i]!] : [])].map((x) => x.toFixed(1)).join(' / ')).join(', ')}`,
    );
    // Where in the rate limit's second (the server's fixed windows, this machine's clock) the
    // quiet tenant's slow GETs were sent, and when the flood's admitted answers came.
    const slow = base;
    console.log(`\nby 100 ms of the second (the rate limit's window): quiet GETs sent / of them slower than alone's p99 (${slow.toFixed(1)} ms) / flood's admitted answers`);
    console.log('| phase | ' + Array.from({ length: 10 }, (_, i) => `${i * 100}–${i * 100 + 99}`).join(' | ') + ' |');
    console.log('|---|' + '---:|'.repeat(10));
    for (const [name, p] of rows) {
      const sent = new Array<number>(10).fill(0);
      const slowIn = new Array<number>(10).fill(0);
      const adm = new Array<number>(10).fill(0);
      p.quietSentAt.forEach((t, i) => {
        const b = Math.floor((t % 1000) / 100);
        sent[b]!++;
        if (p.quiet[i]! > slow) slowIn[b]!++;
      });
      for (const t of p.floodAdmittedAt) adm[Math.floor((t % 1000) / 100)]!++;
      console.log(`| ${name} | ${sent.map((n, b) => `${n} / ${slowIn[b]} / ${adm[b]}`).join(' | ')} |`);
    }
    if (storeProbe) {
      const sBase = pct(alone.store, 99);
      console.log(`\nstore probe (a process of its own reading the quiet tenant's ConfigMap item from DynamoDB Local, ${QUIET_RATE}/s, consistent GetItem, in every phase):`);
      console.log('| phase | reads | p50 ms | p99 ms | p99 vs alone | per round p99 ms |');
      console.log('|---|---:|---:|---:|---:|---|');
      for (const [name, p] of rows) console.log(`| ${name} | ${p.store.length} | ${pct(p.store, 50).toFixed(1)} | ${pct(p.store, 99).toFixed(1)} | ${p === alone ? '-' : ratio(pct(p.store, 99), sBase)} | ${p.storeRoundP99.map((x) => x.toFixed(1)).join(', ')} |`);
    }
    if (TRACE) printTrace(traceFile, rows, base);
  } finally {
    for (const r of runners) await r.stop().catch(() => undefined);
    await stack.stop();
    if (TRACE) {
      // Kept for a closer look (one JSON line per request of each api instance).
      const kept = join(tmpdir(), `stratus-fairness-trace-${Date.now()}.jsonl`);
      copyFileSync(traceFile, kept);
      progress(`trace kept: ${kept}`);
    }
    rmSync(stateDir, { recursive: true, force: true });
  }
}

(process.argv.includes('--handler-cost') ? import('./fairness-cost').then((m) => m.handlerCost(progress)) : main()).then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
