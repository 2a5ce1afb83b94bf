/** Cluster overview: nodes with CPU/memory usage (metrics.k8s.io), pods by phase, recent Warning events. */
import { useEffect, useState } from 'preact/hooks';
import { getJson, type KubeList } from './api';
import { useList } from './informer';
import { collectionPath } from './kinds';
import { age, bytes, cpuCores, formatCpu, formatMem, nodeReady, percent } from './format';
import { DataTable, ErrorLine, useNow } from './ui';

const PHASES = ['Pending', 'Running', 'Succeeded', 'Failed', 'Unknown'];

export function Overview({ namespace }: { namespace: string }) {
  const now = useNow();
  const nodes = useList('/api/v1/nodes');
  const pods = useList(collectionPath('/api/v1', 'pods', namespace));
  const events = useList(collectionPath('/api/v1', 'events', namespace), 'fieldSelector=type%3DWarning');
  const [usage, setUsage] = useState<Map<string, { cpu: number; mem: number }>>(new Map());
  const [metricsError, setMetricsError] = useState<string | undefined>();
  // Metrics are read from the agents on demand (as `kubectl top nodes`): on load and on request.
  const loadMetrics = () => {
    getJson<KubeList>('/apis/metrics.k8s.io/v1beta1/nodes')
      .then((l) => {
        setUsage(new Map(l.items.map((m) => [m.metadata.name, { cpu: cpuCores((m.usage as { cpu?: string }).cpu), mem: bytes((m.usage as { memory?: string }).memory) }])));
        setMetricsError(undefined);
      })
      .catch((e: Error) => setMetricsError(`Node metrics: ${e.message}`));
  };
  useEffect(loadMetrics, []);
  const byPhase = new Map<string, number>();
  for (const p of pods.items) byPhase.set((p.status?.phase as string | undefined) ?? 'Unknown', (byPhase.get((p.status?.phase as string | undefined) ?? 'Unknown') ?? 0) + 1);
  const warnings = [...events.items].sort((a, b) => String(b.lastTimestamp ?? b.metadata.creationTimestamp).localeCompare(String(a.lastTimestamp ?? a.metadata.creationTimestamp))).slice(0, 20);
  return (
    <>
      <h1>Overview</h1>
      <section aria-labelledby="nodes-h">
        <h2 id="nodes-h">
          Nodes{' '}
          <button type="button" class="small" onClick={loadMetrics}>
            Refresh usage
          </button>
        </h2>
        <ErrorLine message={nodes.error ?? metricsError} />
        <DataTable
          label="Nodes"
          head={['Name', 'Status', 'CPU', 'CPU %', 'Memory', 'Memory %', 'Age']}
          rows={nodes.items.map((n) => {
            const u = usage.get(n.metadata.name);
            const alloc = n.status?.allocatable as { cpu?: string; memory?: string } | undefined;
            return [
              n.metadata.name,
              nodeReady(n),
              u ? formatCpu(u.cpu) : '—',
              u ? percent(u.cpu, cpuCores(alloc?.cpu)) : '—',
              u ? formatMem(u.mem) : '—',
              u ? percent(u.mem, bytes(alloc?.memory)) : '—',
              age(n.metadata.creationTimestamp, now),
            ];
          })}
        />
      </section>
      <section aria-labelledby="phases-h">
        <h2 id="phases-h">Pods by phase</h2>
        <ErrorLine message={pods.error} />
        <ul class="phases" aria-label="Pods by phase">
          {PHASES.map((p) => (
            <li key={p}>
              <span class="count">{byPhase.get(p) ?? 0}</span> {p}
            </li>
          ))}
        </ul>
      </section>
      <section aria-labelledby="warnings-h">
        <h2 id="warnings-h">Recent Warning events</h2>
        <ErrorLine message={events.error} />
        <DataTable
          label="Warning events"
          empty="No Warning events."
          head={['Last seen', 'Object', 'Reason', 'Message']}
          rows={warnings.map((e) => {
            const io = e.involvedObject as { kind?: string; name?: string; namespace?: string } | undefined;
            return [age((e.lastTimestamp as string | undefined) ?? e.metadata.creationTimestamp, now), `${io?.kind ?? ''}/${io?.name ?? ''}`, String(e.reason ?? ''), String(e.message ?? '')];
          })}
        />
      </section>
    </>
  );
}
