import type { KubeObject } from '../resources';
import { AGE, age, arr, col, humanDuration, NAME, num, orNone, rec, since, str, type Rec, type TableConvertor } from './columns';

/* `kubectl get` columns of the core kinds with printers of their own: pods, nodes, namespaces, events, leases. */

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

export const podConvertor: TableConvertor = {
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

export const nodeConvertor: TableConvertor = {
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

export const namespaceConvertor: TableConvertor = {
  columns: [NAME, col('Status', 'The status of the namespace'), AGE],
  cells: (ns, now) => [ns.metadata.name, str(rec(ns.status).phase), age(ns, now)],
};

export const eventConvertor: TableConvertor = {
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

export const leaseConvertor: TableConvertor = {
  columns: [NAME, col('Holder', 'The holder of the lease.'), AGE],
  cells: (lease, now) => [lease.metadata.name, str(rec(lease.spec).holderIdentity), age(lease, now)],
};
