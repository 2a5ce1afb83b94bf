/**
 * The controllers' one declaration list (shared/controllers.ts) and what is derived from it: the
 * reconcile table, the wiring's filter and rows, dispatch's workloads, owners and adopters.
 */
import { describe, expect, it } from 'vitest';
import { keysFor, keyString, parseKey, type ControllerKey } from '../../../functions/controllers/dispatch';
import { reconcilers } from '../../../functions/controllers/reconcilers';
import { CONTROLLERS, EVERY_KIND, assertSetsTimers, controllerDeclarations, type ControllerDeclaration } from '../../../shared/controllers';
import { resourceTypes, type KubeObject } from '../../../shared/resources';
import type { ObjectChange } from '../../../shared/store/changes';
import { groupResource } from '../../../shared/store/keys';
import type { ObjectStore } from '../../../shared/store/store';
import { CONTROLLER_RESOURCES, controllerFilterPatterns, controllerFilters, controllerRows, wiring } from '../../../infra/wiring';

const served = new Set(resourceTypes.map((rt) => groupResource(rt)));
const names = controllerDeclarations.map((d) => d.name);

describe('the controller declarations', () => {
  it('every declared controller has a reconcile, and every reconcile a declaration', () => {
    expect(Object.keys(reconcilers).sort()).toEqual([...names].sort());
    for (const n of names) expect(typeof (reconcilers as Record<string, unknown>)[n], n).toBe('function');
  });

  it('names are unique', () => {
    expect(new Set(names).size).toBe(names.length);
  });

  it.each(controllerDeclarations.map((d) => [d.name, d] as const))('%s names only served resource types', (_name, d) => {
    const named = [...d.watches, ...(d.adopts ?? []), ...(d.creations ?? []), ...(d.removals ?? []), ...(d.owns ? [d.owns.resource] : [])].filter((r) => r !== EVERY_KIND);
    for (const r of named) expect(served.has(r), r).toBe(true);
  });

  it.each(controllerDeclarations.filter((d) => d.owns).map((d) => [d.name, d.owns!] as const))('%s owns a kind that exists, by its apiVersion, kind and resource', (name, owns) => {
    const rt = resourceTypes.find((r) => groupResource(r) === owns.resource);
    expect(rt).toBeDefined();
    expect(rt!.group ? `${rt!.group}/${rt!.version}` : rt!.version).toBe(owns.apiVersion);
    expect(rt!.kind).toBe(owns.kind);
    // A workload's key names it by its plural (the gc-finalize keys' resource, resourceByName's argument).
    expect(rt!.resource).toBe(name);
  });

  it('an adopter owns a kind (its selector is what adoption matches) and watches what it adopts', () => {
    for (const d of controllerDeclarations)
      for (const r of d.adopts ?? []) {
        expect(d.owns, d.name).toBeDefined();
        expect(d.watches, d.name).toContain(r);
      }
  });

  it('CONTROLLER_RESOURCES is the union of the declarations\' watches', () => {
    const union = new Set(controllerDeclarations.flatMap((d) => d.watches));
    expect(new Set(CONTROLLER_RESOURCES)).toEqual(union);
    expect(CONTROLLER_RESOURCES).toHaveLength(union.size);
  });
});

