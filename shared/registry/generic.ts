import { badRequest, conflict, invalid, isConflict, isNotFound, methodNotAllowed, notFound } from '../errors';
import { canonicalJson } from '../canonical';
import { apiVersionOf, hasStatusSubresource, isStored, patchTableOf, resourceByName, resourceTypes, type Allocation, type KubeObject, type ResourceType } from '../resources';
import { matchesFields, matchesLabels, parseFieldSelector, parseLabelSelector } from '../selectors';
import type { PodSpec } from '../schemas/pod';
import { mutate, validate, type AdmissionAttributes, type WriteDeadline } from './admission';
import type { RegistryContext, Target } from './context';
import { checkSize, decodeObject, generateNameSuffix, validateObject, type FieldValidation } from './decode';
import { applyPatch, type PatchType } from './patch';
import { validContinueToken } from '../limits';
import { recordWrite } from './managed-fields';

/*
 * The generic registry (k8s.io/apiserver's registry/generic/registry.Store): create, update,
 * patch and delete for every kind, with preconditions, dry-run, finalizers, graceful deletion and
 * admission, driven by the kind's strategy (ResourceType). The api function calls it for HTTP
 * requests; controllers, the scheduler and the node lifecycle controller call the very same
 * functions with a RegistryContext of their own. Errors are StatusErrors.
 */

const MAX_ATTEMPTS = 20;
const namespacesRt = () => resourceByName('namespaces');
const nowSeconds = () => new Date().toISOString().replace(/\.\d+Z$/, 'Z');

/** How a write is carried out. */
export interface WriteOptions {
  /** dryRun=All: everything but the write. */
  readonly dryRun?: boolean;
  /** fieldValidation for decoding (default Strict). */
  readonly fieldValidation?: FieldValidation;
  /**
   * The field manager recorded in managedFields (the API's writes: fieldManager or the
   * User-Agent). The system's own writes (controllers, scheduler) pass none and record none.
   */
  readonly manager?: string;
}

/** A write's result: the object as stored (or as it would be, under dry-run), and warnings. */
export interface WriteResult {
  readonly object: KubeObject;
  readonly warnings: string[];
  /** True when a PUT created the object (allowCreateOnUpdate): 201 rather than 200. */
  readonly created?: boolean;
  /** Annotations admission plugins left for the audit event (PodSecurity's). */
  readonly auditAnnotations?: ReadonlyMap<string, string>;
}

/** Where admission plugins leave warnings, audit annotations and a deadline for the write during one write. */
interface AdmissionSinks {
  readonly warnings: string[];
  readonly auditAnnotations: Map<string, string>;
  readonly writeDeadline: WriteDeadline;
}
const newSinks = (): AdmissionSinks => ({ warnings: [], auditAnnotations: new Map(), writeDeadline: {} });
/** The decoder's warnings then admission's, and the audit annotations when there are any. */
const withSinks = (object: KubeObject, warnings: string[], sinks: AdmissionSinks): WriteResult => ({
  object,
  warnings: [...warnings, ...sinks.warnings],
  ...(sinks.auditAnnotations.size ? { auditAnnotations: sinks.auditAnnotations } : {}),
});

const attrs = (operation: AdmissionAttributes['operation'], t: Target, dryRun: boolean, object?: KubeObject, oldObject?: KubeObject, sinks?: AdmissionSinks): AdmissionAttributes => ({
  operation,
  rt: t.rt,
  subresource: t.subresource,
  namespace: t.namespace,
  name: t.name ?? object?.metadata.name,
  object,
  oldObject,
  dryRun,
  ...(sinks ? { warnings: sinks.warnings, auditAnnotations: sinks.auditAnnotations, writeDeadline: sinks.writeDeadline } : {}),
});

/** GET one object; 404 NotFound when there is none. */
export async function getObject(ctx: RegistryContext, t: Target): Promise<KubeObject> {
  await t.rt.beforeRead?.(ctx.store, ctx.tenant);
  const obj = await ctx.store.get(ctx.tenant, t.rt, t.namespace, t.name!);
  if (!obj) throw notFound(t.rt.resource, t.name!, t.rt.group);
  return obj;
}

/** What a list asks for, as query parameters carry it. */
export interface ListQuery {
  readonly labelSelector?: string;
  readonly fieldSelector?: string;
  readonly limit?: string;
  readonly continue?: string;
}

