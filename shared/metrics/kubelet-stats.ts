/**
 * Reads a node agent's resource usage summary (GET /stats/summary on its kubelet endpoint,
 * node-agent/stats.ts) over the same authenticated API → agent path as logs and exec: the node's
 * InternalIP and status.daemonEndpoints.kubeletEndpoint.Port, mutual TLS with the cluster's PKI
 * (shared/auth/kubelet-client.ts). Nothing is stored: the API asks when someone reads metrics, as
 * metrics-server scrapes kubelets, only without keeping anything between reads.
 */
import https from 'node:https';
import type { KubeletTls } from '../auth/kubelet-client';
import { z } from 'zod';
import type { KubeObject } from '../resources';

const Cpu = z.looseObject({ time: z.string(), usageNanoCores: z.number(), windowSeconds: z.number().optional() });
const Memory = z.looseObject({ time: z.string(), workingSetBytes: z.number() });
const SummarySchema = z.looseObject({
  node: z.looseObject({ nodeName: z.string(), cpu: Cpu, memory: Memory }),
  pods: z.array(
    z.looseObject({
      podRef: z.looseObject({ name: z.string(), namespace: z.string(), uid: z.string() }),
      containers: z.array(z.looseObject({ name: z.string(), cpu: Cpu, memory: Memory })),
      cpu: Cpu,
      memory: Memory,
    }),
  ),
});
export type NodeSummary = z.infer<typeof SummarySchema>;

/** How long one node may take to answer (its first read after a quiet period samples over 1 s). */
export const SUMMARY_TIMEOUT_MS = 5_000;

const NodeAddressSchema = z.looseObject({
  status: z
    .looseObject({
      addresses: z.array(z.looseObject({ type: z.string(), address: z.string() })).optional(),
      daemonEndpoints: z.looseObject({ kubeletEndpoint: z.looseObject({ Port: z.number().int() }).optional() }).optional(),
    })
    .optional(),
});

/** The node's kubelet endpoint (host:port ready for a URL), or undefined when it reports none. */
export function kubeletAddress(node: KubeObject): string | undefined {
  const parsed = NodeAddressSchema.safeParse(node);
  if (!parsed.success) return undefined;
  const address = parsed.data.status?.addresses?.find((a) => a.type === 'InternalIP')?.address;
  const port = parsed.data.status?.daemonEndpoints?.kubeletEndpoint?.Port ?? 0;
  if (!address || port === 0) return undefined;
  return `${address.includes(':') ? `[${address}]` : address}:${port}`;
}

/** The node's summary; undefined when it cannot be had (no endpoint, no secret, unreachable, bad answer), as metrics-server skips a node it cannot scrape. */
export function fetchSummary(node: KubeObject, tls: KubeletTls | undefined, timeoutMs = SUMMARY_TIMEOUT_MS): Promise<NodeSummary | undefined> {
  // A relay-mode node has no address: its agent (shared/relay/api-side.ts) carries the call.
  const hostPort = tls?.agent ? `${node.metadata.name}:10250` : kubeletAddress(node);
  if (!hostPort || !tls) return Promise.resolve(undefined);
  return new Promise((resolve) => {
    const req = https.get(`https://${hostPort}/stats/summary`, { headers: { 'user-agent': 'stratus-apiserver' }, timeout: timeoutMs, agent: false, ...tls }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', () => resolve(undefined));
      res.on('end', () => {
        if (res.statusCode !== 200) return resolve(undefined);
        try {
          const parsed = SummarySchema.safeParse(JSON.parse(Buffer.concat(chunks).toString('utf8')));
          resolve(parsed.success ? parsed.data : undefined);
        } catch {
          resolve(undefined);
        }
      });
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () => resolve(undefined));
  });
}