describe('the wiring derived from the declarations', () => {
  it('the controllers\' filter is the one written by hand before the declarations (same kinds, same patterns)', () => {
    const [first, ...rest] = controllerFilters;
    const res = (first as { dynamodb: { NewImage: { res: { S: string[] } } } }).dynamodb.NewImage.res.S;
    expect([...res].sort()).toEqual(
      ['deployments.apps', 'replicasets.apps', 'replicationcontrollers', 'daemonsets.apps', 'statefulsets.apps', 'jobs.batch', 'cronjobs.batch', 'persistentvolumeclaims', 'persistentvolumes', 'pods', 'nodes', 'clusterroles.rbac.authorization.k8s.io', 'horizontalpodautoscalers.autoscaling', 'services', 'endpoints', 'endpointslices.discovery.k8s.io', 'resourcequotas', 'networkpolicies.networking.k8s.io', 'namespaces', 'ingresses.networking.k8s.io', 'ingressclasses.networking.k8s.io'].sort(),
    );
    expect(first).toEqual({ dynamodb: { NewImage: { res: { S: res }, allocOnly: { BOOL: [{ exists: false }] } } } });
    expect(rest).toEqual([
      { dynamodb: { OldImage: { res: { S: [{ exists: true }] } }, NewImage: { res: { S: [{ exists: false }] } } } },
      { dynamodb: { NewImage: { res: { S: [{ exists: true }] } }, OldImage: { res: { S: [{ exists: false }] } } } },
      { dynamodb: { NewImage: { gc: { BOOL: [true] } } } },
      { dynamodb: { OldImage: { gc: { BOOL: [true] } } } },
    ]);
  });

  it('the controllers\' rows: one stream consumer with that filter, one schedule and its tick queue, same handlers', () => {
    const rows = wiring.filter((w) => w.entry === 'functions/controllers/handler.ts');
    expect(rows.map((w) => [w.name, w.handler, w.trigger.type])).toEqual([
      ['controllers', 'handler', 'stream'],
      ['controllers-schedule', 'scheduleHandler', 'schedule'],
      ['controllers-ticks', 'tickHandler', 'queue'],
    ]);
    const stream = rows[0]!.trigger;
    expect(stream.type === 'stream' && stream.filters).toEqual(controllerFilters);
  });

  const only = (d: Partial<ControllerDeclaration>): ControllerDeclaration => ({ name: 'x', watches: [], trigger: 'stream', ...d });

  it.each<[string, ControllerDeclaration[], string[]]>([
    ['stream only', [only({ trigger: 'stream' })], ['controllers']],
    ['schedule only', [only({ trigger: 'schedule' })], ['controllers-schedule', 'controllers-ticks']],
    ['both', [only({ trigger: 'both' })], ['controllers', 'controllers-schedule', 'controllers-ticks']],
    ['a stream one and a schedule one', [only({ trigger: 'stream' }), only({ name: 'y', trigger: 'schedule' })], ['controllers', 'controllers-schedule', 'controllers-ticks']],
    ['none', [], []],
  ])('a row per trigger some controller has: %s', (_name, cs, rows) => {
    expect(controllerRows(cs).map((w) => w.name)).toEqual(rows);
  });

  it('patterns are only those some declaration asks for; removals and creations narrow to the kinds named', () => {
    expect(controllerFilterPatterns([])).toEqual([]);
    // A watch is every write: creations and updates by the first pattern, removals by the second.
    expect(controllerFilterPatterns([only({ watches: ['pods'] })])).toEqual([
      { dynamodb: { NewImage: { res: { S: ['pods'] }, allocOnly: { BOOL: [{ exists: false }] } } } },
      { dynamodb: { OldImage: { res: { S: ['pods'] } }, NewImage: { res: { S: [{ exists: false }] } } } },
    ]);
    expect(controllerFilterPatterns([only({ removals: ['namespaces'] }), only({ creations: ['pods'] })])).toEqual([
      { dynamodb: { OldImage: { res: { S: ['namespaces'] } }, NewImage: { res: { S: [{ exists: false }] } } } },
      { dynamodb: { NewImage: { res: { S: ['pods'] } }, OldImage: { res: { S: [{ exists: false }] } } } },
    ]);
    // A watched kind's creations are in already; an owner hears of what it controls by `gc`.
    expect(controllerFilterPatterns([only({ watches: ['jobs.batch'], creations: ['jobs.batch'], owns: { apiVersion: 'batch/v1', kind: 'Job', resource: 'jobs.batch' } })])).toEqual([
      { dynamodb: { NewImage: { res: { S: ['jobs.batch'] }, allocOnly: { BOOL: [{ exists: false }] } } } },
      { dynamodb: { OldImage: { res: { S: ['jobs.batch'] } }, NewImage: { res: { S: [{ exists: false }] } } } },
      { dynamodb: { NewImage: { gc: { BOOL: [true] } } } },
      { dynamodb: { OldImage: { gc: { BOOL: [true] } } } },
    ]);
  });
});