export interface ListOutcome {
  readonly items: KubeObject[];
  readonly resourceVersion: string;
  readonly continue?: string;
}

interface ContinueToken {
  rv: number;
  after: string;
}

/** Whether a continue token's start key lies in the range the list of `t` reads. */
function continueKeyFits(t: Target, after: string): boolean {
  const slash = after.indexOf('/');
  if (slash < 0 || after.indexOf('/', slash + 1) >= 0) return false;
  const ns = after.slice(0, slash);
  const name = after.slice(slash + 1);
  if (!name || name === '.' || name === '..' || ns === '.' || ns === '..') return false;
  if (!t.rt.namespaced) return ns === '';
  return t.namespace !== undefined ? ns === t.namespace : ns !== '';
}

/** A list: label/field selectors, limit/continue, every namespace when the target names none. */
export async function listObjects(ctx: RegistryContext, t: Target, q: ListQuery): Promise<ListOutcome> {
  await t.rt.beforeRead?.(ctx.store, ctx.tenant);
  const labels = parseLabelSelector(q.labelSelector ?? '');
  const fields = parseFieldSelector(t.rt, q.fieldSelector ?? '');
  const limit = q.limit ? Number(q.limit) : undefined;
  if (limit !== undefined && (!Number.isInteger(limit) || limit < 0)) throw badRequest(`invalid limit: ${q.limit}`);
  let token: ContinueToken | undefined;
  if (q.continue) {
    try {
      token = JSON.parse(Buffer.from(q.continue, 'base64url').toString('utf8')) as ContinueToken;
      if (!validContinueToken(token)) throw new Error('shape');
    } catch {
      throw badRequest('continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)');
    }
    // The start key must be one this list could have made (kube-apiserver's DecodeContinue keeps a
    // token within its key prefix): `NS/NAME` of the listed namespace, or `/NAME` of a
    // cluster-scoped kind; anything else (another namespace, `..`) is 400, not a query out of range.
    if (!continueKeyFits(t, token.after)) throw badRequest(`continue key is not valid: ${token.after}`);
  }
  const filter = (o: KubeObject) => matchesLabels(labels, o.metadata.labels) && matchesFields(t.rt, fields, o);
  // Only `spec.nodeName=X` (a node agent's resync, `kubectl get pods --field-selector ...`): the
  // node's pods from the byNode index, not every pod of the tenant.
  const onNode = fields.length === 1 && fields[0]!.field === 'spec.nodeName' && fields[0]!.op === '=' && fields[0]!.value !== '' ? fields[0]!.value : undefined;
  const result =
    t.rt.group === '' && t.rt.resource === 'pods' && onNode && !limit && !token
      ? await listPodsOnNode(ctx, t, onNode, filter)
      : await ctx.store.list(ctx.tenant, t.rt, { namespace: t.namespace, filter, limit: limit && limit > 0 ? limit : undefined, startAfter: token?.after });
  const rv = token?.rv ?? result.resourceVersion;
  return {
    items: result.items,
    resourceVersion: String(rv),
    continue: result.continueAfter ? Buffer.from(JSON.stringify({ rv, after: result.continueAfter })).toString('base64url') : undefined,
  };
}

/**
 * Pods with spec.nodeName=X from the byNode index (store.listOnNode) instead of every pod of the
 * tenant. The index is eventually consistent; the list's resourceVersion is chosen so that a
 * watch from it misses nothing the index had not caught up with (see listOnNode). Node agents
 * reconcile level-triggered and never watch from it, so they skip the change-log read that
 * choice costs and get the sequence as read before the index.
 */
async function listPodsOnNode(ctx: RegistryContext, t: Target, nodeName: string, filter: (o: KubeObject) => boolean) {
  const { items, resourceVersion } = await ctx.store.listOnNode(ctx.tenant, t.rt, nodeName, { watchable: !ctx.nodeIdentity });
  return { items: items.filter((o) => (t.namespace === undefined || o.metadata.namespace === t.namespace) && filter(o)), resourceVersion, continueAfter: undefined };
}

