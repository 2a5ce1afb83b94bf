/**
 * metrics.k8s.io/v1beta1 NodeMetrics and PodMetrics, made on each read from the node agents'
 * summaries (kubelet-stats.ts), in metrics-server's shapes: usage.cpu in nanocores and
 * usage.memory the working set, as canonical quantities; timestamp and window of the CPU rate;
 * labels copied from the node or pod. A node or pod with no usable reading is left out of a
 * list and is NotFound on a get, as metrics-server answers. The nodes are asked concurrently,
 * at most FAN_OUT at a time.
 */
import pLimit from 'p-limit';
import { notFound } from '../errors';
import type { RegistryContext, Target } from '../registry/context';
import { getObject, listObjects, type ListOutcome, type ListQuery } from '../registry/generic';
import { resourceByName, type KubeObject } from '../resources';
import { fetchSummary, type NodeSummary } from './kubelet-stats';
import { kubeletCallTls } from '../relay/api-side';

export const METRICS_GROUP = 'metrics.k8s.io';
export const METRICS_API_VERSION = 'metrics.k8s.io/v1beta1';
/** Nodes asked at once. */
export const FAN_OUT = 16;

/** A canonical decimal quantity of nanounits (Kubernetes' NewScaledQuantity(n, Nano).String()). */
export function nanoQuantity(nano: number): string {
  const n = Math.max(0, Math.round(nano));
  if (n === 0) return '0';
  for (const [div, suffix] of [[1e9, ''], [1e6, 'm'], [1e3, 'u']] as const) if (n % div === 0) return `${n / div}${suffix}`;
  return `${n}n`;
}

/** A canonical binary quantity of bytes (Kubernetes' NewQuantity(b, BinarySI).String()). */
export function byteQuantity(bytes: number): string {
  const b = Math.max(0, Math.round(bytes));
  if (b === 0) return '0';
  for (const [pow, suffix] of [[5, 'Pi'], [4, 'Ti'], [3, 'Gi'], [2, 'Mi'], [1, 'Ki']] as const) {
    const div = 1024 ** pow;
    if (b % div === 0) return `${b / div}${suffix}`;
  }
  return String(b);
}

/** A Go time.Duration string (metav1.Duration), to the millisecond: `1.002s`, `15s`, `1m0s`. */
export function goDuration(seconds: number): string {
  const ms = Math.round(seconds * 1000);
  if (ms === 0) return '0s';
  const trim = (x: number) => (x / 1000).toFixed(3).replace(/\.?0+$/, '');
  if (ms < 60_000) return ms < 1000 ? `${ms}ms` : `${trim(ms)}s`;
  const h = Math.floor(ms / 3_600_000);
  const m = Math.floor((ms % 3_600_000) / 60_000);
  const s = trim(ms % 60_000);
  return h ? `${h}h${m}m${s}s` : `${m}m${s}s`;
}

const nowIso = () => new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
const labelsOf = (o: KubeObject) => (o.metadata.labels ? { labels: o.metadata.labels } : {});

type Usage = NodeSummary['node'];
const usageOf = (u: Pick<Usage, 'cpu' | 'memory'>) => ({ cpu: nanoQuantity(u.cpu.usageNanoCores), memory: byteQuantity(u.memory.workingSetBytes) });
const windowOf = (u: Pick<Usage, 'cpu'>) => goDuration(u.cpu.windowSeconds ?? 0);

export function nodeMetricsOf(node: KubeObject, s: NodeSummary): KubeObject {
  return {
    kind: 'NodeMetrics',
    apiVersion: METRICS_API_VERSION,
    metadata: { name: node.metadata.name, creationTimestamp: nowIso(), ...labelsOf(node) },
    timestamp: s.node.cpu.time,
    window: windowOf(s.node),
    usage: usageOf(s.node),
  };
}

export function podMetricsOf(pod: KubeObject, p: NodeSummary['pods'][number]): KubeObject {
  return {
    kind: 'PodMetrics',
    apiVersion: METRICS_API_VERSION,
    metadata: { name: pod.metadata.name, namespace: pod.metadata.namespace, creationTimestamp: nowIso(), ...labelsOf(pod) },
    timestamp: p.cpu.time,
    window: windowOf(p),
    containers: p.containers.map((c) => ({ name: c.name, usage: usageOf(c) })),
  };
}

