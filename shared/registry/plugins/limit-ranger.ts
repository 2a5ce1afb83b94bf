import { forbidden } from '../../errors';
import { resourceByName, type KubeObject } from '../../resources';
import { LimitRangeSchema, type LimitRange, type LimitRangeItem } from '../../schemas/quota';
import { addAmounts, amount, amountsOf, formatAmount, type Amounts } from '../../quota/quantity';
import type { AdmissionAttributes, AdmissionPlugin } from '../admission';
import type { RegistryContext } from '../context';
import { policyObjects } from '../../quota/presence';

/*
 * LimitRanger, as Kubernetes' plugin (plugin/pkg/admission/limitranger), for new pods and
 * PersistentVolumeClaims in a namespace with LimitRanges:
 *  - mutating: each container and init container lacking a request or limit of a resource gets
 *    the `Container` items' defaultRequest / default (the pod is annotated with what was set);
 *  - validating: `Container` items' min, max and maxLimitRequestRatio per container, `Pod` items'
 *    on the sums over the pod's containers, `PersistentVolumeClaim` items' min and max on the
 *    claim's storage request. Refusals are 403 with Kubernetes' messages, all of them at once:
 *    `maximum cpu usage per Container is 1, but limit is 2`.
 * Cost: nothing in a namespace without LimitRanges (shared/quota/presence.ts); else one strongly
 * consistent query of them per pod or claim create.
 */

export const LIMIT_RANGER_ANNOTATION = 'kubernetes.io/limit-ranger';

type Resources = { requests?: Record<string, string>; limits?: Record<string, string> };
interface Container {
  name?: string;
  resources?: Resources;
}

const isPod = (a: AdmissionAttributes) => a.rt.group === '' && a.rt.resource === 'pods';
const isClaim = (a: AdmissionAttributes) => a.rt.group === '' && a.rt.resource === 'persistentvolumeclaims';
const applies = (a: AdmissionAttributes) => a.operation === 'CREATE' && !a.subresource && (isPod(a) || isClaim(a)) && !!a.object && a.namespace !== undefined;

/** The namespace's LimitRanges (memoised for the request: admit and validate both need them). */
async function limitRangesIn(ctx: RegistryContext, namespace: string): Promise<LimitRange[]> {
  const key = `limitranges/${namespace}`;
  if (ctx.memo?.has(key)) return ctx.memo.get(key) as LimitRange[];
  const items = await policyObjects(ctx.store, ctx.tenant, 'limitranges', namespace, async () => (await ctx.store.list(ctx.tenant, resourceByName('limitranges'), { namespace, versioned: false })).items);
  const out = items.map((i) => LimitRangeSchema.parse(i)).sort((x, y) => (x.metadata.name! < y.metadata.name! ? -1 : 1));
  ctx.memo?.set(key, out);
  return out;
}

/** The `Container` items' defaults, later LimitRanges not overriding earlier ones. */
function containerDefaults(ranges: readonly LimitRange[]): { requests: Record<string, string>; limits: Record<string, string> } {
  const requests: Record<string, string> = {};
  const limits: Record<string, string> = {};
  for (const lr of ranges)
    for (const item of lr.spec.limits.filter((l) => l.type === 'Container')) {
      for (const [k, v] of Object.entries(item.defaultRequest ?? {})) requests[k] ??= v;
      for (const [k, v] of Object.entries(item.default ?? {})) limits[k] ??= v;
    }
  return { requests, limits };
}

/**
 * Defaults merged into one container (mergeContainerResources): only what it lacks. Returns the
 * container and the annotation's words for what was set.
 */
function mergeContainer(c: Container, defaults: { requests: Record<string, string>; limits: Record<string, string> }, kind: 'container' | 'init container'): { container: Container; notes: string[] } {
  const requests = { ...(c.resources?.requests ?? {}) };
  const limits = { ...(c.resources?.limits ?? {}) };
  const setRequests: string[] = [];
  const setLimits: string[] = [];
  for (const k of Object.keys(defaults.limits).sort())
    if (limits[k] === undefined) {
      limits[k] = defaults.limits[k]!;
      setLimits.push(k);
    }
  for (const k of Object.keys(defaults.requests).sort())
    if (requests[k] === undefined) {
      requests[k] = defaults.requests[k]!;
      setRequests.push(k);
    }
  const notes: string[] = [];
  if (setRequests.length > 0) notes.push(`${setRequests.join(', ')} request for ${kind} ${c.name ?? ''}`);
  if (setLimits.length > 0) notes.push(`${setLimits.join(', ')} limit for ${kind} ${c.name ?? ''}`);
  if (notes.length === 0) return { container: c, notes };
  const resources: Resources = { ...(c.resources ?? {}) };
  if (Object.keys(requests).length > 0) resources.requests = requests;
  if (Object.keys(limits).length > 0) resources.limits = limits;
  return { container: { ...c, resources }, notes };
}