/**
 * Create: decode (schema, fieldValidation), namespace and name from the target, generateName,
 * the kind's defaults, mutating admission, the strategy's prepareForCreate and validation,
 * validating admission, then the write (unless dry-run). `raw` is the body as decoded from the
 * wire, or an object a controller built.
 */
export async function createObject(ctx: RegistryContext, t: Target, raw: unknown, opts: WriteOptions = {}): Promise<WriteResult> {
  const { obj, warnings } = decodeObject(t.rt, raw, opts.fieldValidation ?? 'Strict');
  if (t.rt.namespaced) {
    if (obj.metadata.namespace && t.namespace !== undefined && obj.metadata.namespace !== t.namespace)
      throw badRequest('the namespace of the provided object does not match the namespace sent on the request');
    obj.metadata.namespace = t.namespace ?? obj.metadata.namespace;
  } else delete obj.metadata.namespace;
  if (!obj.metadata.name && obj.metadata.generateName) obj.metadata.name = `${obj.metadata.generateName}${generateNameSuffix()}`;
  for (const f of ['uid', 'resourceVersion', 'creationTimestamp', 'deletionTimestamp', 'deletionGracePeriodSeconds', 'generation', 'selfLink'] as const)
    delete obj.metadata[f];
  const target = { ...t, namespace: obj.metadata.namespace, name: obj.metadata.name };
  const dryRun = opts.dryRun ?? false;
  const sinks = newSinks();
  let next = await admitCreate(ctx, target, obj, dryRun, sinks);
  if (opts.manager !== undefined) next = recordWrite(target, undefined, next, opts.manager);
  const allocation = await t.rt.allocate?.(ctx, next, undefined, dryRun);
  if (allocation) next = allocation.object;
  if (dryRun) return withSinks(next, warnings, sinks);
  // Sent while admission's charges still count (a quota's pending ledger), else 504 and nothing written.
  return withSinks(await writeAllocated(allocation, () => ctx.store.create(ctx.tenant, t.rt, next, { notAfter: sinks.writeDeadline.notAfter })), warnings, sinks);
}

/** A write of what `allocation` claimed for: its claims go back when the write fails. */
async function writeAllocated(allocation: Allocation | undefined, write: () => Promise<KubeObject>): Promise<KubeObject> {
  let written: KubeObject;
  try {
    written = await write();
  } catch (e) {
    await allocation?.abort();
    throw e;
  }
  await allocation?.commit();
  return written;
}

/** Removes an object for good and gives back what it held (the strategy's release). */
async function removeStored(ctx: RegistryContext, rt: ResourceType, namespace: string | undefined, name: string, rv?: string): Promise<KubeObject> {
  const removed = await ctx.store.remove(ctx.tenant, rt, namespace, name, rv);
  await rt.release?.(ctx, removed);
  return removed;
}

/** Defaults, mutating admission, prepareForCreate, validation, validating admission, size. */
async function admitCreate(ctx: RegistryContext, t: Target, obj: KubeObject, dryRun: boolean, sinks?: AdmissionSinks): Promise<KubeObject> {
  let next = t.rt.applyDefaults(obj);
  next = (await mutate(attrs('CREATE', t, dryRun, next, undefined, sinks), ctx)) ?? next;
  if (t.rt.prepareForCreate) next = t.rt.prepareForCreate(next);
  validateObject(t.rt, next);
  checkSize(next);
  await validate(attrs('CREATE', t, dryRun, next, undefined, sinks), ctx);
  return next;
}

/**
 * Merges an incoming object into the stored one for an update of the object or of its status
 * subresource: system metadata is the server's; status changes only through /status and spec
 * only through the main resource (for kinds with a status subresource).
 */
function mergeForUpdate(t: Target, old: KubeObject, incoming: KubeObject): KubeObject {
  const meta = {
    ...incoming.metadata,
    name: old.metadata.name,
    namespace: old.metadata.namespace,
    uid: old.metadata.uid,
    creationTimestamp: old.metadata.creationTimestamp,
    deletionTimestamp: old.metadata.deletionTimestamp,
    deletionGracePeriodSeconds: old.metadata.deletionGracePeriodSeconds,
    generation: old.metadata.generation,
  };
  for (const k of Object.keys(meta) as (keyof typeof meta)[]) if (meta[k] === undefined) delete meta[k];
  if (t.subresource === 'status') return { ...old, status: incoming.status };
  const next: KubeObject = { ...incoming, metadata: meta };
  if (hasStatusSubresource(t.rt)) {
    if (old.status === undefined) delete next.status;
    else next.status = old.status;
  }
  return next;
}

