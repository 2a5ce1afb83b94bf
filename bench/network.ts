/**
 * The network data path (issue #15; run by hand, as root with Docker and nft: `npm run
 * bench:network -- [options]`, figures go to BENCHMARKS.md). Never a test assertion.
 *
 * One local stack and TWO node agents on `--pod-network node-bridge` (nodes A and B, each its own
 * bridge, podCIDR and nft tables, as `npm start -- --nodes 2`). Servers on node A, one client pod
 * on node B. Every measuring loop is a Node program (stratus-test/node:20) run INSIDE the client
 * pod with `docker exec`, so the packets leave the pod's network namespace, cross both bridges and
 * go through the service proxy's DNAT exactly as a pod's would; the loop's own cost (a Node TCP
 * or UDP client) is in every figure.
 *
 * 1. Network programming latency. Service `lat` selects `stable` and `flip` (both on node A; a
 *    server that writes its pod name on every connection and closes). `flip` has a readiness
 *    probe `test -f /tmp/ready` (periodSeconds 1). The client polls the ClusterIP every
 *    --interval ms with --parallel connections per poll (so that a ready endpoint is hit even
 *    though the proxy picks endpoints at random) and reports when `flip`'s name first answers.
 *    Per sample: rm /tmp/ready, wait until the pod is not Ready and no poll reaches it, then touch
 *    /tmp/ready; the bench polls the pod through the API every 25 ms to see when Ready=True is
 *    stored. Figures: Ready stored → first answer through the ClusterIP (the SLI: Kubernetes'
 *    "network programming latency"), split at the EndpointSlice; the file touched → first answer
 *    (adds the probe period and the status write); and the other way, Ready=False stored → the
 *    first poll that no longer reaches flip.
 * 2. Request latency, ClusterIP vs pod IP: one request = TCP connect + read the pod's name until
 *    the server closes, a new connection each (the DNAT is decided on a connection's first
 *    packet). --requests to each, interleaved (pairs, alternating which goes first), after 200
 *    warm-up pairs. Both reach the same pod `stable` (Service `solo` has it alone).
 * 3. DNS from a pod: --dns-services Services; a UDP client in the pod keeps --dns-concurrency
 *    queries in flight to 10.96.0.10 (DNATed to node B's DNS server on its bridge gateway) for
 *    --dns-queries queries (90% Service A records, 10% NXDOMAIN names); the same client program
 *    then asks the gateway address directly, from the pod (no DNAT) and from the host.
 * Progress to stderr, markdown tables to stdout.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Command, InvalidArgumentError } from 'commander';
import Docker from 'dockerode';
import { spawnAgent, stopProcesses, type AgentProcess } from '../infra/local/agent-process';
import { startLocalStack } from '../infra/local/stack';
import { LABELS } from '../node-agent/docker-runtime';
import { gatewayOf } from '../node-agent/network/node-bridge';
import { removeBridgeNodes } from '../test/helpers/bridge-nodes';
import { ensureTestImages, TEST_IMAGES } from '../test/helpers/images';
import { call, pct } from './lib';

const positive = (v: string): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError('must be a positive integer');
  return n;
};
const PARTS = ['programming', 'requests', 'dns'] as const;
type Part = (typeof PARTS)[number];
const parts = (v: string): Part[] => {
  const xs = v.split(',').map((s) => s.trim());
  for (const x of xs) if (!(PARTS as readonly string[]).includes(x)) throw new InvalidArgumentError(`unknown part ${x} (${PARTS.join(', ')})`);
  return xs as Part[];
};

export interface NetworkBenchOptions {
  samples: number;
  interval: number;
  parallel: number;
  requests: number;
  dnsServices: number;
  dnsQueries: number;
  dnsConcurrency: number;
  only: Part[];
}

/** The command line (exported for the unit test of its parsing). */
export function networkBenchProgram(): Command {
  return new Command()
    .name('bench/network.ts')
    .description('network data path on two node-bridge nodes: programming latency, ClusterIP vs pod IP request latency, DNS from a pod (root, Docker, nft)')
    .option('--samples <n>', 'programming latency: endpoint-becomes-Ready samples', positive, 20)
    .option('--interval <ms>', 'programming latency: the client polls the ClusterIP every <ms>', positive, 25)
    .option('--parallel <n>', 'programming latency: connections per poll', positive, 8)
    .option('--requests <n>', 'request latency: requests to EACH of ClusterIP and pod IP, interleaved', positive, 10_000)
    .option('--dns-services <n>', 'DNS: Services to create and ask for', positive, 50)
    .option('--dns-queries <n>', 'DNS: queries from the pod (and again from the host)', positive, 50_000)
    .option('--dns-concurrency <n>', 'DNS: queries in flight', positive, 32)
    .option('--only <parts>', `comma-separated subset of ${PARTS.join(',')}`, parts, [...PARTS]);
}

