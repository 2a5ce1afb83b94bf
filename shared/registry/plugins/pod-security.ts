import { getCluster } from '../../clusters';
import { invalid, forbidden } from '../../errors';
import { resourceByName, type KubeObject } from '../../resources';
import { evaluatePod, forbiddenReason, violationMessage, type PodMeta, type PodSpecLike } from '../../pod-security/checks';
import {
  AUDIT_VIOLATIONS_ANNOTATION,
  compareLevels,
  ENFORCED_POLICY_ANNOTATION,
  levelVersionString,
  parseLevel,
  policyToEvaluate,
  sameLevelVersion,
  type Level,
  type LevelVersion,
  type Policy,
  versionString,
} from '../../pod-security/policy';
import type { AdmissionAttributes, AdmissionPlugin } from '../admission';
import type { RegistryContext } from '../context';
import { namespaceOf } from './namespace-lifecycle';

/*
 * PodSecurity (k8s.io/pod-security-admission, admission.go): the Pod Security Standards applied
 * per namespace by its pod-security.kubernetes.io/{enforce,audit,warn}[-version] labels.
 *
 * - Pods (create, and updates that change an image or a seccomp annotation, as Kubernetes deems
 *   significant): refused with 403 when they violate the enforce level; else a Warning for the
 *   warn level and an audit annotation for the audit level.
 * - Workloads with a pod template (Deployment, ReplicaSet, StatefulSet, DaemonSet, Job, CronJob,
 *   ReplicationController, PodTemplate): warn and audit only; their pods meet enforce when the
 *   controllers create them (a FailedCreate event then says why).
 * - Namespaces: labels must parse (422); making enforce stricter warns about existing pods that
 *   would violate it.
 *
 * Defaults (policy.ts): an unlabelled namespace is enforced at its cluster's level (the cluster
 * registry item's podSecurity, baseline unless chosen at `stratus cluster create`), kube-system
 * at privileged; audit and warn follow enforce unless labelled. No exemptions.
 */

/** The resources with a pod template, and where it is. */
const TEMPLATES: Readonly<Record<string, (o: KubeObject) => unknown>> = {
  '/replicationcontrollers': (o) => (o.spec as { template?: unknown } | undefined)?.template,
  '/podtemplates': (o) => (o as { template?: unknown }).template,
  'apps/replicasets': (o) => (o.spec as { template?: unknown } | undefined)?.template,
  'apps/deployments': (o) => (o.spec as { template?: unknown } | undefined)?.template,
  'apps/statefulsets': (o) => (o.spec as { template?: unknown } | undefined)?.template,
  'apps/daemonsets': (o) => (o.spec as { template?: unknown } | undefined)?.template,
  'batch/jobs': (o) => (o.spec as { template?: unknown } | undefined)?.template,
  'batch/cronjobs': (o) => (o.spec as { jobTemplate?: { spec?: { template?: unknown } } } | undefined)?.jobTemplate?.spec?.template,
};

/** Pod subresources that never change what the checks read. */
const IGNORED_POD_SUBRESOURCES = new Set(['exec', 'attach', 'binding', 'eviction', 'log', 'portforward', 'proxy', 'status']);

/** How long an api instance trusts a cluster's level: it is set at create and never changes. */
const CLUSTER_LEVEL_TTL_MS = 30_000;
const clusterLevels = new Map<string, { level: Level; at: number }>();

/** The cluster's default enforce level (its registry item; baseline for clusters without one). */
async function clusterLevel(ctx: RegistryContext): Promise<Level> {
  const cached = clusterLevels.get(ctx.tenant);
  if (cached && Date.now() - cached.at < CLUSTER_LEVEL_TTL_MS) return cached.level;
  const record = await getCluster(ctx.store, ctx.tenant).catch(() => undefined);
  const level = parseLevel(record?.podSecurity ?? '') ?? 'baseline';
  clusterLevels.set(ctx.tenant, { level, at: Date.now() });
  return level;
}

