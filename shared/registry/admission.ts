import type { KubeObject, ResourceType } from '../resources';
import type { RegistryContext } from './context';
import { NamespaceLifecycle } from './plugins/namespace-lifecycle';
import { DefaultTolerationSeconds, Priority } from './plugins/priority';
import { DefaultStorageClass, StorageObjectInUseProtection } from './plugins/storage';
import { RBACEscalation } from './plugins/rbac-escalation';
import { ServiceAccount } from './plugins/service-account';
import { DefaultIngressClass } from './plugins/default-ingress-class';
import { NodeIPAM } from './plugins/node-ipam';
import { NodeRestriction } from './plugins/node-restriction';
import { LimitRanger } from './plugins/limit-ranger';
import { ResourceQuota } from './plugins/resource-quota';
import { PodSecurity } from './plugins/pod-security';
import { LoadBalancerAddresses } from './plugins/load-balancer-addresses';

/*
 * Admission: an ordered list of named plugins, as kube-apiserver's --enable-admission-plugins.
 * Every write of every kind passes through them, from the api function and from controllers and
 * the scheduler alike (shared/registry/generic.ts calls runAdmission): first each plugin's
 * mutating `admit` in order, then (after the kind's strategy has prepared and validated the
 * object) each plugin's `validate`. A plugin reads the attributes and ignores what is not its
 * business (as Kubernetes' plugins check the resource they care about).
 */

export type Operation = 'CREATE' | 'UPDATE' | 'DELETE';

/** admission.Attributes: what is being done to what, by whom. */
export interface AdmissionAttributes {
  readonly operation: Operation;
  readonly rt: ResourceType;
  readonly subresource?: string;
  readonly namespace?: string;
  readonly name?: string;
  /** The object as it will be written (CREATE, UPDATE). */
  readonly object?: KubeObject;
  /** The stored object (UPDATE, DELETE). */
  readonly oldObject?: KubeObject;
  readonly dryRun: boolean;
  /** Where a plugin adds warnings for the client (the Warning header). */
  readonly warnings?: string[];
  /** Where a plugin adds audit annotations (the audit event's annotations). */
  readonly auditAnnotations?: Map<string, string>;
  /** Where a plugin bounds when the write may still be sent (ResourceQuota: while its charge counts). */
  readonly writeDeadline?: WriteDeadline;
}

/**
 * The latest time (the store's clock, ms) at which the write admitted may be sent; the store
 * fails it with 504 Timeout after that, writing nothing (shared/store/sequence.ts WriteTooLate).
 */
export interface WriteDeadline {
  notAfter?: number;
}

/** Bounds the write `a` admits to be sent by `at` (the earliest of every plugin's bound wins). */
export function sendWriteBy(a: AdmissionAttributes, at: number): void {
  const d = a.writeDeadline;
  if (d && (d.notAfter === undefined || at < d.notAfter)) d.notAfter = at;
}

/**
 * One admission plugin. `admit` (mutating) returns the object to continue with, or undefined to
 * leave it; `validate` throws a StatusError to refuse. Either may be absent.
 */
export interface AdmissionPlugin {
  readonly name: string;
  readonly admit?: (a: AdmissionAttributes, ctx: RegistryContext) => Promise<KubeObject | undefined> | KubeObject | undefined;
  readonly validate?: (a: AdmissionAttributes, ctx: RegistryContext) => Promise<void> | void;
}

/**
 * The plugins, in order (kube-apiserver's recommended order where Kubernetes has the plugin).
 * ResourceQuota stays last: it charges the quota, so every other check must have passed.
 */
export const admissionPlugins: readonly AdmissionPlugin[] = [NamespaceLifecycle, LimitRanger, ServiceAccount, PodSecurity, Priority, DefaultTolerationSeconds, DefaultStorageClass, StorageObjectInUseProtection, DefaultIngressClass, NodeIPAM, NodeRestriction, LoadBalancerAddresses, RBACEscalation, ResourceQuota];

/** Mutating phase: each plugin's admit in order; returns the object to continue with. */
export async function mutate(a: AdmissionAttributes, ctx: RegistryContext, plugins = admissionPlugins): Promise<KubeObject | undefined> {
  let object = a.object;
  for (const p of plugins) {
    if (!p.admit) continue;
    const next = await p.admit({ ...a, object }, ctx);
    if (next) object = next;
  }
  return object;
}

/** Validating phase: each plugin's validate in order; the first refusal is thrown. */
export async function validate(a: AdmissionAttributes, ctx: RegistryContext, plugins = admissionPlugins): Promise<void> {
  for (const p of plugins) if (p.validate) await p.validate(a, ctx);
}
