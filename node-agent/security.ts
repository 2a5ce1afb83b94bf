/**
 * securityContext → Docker: runAsUser/runAsGroup/supplementalGroups (container over pod),
 * readOnlyRootFilesystem, capabilities add/drop, allowPrivilegeEscalation: false
 * (no-new-privileges), and privileged — only where the node allows it (a multi-tenant node
 * should not: a privileged container owns the host).
 */
import type Docker from 'dockerode';
import { z } from 'zod';
import { ContainerConfigError } from './env';

const CapabilitiesSchema = z.looseObject({ add: z.array(z.string()).optional(), drop: z.array(z.string()).optional() });
const ContainerSecuritySchema = z.looseObject({
  runAsUser: z.number().int().optional(),
  runAsGroup: z.number().int().optional(),
  runAsNonRoot: z.boolean().optional(),
  readOnlyRootFilesystem: z.boolean().optional(),
  privileged: z.boolean().optional(),
  allowPrivilegeEscalation: z.boolean().optional(),
  capabilities: CapabilitiesSchema.optional(),
});
const PodSecuritySchema = z.looseObject({
  runAsUser: z.number().int().optional(),
  runAsGroup: z.number().int().optional(),
  runAsNonRoot: z.boolean().optional(),
  supplementalGroups: z.array(z.number().int()).optional(),
});

/** Kubernetes writes capabilities without the CAP_ prefix; Docker takes either, ALL included. */
const cap = (c: string) => (c.toUpperCase() === 'ALL' ? 'ALL' : `CAP_${c.toUpperCase().replace(/^CAP_/, '')}`);

export interface SecurityOptions {
  readonly User?: string;
  readonly HostConfig: Pick<Docker.HostConfig, 'ReadonlyRootfs' | 'Privileged' | 'CapAdd' | 'CapDrop' | 'SecurityOpt' | 'GroupAdd'>;
}

/**
 * Docker options for a container's effective security context. Throws ContainerConfigError
 * (→ CreateContainerConfigError) for what the node refuses: privileged without permission, and
 * runAsNonRoot with a root (or unknown) user, in Kubernetes' words.
 */
export function securityOptions(podSecurity: unknown, containerSecurity: unknown, containerName: string, allowPrivileged: boolean): SecurityOptions {
  const pod = PodSecuritySchema.safeParse(podSecurity ?? {});
  const c = ContainerSecuritySchema.safeParse(containerSecurity ?? {});
  if (!pod.success || !c.success) throw new ContainerConfigError(`container ${containerName} has an invalid securityContext`);
  const user = c.data.runAsUser ?? pod.data.runAsUser;
  const group = c.data.runAsGroup ?? pod.data.runAsGroup;
  const nonRoot = c.data.runAsNonRoot ?? pod.data.runAsNonRoot;
  if (nonRoot && (user === undefined || user === 0))
    throw new ContainerConfigError(user === 0 ? 'container has runAsNonRoot and image will run as root' : 'container has runAsNonRoot and image has non-numeric user (unknown), cannot verify user is non-root');
  if (c.data.privileged && !allowPrivileged)
    throw new ContainerConfigError(`container ${containerName} is privileged, but this node does not allow privileged containers`);
  const hostConfig: SecurityOptions['HostConfig'] = {
    ...(c.data.readOnlyRootFilesystem ? { ReadonlyRootfs: true } : {}),
    ...(c.data.privileged ? { Privileged: true } : {}),
    ...(c.data.capabilities?.add?.length ? { CapAdd: c.data.capabilities.add.map(cap) } : {}),
    ...(c.data.capabilities?.drop?.length ? { CapDrop: c.data.capabilities.drop.map(cap) } : {}),
    ...(c.data.allowPrivilegeEscalation === false ? { SecurityOpt: ['no-new-privileges'] } : {}),
    ...(pod.data.supplementalGroups?.length ? { GroupAdd: pod.data.supplementalGroups.map(String) } : {}),
  };
  const userSpec = user !== undefined ? `${user}${group !== undefined ? `:${group}` : ''}` : group !== undefined ? `0:${group}` : undefined;
  return { ...(userSpec ? { User: userSpec } : {}), HostConfig: hostConfig };
}

/*
 * What a node refuses to run at all (the kubelet's canRunPod, and more): unless the agent was
 * started with --allow-privileged, a pod that would own or reach into the host is Blocked —
 * privileged containers, the host's network, PID or IPC namespace, host ports (the host's ports
 * are shared by every node and tenant on the machine), capabilities beyond the runtime's default
 * set, and hostPath volumes outside the node's allowlist (--host-path-allow), never the Docker
 * socket, /, /etc, /proc, /sys, /dev, /var/run, /run, /boot, /root, Docker's root or the agent's
 * own state, even when an allowed directory contains them. Pod Security admission refuses the
 * same at baseline in the API; this is the node's own line, for namespaces labelled privileged
 * and for anything that got past the API.
 */

/** Docker's default capability set (moby's oci/caps/defaults.go); adding one of these changes nothing. */
export const DOCKER_DEFAULT_CAPABILITIES: ReadonlySet<string> = new Set([
  'CHOWN', 'DAC_OVERRIDE', 'FSETID', 'FOWNER', 'MKNOD', 'NET_RAW', 'SETGID', 'SETUID', 'SETFCAP', 'SETPCAP', 'NET_BIND_SERVICE', 'SYS_CHROOT', 'KILL', 'AUDIT_WRITE',
]);

