import { badRequest } from '../../shared/errors';
import { apiVersionOf, type KubeObject, type ResourceType } from '../../shared/resources';
import { json, type ApiRequest, type ApiResponse } from './request';

/*
 * meta.k8s.io/v1 Table output: what `kubectl get` asks for (Accept
 * `application/json;as=Table;v=v1;g=meta.k8s.io`) and prints as columns. The server decides the
 * columns and renders every cell, ages included; kubectl only lays them out, hiding columns
 * with priority > 0 unless `-o wide`. Columns and cells follow Kubernetes' own printers
 * (pkg/printers/internalversion/printers.go).
 */

/** One column of a Table (meta/v1 TableColumnDefinition). */
export interface TableColumnDefinition {
  readonly name: string;
  /** OpenAPI type of the cells: string, integer, number, boolean, date. */
  readonly type: string;
  /** OpenAPI format: `name` marks the column holding the object's name. */
  readonly format: string;
  readonly description: string;
  /** 0: always shown; 1 and more: shown by `kubectl get -o wide`. */
  readonly priority: number;
}

/** One row: cells in column order, and the object as includeObject asked for. */
export interface TableRow {
  readonly cells: unknown[];
  readonly object?: unknown;
}

/** meta.k8s.io/v1 Table. `metadata` carries the list's resourceVersion and continue token. */
export interface Table {
  readonly kind: 'Table';
  readonly apiVersion: 'meta.k8s.io/v1';
  metadata: { resourceVersion?: string; continue?: string; remainingItemCount?: number };
  readonly columnDefinitions: TableColumnDefinition[];
  readonly rows: TableRow[];
}

/**
 * How one resource renders as a Table: its columns and, for one object, the cells in the
 * same order. `now` is passed in so ages are a pure function of the object and the clock.
 */
export interface TableConvertor {
  readonly columns: readonly TableColumnDefinition[];
  readonly cells: (obj: KubeObject, now: number) => unknown[];
}

const col = (name: string, description: string, priority = 0, type = 'string', format = ''): TableColumnDefinition => ({
  name,
  type,
  format,
  description,
  priority,
});

const NAME = col('Name', 'Name must be unique within a namespace. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names', 0, 'string', 'name');
const AGE = col(
  'Age',
  'CreationTimestamp is a timestamp representing the server time when this object was created. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata',
);

/** Kubernetes' duration.HumanDuration: "45s", "5m12s", "3h", "12d", "2y30d". */
export function humanDuration(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  if (seconds < -1) return '<invalid>';
  if (seconds < 0) return '0s';
  if (seconds < 60 * 2) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 10) {
    const s = seconds % 60;
    return s === 0 ? `${minutes}m` : `${minutes}m${s}s`;
  }
  if (minutes < 60 * 3) return `${minutes}m`;
  const hours = Math.floor(minutes / 60);
  if (hours < 8) {
    const m = minutes % 60;
    return m === 0 ? `${hours}h` : `${hours}h${m}m`;
  }
  if (hours < 48) return `${hours}h`;
  if (hours < 24 * 8) {
    const h = hours % 24;
    return h === 0 ? `${Math.floor(hours / 24)}d` : `${Math.floor(hours / 24)}d${h}h`;
  }
  if (hours < 24 * 365 * 2) return `${Math.floor(hours / 24)}d`;
  if (hours < 24 * 365 * 8) {
    const d = Math.floor(hours / 24) % 365;
    return d === 0 ? `${Math.floor(hours / 24 / 365)}y` : `${Math.floor(hours / 24 / 365)}y${d}d`;
  }
  return `${Math.floor(hours / 24 / 365)}y`;
}

/** kubectl's translateTimestampSince: "<unknown>" for a missing time. */
export function since(timestamp: unknown, now: number): string {
  if (typeof timestamp !== 'string' || !timestamp) return '<unknown>';
  const t = Date.parse(timestamp);
  return Number.isNaN(t) ? '<unknown>' : humanDuration(now - t);
}