// ---- Programs run inside the pods (node -e; argv[1..] are their arguments) ----

/** The servers: the pod's name on every connection, then close. */
export const SERVER = `require('net').createServer((s)=>{s.on('error',()=>{});s.end(require('os').hostname()+'\\n')}).listen(8080)`;

/** Polls host:port, `parallel` connections per tick; one JSON line whenever the set of answers changes. Ends when stdin closes. */
export const POLLER = `
const net=require('net');const [h,p,iv,par,want]=process.argv.slice(1);
process.stdin.on('end',()=>process.exit(0));process.stdin.resume();
const now=()=>performance.timeOrigin+performance.now();
const one=()=>new Promise((r)=>{let d='';const s=net.connect({host:h,port:+p});s.setTimeout(500,()=>{s.destroy();r('timeout')});
  s.on('data',(c)=>d+=c);s.on('end',()=>r(d.trim()||'empty'));s.on('error',(e)=>r(e.code||'error'))});
let last='';
(async()=>{for(;;){const t0=now();const rs=await Promise.all(Array.from({length:+par},one));const t=now();const hit=rs.includes(want);
  const u=[...new Set(rs)].sort();const key=JSON.stringify(u);if(key!==last){last=key;console.log(JSON.stringify({t0,t,hit,rs:u}))}
  await new Promise((r)=>setTimeout(r,Math.max(0,+iv-(t-t0))))}})();`;

/** n requests to each of a and b, interleaved; prints {a:[ms],b:[ms],names:[...]}. */
export const REQUESTS = `
const net=require('net');const [n,ah,ap,bh,bp,w]=process.argv.slice(1);
const one=(h,p)=>new Promise((res,rej)=>{const t0=process.hrtime.bigint();let d='';const s=net.connect({host:h,port:+p});
  s.on('data',(c)=>d+=c);s.on('end',()=>res([Number(process.hrtime.bigint()-t0)/1e6,d.trim()]));s.on('error',rej)});
(async()=>{const a=[],b=[],names=new Set();
  for(let i=0;i<+w;i++){await one(ah,ap);await one(bh,bp)}
  for(let i=0;i<+n;i++){
    if(i%2===0){const x=await one(ah,ap);const y=await one(bh,bp);a.push(x[0]);b.push(y[0]);names.add(x[1]);names.add(y[1])}
    else{const y=await one(bh,bp);const x=await one(ah,ap);a.push(x[0]);b.push(y[0]);names.add(x[1]);names.add(y[1])}}
  console.log(JSON.stringify({a,b,names:[...names]}))})().catch((e)=>{console.error(String(e));process.exit(1)});`;