/**
 * Writes an update after defaults, admission and validation, and applies what follows from it:
 * an object being deleted whose last finalizer is gone (and, for a graceful kind, whose grace
 * period is over) is removed. A no-op update returns the stored object without a write.
 */
async function writeUpdate(ctx: RegistryContext, t: Target, old: KubeObject, next: KubeObject, opts: WriteOptions, sinks: AdmissionSinks = newSinks()): Promise<KubeObject> {
  const dryRun = opts.dryRun ?? false;
  if (t.subresource !== 'status') {
    next = t.rt.applyDefaults(next);
    if (t.rt.prepareForUpdate) next = t.rt.prepareForUpdate(next, old);
  }
  next = (await mutate(attrs('UPDATE', t, dryRun, next, old, sinks), ctx)) ?? next;
  validateObject(t.rt, next, t.subresource === 'status' ? undefined : old);
  checkSize(next);
  await validate(attrs('UPDATE', t, dryRun, next, old, sinks), ctx);
  const comparable = (o: KubeObject) => canonicalJson({ ...o, metadata: { ...o.metadata, resourceVersion: undefined } });
  if (comparable(next) === comparable(old)) return old; // no-op: Kubernetes does not bump the version
  if (opts.manager !== undefined) next = recordWrite(t, old, next, opts.manager);
  const allocation = t.subresource === 'status' ? undefined : await t.rt.allocate?.(ctx, next, old, dryRun);
  if (allocation) next = allocation.object;
  if (dryRun) return next;
  const write = next;
  const updated = await writeAllocated(allocation, () => ctx.store.update(ctx.tenant, t.rt, write, old.metadata.resourceVersion!, { notAfter: sinks.writeDeadline.notAfter }));
  return removeIfFinalized(ctx, t.rt, updated);
}

/** An object marked for deletion whose finalizers are all gone (and grace over) is removed. */
async function removeIfFinalized(ctx: RegistryContext, rt: ResourceType, obj: KubeObject): Promise<KubeObject> {
  const m = obj.metadata;
  if (!m.deletionTimestamp || (m.finalizers ?? []).length > 0 || (rt.deletion === 'graceful' && m.deletionGracePeriodSeconds !== 0)) return obj;
  try {
    return await removeStored(ctx, rt, m.namespace, m.name!, m.resourceVersion);
  } catch (e) {
    if (!isNotFound(e) && !isConflict(e)) throw e;
    return obj;
  }
}

/**
 * PUT: replace, conditional on metadata.resourceVersion when the body carries one (409 when it
 * is not the stored one); without one, the strategy decides (allowUnconditionalUpdate) and the
 * update is retried on the latest state. A missing object is created when the strategy allows it.
 */
export async function updateObject(ctx: RegistryContext, t: Target, raw: unknown, opts: WriteOptions = {}): Promise<WriteResult> {
  const { obj, warnings } = decodeObject(t.rt, raw, opts.fieldValidation ?? 'Strict');
  if (obj.metadata.name !== undefined && obj.metadata.name !== t.name)
    throw badRequest(`the name of the object (${obj.metadata.name}) does not match the name on the URL (${t.name})`);
  if (t.rt.namespaced && obj.metadata.namespace && obj.metadata.namespace !== t.namespace)
    throw badRequest('the namespace of the provided object does not match the namespace sent on the request');
  const expected = obj.metadata.resourceVersion;
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const old = await ctx.store.get(ctx.tenant, t.rt, t.namespace, t.name!);
    if (!old) {
      if (!t.rt.allowCreateOnUpdate || t.subresource) throw notFound(t.rt.resource, t.name!, t.rt.group);
      if (expected !== undefined) throw notFound(t.rt.resource, t.name!, t.rt.group);
      try {
        const created = await createObject(ctx, t, { ...obj, metadata: { ...obj.metadata, name: t.name } }, { ...opts, fieldValidation: 'Ignore' });
        return { ...created, warnings, created: true };
      } catch (e) {
        if (isAlreadyExistsError(e)) continue; // made meanwhile: update it
        throw e;
      }
    }
    // A uid in the body is a precondition, checked first, as kube-apiserver's storage does.
    if (obj.metadata.uid && obj.metadata.uid !== old.metadata.uid)
      throw conflict(t.rt.resource, t.name!, t.rt.group, `Precondition failed: UID in precondition: ${obj.metadata.uid}, UID in object meta: ${old.metadata.uid}`);
    if (expected === undefined && t.rt.allowUnconditionalUpdate === false)
      throw invalid(t.rt.kind, t.name!, [{ reason: 'FieldValueInvalid', message: 'Invalid value: 0x0: must be specified for an update', field: 'metadata.resourceVersion' }], t.rt.group);
    if (expected !== undefined && expected !== old.metadata.resourceVersion) throw conflict(t.rt.resource, t.name!, t.rt.group);
    try {
      const sinks = newSinks();
      return withSinks(await writeUpdate(ctx, t, old, mergeForUpdate(t, old, obj), opts, sinks), warnings, sinks);
    } catch (e) {
      if (expected === undefined && isConflict(e)) continue; // unconditional update: retry on the new state
      throw e;
    }
  }
  throw conflict(t.rt.resource, t.name!, t.rt.group);
}