const age = (o: KubeObject, now: number) => since(o.metadata.creationTimestamp, now);

type Rec = Record<string, unknown>;
const rec = (v: unknown): Rec => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Rec) : {});
const arr = (v: unknown): Rec[] => (Array.isArray(v) ? v.map(rec) : []);
const str = (v: unknown): string => (typeof v === 'string' ? v : '');
const num = (v: unknown): number => (typeof v === 'number' ? v : 0);
const orNone = (s: string) => s || '<none>';

/** The STATUS, READY and RESTARTS of a pod, computed as kubectl's printPod does. */
export function podStatusCells(pod: KubeObject, now: number): { ready: string; status: string; restarts: string } {
  const spec = rec(pod.spec);
  const status = rec(pod.status);
  const containers = arr(spec.containers);
  const initContainers = arr(spec.initContainers);
  const sidecars = new Set(initContainers.filter((c) => c.restartPolicy === 'Always').map((c) => str(c.name)));
  const total = containers.length + sidecars.size;
  let ready = 0;
  let restarts = 0;
  let lastRestart = 0;
  let sidecarRestarts = 0;
  let lastSidecarRestart = 0;
  const phase = str(status.phase);
  let reason = str(status.reason) || phase;
  const conditions = arr(status.conditions);
  if (conditions.some((c) => c.type === 'PodScheduled' && c.reason === 'SchedulingGated')) reason = 'SchedulingGated';
  const finishedAt = (c: Rec) => Date.parse(str(rec(rec(c.lastState).terminated).finishedAt)) || 0;

  let initializing = false;
  const initStatuses = arr(status.initContainerStatuses);
  for (let i = 0; i < initStatuses.length; i++) {
    const c = initStatuses[i]!;
    const state = rec(c.state);
    const terminated = state.terminated === undefined ? undefined : rec(state.terminated);
    const waiting = state.waiting === undefined ? undefined : rec(state.waiting);
    restarts += num(c.restartCount);
    lastRestart = Math.max(lastRestart, finishedAt(c));
    const isSidecar = sidecars.has(str(c.name));
    if (isSidecar) {
      sidecarRestarts += num(c.restartCount);
      lastSidecarRestart = Math.max(lastSidecarRestart, finishedAt(c));
    }
    if (terminated && num(terminated.exitCode) === 0) continue;
    if (isSidecar && c.started === true) {
      if (c.ready === true) ready++;
      continue;
    }
    if (terminated) {
      reason = str(terminated.reason)
        ? `Init:${str(terminated.reason)}`
        : num(terminated.signal) !== 0
          ? `Init:Signal:${num(terminated.signal)}`
          : `Init:ExitCode:${num(terminated.exitCode)}`;
    } else if (waiting && str(waiting.reason) && waiting.reason !== 'PodInitializing') {
      reason = `Init:${str(waiting.reason)}`;
    } else {
      reason = `Init:${i}/${initContainers.length}`;
    }
    initializing = true;
    break;
  }

  const initializedTrue = conditions.some((c) => c.type === 'Initialized' && c.status === 'True');
  if (!initializing || initializedTrue) {
    restarts = sidecarRestarts;
    lastRestart = lastSidecarRestart;
    let hasRunning = false;
    const statuses = arr(status.containerStatuses);
    for (let i = statuses.length - 1; i >= 0; i--) {
      const c = statuses[i]!;
      const state = rec(c.state);
      restarts += num(c.restartCount);
      lastRestart = Math.max(lastRestart, finishedAt(c));
      const waiting = state.waiting === undefined ? undefined : rec(state.waiting);
      const terminated = state.terminated === undefined ? undefined : rec(state.terminated);
      if (waiting && str(waiting.reason)) reason = str(waiting.reason);
      else if (terminated && str(terminated.reason)) reason = str(terminated.reason);
      else if (terminated) reason = num(terminated.signal) !== 0 ? `Signal:${num(terminated.signal)}` : `ExitCode:${num(terminated.exitCode)}`;
      else if (c.ready === true && state.running !== undefined) {
        hasRunning = true;
        ready++;
      }
    }
    if (reason === 'Completed' && hasRunning) reason = conditions.some((c) => c.type === 'Ready' && c.status === 'True') ? 'Running' : 'NotReady';
  }
  if (pod.metadata.deletionTimestamp && status.reason === 'NodeLost') reason = 'Unknown';
  else if (pod.metadata.deletionTimestamp && phase !== 'Succeeded' && phase !== 'Failed') reason = 'Terminating';
  const restartsCell = lastRestart > 0 ? `${restarts} (${humanDuration(now - lastRestart)} ago)` : String(restarts);
  return { ready: `${ready}/${total}`, status: reason, restarts: restartsCell };
}

