import { canonicalJson } from '../../shared/canonical';
import { recordEvent } from '../../shared/events';
import { isConflict, isNotFound } from '../../shared/errors';
import { resourceByName, type KubeObject } from '../../shared/resources';
import type { ObjectChange } from '../../shared/store/changes';
import { claimAddress, claimRequested, lbOwner, lbShape, loadBalancerRange, loadBalancerStatus, rangeAddresses, servedByUs, LB_POOL, POOL_TENANT } from '../../shared/services/load-balancer';
import { specOf } from '../../shared/services/validation';
import type { ControllerContext } from './apply';
import { keyString, type ControllerKey } from './dispatch';

/*
 * The local load balancer (issue #15), the cloud service controller's role: a LoadBalancer Service
 * of our class gets one host-local address (shared/services/load-balancer.ts) in
 * status.loadBalancer.ingress; a Service that stops being one (type change) gets its address back
 * in the pool and its status cleared, as the service controller deletes the balancer and clears
 * status. A Service of another loadBalancerClass is left alone (its controller writes its status).
 * A removed Service's address goes back in the registry's release hook (kinds/service.ts).
 * spec.loadBalancerIP names the address wanted: taken when it is of the range and free (the same
 * conditional claim), otherwise the Service stays pending (or keeps the address it has, as a
 * cloud load balancer stays as it was when an update fails) with a Warning event saying why, and
 * the key is tried again after retryDelayMs (Kubernetes' service controller retries failed syncs,
 * backing off from 5 s to 5 minutes). A change of it moves the Service to the new address.
 * Keys: a Service's writes that change its type, class, loadBalancerIP or status.loadBalancer.
 */

const MAX_ATTEMPTS = 5;
const MIN_RETRY_MS = 5_000;
const MAX_RETRY_MS = 300_000;

/**
 * When a Service whose loadBalancerIP could not be had is tried again: Kubernetes' service
 * controller backs a failing key off from 5 s to 5 minutes; with no per-key count kept here, the
 * Service's age stands in for it (half of it, within those bounds), so a new Service is retried
 * soon and one pending for long every 5 minutes.
 */
export function retryDelayMs(svc: KubeObject, now: Date): number {
  const created = Date.parse(svc.metadata.creationTimestamp ?? '');
  const age = Number.isFinite(created) ? now.getTime() - created : MAX_RETRY_MS * 2;
  return Math.min(MAX_RETRY_MS, Math.max(MIN_RETRY_MS, Math.round(age / 2)));
}
const COMPONENT = 'service-controller';

/** The controller's keys for a change: a Service whose type, class or load balancer status changed. */
export function loadBalancerKeysFor(c: ObjectChange): ControllerKey[] {
  if (c.group !== '' || c.resource !== 'services' || !c.newObject) return [];
  if (c.eventName === 'MODIFY' && lbShape(c.oldObject) === lbShape(c.newObject)) return [];
  const types = [specOf(c.oldObject).type, specOf(c.newObject).type];
  const hasIngress = ((c.newObject.status as { loadBalancer?: { ingress?: unknown[] } } | undefined)?.loadBalancer?.ingress ?? []).length > 0;
  if (!types.includes('LoadBalancer') && !hasIngress) return [];
  return [{ controller: 'loadbalancers', namespace: c.newObject.metadata.namespace ?? '', name: c.newObject.metadata.name! }];
}

export async function syncLoadBalancer(ctx: ControllerContext, namespace: string, name: string): Promise<void> {
  const rt = resourceByName('services');
  const range = loadBalancerRange(ctx.store.config);
  const alloc = ctx.store.allocations;
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const svc = await ctx.store.get(ctx.tenant, rt, namespace, name);
    if (!svc) return; // removed: the registry's release hook gave its address back
    const owner = lbOwner(ctx.tenant, svc);
    const spec = specOf(svc);
    const held = rangeAddresses(svc, range);
    const status = (svc.status ?? {}) as { loadBalancer?: unknown };
    let want: ReturnType<typeof loadBalancerStatus>;
    let claimed: string | undefined;
    if (servedByUs(spec) && !svc.metadata.deletionTimestamp) {
      const mine = [];
      for (const ip of held) if ((await alloc.holder(POOL_TENANT, LB_POOL, ip)) === owner) mine.push(ip);
      const requested = spec.loadBalancerIP || undefined;
      const fits = (ip: string | undefined) => !requested || ip === requested;
      if (mine.length === 1 && held.length === 1 && fits(mine[0]) && canonicalJson(status.loadBalancer) === canonicalJson(loadBalancerStatus(mine[0]))) return;
      // The address it holds, unless it asks for another one (then it moves there).
      let ip: string | undefined = mine.find(fits);
      if (requested && !ip) {
        const got = await claimRequested(alloc, range, owner, requested);
        if ('problem' in got) {
          await event(ctx, svc, 'Warning', 'SyncLoadBalancerFailed', `Error syncing load balancer: failed to ensure load balancer: ${got.problem}`);
          await ctx.coordination.requeueAt(ctx.tenant, keyString({ controller: 'loadbalancers', namespace, name }), new Date(ctx.now.getTime() + retryDelayMs(svc, ctx.now)));
          // Pending, or (a change to an address it cannot have) kept where it is.
          const kept = mine[0];
          if (!kept || (held.length === 1 && canonicalJson(status.loadBalancer) === canonicalJson(loadBalancerStatus(kept)))) return;
          ip = kept;
        } else {
          ip = claimed = got.ip;
          await event(ctx, svc, 'Normal', 'EnsuringLoadBalancer', 'Ensuring load balancer');
        }
      }
      if (!ip) {
        await event(ctx, svc, 'Normal', 'EnsuringLoadBalancer', 'Ensuring load balancer');
        ip = claimed = await claimAddress(alloc, range, owner);
        if (!ip) {
          await event(ctx, svc, 'Warning', 'SyncLoadBalancerFailed', `Error syncing load balancer: failed to ensure load balancer: no free address left in ${range.cidr}`);
          return;
        }
      }
      want = loadBalancerStatus(ip);
    } else {
      // Not (or no longer) ours: only an address of our range is ours to take back.
      if (held.length === 0) return;
      want = {};
    }
    try {
      await ctx.store.update(ctx.tenant, rt, { ...svc, status: { ...status, loadBalancer: want } }, svc.metadata.resourceVersion!);
    } catch (e) {
      if (claimed) await alloc.release(POOL_TENANT, LB_POOL, claimed, owner);
      if (isNotFound(e)) return;
      if (!isConflict(e)) throw e;
      continue;
    }
    if (want.ingress) {
      if (claimed) await event(ctx, svc, 'Normal', 'EnsuredLoadBalancer', 'Ensured load balancer');
    } else await event(ctx, svc, 'Normal', 'DeletedLoadBalancer', 'Deleted load balancer');
    // Addresses the status named that the new one does not (a stale or duplicated entry) go back.
    const kept = new Set(want.ingress?.map((i) => i.ip) ?? []);
    for (const ip of held) if (!kept.has(ip)) await alloc.release(POOL_TENANT, LB_POOL, ip, owner);
    return;
  }
  throw new Error(`service ${namespace}/${name}: load balancer status write kept conflicting`);
}

async function event(ctx: ControllerContext, svc: KubeObject, type: 'Normal' | 'Warning', reason: string, message: string): Promise<void> {
  await recordEvent(ctx.store, ctx.tenant, svc, { type, reason, message, component: COMPONENT });
}