const isAlreadyExistsError = (e: unknown) => (e as { reason?: string } | undefined)?.reason === 'AlreadyExists';

/** PATCH: merge, strategic merge or JSON patch, applied to the latest state (retried on races). */
export async function patchObject(ctx: RegistryContext, t: Target, type: PatchType, patch: unknown, opts: WriteOptions = {}): Promise<WriteResult> {
  const pinned = (patch as { metadata?: { resourceVersion?: string } } | null)?.metadata?.resourceVersion !== undefined;
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const old = await getObject(ctx, t);
    const { obj, warnings } = decodeObject(t.rt, applyPatch(type, old, patch, patchTableOf(t.rt)), opts.fieldValidation ?? 'Strict');
    // kube-apiserver's patcher: the patched object must still name the URL's namespace and name;
    // then the resourceVersion check; then its uid is immutable (a patch carries no precondition).
    if (t.rt.namespaced && obj.metadata.namespace && obj.metadata.namespace !== t.namespace)
      throw badRequest('the namespace of the provided object does not match the namespace sent on the request');
    if (obj.metadata.name !== old.metadata.name) throw badRequest(`the name of the object (${obj.metadata.name ?? ''}) does not match the name on the URL (${t.name})`);
    const expected = obj.metadata.resourceVersion;
    if (expected !== undefined && expected !== old.metadata.resourceVersion) throw conflict(t.rt.resource, t.name!, t.rt.group);
    if (obj.metadata.uid && obj.metadata.uid !== old.metadata.uid)
      throw invalid(t.rt.kind, t.name!, [{ reason: 'FieldValueInvalid', message: `Invalid value: ${JSON.stringify(obj.metadata.uid)}: field is immutable`, field: 'metadata.uid' }], t.rt.group);
    try {
      const sinks = newSinks();
      return withSinks(await writeUpdate(ctx, t, old, mergeForUpdate(t, old, obj), opts, sinks), warnings, sinks);
    } catch (e) {
      if (isConflict(e) && !pinned) continue;
      throw e;
    }
  }
  throw conflict(t.rt.resource, t.name!, t.rt.group);
}

/**
 * An update by the system itself (controllers): the object as given, spec and status together in
 * one write, conditional on its metadata.resourceVersion (409 Conflict when it moved: re-read and
 * reconcile again). Defaults, admission and validation apply as to any update; an object whose
 * last finalizer this removes is removed.
 */
export async function updateWhole(ctx: RegistryContext, rt: ResourceType, obj: KubeObject, subresource?: string): Promise<KubeObject> {
  const t: Target = { rt, namespace: obj.metadata.namespace, name: obj.metadata.name, subresource };
  const next = rt.applyDefaults(obj);
  const mutated = (await mutate(attrs('UPDATE', t, false, next), ctx)) ?? next;
  await validate(attrs('UPDATE', t, false, mutated), ctx);
  const updated = await ctx.store.update(ctx.tenant, rt, mutated, obj.metadata.resourceVersion!);
  return removeIfFinalized(ctx, rt, updated);
}

