import { AGE, age, arr, col, NAME, rec, type TableConvertor } from './columns';

/** formatHPAMetrics (pkg/printers/internalversion): `cpu: 180%/50%`, `memory: 30Mi/100Mi`, at most 2 then `+ N more...`. */
export function hpaTargets(metrics: unknown, current: unknown): string {
  const specs = arr(metrics);
  const statuses = arr(current);
  const list: string[] = [];
  specs.forEach((m, i) => {
    if (m.type !== 'Resource') return;
    const r = rec(m.resource);
    const target = rec(r.target);
    const cur = rec(rec(statuses[i]?.resource).current);
    const name = String(r.name ?? '');
    if (target.averageValue !== undefined) list.push(`${name}: ${cur.averageValue !== undefined ? String(cur.averageValue) : '<unknown>'}/${String(target.averageValue)}`);
    else {
      const now = typeof cur.averageUtilization === 'number' ? `${cur.averageUtilization}%` : '<unknown>';
      const want = typeof target.averageUtilization === 'number' ? `${target.averageUtilization}%` : '<auto>';
      list.push(`${name}: ${now}/${want}`);
    }
  });
  if (list.length === 0) return '<none>';
  if (list.length > 2) return `${list.slice(0, 2).join(', ')} + ${list.length - 2} more...`;
  return list.join(', ');
}

export const horizontalPodAutoscalers: TableConvertor = {
  columns: [
    NAME,
    col('Reference', 'The reference to the target of the autoscaler.'),
    col('Targets', 'The current and target metric values.'),
    col('MinPods', 'The lower limit for the number of pods that can be set by the autoscaler, default 1.'),
    col('MaxPods', 'The upper limit for the number of pods that can be set by the autoscaler; cannot be smaller than MinPods.', 0, 'integer'),
    col('Replicas', 'Current number of replicas of pods managed by this autoscaler.', 0, 'integer'),
    AGE,
  ],
  cells: (o, now) => {
    const spec = rec(o.spec);
    const status = rec(o.status);
    const ref = rec(spec.scaleTargetRef);
    // An autoscaling/v1 object (converted for a v1 client) carries its cpu target as a number.
    const v1 = typeof spec.targetCPUUtilizationPercentage === 'number';
    const targets = v1
      ? `cpu: ${typeof status.currentCPUUtilizationPercentage === 'number' ? `${status.currentCPUUtilizationPercentage}%` : '<unknown>'}/${spec.targetCPUUtilizationPercentage as number}%`
      : hpaTargets(spec.metrics, status.currentMetrics);
    return [
      o.metadata.name,
      `${String(ref.kind ?? '')}/${String(ref.name ?? '')}`,
      targets,
      typeof spec.minReplicas === 'number' ? String(spec.minReplicas) : '<unset>',
      spec.maxReplicas,
      typeof status.currentReplicas === 'number' ? status.currentReplicas : 0,
      age(o, now),
    ];
  },
};