/** total A queries to server (host[:port], port 53 by default), conc in flight; prints {seconds,answers,noerror,nxdomain,other,lost,p50,p99}. */
export const DNS = `
const dgram=require('dgram');const [srv,tot,conc,namesJ]=process.argv.slice(1);const [host,port='53']=srv.split(':');const names=JSON.parse(namesJ);
const sock=dgram.createSocket('udp4');const pend=new Map();const lat=[];const c={noerror:0,nxdomain:0,other:0,lost:0};
sock.on('message',(b)=>{const id=b.readUInt16BE(0);const q=pend.get(id);if(!q)return;pend.delete(id);clearTimeout(q.timer);
  const rc=b[3]&15;if(rc===0)c.noerror++;else if(rc===3)c.nxdomain++;else c.other++;lat.push(Number(process.hrtime.bigint()-q.t)/1e6);q.res()});
const query=(name,id)=>{const labels=name.split('.');const parts=[Buffer.from([id>>8,id&255,1,0,0,1,0,0,0,0,0,0])];
  for(const l of labels){parts.push(Buffer.from([l.length]),Buffer.from(l))}parts.push(Buffer.from([0,0,1,0,1]));return Buffer.concat(parts)};
let sent=0,nextId=0;
const one=()=>new Promise((res)=>{let id;do{id=nextId++&65535}while(pend.has(id));
  const timer=setTimeout(()=>{pend.delete(id);c.lost++;res()},2000);pend.set(id,{t:process.hrtime.bigint(),res,timer});
  sock.send(query(names[Math.floor(Math.random()*names.length)],id),+port,host)});
const worker=async()=>{while(sent<+tot){sent++;await one()}};
const pc=(xs,p)=>xs.length?xs[Math.min(xs.length-1,Math.ceil(p/100*xs.length)-1)]:NaN;
(async()=>{const t0=process.hrtime.bigint();await Promise.all(Array.from({length:+conc},worker));const seconds=Number(process.hrtime.bigint()-t0)/1e9;
  lat.sort((x,y)=>x-y);console.log(JSON.stringify({seconds,answers:lat.length,...c,p50:pc(lat,50),p99:pc(lat,99)}));sock.close()})();`;

// ---- The cluster ----

interface Cluster {
  api: (method: string, path: string, body?: unknown) => Promise<{ status: number; body: any }>;
  nodes: [string, string];
  cidrs: Record<string, string>;
  /** Each node agent's log file. */
  logs: Record<string, string>;
}

const progress = (s: string) => process.stderr.write(`${s}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const docker = new Docker();

async function until<T>(what: string, ms: number, f: () => Promise<T | undefined>, every = 200): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await sleep(every);
  }
}

/** A local stack with two node-bridge agents; everything made is removed afterwards. */
async function withTwoNodes<T>(fn: (c: Cluster) => Promise<T>): Promise<T> {
  const stateDir = mkdtempSync(join(tmpdir(), 'stratus-netbench-'));
  progress(`starting the local stack in ${stateDir}`);
  ensureTestImages();
  const stack = await startLocalStack({ stateDir });
  const caFile = join(stateDir, 'ca.crt');
  writeFileSync(caFile, stack.caCert);
  const base = `${stack.apiUrl}/clusters/default`;
  const api: Cluster['api'] = (method, path, body) => call(base, stack.caCert, stack.adminToken, method, path, body);
  const suffix = Math.random().toString(36).slice(2, 7);
  const nodes: [string, string] = [`netbench-a-${suffix}`, `netbench-b-${suffix}`];
  const rootDir = join(stateDir, 'agent-root');
  const agents: AgentProcess[] = [];
  const cidrs: Record<string, string> = {};
  const logs: Record<string, string> = {};
  try {
    for (const name of nodes) {
      progress(`starting node agent ${name} (log ${join(stateDir, `agent-${name}.log`)})`);
      logs[name] = join(stateDir, `agent-${name}.log`);
      agents.push(spawnAgent({ server: base, name, caFile, joinToken: stack.joinToken, env: stack.env, rootDir, resyncSeconds: 5, podNetwork: 'node-bridge', logFile: logs[name], logFlags: 'w' }));
    }
    for (const name of nodes) {
      cidrs[name] = await until(`node ${name} Ready`, 120_000, async () => {
        const r = await api('GET', `/api/v1/nodes/${name}`);
        const ready = r.body?.status?.conditions?.some((c: { type: string; status: string }) => c.type === 'Ready' && c.status === 'True');
        return r.status === 200 && ready && r.body.spec?.podCIDR ? (r.body.spec.podCIDR as string) : undefined;
      });
    }
    progress(`nodes ${nodes.map((n) => `${n} (${cidrs[n]})`).join(', ')} Ready`);
    return await fn({ api, nodes, cidrs, logs });
  } finally {
    progress('cleaning up');
    await stopProcesses(agents);
    await removeBridgeNodes(docker, nodes, Object.values(cidrs));
    await stack.stop();
    rmSync(rootDir, { recursive: true, force: true });
    progress(`agent logs kept in ${stateDir}`);
  }
}

interface PodInfo {
  uid: string;
  ip: string;
  container: string;
}

async function runPod(c: Cluster, name: string, node: string, labels: Record<string, string>, container: Record<string, unknown>): Promise<PodInfo> {
  const r = await c.api('POST', '/api/v1/namespaces/default/pods', {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, labels },
    spec: { nodeName: node, terminationGracePeriodSeconds: 1, containers: [{ name: 'main', image: TEST_IMAGES.node, imagePullPolicy: 'Never', ...container }] },
  });
  if (r.status !== 201) throw new Error(`create pod ${name}: ${r.status} ${JSON.stringify(r.body)}`);
  const { uid, ip } = await until(`pod ${name} Running`, 180_000, async () => {
    const p = (await c.api('GET', `/api/v1/namespaces/default/pods/${name}`)).body;
    return p?.status?.phase === 'Running' && p.status.podIP ? { uid: p.metadata.uid as string, ip: p.status.podIP as string } : undefined;
  });
  const [ct] = await docker.listContainers({ filters: { label: [`${LABELS.podUid}=${uid}`, `${LABELS.containerName}=main`] } });
  if (!ct) throw new Error(`no main container for pod ${name}`);
  return { uid, ip, container: ct.Id };
}

async function service(c: Cluster, name: string, selector: Record<string, string>): Promise<string> {
  const r = await c.api('POST', '/api/v1/namespaces/default/services', {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name },
    spec: { ...(Object.keys(selector).length ? { selector } : {}), ports: [{ port: 80, targetPort: 8080 }] },
  });
  if (r.status !== 201) throw new Error(`create service ${name}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body.spec.clusterIP as string;
}

