import { forbidden } from '../../errors';
import { SYSTEM_PRIORITY_CLASSES } from '../../kinds/policy';
import { resourceByName } from '../../resources';
import type { ObjectStore } from '../../store/store';
import { PriorityClassSchema } from '../../schemas/policy';
import { withDefaultTolerations } from '../../scheduling/taints';
import type { AdmissionAttributes, AdmissionPlugin } from '../admission';

/**
 * The tenant's globalDefault PriorityClass, cached for a few seconds per warm instance: Kubernetes'
 * Priority admission reads it from an informer cache too, so a just-created default may take a
 * moment to apply. Without the cache every pod create would list PriorityClasses.
 */
const DEFAULT_PRIORITY_TTL_MS = 5_000;
const defaultPriorityCache = new Map<string, { at: number; value: { name?: string; value: number; preemptionPolicy?: string } }>();

async function globalDefaultPriority(store: ObjectStore, tenant: string) {
  const hit = defaultPriorityCache.get(tenant);
  if (hit && Date.now() - hit.at < DEFAULT_PRIORITY_TTL_MS) return hit.value;
  const { items } = await store.list(tenant, resourceByName('priorityclasses'), { versioned: false, filter: (o) => (o as { globalDefault?: boolean }).globalDefault === true });
  const pc = items.map((i) => PriorityClassSchema.parse(i)).sort((a, b) => a.value - b.value)[0];
  const value = pc ? { name: pc.metadata.name, value: pc.value, preemptionPolicy: pc.preemptionPolicy } : { value: 0 };
  if (defaultPriorityCache.size > 10_000) defaultPriorityCache.clear();
  defaultPriorityCache.set(tenant, { at: Date.now(), value });
  return value;
}

const isNewPod = (a: AdmissionAttributes) => a.operation === 'CREATE' && !a.subresource && a.rt.group === '' && a.rt.resource === 'pods' && !!a.object;

/**
 * Priority: spec.priorityClassName → spec.priority and spec.preemptionPolicy (the globalDefault
 * class when none is named; 0 when there is none); 403 for an unknown class or a priority that
 * disagrees with the class.
 */
export const Priority: AdmissionPlugin = {
  name: 'Priority',
  async admit(a, ctx) {
    if (!isNewPod(a)) return undefined;
    const pod = a.object!;
    const spec = { ...(pod.spec as Record<string, unknown>) } as { priorityClassName?: string; priority?: number; preemptionPolicy?: string };
    const name = pod.metadata.name ?? '';
    let resolved: { name?: string; value: number; preemptionPolicy?: string } | undefined;
    if (spec.priorityClassName && spec.priorityClassName in SYSTEM_PRIORITY_CLASSES) {
      resolved = { name: spec.priorityClassName, value: SYSTEM_PRIORITY_CLASSES[spec.priorityClassName]!, preemptionPolicy: 'PreemptLowerPriority' };
    } else if (spec.priorityClassName) {
      const raw = await ctx.store.get(ctx.tenant, resourceByName('priorityclasses'), undefined, spec.priorityClassName);
      if (!raw) throw forbidden(`pods "${name}" is forbidden: no PriorityClass with name ${spec.priorityClassName} was found`, { name, kind: 'pods' });
      const pc = PriorityClassSchema.parse(raw);
      resolved = { name: pc.metadata.name, value: pc.value, preemptionPolicy: pc.preemptionPolicy };
    } else {
      resolved = await globalDefaultPriority(ctx.store, ctx.tenant);
    }
    if (spec.priority !== undefined && spec.priority !== resolved.value)
      throw forbidden(`pods "${name}" is forbidden: the integer value of priority (${spec.priority}) must not be provided in pod spec; priority admission controller computed ${resolved.value} from the given PriorityClass name`, { name, kind: 'pods' });
    const next: Record<string, unknown> = { ...spec, priority: resolved.value };
    if (resolved.name) next.priorityClassName = resolved.name;
    if (resolved.preemptionPolicy && !spec.preemptionPolicy) next.preemptionPolicy = resolved.preemptionPolicy;
    return { ...pod, spec: next };
  },
};

/**
 * DefaultTolerationSeconds: not-ready / unreachable NoExecute tolerations for
 * STRATUS_DEFAULT_TOLERATION_SECONDS (Kubernetes: 300) unless the pod has its own.
 */
export const DefaultTolerationSeconds: AdmissionPlugin = {
  name: 'DefaultTolerationSeconds',
  admit(a) {
    if (!isNewPod(a)) return undefined;
    const seconds = Number(process.env.STRATUS_DEFAULT_TOLERATION_SECONDS ?? 300);
    return withDefaultTolerations(a.object!, Number.isFinite(seconds) && seconds >= 0 ? seconds : 300);
  },
};