const podConvertor: TableConvertor = {
  columns: [
    NAME,
    col('Ready', 'The aggregate readiness state of this pod for accepting traffic.'),
    col('Status', 'The aggregate status of the containers in this pod.'),
    col('Restarts', 'The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.'),
    AGE,
    col('IP', 'The IP address assigned to the pod', 1),
    col('Node', 'The name of the node where the pod is scheduled', 1),
    col('Nominated Node', 'The name of the node where the pod was nominated to run by the scheduler (preemption)', 1),
    col('Readiness Gates', 'The readiness gates of the pod', 1),
  ],
  cells: (pod, now) => {
    const s = podStatusCells(pod, now);
    const spec = rec(pod.spec);
    const status = rec(pod.status);
    const ip = str(arr(status.podIPs)[0]?.ip) || str(status.podIP);
    const gates = arr(spec.readinessGates);
    const conditions = arr(status.conditions);
    const gatesCell = gates.length
      ? `${gates.filter((g) => conditions.some((c) => c.type === g.conditionType && c.status === 'True')).length}/${gates.length}`
      : '<none>';
    return [pod.metadata.name, s.ready, s.status, s.restarts, age(pod, now), orNone(ip), orNone(str(spec.nodeName)), orNone(str(status.nominatedNodeName)), gatesCell];
  },
};

/** A node's roles from its `node-role.kubernetes.io/<role>` and `kubernetes.io/role` labels. */
function nodeRoles(labels: Record<string, string> | undefined): string {
  const roles = new Set<string>();
  for (const [k, v] of Object.entries(labels ?? {})) {
    if (k.startsWith('node-role.kubernetes.io/') && k.length > 'node-role.kubernetes.io/'.length) roles.add(k.slice('node-role.kubernetes.io/'.length));
    else if (k === 'kubernetes.io/role' && v) roles.add(v);
  }
  return roles.size ? [...roles].sort().join(',') : '<none>';
}

const nodeConvertor: TableConvertor = {
  columns: [
    NAME,
    col('Status', 'The status of the node'),
    col('Roles', 'The roles of the node'),
    AGE,
    col('Version', 'Kubelet Version reported by the node.'),
    col('Internal-IP', 'List of addresses reachable to the node. Queried from cloud provider, if available.', 1),
    col('External-IP', 'List of addresses reachable to the node. Queried from cloud provider, if available.', 1),
    col('OS-Image', 'OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 (wheezy)).', 1),
    col('Kernel-Version', "Kernel Version reported by the node from 'uname -r' (e.g. 3.16.0-0.bpo.4-amd64).", 1),
    col('Container-Runtime', 'ContainerRuntime Version reported by the node through runtime remote API (e.g. containerd://1.4.2).', 1),
  ],
  cells: (node, now) => {
    const status = rec(node.status);
    const readyCondition = arr(status.conditions).find((c) => c.type === 'Ready');
    const states = readyCondition ? [readyCondition.status === 'True' ? 'Ready' : 'NotReady'] : ['Unknown'];
    if (rec(node.spec).unschedulable === true) states.push('SchedulingDisabled');
    const info = rec(status.nodeInfo);
    const address = (type: string) => str(arr(status.addresses).find((a) => a.type === type)?.address);
    const unknown = (s: string) => s || '<unknown>';
    return [
      node.metadata.name,
      states.join(','),
      nodeRoles(node.metadata.labels),
      age(node, now),
      str(info.kubeletVersion),
      orNone(address('InternalIP')),
      orNone(address('ExternalIP')),
      unknown(str(info.osImage)),
      unknown(str(info.kernelVersion)),
      unknown(str(info.containerRuntimeVersion)),
    ];
  },
};