/** Runs `node -e program args` in a container; its stdout whole. */
function execNode(container: string, program: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const p = spawn('docker', ['exec', container, 'node', '-e', program, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    p.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`docker exec exited ${code}: ${err}`))));
  });
}

async function dockerExec(container: string, cmd: string[]): Promise<void> {
  const exec = await docker.getContainer(container).exec({ Cmd: cmd, AttachStdout: true, AttachStderr: true });
  const stream = await exec.start({});
  stream.resume();
  await new Promise((r) => stream.on('end', r));
}

// ---- 1. Programming latency ----

async function sliceReady(c: Cluster, svc: string, ip: string): Promise<boolean> {
  const r = await c.api('GET', `/apis/discovery.k8s.io/v1/namespaces/default/endpointslices?labelSelector=${encodeURIComponent(`kubernetes.io/service-name=${svc}`)}`);
  const items = (r.body?.items ?? []) as Array<{ endpoints?: Array<{ addresses: string[]; conditions?: { ready?: boolean } }> }>;
  return items.some((s) => (s.endpoints ?? []).some((e) => e.addresses.includes(ip) && e.conditions?.ready === true));
}

interface PollEvent {
  t0: number;
  t: number;
  hit: boolean;
  rs: string[];
}

class Poller {
  private proc: ChildProcess;
  state: PollEvent | undefined;
  private waiters: Array<() => void> = [];
  constructor(container: string, host: string, port: number, interval: number, parallel: number, want: string) {
    this.proc = spawn('docker', ['exec', '-i', container, 'node', '-e', POLLER, host, String(port), String(interval), String(parallel), want], { stdio: ['pipe', 'pipe', 'inherit'] });
    createInterface({ input: this.proc.stdout! }).on('line', (line) => {
      this.state = JSON.parse(line) as PollEvent;
      for (const w of this.waiters.splice(0)) w();
    });
  }
  async waitFor(hit: boolean, ms: number): Promise<PollEvent> {
    const deadline = Date.now() + ms;
    while (this.state?.hit !== hit) {
      if (Date.now() > deadline) throw new Error(`poller: no ${hit ? 'hit' : 'miss'} within ${ms} ms (last ${JSON.stringify(this.state)})`);
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, 200);
      });
    }
    return this.state;
  }
  stop(): void {
    this.proc.stdin!.end();
  }
}

async function podReady(c: Cluster, name: string): Promise<boolean> {
  const p = (await c.api('GET', `/api/v1/namespaces/default/pods/${name}`)).body;
  return !!p?.status?.conditions?.some((x: { type: string; status: string }) => x.type === 'Ready' && x.status === 'True');
}

