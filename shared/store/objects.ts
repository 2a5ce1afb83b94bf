import { randomUUID } from 'node:crypto';
import { DeleteCommand, GetCommand, QueryCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Config } from '../config';
import { alreadyExists, conflict, notFound, StatusError } from '../errors';
import type { KubeObject, ResourceType } from '../resources';
import { ALLOC_ONLY_ATTRIBUTE } from './attributes';
import { nodeExists, releaseItem } from './binding';
import type { ChangeLog, WatchEventType } from './changelog';
import type { Clock } from './clock';
import { encodeStored, isSecretsPartition, prepareSecretWrite, withDataKeys } from '../secrets/store-codec';
import { indexAttributes, isCore, parseObject, specChanged, withVersion, type NodeSnapshot, type ObjectItem } from './items';
import { NODE_TENANTS_PK, nodeKey, partitionKey, sortKey } from './keys';
import type { Sequences, TransactItem } from './sequence';

/*
 * Objects: get, list, create, update, remove of the sequenced kinds, each write through the
 * sequence of its (tenant, resource type) with its change-log entry (sequence.ts).
 */

export interface ListOptions {
  readonly namespace?: string;
  /** Only objects for which this returns true count towards `limit`. */
  readonly filter?: (obj: KubeObject) => boolean;
  readonly limit?: number;
  /** Sort key after which to continue (from a previous page). */
  readonly startAfter?: string;
  /**
   * false: the caller never watches from the list's version (a controller reading what to
   * reconcile), so the log read that makes it (currentVersion) is skipped and the result's
   * resourceVersion is 0. @default true
   */
  readonly versioned?: boolean;
}

/** Options of a create or update. */
export interface WriteOptions {
  /** Send the write no later than this (the store's clock, ms), else fail with 504 (sequence.ts WriteTooLate). */
  readonly notAfter?: number;
}

export interface ListResult {
  readonly items: KubeObject[];
  readonly resourceVersion: number;
  /** Sort key of the last item returned, when more items may follow. */
  readonly continueAfter?: string;
}

/** How far behind the base table the byNode index may be, at most, for listOnNode's version. */
const GSI_LAG_BOUND_MS = 2_000;
/** How many recently read items an instance keeps for itemAt (about 1 KB each). */
const RECENT_ITEMS = 2_000;
const TERMINAL_PHASES = new Set(['Succeeded', 'Failed']);

