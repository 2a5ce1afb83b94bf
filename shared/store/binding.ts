import { GetCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Config } from '../config';
import { conflict } from '../errors';
import type { KubeObject, ResourceType } from '../resources';
import { ALLOC_ONLY_ATTRIBUTE } from './attributes';
import { encodeObject } from './codec';
import { podRequests, withVersion, type NodeSnapshot, type PodAllocation } from './items';
import { nodeKey, partitionKey, sortKey } from './keys';
import { MAX_TRANSACT_ITEMS, type Sequences, type TransactItem } from './sequence';

/*
 * Binding pods to nodes, and the allocation sums it keeps on node items: a bind sets the pod's
 * nodeName and adds its requests to its node's sums in one transaction (never overcommitting a
 * node, never binding a pod twice); a pod that ends or goes away releases them (objects.ts).
 */

/** One pod of a batch bind: the pod as read, the node chosen on a snapshot, the bound pod's shape. */
export interface PodBinding {
  readonly pod: KubeObject;
  readonly target: NodeSnapshot;
  readonly transform: (pod: KubeObject) => KubeObject;
}

/** Raised when a batch bind loses a race: nothing was written; reschedule those pods afresh. */
export class BatchBindFailed extends Error {
  constructor(
    /** Indexes (into the bindings) of pods that changed or are bound already. */
    readonly podIndexes: readonly number[],
    /** Nodes whose capacity no longer fits their share of the batch. */
    readonly nodeNames: readonly string[],
  ) {
    super(`batch bind failed: ${podIndexes.length} pod(s) changed, ${nodeNames.length} node(s) full or changed`);
    this.name = 'BatchBindFailed';
  }
}

/** Raised when a bind loses the race for a node's capacity: reschedule from a fresh snapshot. */
export class NodeCapacityChanged extends Error {
  constructor(readonly nodeName: string) {
    super(`node ${nodeName} changed while binding`);
    this.name = 'NodeCapacityChanged';
  }
}

/** Items a batch bind of `pods` pods onto `nodes` distinct nodes needs: pods, nodes, its log entry, room for a void entry. */
export const bindBatchItems = (pods: number, nodes: number) => 2 + pods + nodes;

/** The core nodes' key: allocation sums live on node items. */
const NODES = { group: '', resource: 'nodes' } as const;
const nodeItemKey = (tenant: string, nodeName: string) => ({ pk: partitionKey(tenant, NODES), sk: sortKey(undefined, nodeName) });

/** Whether the node exists (releases only touch nodes that do: they never recreate one as a stub). */
export async function nodeExists(doc: DynamoDBDocumentClient, config: Config, tenant: string, nodeName: string): Promise<boolean> {
  const out = await doc.send(new GetCommand({ TableName: config.objectsTable, Key: nodeItemKey(tenant, nodeName), ProjectionExpression: 'pk', ConsistentRead: true }));
  return !!out.Item;
}

/** The transaction item that gives a pod's allocation back to its node. */
export function releaseItem(config: Config, tenant: string, bound: PodAllocation): TransactItem {
  return {
    Update: {
      TableName: config.objectsTable,
      Key: nodeItemKey(tenant, bound.node),
      UpdateExpression: `SET allocCpu = allocCpu - :cpu, allocMem = allocMem - :mem, allocPods = allocPods - :one, ${ALLOC_ONLY_ATTRIBUTE} = :allocOnly`,
      // Never recreate a deleted node as a stub: callers only release on nodes that exist.
      ConditionExpression: 'attribute_exists(pk)',
      ExpressionAttributeValues: { ':cpu': bound.cpu, ':mem': bound.memory, ':one': 1, ':allocOnly': true },
    },
  };
}

/** The transaction item that binds one pod (conditional on its version and on being unbound). */
function podBindItem(config: Config, tenant: string, pods: ResourceType, pod: KubeObject, stored: KubeObject, rv: number, bound: PodAllocation): TransactItem {
  return {
    Update: {
      TableName: config.objectsTable,
      Key: { pk: partitionKey(tenant, pods), sk: sortKey(pods.namespaced ? pod.metadata.namespace : undefined, pod.metadata.name!) },
      UpdateExpression: 'SET o = :o, rv = :rv, nodeKey = :nodeKey, bound = :bound',
      ConditionExpression: 'rv = :expected AND attribute_not_exists(nodeKey)',
      ExpressionAttributeValues: {
        ':o': encodeObject(stored),
        ':rv': rv,
        ':nodeKey': nodeKey(tenant, bound.node),
        ':bound': bound,
        ':expected': Number(pod.metadata.resourceVersion),
      },
    },
  };
}