/**
 * The `ms` of the service proxy's "rules changed" log lines (its nft transaction) of a node agent
 * since `since` (ms since the epoch); best effort: none when the agent logs otherwise.
 */
export function nftTransactionMs(log: string, since: number): number[] {
  const out: number[] = [];
  for (const line of log.split('\n')) {
    if (!line.includes('"service proxy rules changed"')) continue;
    try {
      const e = JSON.parse(line) as { timestamp?: string; ms?: number };
      if (typeof e.ms === 'number' && e.timestamp && Date.parse(e.timestamp) >= since) out.push(e.ms);
    } catch {
      // not a JSON line
    }
  }
  return out;
}

/**
 * Polls `check` (an API GET) every 25 ms until it is true: `at` = when the GET that saw it ended,
 * `window` = that end minus the start of the GET before it, or `since` (the write happened inside the window).
 */
async function seenAt(what: string, since: number, check: () => Promise<boolean>): Promise<{ at: number; window: number }> {
  const deadline = Date.now() + 60_000;
  let prevStart = since;
  for (;;) {
    const start = Date.now();
    if (await check()) {
      const at = Date.now();
      return { at, window: at - prevStart };
    }
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    prevStart = start;
    await sleep(25);
  }
}

async function programming(c: Cluster, o: NetworkBenchOptions, client: PodInfo, nodeA: string, nodeB: string): Promise<string> {
  progress('programming latency: pods stable + flip on node A, Service lat');
  const clusterIP = await service(c, 'lat', { app: 'lat' });
  const flipPod = await runPod(c, 'flip', nodeA, { app: 'lat' }, {
    command: ['node', '-e', SERVER],
    readinessProbe: { exec: { command: ['test', '-f', '/tmp/ready'] }, periodSeconds: 1, failureThreshold: 1, successThreshold: 1 },
  });
  const poller = new Poller(client.container, clusterIP, 80, o.interval, o.parallel, 'flip');
  const sli: number[] = [];
  const e2e: number[] = [];
  const probe: number[] = [];
  const slice: number[] = [];
  const node: number[] = [];
  const nft: number[] = [];
  const window: number[] = [];
  const removal: number[] = [];
  try {
    progress(`  waiting for the ClusterIP ${clusterIP} to answer (stable only)`);
    await until('ClusterIP answers stable', 120_000, async () => (poller.state?.rs.includes('stable') ? true : undefined));
    const since = Date.now();
    for (let i = 0; i < o.samples; i++) {
      // Not ready: the file gone, the pod stored not Ready, no poll reaching flip for a while.
      const tRm = Date.now();
      await dockerExec(flipPod.container, ['rm', '-f', '/tmp/ready']);
      const tNotReady = await seenAt('flip not Ready', tRm, async () => !(await podReady(c, 'flip')));
      await until('flip not ready in the EndpointSlice', 60_000, async () => ((await sliceReady(c, 'lat', flipPod.ip)) ? undefined : true), 100);
      // A poll can miss flip by chance while it is still programmed (8 picks of 2 endpoints), so
      // "gone" is: no poll reached it for the last second (40 polls), checked after a random wait.
      for (;;) {
        await poller.waitFor(false, 60_000);
        await sleep(1000 + Math.random() * 1000);
        if (!poller.state?.hit && poller.state!.t < Date.now() - 1000) break;
      }
      // The first sample starts from a pod that was never Ready: nothing to remove.
      if (i > 0) removal.push(poller.state!.t - tNotReady.at);
      const tFlip = Date.now();
      await dockerExec(flipPod.container, ['touch', '/tmp/ready']);
      const [tApi, tSlice] = await Promise.all([
        seenAt('flip Ready', tFlip, () => podReady(c, 'flip')),
        seenAt('flip ready in the EndpointSlice', tFlip, () => sliceReady(c, 'lat', flipPod.ip)),
      ]);
      window.push(tApi.window, tSlice.window);
      const hit = await poller.waitFor(true, 60_000);
      sli.push(hit.t - tApi.at);
      slice.push(tSlice.at - tApi.at);
      node.push(hit.t - tSlice.at);
      e2e.push(hit.t - tFlip);
      probe.push(tApi.at - tFlip);
      progress(`  sample ${i + 1}/${o.samples}: Ready stored → answer ${(hit.t - tApi.at).toFixed(0)} ms; touch → answer ${(hit.t - tFlip).toFixed(0)} ms`);
    }
    nft.push(...nftTransactionMs(readFileSync(c.logs[nodeB]!, 'utf8'), since));
  } finally {
    poller.stop();
  }
  const f = (xs: number[]) => `${pct(xs, 50).toFixed(0)} / ${pct(xs, 99).toFixed(0)} ms`;
  const nftRow = nft.length
    ? [`| of which, in node B's agent: the nft transaction ("service proxy rules changed" ms in its log, ${nft.length} changes, adds and removals) | ${f(nft)} | ${Math.max(...nft).toFixed(0)} ms |`]
    : [];
  return [
    `| Programming latency (${o.samples} samples; client on node B polls the ClusterIP every ${o.interval} ms, ${o.parallel} connections per poll) | p50 / p99 | max |`,
    '|---|---|---|',
    `| (resolution of "seen stored": the write happened at most this long before it was seen; the previous GET's start → the seeing GET's end) | ${f(window)} | ${Math.max(...window).toFixed(0)} ms |`,
    `| flip's Ready=True seen stored (API polled every 25 ms) → first answer from flip through the ClusterIP | ${f(sli)} | ${Math.max(...sli).toFixed(0)} ms |`,
    `| of which: Ready stored → flip ready in Service lat's EndpointSlice (seen stored, polled every 25 ms) | ${f(slice)} | ${Math.max(...slice).toFixed(0)} ms |`,
    `| of which: EndpointSlice stored → first answer (signal to node B, its list, nft) | ${f(node)} | ${Math.max(...node).toFixed(0)} ms |`,
    ...nftRow,
    `| removal (${removal.length} samples): flip's Ready=False seen stored → first poll that no connection of reached flip (and none did for 1 s after) | ${f(removal)} | ${Math.max(...removal).toFixed(0)} ms |`,
    `| /tmp/ready touched → Ready=True seen stored (probe period 1 s + status write) | ${f(probe)} | ${Math.max(...probe).toFixed(0)} ms |`,
    `| /tmp/ready touched → first answer through the ClusterIP | ${f(e2e)} | ${Math.max(...e2e).toFixed(0)} ms |`,
  ].join('\n');
}