const namespaceConvertor: TableConvertor = {
  columns: [NAME, col('Status', 'The status of the namespace'), AGE],
  cells: (ns, now) => [ns.metadata.name, str(rec(ns.status).phase), age(ns, now)],
};

const eventConvertor: TableConvertor = {
  columns: [
    col('Last Seen', 'The time at which the most recent occurrence of this event was recorded.'),
    col('Type', 'Type of this event (Normal, Warning), new types could be added in the future'),
    col('Reason', "This should be a short, machine understandable string that gives the reason for the transition into the object's current status."),
    col('Object', 'The object that this event is about.'),
    col('Subobject', 'If referring to a piece of an object instead of an entire object, this string should contain a valid JSON/Go field access statement.', 1),
    col('Source', 'The component reporting this event. Should be a short machine understandable string.', 1),
    col('Message', 'A human-readable description of the status of this operation.'),
    col('First Seen', 'The time at which the event was first recorded. (Time of server receipt is in TypeMeta.)', 1),
    col('Count', 'The number of times this event has occurred.', 1),
    { ...NAME, priority: 1 },
  ],
  cells: (ev, now) => {
    const last = str(ev.lastTimestamp) || str(ev.eventTime) || str(ev.metadata.creationTimestamp);
    const first = str(ev.firstTimestamp) || str(ev.eventTime) || str(ev.metadata.creationTimestamp);
    const series = rec(ev.series);
    const count = num(series.count) || num(ev.count);
    let lastSeen = since(last, now);
    if (count > 1) lastSeen = `${lastSeen} (x${count} over ${since(first, now)})`;
    const io = rec(ev.involvedObject);
    const source = rec(ev.source);
    const sourceCell = str(source.component) ? [str(source.component), str(source.host)].filter(Boolean).join(', ') : str(ev.reportingComponent);
    return [
      lastSeen,
      str(ev.type),
      str(ev.reason),
      `${str(io.kind).toLowerCase()}/${str(io.name)}`,
      str(io.fieldPath),
      sourceCell,
      str(ev.message),
      since(first, now),
      String(count || 1),
      ev.metadata.name,
    ];
  },
};

const leaseConvertor: TableConvertor = {
  columns: [NAME, col('Holder', 'The holder of the lease.'), AGE],
  cells: (lease, now) => [lease.metadata.name, str(rec(lease.spec).holderIdentity), age(lease, now)],
};

/** Kinds with no printer of their own: NAME and AGE. */
export const defaultConvertor: TableConvertor = { columns: [NAME, AGE], cells: (o, now) => [o.metadata.name, age(o, now)] };

/**
 * Columns per resource, keyed as Kubernetes qualifies resources: `pods` in the core group,
 * `<resource>.<group>` elsewhere (`deployments.apps`). Kinds not listed get NAME and AGE;
 * to give a new kind its columns, add an entry (or call registerTableColumns from its kind file).
 */
export const tableColumns: Record<string, TableConvertor> = {
  pods: podConvertor,
  nodes: nodeConvertor,
  namespaces: namespaceConvertor,
  events: eventConvertor,
  'leases.coordination.k8s.io': leaseConvertor,
};

export function registerTableColumns(qualifiedResource: string, convertor: TableConvertor): void {
  tableColumns[qualifiedResource] = convertor;
}

export const qualifiedResource = (rt: ResourceType) => (rt.group ? `${rt.resource}.${rt.group}` : rt.resource);