/** Host paths no pod may mount without --allow-privileged, whatever the allowlist says. */
export const DENIED_HOST_PATHS: readonly string[] = ['/', '/etc', '/proc', '/sys', '/dev', '/boot', '/root', '/run', '/var/run', '/var/lib/docker', '/var/lib/stratus'];

export interface NodeSecurityPolicy {
  /** --allow-privileged: the node runs whatever the API admitted (a single-tenant node). */
  readonly allowPrivileged: boolean;
  /** Directories (absolute) whose contents pods may mount as hostPath. @default none */
  readonly hostPathAllow?: readonly string[];
  /** More paths never mounted (the agent's root dir, Docker's root, the stack's state dir). */
  readonly hostPathDeny?: readonly string[];
}

const within = (path: string, dir: string): boolean => path === dir || path.startsWith(dir.endsWith('/') ? dir : `${dir}/`);

/** Normalizes an absolute path (., .., repeated and trailing slashes); relative paths are refused. */
function normalize(path: string): string | undefined {
  if (!path.startsWith('/')) return undefined;
  const out: string[] = [];
  for (const part of path.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') out.pop();
    else out.push(part);
  }
  return `/${out.join('/')}`;
}

/**
 * Why `path` may not be mounted from the host, or undefined when it may. A path equal to or
 * inside a denied one is refused, and so is one that contains a denied path (mounting /var
 * would expose /var/run/docker.sock); otherwise it must lie inside an allowed directory.
 */
export function hostPathRefusal(path: string, policy: NodeSecurityPolicy): string | undefined {
  if (policy.allowPrivileged) return undefined;
  const p = normalize(path);
  if (!p) return `host path ${JSON.stringify(path)} is not absolute`;
  const denied = [...DENIED_HOST_PATHS, ...(policy.hostPathDeny ?? []).map((d) => normalize(d) ?? d)];
  const hit = denied.find((d) => d === '/' ? p === '/' : within(p, d) || within(d, p));
  if (hit || p === '/') return `host path ${p} is never mounted on this node (it is or holds ${hit ?? '/'})`;
  if (p.endsWith('docker.sock') || p.endsWith('containerd.sock')) return `host path ${p} is a container runtime socket`;
  const allowed = (policy.hostPathAllow ?? []).map((d) => normalize(d)).filter((d): d is string => d !== undefined);
  if (!allowed.some((d) => within(p, d))) return `host path ${p} is outside this node's allowed host paths (${allowed.length ? allowed.join(', ') : 'none'}; node agent --host-path-allow)`;
  return undefined;
}

type Loose = Record<string, unknown>;
const list = (v: unknown): Loose[] => (Array.isArray(v) ? v.filter((x): x is Loose => x !== null && typeof x === 'object') : []);
const field = (v: unknown, k: string): unknown => (v !== null && typeof v === 'object' ? (v as Loose)[k] : undefined);

/**
 * Why this node refuses to run the pod at all, in the kubelet's words where it has some
 * ("pod with UID "..." specified host networking, but is disallowed"), or undefined. Pure.
 */
export function nodeRefusal(pod: { metadata: { uid: string }; spec: unknown }, policy: NodeSecurityPolicy): string | undefined {
  if (policy.allowPrivileged) return undefined;
  const spec = pod.spec;
  const uid = JSON.stringify(pod.metadata.uid);
  const hint = ' (this node runs it only when its agent is started with --allow-privileged)';
  for (const [kind, containers] of [['', field(spec, 'containers')], ['init ', field(spec, 'initContainers')], ['ephemeral ', field(spec, 'ephemeralContainers')]] as const) {
    for (const c of list(containers)) {
      if (field(field(c, 'securityContext'), 'privileged') === true) return `pod with UID ${uid} specified privileged ${kind}container, but is disallowed${hint}`;
    }
  }
  if (field(spec, 'hostNetwork') === true) return `pod with UID ${uid} specified host networking, but is disallowed${hint}`;
  if (field(spec, 'hostPID') === true) return `pod with UID ${uid} specified host PID, but is disallowed${hint}`;
  if (field(spec, 'hostIPC') === true) return `pod with UID ${uid} specified host IPC, but is disallowed${hint}`;
  for (const c of [...list(field(spec, 'initContainers')), ...list(field(spec, 'containers')), ...list(field(spec, 'ephemeralContainers'))]) {
    const name = JSON.stringify(field(c, 'name'));
    const port = list(field(c, 'ports')).map((p) => field(p, 'hostPort')).find((p) => typeof p === 'number' && p !== 0);
    if (port !== undefined) return `pod with UID ${uid} specified hostPort ${String(port)} in container ${name}, but host ports are disallowed on this shared node${hint}`;
    const added = ((field(field(field(c, 'securityContext'), 'capabilities'), 'add') as unknown[] | undefined) ?? []).map((x) => String(x).toUpperCase().replace(/^CAP_/, ''));
    const extra = added.filter((x) => !DOCKER_DEFAULT_CAPABILITIES.has(x));
    if (extra.length) return `pod with UID ${uid} specified capabilities ${extra.join(', ')} in container ${name}, beyond the runtime's default set, but is disallowed${hint}`;
  }
  for (const v of list(field(spec, 'volumes'))) {
    const hostPath = field(field(v, 'hostPath'), 'path');
    if (typeof hostPath !== 'string') continue;
    const why = hostPathRefusal(hostPath, policy);
    if (why) return `pod with UID ${uid} specified hostPath volume ${JSON.stringify(field(v, 'name'))}, but is disallowed: ${why}`;
  }
  return undefined;
}