// ---- 2. ClusterIP vs pod IP ----

async function requests(c: Cluster, o: NetworkBenchOptions, client: PodInfo, stable: PodInfo): Promise<string> {
  const clusterIP = await service(c, 'solo', { solo: 'yes' });
  progress(`requests: waiting for the ClusterIP ${clusterIP} of Service solo to answer`);
  await until('solo answers', 120_000, async () => {
    const out = await execNode(client.container, REQUESTS, ['1', clusterIP, '80', stable.ip, '8080', '0']).catch(() => '');
    return out.includes('stable') ? true : undefined;
  }, 500);
  progress(`requests: ${o.requests} to ${clusterIP}:80 and ${o.requests} to ${stable.ip}:8080, interleaved, from the client pod on node B`);
  const r = JSON.parse(await execNode(client.container, REQUESTS, [String(o.requests), clusterIP, '80', stable.ip, '8080', '200'])) as { a: number[]; b: number[]; names: string[] };
  if (r.names.length !== 1 || r.names[0] !== 'stable') throw new Error(`answers from ${r.names.join(', ')}, expected stable only`);
  const f = (x: number) => x.toFixed(3);
  return [
    `| Request latency (${o.requests} each, interleaved; TCP connect + read the name + close, a new connection each; client pod on node B, server pod on node A) | p50 ms | p99 ms | mean ms |`,
    '|---|---|---|---|',
    `| through the ClusterIP (service proxy DNAT) | ${f(pct(r.a, 50))} | ${f(pct(r.a, 99))} | ${f(r.a.reduce((s, x) => s + x, 0) / r.a.length)} |`,
    `| straight to the pod IP | ${f(pct(r.b, 50))} | ${f(pct(r.b, 99))} | ${f(r.b.reduce((s, x) => s + x, 0) / r.b.length)} |`,
    `| ratio ClusterIP / pod IP | ${(pct(r.a, 50) / pct(r.b, 50)).toFixed(3)} | ${(pct(r.a, 99) / pct(r.b, 99)).toFixed(3)} | |`,
  ].join('\n');
}