/** The object methods of ObjectStore (see there for their contracts). */
export class Objects {
  /**
   * Items this instance read lately, by key, for `itemAt`. An object item's content is fixed by
   * its version: every write of the object (update, bind, release) sets a new `rv`; only a node's
   * allocation sums and their `allocOnly` mark change without one, and writes never read those
   * from here.
   */
  private readonly recentItems = new Map<string, ObjectItem>();

  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly config: Config,
    private readonly clock: Clock,
    private readonly log: ChangeLog,
    private readonly sequences: Sequences,
  ) {}

  private key(tenant: string, rt: ResourceType, namespace: string | undefined, name: string) {
    return { pk: partitionKey(tenant, rt), sk: sortKey(rt.namespaced ? namespace : undefined, name) };
  }

  private async getItem(tenant: string, rt: ResourceType, namespace: string | undefined, name: string) {
    const out = await this.doc.send(
      new GetCommand({ TableName: this.config.objectsTable, Key: this.key(tenant, rt, namespace, name), ConsistentRead: true }),
    );
    const item = out.Item as ObjectItem | undefined;
    if (item) this.remember(item);
    return item;
  }

  private static recentKey(key: { pk: string; sk: string }): string {
    return `${key.pk}\n${key.sk}`;
  }

  private remember(item: ObjectItem): void {
    const key = Objects.recentKey(item);
    this.recentItems.delete(key);
    this.recentItems.set(key, item);
    if (this.recentItems.size > RECENT_ITEMS) this.recentItems.delete(this.recentItems.keys().next().value!);
  }

  /**
   * The item as it is at `expectedResourceVersion` when this instance read it at that version
   * lately (the api reads an object, checks the request against it, then writes it: one read,
   * not two), else as read now. Safe because the write that follows is conditional on that
   * version: if the item moved on, it fails as it would have after a fresh read.
   */
  private async itemAt(tenant: string, rt: ResourceType, namespace: string | undefined, name: string, expectedResourceVersion: string | undefined) {
    if (expectedResourceVersion !== undefined) {
      const known = this.recentItems.get(Objects.recentKey(this.key(tenant, rt, namespace, name)));
      if (known && String(known.rv) === expectedResourceVersion) return known;
    }
    return this.getItem(tenant, rt, namespace, name);
  }

  async get(tenant: string, rt: ResourceType, namespace: string | undefined, name: string): Promise<KubeObject | undefined> {
    const item = await this.getItem(tenant, rt, namespace, name);
    return item ? withDataKeys(() => parseObject(item as unknown as Record<string, unknown>)) : undefined;
  }

  private async *queryItems(tenant: string, rt: ResourceType, namespace: string | undefined, startAfter?: string) {
    const pk = partitionKey(tenant, rt);
    let exclusiveStartKey: Record<string, unknown> | undefined = startAfter ? { pk, sk: startAfter } : undefined;
    const prefix = rt.namespaced && namespace !== undefined ? `${namespace}/` : undefined;
    do {
      const out = await this.doc.send(
        new QueryCommand({
          TableName: this.config.objectsTable,
          KeyConditionExpression: prefix ? 'pk = :pk AND begins_with(sk, :prefix)' : 'pk = :pk',
          ExpressionAttributeValues: prefix ? { ':pk': pk, ':prefix': prefix } : { ':pk': pk },
          ExclusiveStartKey: exclusiveStartKey,
          ConsistentRead: true,
        }),
      );
      for (const item of out.Items ?? []) yield item as unknown as ObjectItem;
      exclusiveStartKey = out.LastEvaluatedKey;
    } while (exclusiveStartKey);
  }

  async list(tenant: string, rt: ResourceType, opts: ListOptions): Promise<ListResult> {
    // The version first: everything at or below it is in the table by the time the items are read.
    const resourceVersion = opts.versioned !== false ? await this.log.currentVersion(tenant, rt) : 0;
    const items: KubeObject[] = [];
    let continueAfter: string | undefined;
    let lastSk: string | undefined;
    for await (const item of this.queryItems(tenant, rt, opts.namespace, opts.startAfter)) {
      const obj = await withDataKeys(() => parseObject(item as unknown as Record<string, unknown>));
      if (opts.filter && !opts.filter(obj)) continue;
      if (opts.limit !== undefined && items.length >= opts.limit) {
        continueAfter = lastSk; // one more match exists beyond the page
        break;
      }
      items.push(obj);
      lastSk = item.sk;
    }
    return { items, resourceVersion, continueAfter };
  }

  async listPodsOnNode(tenant: string, rt: ResourceType, nodeName: string): Promise<KubeObject[]> {
    const items: KubeObject[] = [];
    const pk = partitionKey(tenant, rt);
    let start: Record<string, unknown> | undefined;
    do {
      const out = await this.doc.send(
        new QueryCommand({
          TableName: this.config.objectsTable,
          IndexName: 'byNode',
          KeyConditionExpression: 'nodeKey = :k',
          ExpressionAttributeValues: { ':k': nodeKey(tenant, nodeName) },
          ExclusiveStartKey: start,
        }),
      );
      for (const item of out.Items ?? []) if (String(item.pk) === pk) items.push(parseObject(item));
      start = out.LastEvaluatedKey;
    } while (start);
    return items;
  }

  async listOnNode(tenant: string, rt: ResourceType, nodeName: string, opts: { watchable: boolean }): Promise<ListResult> {
    const startedAt = this.clock.now();
    const current = await this.log.currentVersion(tenant, rt);
    const items = await this.listPodsOnNode(tenant, rt, nodeName);
    items.sort((a, b) => sortKey(a.metadata.namespace, a.metadata.name!).localeCompare(sortKey(b.metadata.namespace, b.metadata.name!)));
    const resourceVersion = opts.watchable ? await this.log.versionCommittedBefore(tenant, rt, current, startedAt - GSI_LAG_BOUND_MS) : current;
    return { items, resourceVersion };
  }

  async listNodeSnapshots(tenant: string, nodes: ResourceType): Promise<NodeSnapshot[]> {
    const out: NodeSnapshot[] = [];
    for await (const item of this.queryItems(tenant, nodes, undefined)) {
      out.push({
        node: parseObject(item as unknown as Record<string, unknown>),
        capacity: { cpu: item.capCpu ?? 0, memory: item.capMem ?? 0, pods: item.capPods ?? 0 },
        allocated: { cpu: item.allocCpu ?? 0, memory: item.allocMem ?? 0, pods: item.allocPods ?? 0 },
      });
    }
    return out;
  }

  async create(tenant: string, rt: ResourceType, obj: KubeObject, opts: WriteOptions = {}): Promise<KubeObject> {
    const name = obj.metadata.name!;
    const namespace = rt.namespaced ? obj.metadata.namespace : undefined;
    const key = this.key(tenant, rt, namespace, name);
    const base: KubeObject = {
      ...obj,
      metadata: {
        ...obj.metadata,
        uid: randomUUID(),
        creationTimestamp: new Date(this.clock.now()).toISOString().replace(/\.\d+Z$/, 'Z'),
        generation: 1,
      },
    };
    delete base.metadata.deletionTimestamp;
    delete base.metadata.deletionGracePeriodSeconds;
    const node = isCore(rt, 'nodes');
    // A Secret is sealed under its cluster's current data key (shared/secrets/store-codec.ts).
    if (isSecretsPartition(key.pk)) await prepareSecretWrite(tenant);
    return this.commit(tenant, rt, 'ADDED', (rv) => {
      const stored = withVersion(base, rv);
      // No copy of the uid beside `o`: nothing reads it, and every byte counts towards the 1 KB steps.
      const item: ObjectItem = { ...key, o: encodeStored(key.pk, stored), rv, ...indexAttributes(tenant, rt, stored) };
      if (node) Object.assign(item, { allocCpu: 0, allocMem: 0, allocPods: 0 });
      const items: TransactItem[] = [{ Put: { TableName: this.config.objectsTable, Item: item, ConditionExpression: 'attribute_not_exists(pk)' } }];
      // The node lifecycle controller finds tenants with nodes through these markers (no scan).
      if (node) items.push({ Put: { TableName: this.config.objectsTable, Item: { pk: NODE_TENANTS_PK, sk: tenant, at: this.clock.now() } } });
      return { object: stored, items };
    }, () => alreadyExists(rt.resource, name, rt.group), opts.notAfter);
  }

  async update(tenant: string, rt: ResourceType, obj: KubeObject, expectedResourceVersion: string, opts: WriteOptions = {}): Promise<KubeObject> {
    const name = obj.metadata.name!;
    const namespace = rt.namespaced ? obj.metadata.namespace : undefined;
    const old = await this.itemAt(tenant, rt, namespace, name, expectedResourceVersion);
    if (!old) throw notFound(rt.resource, name, rt.group);
    if (String(old.rv) !== expectedResourceVersion) throw conflict(rt.resource, name, rt.group);
    const oldObj = await withDataKeys(() => parseObject(old as unknown as Record<string, unknown>));
    if (isSecretsPartition(old.pk)) await prepareSecretWrite(tenant);
    const next: KubeObject = {
      ...obj,
      metadata: {
        ...obj.metadata,
        uid: oldObj.metadata.uid,
        creationTimestamp: oldObj.metadata.creationTimestamp,
        generation: (oldObj.metadata.generation ?? 1) + (specChanged(oldObj, obj) ? 1 : 0),
      },
    };
    const release = isCore(rt, 'pods') && old.bound && TERMINAL_PHASES.has(String((next.status as { phase?: string } | undefined)?.phase));
    const releaseOnNode = release && (await nodeExists(this.doc, this.config, tenant, old.bound!.node));
    return this.commit(tenant, rt, 'MODIFIED', (rv) => {
      const stored = withVersion(next, rv);
      const idx = indexAttributes(tenant, rt, stored);
      const sets: string[] = ['o = :o', 'rv = :rv'];
      const removes: string[] = [];
      const values: Record<string, unknown> = { ':o': encodeStored(old.pk, stored), ':rv': rv, ':expected': old.rv };
      for (const attr of ['nodeKey', 'capCpu', 'capMem', 'capPods', 'res', 'gc'] as const) {
        if (idx[attr] !== undefined) {
          sets.push(`${attr} = :${attr}`);
          values[`:${attr}`] = idx[attr];
        } else if (old[attr] !== undefined) removes.push(attr);
      }
      if (release) removes.push('bound');
      // Always on a node: a bind may have set it since our read (binds leave rv alone).
      if (isCore(rt, 'nodes')) removes.push(ALLOC_ONLY_ATTRIBUTE);
      const items: TransactItem[] = [
        {
          Update: {
            TableName: this.config.objectsTable,
            Key: { pk: old.pk, sk: old.sk },
            UpdateExpression: `SET ${sets.join(', ')}${removes.length ? ` REMOVE ${removes.join(', ')}` : ''}`,
            ConditionExpression: 'rv = :expected',
            ExpressionAttributeValues: values,
          },
        },
      ];
      if (releaseOnNode) items.push(releaseItem(this.config, tenant, old.bound!));
      return { object: stored, items };
    }, () => conflict(rt.resource, name, rt.group), opts.notAfter);
  }

  async remove(tenant: string, rt: ResourceType, namespace: string | undefined, name: string, expectedResourceVersion?: string): Promise<KubeObject> {
    for (;;) {
      const old = await this.itemAt(tenant, rt, namespace, name, expectedResourceVersion);
      if (!old) throw notFound(rt.resource, name, rt.group);
      if (expectedResourceVersion !== undefined && String(old.rv) !== expectedResourceVersion)
        throw conflict(rt.resource, name, rt.group, `the ResourceVersion in the precondition (${expectedResourceVersion}) does not match the ResourceVersion in record (${old.rv}). The object might have been modified`);
      const oldObj = await withDataKeys(() => parseObject(old as unknown as Record<string, unknown>));
      // The DELETED log entry holds the last state: sealed too.
      if (isSecretsPartition(old.pk)) await prepareSecretWrite(tenant);
      const releaseOnNode = isCore(rt, 'pods') && !!old.bound && (await nodeExists(this.doc, this.config, tenant, old.bound.node));
      try {
        return await this.commit(tenant, rt, 'DELETED', (rv) => {
          const items: TransactItem[] = [
            {
              Delete: {
                TableName: this.config.objectsTable,
                Key: { pk: old.pk, sk: old.sk },
                ConditionExpression: 'rv = :expected',
                ExpressionAttributeValues: { ':expected': old.rv },
              },
            },
          ];
          if (releaseOnNode) items.push(releaseItem(this.config, tenant, old.bound!));
          return { object: withVersion(oldObj, rv), items };
        }, () => conflict(rt.resource, name, rt.group));
      } catch (e) {
        // Changed between our read and our delete: unconditional deletes retry on the new state.
        if (expectedResourceVersion === undefined && e instanceof StatusError && e.reason === 'Conflict') continue;
        throw e;
      }
    }
  }

  async listNodeTenants(): Promise<{ tenant: string; at: number }[]> {
    const out: { tenant: string; at: number }[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const page = await this.doc.send(
        new QueryCommand({
          TableName: this.config.objectsTable,
          KeyConditionExpression: 'pk = :pk',
          ExpressionAttributeValues: { ':pk': NODE_TENANTS_PK },
          ExclusiveStartKey: start,
        }),
      );
      for (const item of page.Items ?? []) out.push({ tenant: String(item.sk), at: Number(item.at ?? 0) });
      start = page.LastEvaluatedKey;
    } while (start);
    return out;
  }

  async forgetNodeTenant(tenant: string, seenAt: number): Promise<void> {
    try {
      await this.doc.send(
        new DeleteCommand({
          TableName: this.config.objectsTable,
          Key: { pk: NODE_TENANTS_PK, sk: tenant },
          ConditionExpression: 'attribute_not_exists(pk) OR #at <= :seen',
          ExpressionAttributeNames: { '#at': 'at' },
          ExpressionAttributeValues: { ':seen': seenAt },
        }),
      );
    } catch (e) {
      if ((e as Error).name !== 'ConditionalCheckFailedException') throw e;
    }
  }

  /**
   * The one write path of an object: reserve a version, then apply the object operation(s) and
   * append the log entry in one transaction (sequence.ts). A failed object condition is mapped by
   * `onConditionFailed`. `notAfter`: the write is sent no later than this, or fails (504).
   */
  private commit(
    tenant: string,
    rt: ResourceType,
    type: WatchEventType,
    build: (rv: number) => { object: KubeObject; items: TransactItem[] },
    onConditionFailed: () => Error,
    notAfter?: number,
  ): Promise<KubeObject> {
    return this.sequences.write<KubeObject>(tenant, rt, {
      notAfter,
      count: 1,
      maxItems: 2, // the object, and a node's allocation sums at most
      build: (rv) => {
        const { object, items } = build(rv);
        return { result: object, logs: [{ type, object }], items };
      },
      onConditionFailed,
    });
  }
}
