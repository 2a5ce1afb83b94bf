import type { KubeObject } from '../resources';
import { AGE, age, col, NAME, rec, type TableConvertor } from './columns';

/*
 * `kubectl get` columns of ResourceQuotas and LimitRanges, as Kubernetes' printers
 * (pkg/printers/internalversion/printers.go: printResourceQuota, printLimitRange) define them.
 */

/**
 * ResourceQuota: NAME, AGE, REQUEST, LIMIT. Each resource of status.hard (sorted) as
 * `name: used/hard`; those named `limits.*` in LIMIT, the others in REQUEST.
 */
export const resourceQuotas: TableConvertor = {
  columns: [
    NAME,
    AGE,
    col('Request', 'Request represents a minimum amount of cpu/memory that a container may consume.'),
    col('Limit', 'Limits control the maximum amount of cpu/memory that a container may use independent of contention on the node.'),
  ],
  cells: (o: KubeObject, now) => {
    const status = rec(o.status);
    const hard = rec(status.hard);
    const used = rec(status.used);
    const request: string[] = [];
    const limit: string[] = [];
    for (const r of Object.keys(hard).sort()) {
      const cell = `${r}: ${typeof used[r] === 'string' ? used[r] : '0'}/${String(hard[r] as string)}`;
      (r.split('.').length > 1 && r.split('.')[0] === 'limits' ? limit : request).push(cell);
    }
    return [o.metadata.name, age(o, now), request.join(', '), limit.join(', ')];
  },
};

/** LimitRange: NAME, CREATED AT (RFC 3339, UTC). */
export const limitRanges: TableConvertor = {
  columns: [
    NAME,
    col(
      'Created At',
      'CreationTimestamp is a timestamp representing the server time when this object was created. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata',
      0,
      'date',
    ),
  ],
  cells: (o: KubeObject) => {
    const t = o.metadata.creationTimestamp ? Date.parse(o.metadata.creationTimestamp) : NaN;
    return [o.metadata.name, Number.isNaN(t) ? '' : new Date(t).toISOString().replace(/\.\d+Z$/, 'Z')];
  },
};