// ---- 3. DNS from a pod ----

async function dns(c: Cluster, o: NetworkBenchOptions, client: PodInfo, gateway: string): Promise<string> {
  progress(`dns: creating ${o.dnsServices} Services`);
  for (let i = 0; i < o.dnsServices; i++) await service(c, `dns-${i}`, {});
  const names = Array.from({ length: o.dnsServices * 10 }, (_, i) => (i % 10 === 9 ? `nothing-${i}.default.svc.cluster.local` : `dns-${i % o.dnsServices}.default.svc.cluster.local`));
  progress('dns: waiting for the last Service to resolve from the pod');
  await until('last Service in DNS', 120_000, async () => {
    const out = JSON.parse(await execNode(client.container, DNS, ['10.96.0.10', '1', '1', JSON.stringify([`dns-${o.dnsServices - 1}.default.svc.cluster.local`])])) as { noerror: number };
    return out.noerror === 1 ? true : undefined;
  }, 500);
  const args = [String(o.dnsQueries), String(o.dnsConcurrency), JSON.stringify(names)];
  progress(`dns: ${o.dnsQueries} queries from the pod to 10.96.0.10, ${o.dnsConcurrency} in flight`);
  type R = { seconds: number; answers: number; noerror: number; nxdomain: number; other: number; lost: number; p50: number; p99: number };
  const pod = JSON.parse(await execNode(client.container, DNS, ['10.96.0.10', ...args])) as R;
  progress(`dns: the same from the pod straight to ${gateway}:53 (no DNAT)`);
  const direct = JSON.parse(await execNode(client.container, DNS, [gateway, ...args])) as R;
  progress(`dns: the same from the host to ${gateway}:53`);
  const host = await new Promise<R>((resolve, reject) => {
    const p = spawn(process.execPath, ['-e', DNS, gateway, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out) as R) : reject(new Error(`host dns client exited ${code}`))));
  });
  const row = (what: string, r: R) =>
    `| ${what} | ${Math.round(r.answers / r.seconds)} | ${r.p50.toFixed(2)} | ${r.p99.toFixed(2)} | ${r.noerror} / ${r.nxdomain} / ${r.other} / ${r.lost} |`;
  return [
    `| DNS (${o.dnsServices} Services, ${o.dnsQueries} queries, ${o.dnsConcurrency} in flight, 10% NXDOMAIN; node B's DNS server) | answers/s | p50 ms | p99 ms | NOERROR / NXDOMAIN / other / lost |`,
    '|---|---|---|---|---|',
    row('from the client pod to 10.96.0.10 (kube-dns ClusterIP, DNATed to the node gateway)', pod),
    row(`from the client pod straight to node B's gateway ${gateway}:53 (no DNAT)`, direct),
    row(`from the host straight to the gateway ${gateway}:53 (same client program)`, host),
  ].join('\n');
}

async function main(): Promise<void> {
  const o = networkBenchProgram().parse().opts<NetworkBenchOptions>();
  const tables = await withTwoNodes(async (c) => {
    const [a, b] = c.nodes;
    progress('pods: stable (node A), client (node B)');
    const [stable, client] = await Promise.all([
      runPod(c, 'stable', a, { app: 'lat', solo: 'yes' }, { command: ['node', '-e', SERVER] }),
      runPod(c, 'client', b, {}, { command: ['sleep', '36000'] }),
    ]);
    const out: string[] = [];
    if (o.only.includes('requests')) out.push(await requests(c, o, client, stable));
    if (o.only.includes('dns')) out.push(await dns(c, o, client, gatewayOf(c.cidrs[b]!)));
    if (o.only.includes('programming')) out.push(await programming(c, o, client, a, b));
    return out;
  });
  process.stdout.write(`${tables.join('\n\n')}\n`);
}

if (process.argv[1]?.endsWith('network.ts')) {
  main().then(
    () => process.exit(0),
    (e: unknown) => {
      process.stderr.write(`${e instanceof Error ? e.stack : String(e)}\n`);
      process.exit(1);
    },
  );
}