/** meta/v1 DeleteOptions, as far as Stratus honours them. */
export interface DeleteOptions {
  gracePeriodSeconds?: number;
  propagationPolicy?: string;
  /** Deprecated form of propagationPolicy (true: Orphan, false: Background). */
  orphanDependents?: boolean;
  preconditions?: { uid?: string; resourceVersion?: string };
  dryRun?: string[];
}

/** The propagation a delete asks for, or the kind's default (Background but for batch/v1 Jobs). */
function propagationOf(rt: ResourceType, opts: DeleteOptions): string {
  if (opts.propagationPolicy) return opts.propagationPolicy;
  if (opts.orphanDependents !== undefined) return opts.orphanDependents ? 'Orphan' : 'Background';
  return rt.defaultPropagation ?? 'Background';
}

/**
 * Deletes one object. Graceful kinds (pods) on a node get deletionTimestamp and the node agent
 * stops the containers, then removes the pod with gracePeriodSeconds=0. Objects with finalizers
 * stay, marked for deletion, until their finalizers are gone. Namespaces go Terminating and take
 * everything in them along. Preconditions are checked against the stored object (409).
 */
export async function deleteObject(ctx: RegistryContext, t: Target, opts: DeleteOptions = {}): Promise<KubeObject> {
  const dryRun = (opts.dryRun ?? []).includes('All');
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const old = await getObject(ctx, t);
    if (opts.preconditions?.uid && opts.preconditions.uid !== old.metadata.uid)
      throw conflict(t.rt.resource, t.name!, t.rt.group, `Precondition failed: UID in precondition: ${opts.preconditions.uid}, UID in object meta: ${old.metadata.uid}`);
    if (opts.preconditions?.resourceVersion && opts.preconditions.resourceVersion !== old.metadata.resourceVersion)
      throw conflict(t.rt.resource, t.name!, t.rt.group, `Precondition failed: ResourceVersion in precondition: ${opts.preconditions.resourceVersion}, ResourceVersion in object meta: ${old.metadata.resourceVersion}`);
    await validate(attrs('DELETE', t, dryRun, undefined, old), ctx);
    if (dryRun) return old;
    try {
      return await deleteOnce(ctx, t, old, opts);
    } catch (e) {
      if (isConflict(e)) continue;
      if (isNotFound(e)) throw notFound(t.rt.resource, t.name!, t.rt.group);
      throw e;
    }
  }
  throw conflict(t.rt.resource, t.name!, t.rt.group);
}

async function deleteOnce(ctx: RegistryContext, t: Target, old: KubeObject, opts: DeleteOptions): Promise<KubeObject> {
  const rv = old.metadata.resourceVersion!;
  const finalizers = old.metadata.finalizers ?? [];
  if (t.rt.deletion === 'namespace') return deleteNamespace(ctx, t, old);
  if (t.rt.deletion === 'graceful') {
    const spec = (old.spec ?? {}) as PodSpec;
    const phase = (old.status as { phase?: string } | undefined)?.phase;
    const running = !!spec.nodeName && phase !== 'Succeeded' && phase !== 'Failed';
    let grace = opts.gracePeriodSeconds ?? spec.terminationGracePeriodSeconds ?? 30;
    if (!running) grace = 0;
    const current = old.metadata.deletionGracePeriodSeconds;
    if (grace > 0 || finalizers.length > 0) {
      // Graceful: the node agent finishes the job. A second delete may only shorten the grace.
      if (current !== undefined && current <= grace) return old;
      const meta = {
        ...old.metadata,
        deletionTimestamp: old.metadata.deletionTimestamp ?? new Date(Date.now() + grace * 1000).toISOString().replace(/\.\d+Z$/, 'Z'),
        deletionGracePeriodSeconds: grace,
      };
      const updated = await ctx.store.update(ctx.tenant, t.rt, { ...old, metadata: meta }, rv);
      if (grace === 0 && finalizers.length === 0) return removeStored(ctx, t.rt, t.namespace, t.name!, updated.metadata.resourceVersion);
      return updated;
    }
    return removeStored(ctx, t.rt, t.namespace, t.name!, rv);
  }
  const policy = propagationOf(t.rt, opts);
  if (policy !== 'Background' && !old.metadata.deletionTimestamp) {
    // Foreground/Orphan: the garbage collector (functions/controllers) deletes or orphans the
    // dependents, then removes this finalizer, and with the last finalizer the object goes.
    const finalizer = policy === 'Foreground' ? 'foregroundDeletion' : 'orphan';
    const meta = { ...old.metadata, finalizers: [...finalizers.filter((f) => f !== finalizer), finalizer], deletionTimestamp: nowSeconds(), deletionGracePeriodSeconds: 0 };
    return ctx.store.update(ctx.tenant, t.rt, { ...old, metadata: meta }, rv);
  }
  if (finalizers.length > 0) {
    if (old.metadata.deletionTimestamp) return old;
    const meta = { ...old.metadata, deletionTimestamp: nowSeconds(), deletionGracePeriodSeconds: 0 };
    return ctx.store.update(ctx.tenant, t.rt, { ...old, metadata: meta }, rv);
  }
  // Background: the object goes now; the garbage collector deletes dependents left without an owner.
  return removeStored(ctx, t.rt, t.namespace, t.name!, rv);
}