/** Each node's summary, asked concurrently (FAN_OUT at a time); nodes that do not answer are absent. */
export async function summariesOf(nodes: readonly KubeObject[], fetch: (node: KubeObject) => Promise<NodeSummary | undefined>): Promise<Map<string, NodeSummary>> {
  const limit = pLimit(FAN_OUT);
  const out = new Map<string, NodeSummary>();
  await Promise.all(
    nodes.map((n) =>
      limit(async () => {
        const s = await fetch(n);
        if (s) out.set(n.metadata.name!, s);
      }),
    ),
  );
  return out;
}

/** Reads a node's summary over mutual TLS with the cluster's PKI (undefined when it cannot be had). */
const scraper = (ctx: RegistryContext) => async (n: KubeObject) => fetchSummary(n, await kubeletCallTls(ctx.store, ctx.tenant, n).catch(() => undefined));

const nodes = () => resourceByName('nodes');
const pods = () => resourceByName('pods');

export async function listNodeMetrics(ctx: RegistryContext, q: ListQuery): Promise<ListOutcome> {
  const { items } = await listObjects(ctx, { rt: nodes() }, { labelSelector: q.labelSelector, fieldSelector: q.fieldSelector });
  const summaries = await summariesOf(items, scraper(ctx));
  return { items: items.flatMap((n) => (summaries.has(n.metadata.name!) ? [nodeMetricsOf(n, summaries.get(n.metadata.name!)!)] : [])), resourceVersion: '' };
}

export async function getNodeMetrics(ctx: RegistryContext, name: string): Promise<KubeObject> {
  const node = await ctx.store.get(ctx.tenant, nodes(), undefined, name);
  const s = node ? (await summariesOf([node], scraper(ctx))).get(name) : undefined;
  if (!node || !s) throw notFound('nodemetrics', name, METRICS_GROUP);
  return nodeMetricsOf(node, s);
}

/** PodMetrics of these pods: their nodes asked once each. */
export async function podMetricsFor(ctx: RegistryContext, podList: readonly KubeObject[]): Promise<KubeObject[]> {
  const nodeNames = [...new Set(podList.map((p) => (p.spec as { nodeName?: string } | undefined)?.nodeName).filter((n): n is string => !!n))];
  const nodeObjs = (await Promise.all(nodeNames.map((n) => ctx.store.get(ctx.tenant, nodes(), undefined, n)))).filter((n): n is KubeObject => !!n);
  const summaries = await summariesOf(nodeObjs, scraper(ctx));
  const byUid = new Map<string, NodeSummary['pods'][number]>();
  for (const s of summaries.values()) for (const p of s.pods) byUid.set(p.podRef.uid, p);
  return podList.flatMap((pod) => {
    const p = pod.metadata.uid ? byUid.get(pod.metadata.uid) : undefined;
    return p && p.containers.length ? [podMetricsOf(pod, p)] : [];
  });
}

export async function listPodMetrics(ctx: RegistryContext, t: Target, q: ListQuery): Promise<ListOutcome> {
  const { items } = await listObjects(ctx, { rt: pods(), namespace: t.namespace }, { labelSelector: q.labelSelector, fieldSelector: q.fieldSelector });
  return { items: await podMetricsFor(ctx, items), resourceVersion: '' };
}

export async function getPodMetrics(ctx: RegistryContext, t: Target): Promise<KubeObject> {
  let pod: KubeObject;
  try {
    pod = await getObject(ctx, { rt: pods(), namespace: t.namespace, name: t.name });
  } catch {
    throw notFound('podmetrics', `${t.namespace}/${t.name}`, METRICS_GROUP);
  }
  const [m] = await podMetricsFor(ctx, [pod]);
  // metrics-server's words: the resource is podmetrics, the name namespace/name.
  if (!m) throw notFound('podmetrics', `${t.namespace}/${t.name}`, METRICS_GROUP);
  return m;
}