/**
 * Whether an Accept header asks for a meta.k8s.io/v1 (or v1beta1) Table in JSON, as
 * `kubectl get` does; a Table is never forced on a client that did not list it.
 */
export function wantsTable(accept: string | undefined): boolean {
  if (!accept) return false;
  return accept.split(',').some((part) => {
    const [type, ...params] = part.split(';').map((s) => s.trim());
    if (type !== 'application/json' && type !== '*/*' && type !== 'application/*') return false;
    const p = Object.fromEntries(params.map((kv) => kv.split('=').map((s) => s.trim()) as [string, string]));
    return p.as === 'Table' && p.g === 'meta.k8s.io' && (p.v === 'v1' || p.v === 'v1beta1');
  });
}

/** The Content-Type of a Table response. */
export const TABLE_CONTENT_TYPE = 'application/json;as=Table;v=v1;g=meta.k8s.io';

/**
 * Renders objects of `rt` as a Table. `wide: false` keeps only priority-0 columns (kubectl
 * itself hides the others, so the api sends all of them, with wide: true). includeObject as
 * Kubernetes defines it: Object the whole object, Metadata a PartialObjectMetadata, None nothing.
 */
export function toTable(
  rt: ResourceType,
  objects: KubeObject[],
  opts: { wide: boolean; includeObject: 'None' | 'Metadata' | 'Object' },
  now: number = Date.now(),
): Table {
  const convertor = tableColumns[qualifiedResource(rt)] ?? defaultConvertor;
  const keep = convertor.columns.map((c) => opts.wide || c.priority === 0);
  const rows = objects.map((obj): TableRow => {
    const cells = convertor.cells(obj, now).filter((_, i) => keep[i]);
    const withKind = { apiVersion: apiVersionOf(rt), kind: rt.kind, ...obj };
    if (opts.includeObject === 'None') return { cells };
    if (opts.includeObject === 'Object') return { cells, object: withKind };
    return { cells, object: { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: obj.metadata } };
  });
  return { kind: 'Table', apiVersion: 'meta.k8s.io/v1', metadata: {}, columnDefinitions: convertor.columns.filter((_, i) => keep[i]), rows };
}

/** The includeObject query parameter; Kubernetes' default is Metadata. */
export function includeObjectOf(query: URLSearchParams): 'None' | 'Metadata' | 'Object' | undefined {
  const v = query.get('includeObject');
  if (v === null || v === '') return 'Metadata';
  return v === 'None' || v === 'Metadata' || v === 'Object' ? v : undefined;
}

/**
 * The api's hook for get and list: when the client asked for a Table, renders the JSON
 * response (one object, or a list with its metadata) as one; otherwise passes it through.
 * An includeObject value Kubernetes does not know is 400, as there.
 */
export function asTable(rt: ResourceType, req: ApiRequest, res: ApiResponse): ApiResponse {
  if (!wantsTable(req.headers.accept) || res.statusCode !== 200) return res;
  const includeObject = includeObjectOf(req.query);
  if (!includeObject) throw badRequest(`includeObject must be one of "None", "Metadata", "Object" (got "${req.query.get('includeObject')}")`);
  const body = JSON.parse(res.body) as { items?: KubeObject[]; metadata?: Table['metadata'] } & KubeObject;
  const isList = Array.isArray(body.items);
  const table = toTable(rt, isList ? body.items! : [body], { wide: true, includeObject });
  if (isList) {
    const { resourceVersion, continue: cont, remainingItemCount } = body.metadata ?? {};
    table.metadata = { ...(resourceVersion ? { resourceVersion } : {}), ...(cont ? { continue: cont } : {}), ...(remainingItemCount !== undefined ? { remainingItemCount } : {}) };
  } else if (body.metadata?.resourceVersion) {
    table.metadata = { resourceVersion: body.metadata.resourceVersion };
  }
  return json(200, table, { ...res.headers, 'content-type': TABLE_CONTENT_TYPE });
}
