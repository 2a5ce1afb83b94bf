import middy from '@middy/core';
import { inScope, meteredInvocation } from '../../shared/cost/meter';
import { configureCostMeterFor } from '../../shared/cost/configure';
import pLimit from 'p-limit';
import type { ScheduledEvent } from 'aws-lambda';
import { loadConfig } from '../../shared/config';
import { isConflict, isNotFound } from '../../shared/errors';
import { recordEvent } from '../../shared/events';
import { findResource, resourceByName, type KubeObject } from '../../shared/resources';
import { functionLogger, withRequestContext } from '../../shared/log';
import { createDocumentClient } from '../../shared/store/dynamo';
import { ObjectStore } from '../../shared/store/store';
import { systemContext } from '../../shared/registry/context';
import { deleteObject } from '../../shared/registry/generic';
import { podActions, reconcileNode, type LifecycleSettings } from './controller';

/*
 * The node-lifecycle function, run on a schedule (wiring row `node-lifecycle`): every few
 * seconds locally; on AWS EventBridge rates are whole minutes, so a node is noticed between
 * grace and grace + 60 s after its last heartbeat there (set the grace period accordingly).
 * Tenants with nodes are found through the store's per-tenant markers (written when a Node is
 * created, dropped here once a tenant has none): a tenant without nodes costs nothing.
 *
 * Settings: STRATUS_NODE_MONITOR_GRACE_SECONDS (default 50, Kubernetes' node-monitor-grace-period);
 * a tenant may override it with the ConfigMap kube-system/stratus-node-lifecycle, key
 * `node-monitor-grace-period` ("10s" or "10"), which its admin owns as the controller-manager's flags.
 * Pods get tolerationSeconds from admission (STRATUS_DEFAULT_TOLERATION_SECONDS, default 300).
 */
const nodesRt = resourceByName('nodes');
const podsRt = resourceByName('pods');
const leasesRt = resourceByName('leases');
const TENANT_CONCURRENCY = 8;
const logger = functionLogger('stratus-node-lifecycle');
const OVERRIDE = { namespace: 'kube-system', name: 'stratus-node-lifecycle', key: 'node-monitor-grace-period' };

let store: ObjectStore | undefined;
const getStore = () => {
  if (!store) {
    const config = loadConfig();
    store = new ObjectStore(createDocumentClient(config), config);
    configureCostMeterFor(store);
  }
  return store;
};

export function settingsFromEnv(env: NodeJS.ProcessEnv = process.env): LifecycleSettings {
  const grace = Number(env.STRATUS_NODE_MONITOR_GRACE_SECONDS ?? 50);
  return { nodeMonitorGraceSeconds: Number.isFinite(grace) && grace > 0 ? grace : 50 };
}

async function tenantSettings(s: ObjectStore, tenant: string, base: LifecycleSettings): Promise<LifecycleSettings> {
  const cm = findResource('', 'v1', 'configmaps');
  if (!cm) return base;
  const obj = await s.get(tenant, cm, OVERRIDE.namespace, OVERRIDE.name);
  const raw = (obj?.data as Record<string, string> | undefined)?.[OVERRIDE.key];
  const seconds = raw ? Number(raw.replace(/s$/, '')) : NaN;
  return Number.isFinite(seconds) && seconds > 0 ? { ...base, nodeMonitorGraceSeconds: seconds } : base;
}

export interface TenantPass {
  readonly nodes: number;
  readonly nodesUpdated: number;
  readonly evicted: number;
}

/** One pass over one tenant's nodes. Safe to repeat and to run concurrently (conditional writes). */
export async function reconcileTenant(s: ObjectStore, tenant: string, base: LifecycleSettings, now = new Date()): Promise<TenantPass> {
  const settings = await tenantSettings(s, tenant, base);
  const [{ items: nodes }, { items: leases }] = await Promise.all([s.list(tenant, nodesRt, { versioned: false }), s.list(tenant, leasesRt, { namespace: 'kube-node-lease', versioned: false })]);
  const leaseOf = new Map(leases.map((l) => [l.metadata.name!, l]));
  let nodesUpdated = 0;
  let evicted = 0;
  for (const node of nodes) {
    let current: KubeObject = node;
    const next = reconcileNode(node, leaseOf.get(node.metadata.name!), now, settings);
    if (next) {
      try {
        current = await s.update(tenant, nodesRt, next, node.metadata.resourceVersion!);
        nodesUpdated++;
        const ready = (next.status as { conditions?: { type: string; status: string }[] }).conditions?.find((c) => c.type === 'Ready')?.status;
        if (ready === 'Unknown' && (node.status as { conditions?: { type: string; status: string }[] } | undefined)?.conditions?.find((c) => c.type === 'Ready')?.status !== 'Unknown')
          await recordEvent(s, tenant, { ...current, metadata: { ...current.metadata, namespace: 'default' } }, { type: 'Normal', reason: 'NodeNotReady', message: `Node ${node.metadata.name} status is now: NodeNotReady`, component: 'node-controller' });
      } catch (e) {
        if (isConflict(e) || isNotFound(e)) continue; // changed meanwhile: next pass
        throw e;
      }
    }
    const pods = await s.listPodsOnNode(tenant, podsRt, node.metadata.name!);
    for (const action of podActions(current, pods, now)) {
      if (action.kind !== 'evict') continue;
      const { namespace, name, uid } = action.pod.metadata;
      try {
        await deleteObject(systemContext(s, tenant), { rt: podsRt, namespace, name }, { preconditions: { uid } });
        evicted++;
        await recordEvent(s, tenant, action.pod, { type: 'Normal', reason: 'TaintManagerEviction', message: `Marking for deletion Pod ${namespace}/${name}`, component: 'taint-eviction-controller' });
      } catch (e) {
        if (!isNotFound(e) && !isConflict(e)) throw e;
      }
    }
  }
  return { nodes: nodes.length, nodesUpdated, evicted };
}

async function core(_event: ScheduledEvent): Promise<void> {
  const s = getStore();
  const base = settingsFromEnv();
  const started = Date.now();
  const tenants = await s.listNodeTenants();
  const limit = pLimit(TENANT_CONCURRENCY);
  await Promise.all(
    tenants.map(({ tenant }) =>
      limit(async () => {
        try {
          const pass = await inScope(tenant, undefined, () => reconcileTenant(s, tenant, base));
          if (pass.nodes === 0) await s.forgetNodeTenant(tenant, started);
          if (pass.nodesUpdated || pass.evicted) logger.info('node lifecycle', { tenant, ...pass });
        } catch (e) {
          // One tenant's trouble must not stop the others; the next tick tries again.
          logger.error('node lifecycle failed', { tenant, error: e });
        }
      }),
    ),
  );
}

export const handler = middy<ScheduledEvent, void>().use(withRequestContext(logger)).handler((event, context) => meteredInvocation(context.memoryLimitInMB, () => core(event)));