/** The default enforce level of a namespace: kube-system's is privileged, any other's the cluster's. */
export async function defaultLevelOf(ctx: RegistryContext, namespace: string): Promise<Level> {
  return namespace === 'kube-system' ? 'privileged' : clusterLevel(ctx);
}

async function policyOf(ctx: RegistryContext, namespace: string, labels: Readonly<Record<string, string>> | undefined) {
  return policyToEvaluate(labels, await defaultLevelOf(ctx, namespace));
}

const metaOf = (o: unknown): PodMeta => ({ annotations: ((o as { metadata?: { annotations?: Record<string, string> } } | undefined)?.metadata?.annotations) ?? {} });
const specOf = (o: unknown): PodSpecLike => ((o as { spec?: PodSpecLike } | undefined)?.spec ?? {});

const containerImages = (spec: PodSpecLike, field: string) => ((spec[field] as { name?: string; image?: string }[] | undefined) ?? []).map((c) => `${c.name}=${c.image}`);

/** isSignificantPodUpdate: containers added or removed, an image changed, a seccomp annotation changed. */
function isSignificantPodUpdate(pod: KubeObject, old: KubeObject): boolean {
  const a = pod.metadata.annotations ?? {};
  const b = old.metadata.annotations ?? {};
  for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) if (k.startsWith('seccomp.security.alpha.kubernetes.io/') || k.startsWith('container.seccomp.security.alpha.kubernetes.io/')) if (a[k] !== b[k]) return true;
  const s = specOf(pod);
  const o = specOf(old);
  return ['containers', 'initContainers', 'ephemeralContainers'].some((f) => containerImages(s, f).join('\n') !== containerImages(o, f).join('\n'));
}

/** Evaluates `lv`, sharing one evaluation between modes at the same level and version. */
function evaluator(meta: PodMeta, spec: PodSpecLike) {
  const cache = new Map<string, ReturnType<typeof evaluatePod>>();
  return (lv: LevelVersion) => {
    const key = levelVersionString(lv);
    let r = cache.get(key);
    if (!r) cache.set(key, (r = evaluatePod(lv, meta, spec)));
    return r;
  };
}

/** Audit and warn (and enforce, for pods) of one pod or template against the namespace's policy. */
function evaluate(a: AdmissionAttributes, policy: Policy, meta: PodMeta, spec: PodSpecLike, enforce: boolean): void {
  const run = evaluator(meta, spec);
  if (enforce) {
    a.auditAnnotations?.set(ENFORCED_POLICY_ANNOTATION, levelVersionString(policy.enforce));
    const violations = run(policy.enforce);
    if (violations.length) {
      const audit = run(policy.audit);
      if (audit.length) a.auditAnnotations?.set(AUDIT_VIOLATIONS_ANNOTATION, violationMessage(policy.audit, audit, true));
      throw forbidden(`${a.rt.resource} "${a.name ?? ''}" is forbidden: ${violationMessage(policy.enforce, violations)}`, { name: a.name, kind: a.rt.resource });
    }
  }
  const audit = run(policy.audit);
  if (audit.length) a.auditAnnotations?.set(AUDIT_VIOLATIONS_ANNOTATION, violationMessage(policy.audit, audit, true));
  const warn = run(policy.warn);
  if (warn.length) a.warnings?.push(violationMessage(policy.warn, warn, true));
}

/**
 * The warnings Kubernetes gives when a namespace's enforce level gets stricter: the existing pods
 * that would violate it, grouped by identical reasons under the lexically first pod's name. Pods
 * of one controller are checked once first; at most 3,000 pods are checked.
 */
