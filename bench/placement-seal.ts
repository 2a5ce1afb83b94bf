/**
 * Cost of sealed placements (shared/placement-seal.ts), run by hand: `npx tsx bench/placement-seal.ts`
 * (`--help`); figures go to BENCHMARKS.md. In-process, no I/O: what one placement costs the sender
 * (its body, plain vs sealed for the node) and the agent (parsing it, plain vs opening it), for a
 * typical pod and a large one, in alternating rounds so the machine's load drifts over both alike.
 * Also the body sizes (SQS bills a request per 64 KB of payload; a SendMessageBatch takes 10 bodies).
 * The key reads (a GetItem per node per sender instance per minute) are not in it: docs/cost.md.
 */
import { randomBytes } from 'node:crypto';
import { loadavg } from 'node:os';
import { PlacementMessageSchema } from '../node-agent/placement-queue';
import { openPlacement, SealedPlacementSchema, type PlacementKey } from '../shared/placement-seal';
import { podSyncMessage, podSyncMessageBody, type PodSyncMessage } from '../shared/queue';
import { pct } from './lib';

const HELP = `bench/placement-seal.ts: per-placement cost of sealing (sender) and opening (agent) vs a plain message.
Usage: npx tsx bench/placement-seal.ts [--help]
Environment:
  BENCH_PLACEMENTS  placements per mode and pod size, default 20000
  BENCH_ROUNDS      alternating rounds the samples are split into, default 10`;

if (process.argv.includes('--help') || process.argv.includes('-h')) {
  console.log(HELP);
  process.exit(0);
}

const N = Number(process.env.BENCH_PLACEMENTS ?? 20_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 10);
const progress = (s: string) => process.stderr.write(`${s}\n`);

/** A bound pod as the scheduler has it after the bind (defaults applied): about 2.4 KB of JSON. */
function pod(i: number, extraAnnotationBytes = 0) {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: `web-7f9c8d6b5-${i.toString(36).padStart(5, '0')}`,
      namespace: 'shop',
      uid: `0d6f7c2e-3b1a-4c5d-9e8f-${i.toString(16).padStart(12, '0')}`,
      resourceVersion: String(100_000 + i),
      creationTimestamp: '2026-12-07T11:00:00Z',
      labels: { app: 'web', 'pod-template-hash': '7f9c8d6b5', tier: 'frontend' },
      annotations: (extraAnnotationBytes ? { blob: 'x'.repeat(extraAnnotationBytes) } : {}) as Record<string, string>,
      ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web-7f9c8d6b5', uid: '5a1b2c3d-0000-4000-8000-000000000001', controller: true, blockOwnerDeletion: true }],
    },
    spec: {
      nodeName: 'node-17',
      serviceAccountName: 'default',
      restartPolicy: 'Always',
      dnsPolicy: 'ClusterFirst',
      schedulerName: 'default-scheduler',
      terminationGracePeriodSeconds: 30,
      securityContext: {},
      priority: 0,
      enableServiceLinks: true,
      preemptionPolicy: 'PreemptLowerPriority',
      tolerations: [
        { key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 },
        { key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 },
      ],
      volumes: [{ name: 'kube-api-access-x7k2p', projected: { defaultMode: 420, sources: [{ serviceAccountToken: { expirationSeconds: 3607, path: 'token' } }, { configMap: { name: 'kube-root-ca.crt', items: [{ key: 'ca.crt', path: 'ca.crt' }] } }] } }],
      containers: [
        {
          name: 'web',
          image: 'registry.example.com/shop/web:1.42.0',
          imagePullPolicy: 'IfNotPresent',
          ports: [{ containerPort: 8080, protocol: 'TCP', name: 'http' }],
          env: [
            { name: 'LOG_LEVEL', value: 'info' },
            { name: 'DB_HOST', value: 'db.shop.svc.cluster.local' },
          ],
          resources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { cpu: '500m', memory: '256Mi' } },
          readinessProbe: { httpGet: { path: '/healthz', port: 8080, scheme: 'HTTP' }, periodSeconds: 10, timeoutSeconds: 1, successThreshold: 1, failureThreshold: 3 },
          volumeMounts: [{ name: 'kube-api-access-x7k2p', mountPath: '/var/run/secrets/kubernetes.io/serviceaccount', readOnly: true }],
          terminationMessagePath: '/dev/termination-log',
          terminationMessagePolicy: 'File',
        },
      ],
    },
    status: { phase: 'Pending', qosClass: 'Burstable' },
  };
}

type Mode = 'plain' | 'sealed';
const key: PlacementKey = { keyId: randomBytes(8).toString('hex'), key: randomBytes(32) };
const at = { cluster: 'acme', nodeName: 'node-17' };

/** What the sender does per placement: the body. */
const send = (mode: Mode, m: PodSyncMessage) => podSyncMessageBody(m, mode === 'sealed' ? { nodeName: at.nodeName, key } : undefined);
/** What the agent does per message before the handler (node-agent/placement-queue.ts): parse, open when sealed, schema. */
function receive(mode: Mode, body: string) {
  const json = JSON.parse(body) as unknown;
  const message = mode === 'sealed' ? openPlacement(SealedPlacementSchema.parse(json), at, key).message : json;
  return PlacementMessageSchema.parse(message);
}

function measure(label: string, extra: number) {
  const messages = Array.from({ length: N }, (_, i) => podSyncMessage('acme', pod(i, extra)));
  const samples: Record<Mode, { send: number[]; receive: number[]; bytes: number }> = { plain: { send: [], receive: [], bytes: 0 }, sealed: { send: [], receive: [], bytes: 0 } };
  // Warm-up (the JIT, zod's first parses).
  for (const mode of ['sealed', 'plain'] as Mode[]) for (let i = 0; i < 500; i++) receive(mode, send(mode, messages[i % messages.length]!));
  const per = Math.ceil(N / ROUNDS);
  for (let r = 0; r < ROUNDS; r++) {
    for (const mode of (r % 2 ? ['plain', 'sealed'] : ['sealed', 'plain']) as Mode[]) {
      for (let i = r * per; i < Math.min(N, (r + 1) * per); i++) {
        const t0 = performance.now();
        const body = send(mode, messages[i]!);
        const t1 = performance.now();
        receive(mode, body);
        const t2 = performance.now();
        samples[mode].send.push((t1 - t0) * 1000);
        samples[mode].receive.push((t2 - t1) * 1000);
        samples[mode].bytes = Buffer.byteLength(body);
      }
    }
    progress(`${label}: round ${r + 1}/${ROUNDS}`);
  }
  const us = (x: number) => `${x.toFixed(1)} µs`;
  const row = (mode: Mode) => {
    const s = samples[mode];
    return `| ${label} | ${mode} | ${s.bytes} | ${us(pct(s.send, 50))} | ${us(pct(s.send, 99))} | ${us(pct(s.receive, 50))} | ${us(pct(s.receive, 99))} |`;
  };
  return [row('plain'), row('sealed')];
}

const rows = [...measure('typical pod', 0), ...measure('pod with a 20 KB annotation', 20 * 1024)];
console.log(`placements per mode and size: ${N}, rounds: ${ROUNDS}, load average ${loadavg().map((x) => x.toFixed(2)).join(', ')}`);
console.log('| pod | body | bytes | sender p50 | sender p99 | agent p50 | agent p99 |');
console.log('|---|---|---|---|---|---|---|');
for (const r of rows) console.log(r);