describe('dispatch derived from the declarations', () => {
  /** A store whose every list finds one object named after the resource listed, with a selector matching anything. */
  const store = {
    list: async (_t: string, rt: { resource: string }) => ({ items: [{ apiVersion: 'v1', kind: 'X', metadata: { name: `${rt.resource}-1`, namespace: 'ns' }, spec: { selector: {} } }], resourceVersion: 1 }),
  } as unknown as ObjectStore;
  const obj = (apiVersion: string, kind: string, metadata: Partial<KubeObject['metadata']> = {}): KubeObject => ({ apiVersion, kind, metadata: { name: 'a', namespace: 'ns', uid: 'u1', labels: { app: 'x' }, ...metadata } });
  const owned = (apiVersion: string, kind: string, extra: Record<string, unknown> = {}) => ({ ownerReferences: [{ apiVersion, kind, name: 'o', uid: 'o1', ...extra }] });
  const change = (resource: string, group: string, eventName: ObjectChange['eventName'], o: KubeObject): ObjectChange =>
    eventName === 'REMOVE' ? { tenant: 't', group, resource, eventName, oldObject: o, sequenceNumber: '1' } : { tenant: 't', group, resource, eventName, newObject: o, sequenceNumber: '1' };
  const key = (controller: ControllerKey['controller'], name: string, resource?: string): ControllerKey => ({ controller, ...(resource ? { resource } : {}), namespace: 'ns', name });

  it.each<[string, ObjectChange, ControllerKey[]]>([
    ['a Deployment write: its own key', change('deployments', 'apps', 'MODIFY', obj('apps/v1', 'Deployment')), [key('deployments', 'a')]],
    ['a ReplicationController write: its own key', change('replicationcontrollers', '', 'MODIFY', obj('v1', 'ReplicationController')), [key('replicationcontrollers', 'a')]],
    ['a CronJob write: its own key', change('cronjobs', 'batch', 'MODIFY', obj('batch/v1', 'CronJob')), [key('cronjobs', 'a')]],
    [
      'a controlled pod changes: its owner\'s key',
      change('pods', '', 'MODIFY', obj('v1', 'Pod', owned('v1', 'ReplicationController', { controller: true }))),
      // (the fake store's Service selects every pod: the Endpoints and EndpointSlice controllers' keys too)
      [key('replicationcontrollers', 'o'), key('endpoints', 'services-1'), key('endpointslices', 'services-1')],
    ],
    [
      'a controlled Job changes: its CronJob\'s key and its own',
      change('jobs', 'batch', 'MODIFY', obj('batch/v1', 'Job', owned('batch/v1', 'CronJob', { controller: true }))),
      [key('jobs', 'a'), key('cronjobs', 'o')],
    ],
    [
      'an orphan pod is created: every pod adopter\'s matching objects, and no more',
      change('pods', '', 'INSERT', obj('v1', 'Pod')),
      [key('replicasets', 'replicasets-1'), key('replicationcontrollers', 'replicationcontrollers-1'), key('daemonsets', 'daemonsets-1'), key('statefulsets', 'statefulsets-1'), key('jobs', 'jobs-1'), key('endpoints', 'services-1'), key('endpointslices', 'services-1')],
    ],
    ['an orphan ReplicaSet is created: Deployments may adopt it', change('replicasets', 'apps', 'INSERT', obj('apps/v1', 'ReplicaSet')), [key('replicasets', 'a'), key('deployments', 'deployments-1')]],
    [
      'a blockOwnerDeletion dependent goes: its owner\'s gc-finalize key by the owner\'s plural',
      change('configmaps', '', 'REMOVE', obj('v1', 'ConfigMap', owned('apps/v1', 'StatefulSet', { blockOwnerDeletion: true }))),
      // (and the namespace's quotas are recounted: resourcequota.ts)
      [key('gc-dependents', 'u1'), key('gc-finalize', 'o', 'statefulsets'), key('resourcequotas', '*')],
    ],
    ['an HPA is created: its first sync at once', change('horizontalpodautoscalers', 'autoscaling', 'INSERT', obj('autoscaling/v2', 'HorizontalPodAutoscaler', { generation: 1 })), [key('horizontalpodautoscalers', 'a')]],
    [
      'an HPA\'s spec changes (generation): a sync at once',
      { tenant: 't', group: 'autoscaling', resource: 'horizontalpodautoscalers', eventName: 'MODIFY', oldObject: obj('autoscaling/v2', 'HorizontalPodAutoscaler', { generation: 1 }), newObject: obj('autoscaling/v2', 'HorizontalPodAutoscaler', { generation: 2 }), sequenceNumber: '1' },
      [key('horizontalpodautoscalers', 'a')],
    ],
    [
      'an HPA\'s own status and state write: no key (its next sync is its 15 s timer)',
      {
        tenant: 't', group: 'autoscaling', resource: 'horizontalpodautoscalers', eventName: 'MODIFY',
        oldObject: { ...obj('autoscaling/v2', 'HorizontalPodAutoscaler', { generation: 1 }), status: { currentReplicas: 1 } },
        newObject: { ...obj('autoscaling/v2', 'HorizontalPodAutoscaler', { generation: 1, annotations: { 'autoscaling.stratus.io/state': '{"r":[[3,1]],"e":[]}' } }), status: { currentReplicas: 1, desiredReplicas: 3 } },
        sequenceNumber: '1',
      },
      [],
    ],
    [
      'an HPA\'s deletion begins: a sync (which stops its ticks)',
      { tenant: 't', group: 'autoscaling', resource: 'horizontalpodautoscalers', eventName: 'MODIFY', oldObject: obj('autoscaling/v2', 'HorizontalPodAutoscaler', { generation: 1, finalizers: ['x/y'] }), newObject: obj('autoscaling/v2', 'HorizontalPodAutoscaler', { generation: 1, finalizers: ['x/y'], deletionTimestamp: '2026-01-01T00:00:00Z' }), sequenceNumber: '1' },
      [key('horizontalpodautoscalers', 'a')],
    ],
    ['a ResourceQuota is created: its own recount', change('resourcequotas', '', 'INSERT', obj('v1', 'ResourceQuota')), [key('resourcequotas', 'a')]],
    [
      'a pod finishes: the namespace\'s quotas are recounted',
      { tenant: 't', group: '', resource: 'pods', eventName: 'MODIFY', oldObject: { ...obj('v1', 'Pod', owned('v1', 'Node')), status: { phase: 'Running' } }, newObject: { ...obj('v1', 'Pod', owned('v1', 'Node')), status: { phase: 'Succeeded' } }, sequenceNumber: '1' },
      [key('resourcequotas', '*'), key('endpoints', 'services-1'), key('endpointslices', 'services-1')],
    ],
  ])('%s', async (_name, c, expected) => {
    const keys = await keysFor(c, store);
    expect([...keys].sort((a, b) => keyString(a).localeCompare(keyString(b)))).toEqual([...expected].sort((a, b) => keyString(a).localeCompare(keyString(b))));
  });

  it('a key of every declared controller parses back; one of no declared controller names no work', () => {
    for (const d of CONTROLLERS) {
      const k: ControllerKey = { controller: d.name, namespace: 'ns', name: 'a' };
      expect(parseKey(keyString(k))).toEqual(k);
    }
    expect(parseKey('retired-controller||ns|a')).toBeUndefined();
    expect(parseKey('replicasets||ns|a')).toEqual(key('replicasets', 'a'));
  });
});

describe('timers only for controllers whose declaration runs them', () => {
  const decls: ControllerDeclaration[] = [
    { name: 'a', watches: [], trigger: 'stream' },
    { name: 'b', watches: [], trigger: 'schedule' },
    { name: 'c', watches: [], trigger: 'both' },
  ];
  it.each([
    ['a', /declared with trigger 'stream'/],
    ['b', undefined],
    ['c', undefined],
    ['zzz', /not a declared controller/],
  ])('%s', (name, error) => {
    if (error) expect(() => assertSetsTimers(name, decls)).toThrow(error);
    else expect(() => assertSetsTimers(name, decls)).not.toThrow();
  });

  it('every declared controller that sets timers in its reconcile is declared schedule or both', () => {
    // The workload controllers that set requeueAt today, by their reconcile's own deadlines.
    for (const name of ['deployments', 'replicasets', 'replicationcontrollers', 'jobs', 'cronjobs', 'podgc']) expect(() => assertSetsTimers(name)).not.toThrow();
  });
});