export function podWarnings(namespace: string, enforce: LevelVersion, pods: readonly KubeObject[], maxPods = 3000): string[] {
  // One pod per controller first, then the other replicas (prioritizePods).
  const seen = new Set<string>();
  const first: KubeObject[] = [];
  const rest: KubeObject[] = [];
  for (const p of pods) {
    const owner = p.metadata.ownerReferences?.find((r) => r.controller)?.uid;
    if (owner && seen.has(owner)) rest.push(p);
    else {
      if (owner) seen.add(owner);
      first.push(p);
    }
  }
  const ordered = [...first, ...rest];
  const checked = ordered.slice(0, maxPods);
  const byReason = new Map<string, { name: string; count: number }>();
  for (const p of checked) {
    const v = evaluatePod(enforce, metaOf(p), specOf(p));
    if (!v.length) continue;
    const reason = forbiddenReason(v);
    const name = p.metadata.name ?? '';
    const c = byReason.get(reason);
    if (!c) byReason.set(reason, { name, count: 1 });
    else {
      c.count++;
      if (name < c.name) c.name = name;
    }
  }
  const warnings: string[] = [];
  if (checked.length < ordered.length) warnings.push(`new PodSecurity enforce level only checked against the first ${checked.length} of ${ordered.length} existing pods`);
  if (byReason.size) warnings.push(`existing pods in namespace ${JSON.stringify(namespace)} violate the new PodSecurity enforce level ${JSON.stringify(levelVersionString(enforce))}`);
  const decorated = [...byReason].map(([reason, c]) =>
    c.count === 1 ? `${c.name}: ${reason}` : c.count === 2 ? `${c.name} (and 1 other pod): ${reason}` : `${c.name} (and ${c.count - 1} other pods): ${reason}`,
  );
  return [...warnings, ...decorated.sort()];
}

async function validateNamespace(a: AdmissionAttributes, ctx: RegistryContext): Promise<void> {
  if (a.subresource || !a.object || (a.operation !== 'CREATE' && a.operation !== 'UPDATE')) return;
  const name = a.object.metadata.name ?? a.name ?? '';
  const next = await policyOf(ctx, name, a.object.metadata.labels);
  if (a.operation === 'CREATE') {
    if (next.errors.length) throw invalid('Namespace', name, next.errors);
    return;
  }
  if (!a.oldObject) return;
  const old = await policyOf(ctx, name, a.oldObject.metadata.labels);
  if (next.errors.length && (!old.errors.length || JSON.stringify(next.errors) !== JSON.stringify(old.errors))) throw invalid('Namespace', name, next.errors);
  const n = next.policy.enforce;
  const o = old.policy.enforce;
  if (sameLevelVersion(n, o) || n.level === 'privileged') return;
  if (versionString(n.version) === versionString(o.version) && compareLevels(n.level, o.level) < 1) return;
  const { items } = await ctx.store.list(ctx.tenant, resourceByName('pods'), { namespace: name, versioned: false });
  a.warnings?.push(...podWarnings(name, n, items));
}

export const PodSecurity: AdmissionPlugin = {
  name: 'PodSecurity',
  async validate(a, ctx) {
    if (a.rt.group === '' && a.rt.resource === 'namespaces') return validateNamespace(a, ctx);
    if (a.operation !== 'CREATE' && a.operation !== 'UPDATE') return;
    if (!a.object || a.namespace === undefined) return;
    const isPod = a.rt.group === '' && a.rt.resource === 'pods';
    const template = TEMPLATES[`${a.rt.group}/${a.rt.resource}`];
    if (!isPod && !template) return;
    if (isPod ? IGNORED_POD_SUBRESOURCES.has(a.subresource ?? '') : a.subresource) return;
    if (isPod && a.operation === 'UPDATE' && (!a.oldObject || !isSignificantPodUpdate(a.object, a.oldObject))) return;
    const ns = await namespaceOf(ctx, a.namespace);
    const { policy } = await policyOf(ctx, a.namespace, ns?.metadata.labels);
    if (isPod) {
      if (policy.enforce.level === 'privileged' && policy.warn.level === 'privileged' && policy.audit.level === 'privileged') return;
      evaluate(a, policy, metaOf(a.object), specOf(a.object), true);
      return;
    }
    if (policy.warn.level === 'privileged' && policy.audit.level === 'privileged') return;
    const t = template!(a.object);
    if (t === undefined || t === null) return;
    evaluate(a, policy, metaOf(t), specOf(t), false);
  },
};