/** A pod with the LimitRanges' container defaults applied, annotated with what was set (pure). */
export function applyContainerDefaults(pod: KubeObject, ranges: readonly LimitRange[]): KubeObject {
  const defaults = containerDefaults(ranges);
  if (Object.keys(defaults.requests).length === 0 && Object.keys(defaults.limits).length === 0) return pod;
  const spec = (pod.spec ?? {}) as { containers?: Container[]; initContainers?: Container[] };
  const notes: string[] = [];
  const merge = (list: Container[] | undefined, kind: 'container' | 'init container') =>
    list?.map((c) => {
      const m = mergeContainer(c, defaults, kind);
      notes.push(...m.notes);
      return m.container;
    });
  const containers = merge(spec.containers, 'container');
  const initContainers = merge(spec.initContainers, 'init container');
  if (notes.length === 0) return pod;
  const nextSpec: Record<string, unknown> = { ...spec, containers };
  if (initContainers) nextSpec.initContainers = initContainers;
  return {
    ...pod,
    metadata: { ...pod.metadata, annotations: { ...(pod.metadata.annotations ?? {}), [LIMIT_RANGER_ANNOTATION]: `LimitRanger plugin set: ${notes.join('; ')}` } },
    spec: nextSpec,
  };
}

const fmt = (q: string) => formatAmount(amount(q)!);

function minConstraint(type: string, r: string, enforced: string, requests: Record<string, string>, limits: Record<string, string>): string | undefined {
  const e = amount(enforced)!.milli;
  if (requests[r] === undefined) return `minimum ${r} usage per ${type} is ${fmt(enforced)}.  No request is specified`;
  if (amount(requests[r])!.milli < e) return `minimum ${r} usage per ${type} is ${fmt(enforced)}, but request is ${fmt(requests[r])}`;
  if (limits[r] !== undefined && amount(limits[r])!.milli < e) return `minimum ${r} usage per ${type} is ${fmt(enforced)}, but limit is ${fmt(limits[r])}`;
  return undefined;
}

function maxConstraint(type: string, r: string, enforced: string, requests: Record<string, string>, limits: Record<string, string>): string | undefined {
  const e = amount(enforced)!.milli;
  if (limits[r] === undefined) return `maximum ${r} usage per ${type} is ${fmt(enforced)}.  No limit is specified`;
  if (amount(limits[r])!.milli > e) return `maximum ${r} usage per ${type} is ${fmt(enforced)}, but limit is ${fmt(limits[r])}`;
  if (requests[r] !== undefined && amount(requests[r])!.milli > e) return `maximum ${r} usage per ${type} is ${fmt(enforced)}, but request is ${fmt(requests[r])}`;
  return undefined;
}

function maxRequestConstraint(type: string, r: string, enforced: string, requests: Record<string, string>): string | undefined {
  if (requests[r] === undefined) return `maximum ${r} usage per ${type} is ${fmt(enforced)}.  No request is specified`;
  if (amount(requests[r])!.milli > amount(enforced)!.milli) return `maximum ${r} usage per ${type} is ${fmt(enforced)}, but request is ${fmt(requests[r])}`;
  return undefined;
}

function ratioConstraint(type: string, r: string, enforced: string, requests: Record<string, string>, limits: Record<string, string>): string | undefined {
  const req = requests[r] !== undefined ? amount(requests[r])!.milli : 0;
  const lim = limits[r] !== undefined ? amount(limits[r])!.milli : 0;
  if (req === 0) return `${r} max limit to request ratio per ${type} is ${fmt(enforced)}, but no request is specified or request is 0`;
  if (lim === 0) return `${r} max limit to request ratio per ${type} is ${fmt(enforced)}, but no limit is specified or limit is 0`;
  const ratio = lim / req;
  if (ratio * 1000 > amount(enforced)!.milli) return `${r} max limit to request ratio per ${type} is ${fmt(enforced)}, but provided ratio is ${ratio.toFixed(6)}`;
  return undefined;
}