/**
 * Namespace deletion: mark Terminating, delete everything inside (pods gracefully), and remove
 * the namespace once empty. If pods are still stopping, the scheduler function's namespace
 * finalizer removes it when the last one is gone.
 */
async function deleteNamespace(ctx: RegistryContext, t: Target, old: KubeObject): Promise<KubeObject> {
  let ns = old;
  if (!old.metadata.deletionTimestamp) {
    ns = await ctx.store.update(
      ctx.tenant,
      t.rt,
      { ...old, metadata: { ...old.metadata, deletionTimestamp: nowSeconds(), deletionGracePeriodSeconds: 0 }, status: { ...(old.status as object), phase: 'Terminating' } },
      old.metadata.resourceVersion!,
    );
  }
  return (await finalizeNamespace(ctx, old.metadata.name!)) ?? ns;
}

/**
 * Deletes what is left in a terminating namespace; removes the namespace when nothing is.
 * Returns the removed namespace, or undefined while content remains. Safe to repeat.
 */
export async function finalizeNamespace(ctx: RegistryContext, name: string): Promise<KubeObject | undefined> {
  let remaining = 0;
  for (const rt of resourceTypes.filter((r) => r.namespaced && isStored(r))) {
    const { items } = await ctx.store.list(ctx.tenant, rt, { namespace: name, versioned: false });
    for (const item of items) {
      if (item.metadata.deletionTimestamp) continue; // already on its way out
      try {
        await deleteOnce(ctx, { rt, namespace: name, name: item.metadata.name }, item, { propagationPolicy: 'Background' });
      } catch (e) {
        if (!isNotFound(e) && !isConflict(e)) throw e;
      }
    }
    remaining += (await ctx.store.list(ctx.tenant, rt, { namespace: name, limit: 1, versioned: false })).items.length;
  }
  if (remaining > 0) return undefined;
  try {
    const ns = await ctx.store.get(ctx.tenant, namespacesRt(), undefined, name);
    if (!ns?.metadata.deletionTimestamp) return undefined;
    return await removeStored(ctx, namespacesRt(), undefined, name, ns.metadata.resourceVersion);
  } catch (e) {
    if (isNotFound(e) || isConflict(e)) return undefined;
    throw e;
  }
}

/** DELETE of a collection: each matching object, as a single delete would. */
export async function deleteCollection(ctx: RegistryContext, t: Target, q: ListQuery, opts: DeleteOptions = {}): Promise<ListOutcome> {
  if (t.rt.deleteCollection === false) throw methodNotAllowed('DELETE');
  const listed = await listObjects(ctx, t, q);
  const out: KubeObject[] = [];
  for (const item of listed.items) {
    try {
      out.push(await deleteObject(ctx, { ...t, namespace: item.metadata.namespace, name: item.metadata.name }, opts));
    } catch (e) {
      if (!isNotFound(e)) throw e;
    }
  }
  return { ...listed, items: out };
}

/** A list's wire form. */
export const listOf = (rt: ResourceType, l: ListOutcome) => ({
  kind: `${rt.kind}List`,
  apiVersion: apiVersionOf(rt),
  metadata: { resourceVersion: l.resourceVersion, ...(l.continue ? { continue: l.continue } : {}) },
  items: l.items,
});