/** The transaction item that adds `share` to a node's allocation sums, only if they stay within its capacity as snapshotted. */
function nodeShareItem(config: Config, tenant: string, nodes: ResourceType, target: NodeSnapshot, share: { cpu: number; memory: number; pods: number }): TransactItem {
  const cap = target.capacity;
  return {
    Update: {
      TableName: config.objectsTable,
      Key: { pk: partitionKey(tenant, nodes), sk: sortKey(undefined, target.node.metadata.name!) },
      UpdateExpression: `SET allocCpu = allocCpu + :cpu, allocMem = allocMem + :mem, allocPods = allocPods + :n, ${ALLOC_ONLY_ATTRIBUTE} = :allocOnly`,
      ConditionExpression:
        'attribute_exists(pk) AND capCpu = :capCpu AND capMem = :capMem AND capPods = :capPods AND allocCpu <= :maxCpu AND allocMem <= :maxMem AND allocPods <= :maxPods',
      ExpressionAttributeValues: {
        ':cpu': share.cpu,
        ':mem': share.memory,
        ':n': share.pods,
        ':allocOnly': true,
        ':capCpu': cap.cpu,
        ':capMem': cap.memory,
        ':capPods': cap.pods,
        ':maxCpu': cap.cpu - share.cpu,
        ':maxMem': cap.memory - share.memory,
        ':maxPods': cap.pods - share.pods,
      },
    },
  };
}

/** bindPod and bindPods of ObjectStore (see there). */
export class Binder {
  constructor(
    private readonly config: Config,
    private readonly sequences: Sequences,
  ) {}

  bindPod(tenant: string, pods: ResourceType, nodes: ResourceType, pod: KubeObject, target: NodeSnapshot, transform: (pod: KubeObject) => KubeObject): Promise<KubeObject> {
    const name = pod.metadata.name!;
    const nodeName = target.node.metadata.name!;
    const req = podRequests(pod);
    const bound: PodAllocation = { node: nodeName, cpu: req.cpu, memory: req.memory };
    return this.sequences.write<KubeObject>(tenant, pods, {
      count: 1,
      maxItems: 2,
      build: (rv) => {
        const stored = withVersion(transform(pod), rv);
        const items = [podBindItem(this.config, tenant, pods, pod, stored, rv, bound), nodeShareItem(this.config, tenant, nodes, target, { ...req, pods: 1 })];
        return { result: stored, logs: [{ type: 'MODIFIED', object: stored }], items };
      },
      onConditionFailed: (failed) => (failed[0] === 1 ? new NodeCapacityChanged(nodeName) : conflict(pods.resource, name, pods.group)),
    });
  }

  async bindPods(tenant: string, pods: ResourceType, nodes: ResourceType, bindings: readonly PodBinding[]): Promise<KubeObject[]> {
    if (bindings.length === 0) return [];
    const perNode = new Map<string, { target: NodeSnapshot; cpu: number; memory: number; pods: number }>();
    const requests = bindings.map((b) => podRequests(b.pod));
    bindings.forEach((b, i) => {
      const name = b.target.node.metadata.name!;
      const n = perNode.get(name) ?? { target: b.target, cpu: 0, memory: 0, pods: 0 };
      n.cpu += requests[i]!.cpu;
      n.memory += requests[i]!.memory;
      n.pods += 1;
      perNode.set(name, n);
    });
    const nodeNames = [...perNode.keys()];
    if (bindBatchItems(bindings.length, nodeNames.length) > MAX_TRANSACT_ITEMS)
      throw new Error(`batch bind of ${bindings.length} pods on ${nodeNames.length} nodes exceeds ${MAX_TRANSACT_ITEMS} transaction items`);
    const k = bindings.length;
    // Through the pods' sequence writer, so binds group-commit with (and never race) the other
    // pod writes of this instance.
    return this.sequences.write<KubeObject[]>(tenant, pods, {
      count: k,
      maxItems: k + nodeNames.length,
      build: (first) => {
        const stored = bindings.map((b, i) => withVersion(b.transform(b.pod), first + i));
        const podItems = bindings.map((b, i) =>
          podBindItem(this.config, tenant, pods, b.pod, stored[i]!, first + i, { node: b.target.node.metadata.name!, cpu: requests[i]!.cpu, memory: requests[i]!.memory }),
        );
        const nodeItems = nodeNames.map((name) => {
          const n = perNode.get(name)!;
          return nodeShareItem(this.config, tenant, nodes, n.target, n);
        });
        return { result: stored, logs: stored.map((object) => ({ type: 'MODIFIED' as const, object })), items: [...podItems, ...nodeItems] };
      },
      onConditionFailed: (failed) =>
        new BatchBindFailed(
          failed.filter((i) => i < k),
          failed.filter((i) => i >= k).map((i) => nodeNames[i - k]!),
        ),
    });
  }
}