/** A list of amounts back to strings (the constraint checks read strings). */
const asStrings = (l: Amounts) => Object.fromEntries(Object.entries(l).map(([k, v]) => [k, formatAmount(v)]));

/** Sums over containers, only of resources every container has (the limitranger's sum). */
function sumWhereAllSet(lists: readonly Record<string, string>[]): Record<string, string> {
  const keys = new Set(lists.flatMap((l) => Object.keys(l)));
  let total: Amounts = {};
  for (const k of keys) {
    if (!lists.every((l) => l[k] !== undefined)) continue;
    for (const l of lists) total = addAmounts(total, { [k]: amount(l[k]!)! });
  }
  return asStrings(total);
}

function checkItem(item: LimitRangeItem, type: string, requests: Record<string, string>, limits: Record<string, string>, errs: string[]) {
  for (const [r, v] of Object.entries(item.min ?? {})) {
    const e = minConstraint(type, r, v, requests, limits);
    if (e) errs.push(e);
  }
  for (const [r, v] of Object.entries(item.max ?? {})) {
    const e = maxConstraint(type, r, v, requests, limits);
    if (e) errs.push(e);
  }
  for (const [r, v] of Object.entries(item.maxLimitRequestRatio ?? {})) {
    const e = ratioConstraint(type, r, v, requests, limits);
    if (e) errs.push(e);
  }
}

/** Every violation of the LimitRanges by a pod, in Kubernetes' words (pure). */
export function podViolations(pod: KubeObject, ranges: readonly LimitRange[]): string[] {
  const spec = (pod.spec ?? {}) as { containers?: Container[]; initContainers?: Container[] };
  const containers = spec.containers ?? [];
  const errs: string[] = [];
  for (const lr of ranges)
    for (const item of lr.spec.limits) {
      if (item.type === 'Container')
        for (const c of [...containers, ...(spec.initContainers ?? [])]) checkItem(item, 'Container', c.resources?.requests ?? {}, c.resources?.limits ?? {}, errs);
      if (item.type === 'Pod')
        checkItem(
          item,
          'Pod',
          sumWhereAllSet(containers.map((c) => c.resources?.requests ?? {})),
          sumWhereAllSet(containers.map((c) => c.resources?.limits ?? {})),
          errs,
        );
    }
  return errs;
}

/** Every violation of the LimitRanges by a PersistentVolumeClaim (pure). */
export function claimViolations(claim: KubeObject, ranges: readonly LimitRange[]): string[] {
  const requests = asStrings(amountsOf(((claim.spec ?? {}) as { resources?: Resources }).resources?.requests));
  const errs: string[] = [];
  for (const lr of ranges)
    for (const item of lr.spec.limits.filter((l) => l.type === 'PersistentVolumeClaim')) {
      for (const [r, v] of Object.entries(item.min ?? {})) {
        const e = minConstraint('PersistentVolumeClaim', r, v, requests, {});
        if (e) errs.push(e);
      }
      for (const [r, v] of Object.entries(item.max ?? {})) {
        const e = maxRequestConstraint('PersistentVolumeClaim', r, v, requests);
        if (e) errs.push(e);
      }
    }
  return errs;
}

/** utilerrors.NewAggregate's message: one error as is, several as `[a, b]`. */
export const aggregate = (errs: readonly string[]) => (errs.length === 1 ? errs[0]! : `[${errs.join(', ')}]`);

export const LimitRanger: AdmissionPlugin = {
  name: 'LimitRanger',
  async admit(a, ctx) {
    if (!applies(a) || !isPod(a)) return undefined;
    const ranges = await limitRangesIn(ctx, a.namespace!);
    if (ranges.length === 0) return undefined;
    return applyContainerDefaults(a.object!, ranges);
  },
  async validate(a, ctx) {
    if (!applies(a)) return;
    const ranges = await limitRangesIn(ctx, a.namespace!);
    if (ranges.length === 0) return;
    const errs = isPod(a) ? podViolations(a.object!, ranges) : claimViolations(a.object!, ranges);
    if (errs.length > 0) throw forbidden(`${a.rt.resource} "${a.name ?? ''}" is forbidden: ${aggregate(errs)}`, { name: a.name, kind: a.rt.resource });
  },
};
