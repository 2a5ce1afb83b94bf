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
