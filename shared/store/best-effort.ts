import { randomUUID } from 'node:crypto';
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { BatchWriteCommand, GetCommand, PutCommand, QueryCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Config } from '../config';
import { conflict, notFound } from '../errors';
import type { KubeObject, ResourceType } from '../resources';
import { decodeObject, encodeObject } from './codec';
import { partitionKey } from './keys';

/*
 * Best-effort kinds: Events
 * -------------------------
 * Kubernetes treats Events as best-effort: they expire after an hour (etcd lease), recorders
 * drop them under pressure, and nothing may depend on seeing every one. Stratus stores them the
 * cheap way instead of through the sequenced, transactional write path of shared/store/store.ts:
 *
 * - One item per Event, written with ONE plain PutItem (no transaction, no sequence, no separate
 *   log entry): 1 WRU for an Event under 1 KB (about 0.5 KB with `o` compressed as every stored
 *   object is, codec.ts), instead of 6 (sequence 2 + object 2 + log 2, transactional).
 *   Several at once (`createMany`: the scheduler's Scheduled events) go 25 to a BatchWriteItem:
 *   the same units, fewer requests.
 * - In the `changes` table, partition `${tenant}#${resource}` (the kind's log partition, keys.ts), sort key
 *   `${pad(rv)}#${namespace}/${name}`: the partition is both the collection and its change log,
 *   in resourceVersion order. `ttl` expires it (config.changeLogTtlSeconds, 1 h by default, as
 *   Kubernetes' --event-ttl); reads skip items past their ttl, since DynamoDB deletes them late.
 * - resourceVersion is a clock version: microseconds since the epoch (ms × 1000 + a counter), so
 *   versions from different writers interleave in time order without a shared counter. Only
 *   Events have them; Kubernetes only promises that versions are opaque per resource.
 *
 * What this gives up, on purpose (docs/cost.md, "Events"):
 * - A create of a name already taken does not fail with 409: both items stay and reads show the
 *   newer one (recorders generate unique names; Kubernetes' own recorder ignores AlreadyExists).
 * - Get by name reads the tenant's events partition (a Query with a filter): fine for the rare
 *   `kubectl get event NAME`; updates and deletes that carry the resourceVersion go straight to
 *   the item.
 * - An update (PUT/PATCH, e.g. a count bump) writes the new item, then marks the old one
 *   superseded (`sup`, the version that replaced it) and shortens its ttl to SUPERSEDED_READABLE_S
 *   from now: two plain writes of 1 WRU each (an UpdateItem costs what the DeleteItem it replaced
 *   did). Reads of the current state (get, list) take each Event's newest entry, and an update or
 *   delete from a superseded version is a Conflict; but a watch that polls after the update (late:
 *   a busy instance, a watch that started from an older list) still reads the older state, so it
 *   sends ADDED then MODIFIED as Kubernetes does, not a MODIFIED of an object its watcher never
 *   had. (The old item was deleted at once before: such a watch saw only the newest state, and a
 *   field-selected watch opened with a list missed the ADDED.) DynamoDB's TTL sweep removes the
 *   superseded item later, free of write units; until then reads skip it and a list pays its
 *   read units (docs/cost.md, "Events"). The resourceVersion precondition is checked by reading
 *   the old item, not by a condition on the write: two updates racing from the same version may
 *   both succeed (reads show the newer), which Kubernetes' recorders (patches without
 *   preconditions) never notice. A delete writes a tombstone (type DELETED, same ttl) so watchers
 *   hear of it, then marks the item superseded the same way. If the second write is lost, reads
 *   still see only the newest state.
 * - Watch is a poll of the partition by sort key. A write whose clock version is older than the
 *   newest one a watcher has seen (clock skew between writers, or a slow PutItem) is still
 *   delivered when it lands within the look-back window (functions/api/watch.ts); later than that
 *   it is missed by open watches (a new list shows it). A watch that reads more than
 *   SUPERSEDED_READABLE_S after an update sees only the newer state (best effort). Expiry by TTL is not reported to watchers
 *   (etcd would send DELETED): a watcher keeps an expired Event until it lists again.
 */

/** Resources stored best-effort (see above); everything else goes through the sequenced path. */
const BEST_EFFORT = new Set(['events']);
export const isBestEffort = (rt: ResourceType) => BEST_EFFORT.has(rt.resource);

/**
 * How long a superseded entry (the state before an update or delete) stays readable to watches:
 * ample for a poll every 500 ms, even on an instance that stalls for seconds.
 */
export const SUPERSEDED_READABLE_S = 60;

const VERSION_DIGITS = 20;
/** BatchWriteItem takes up to 25 items a request. */
const BATCH_WRITE_ITEMS = 25;
const BATCH_ATTEMPTS = 5;
const pad = (n: number) => String(n).padStart(VERSION_DIGITS, '0');

let lastClockVersion = 0;
/** A clock version: microseconds since the epoch, strictly increasing within this process. */
export function clockVersion(nowMs = Date.now()): number {
  lastClockVersion = Math.max(lastClockVersion + 1, nowMs * 1000);
  return lastClockVersion;
}

/** The wall-clock time (ms) a clock version stands for. */
export const clockVersionMs = (rv: number) => Math.floor(rv / 1000);

export interface BestEffortEntry {
  readonly type: 'ADDED' | 'MODIFIED' | 'DELETED';
  readonly resourceVersion: number;
  readonly object: KubeObject;
  /** The item's sort key: unique per entry, so watchers can tell entries apart. */
  readonly sk: string;
}

interface EntryItem {
  pk: string;
  sk: string;
  /** `${namespace}/${name}` */
  key: string;
  type: BestEffortEntry['type'];
  /** The object, compressed as every stored object (codec.ts). */
  o: Uint8Array;
  ttl: number;
  /** Set on an entry an update or delete replaced: the version that replaced it. */
  sup?: number;
}

const keyOf = (namespace: string | undefined, name: string) => `${namespace ?? ''}/${name}`;
const stamp = (obj: KubeObject, rv: number): KubeObject => ({ ...obj, metadata: { ...obj.metadata, resourceVersion: String(rv) } });

/**
 * The store of best-effort kinds. Same contract as ObjectStore's methods of the same names
 * (tenant-scoped, StatusErrors), with the relaxations written above.
 */
export class BestEffortStore {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly config: Config,
  ) {}

  private pk(tenant: string, rt: ResourceType) {
    return partitionKey(tenant, rt);
  }

  private toEntry(item: Record<string, unknown>): BestEffortEntry {
    const sk = String(item.sk);
    return { type: item.type as BestEffortEntry['type'], resourceVersion: Number(sk.slice(0, VERSION_DIGITS)), object: decodeObject(item.o), sk };
  }

  private async put(tenant: string, rt: ResourceType, type: BestEffortEntry['type'], obj: KubeObject, rv: number): Promise<void> {
    await this.doc.send(new PutCommand({ TableName: this.config.changesTable, Item: this.item(tenant, rt, type, obj, rv) }));
  }

  private item(tenant: string, rt: ResourceType, type: BestEffortEntry['type'], obj: KubeObject, rv: number): EntryItem {
    return {
      pk: this.pk(tenant, rt),
      sk: `${pad(rv)}#${keyOf(obj.metadata.namespace, obj.metadata.name!)}`,
      key: keyOf(obj.metadata.namespace, obj.metadata.name!),
      type,
      o: encodeObject(obj),
      ttl: Math.floor(clockVersionMs(rv) / 1000) + this.config.changeLogTtlSeconds,
    };
  }

  /** Entries with resourceVersion > afterVersion, oldest first, expired ones left out. */
  async entriesSince(tenant: string, rt: ResourceType, afterVersion: number, limit = 500): Promise<BestEffortEntry[]> {
    const out = await this.doc.send(
      new QueryCommand({
        TableName: this.config.changesTable,
        KeyConditionExpression: 'pk = :pk AND sk >= :from',
        ExpressionAttributeValues: { ':pk': this.pk(tenant, rt), ':from': pad(afterVersion + 1) },
        Limit: limit,
        ConsistentRead: true,
      }),
    );
    const now = Date.now() / 1000;
    return (out.Items ?? []).filter((i) => Number(i.ttl ?? Infinity) > now && /^\d{20}#/.test(String(i.sk))).map((i) => this.toEntry(i));
  }

  /** The newest state of every live object (tombstones hide what they delete), by key. */
  private async latest(tenant: string, rt: ResourceType, match?: { key: string }): Promise<Map<string, BestEffortEntry>> {
    const newest = new Map<string, BestEffortEntry>();
    let start: Record<string, unknown> | undefined;
    const now = Date.now() / 1000;
    do {
      const out = await this.doc.send(
        new QueryCommand({
          TableName: this.config.changesTable,
          KeyConditionExpression: 'pk = :pk',
          ...(match
            ? { FilterExpression: '#key = :key', ExpressionAttributeNames: { '#key': 'key' }, ExpressionAttributeValues: { ':pk': this.pk(tenant, rt), ':key': match.key } }
            : { ExpressionAttributeValues: { ':pk': this.pk(tenant, rt) } }),
          ExclusiveStartKey: start,
          ConsistentRead: true,
        }),
      );
      for (const item of out.Items ?? []) {
        if (Number(item.ttl ?? Infinity) <= now || !/^\d{20}#/.test(String(item.sk))) continue;
        const e = this.toEntry(item);
        const key = String(item.key);
        const prev = newest.get(key);
        if (!prev || prev.resourceVersion < e.resourceVersion) newest.set(key, e);
      }
      start = out.LastEvaluatedKey;
    } while (start);
    for (const [key, e] of newest) if (e.type === 'DELETED') newest.delete(key);
    return newest;
  }

  async get(tenant: string, rt: ResourceType, namespace: string | undefined, name: string): Promise<KubeObject | undefined> {
    return (await this.latest(tenant, rt, { key: keyOf(namespace, name) })).get(keyOf(namespace, name))?.object;
  }

  /**
   * Every live object, in namespace/name order (as ObjectStore lists), `startAfter` and `limit`
   * as there. The list's resourceVersion is the clock version when the read began: a watch from
   * it gets every entry written after, and those written before that land late within the
   * watch's look-back window.
   */
  async list(
    tenant: string,
    rt: ResourceType,
    opts: { namespace?: string; filter?: (o: KubeObject) => boolean; limit?: number; startAfter?: string },
  ): Promise<{ items: KubeObject[]; resourceVersion: number; continueAfter?: string }> {
    const resourceVersion = clockVersion();
    const byKey = await this.latest(tenant, rt);
    const keys = [...byKey.keys()].filter((k) => (opts.namespace === undefined || k.startsWith(`${opts.namespace}/`)) && (opts.startAfter === undefined || k > opts.startAfter)).sort();
    const items: KubeObject[] = [];
    let continueAfter: string | undefined;
    let lastKey: string | undefined;
    for (const k of keys) {
      const obj = byKey.get(k)!.object;
      if (opts.filter && !opts.filter(obj)) continue;
      if (opts.limit !== undefined && items.length >= opts.limit) {
        continueAfter = lastKey;
        break;
      }
      items.push(obj);
      lastKey = k;
    }
    return { items, resourceVersion, continueAfter };
  }

  async create(tenant: string, rt: ResourceType, obj: KubeObject): Promise<KubeObject> {
    const { object, rv } = this.prepareCreate(obj);
    await this.put(tenant, rt, 'ADDED', object, rv);
    return object;
  }

  /** The object as a create stores it: a clock version, a uid, its creation time. */
  private prepareCreate(obj: KubeObject): { object: KubeObject; rv: number } {
    const rv = clockVersion();
    const object = stamp(
      {
        ...obj,
        metadata: { ...obj.metadata, uid: randomUUID(), creationTimestamp: new Date(clockVersionMs(rv)).toISOString().replace(/\.\d+Z$/, 'Z'), generation: 1 },
      },
      rv,
    );
    delete object.metadata.deletionTimestamp;
    delete object.metadata.deletionGracePeriodSeconds;
    return { object, rv };
  }

  /**
   * Creates several objects as `create` does each, in BatchWriteItem requests of up to 25 items
   * (DynamoDB's limit): the same write units, a twenty-fifth of the requests. Items DynamoDB
   * leaves unprocessed (throttling) are sent again, up to BATCH_ATTEMPTS times with backoff;
   * then it throws (what was written stays: these kinds are best effort).
   */
  async createMany(tenant: string, rt: ResourceType, objs: readonly KubeObject[]): Promise<KubeObject[]> {
    const stored = objs.map((obj) => this.prepareCreate(obj));
    const items = stored.map(({ object, rv }) => this.item(tenant, rt, 'ADDED', object, rv));
    for (let i = 0; i < items.length; i += BATCH_WRITE_ITEMS) {
      let requests: Record<string, unknown>[] = items.slice(i, i + BATCH_WRITE_ITEMS).map((Item) => ({ PutRequest: { Item } }));
      for (let attempt = 1; requests.length; attempt++) {
        const out = await this.doc.send(new BatchWriteCommand({ RequestItems: { [this.config.changesTable]: requests as never } }));
        requests = (out.UnprocessedItems?.[this.config.changesTable] ?? []) as Record<string, unknown>[];
        if (requests.length && attempt >= BATCH_ATTEMPTS) throw new Error(`${requests.length} ${rt.resource} not written after ${attempt} attempts (unprocessed)`);
        if (requests.length) await new Promise((r) => setTimeout(r, 25 * 2 ** attempt));
      }
    }
    return stored.map((s) => s.object);
  }

  /** The entry at exactly this version, or 404/409 as ObjectStore would answer. */
  private async at(tenant: string, rt: ResourceType, namespace: string | undefined, name: string, expected: string): Promise<BestEffortEntry> {
    const key = keyOf(namespace, name);
    const rv = /^\d+$/.test(expected) ? Number(expected) : NaN;
    const out = Number.isSafeInteger(rv)
      ? await this.doc.send(new GetCommand({ TableName: this.config.changesTable, Key: { pk: this.pk(tenant, rt), sk: `${pad(rv)}#${key}` }, ConsistentRead: true }))
      : undefined;
    const item = out?.Item;
    if (item && item.type !== 'DELETED' && item.sup === undefined && Number(item.ttl ?? Infinity) > Date.now() / 1000) return this.toEntry(item);
    if (await this.get(tenant, rt, namespace, name)) throw conflict(rt.resource, name, rt.group);
    throw notFound(rt.resource, name, rt.group);
  }

  async update(tenant: string, rt: ResourceType, obj: KubeObject, expectedResourceVersion: string): Promise<KubeObject> {
    const name = obj.metadata.name!;
    const namespace = rt.namespaced ? obj.metadata.namespace : undefined;
    const old = await this.at(tenant, rt, namespace, name, expectedResourceVersion);
    const rv = clockVersion();
    const stored = stamp({ ...obj, metadata: { ...obj.metadata, uid: old.object.metadata.uid, creationTimestamp: old.object.metadata.creationTimestamp, generation: old.object.metadata.generation ?? 1 } }, rv);
    await this.put(tenant, rt, 'MODIFIED', stored, rv);
    await this.supersede(tenant, rt, old.sk, rv);
    return stored;
  }

  async remove(tenant: string, rt: ResourceType, namespace: string | undefined, name: string, expectedResourceVersion?: string): Promise<KubeObject> {
    let expected = expectedResourceVersion;
    if (expected === undefined) {
      const current = await this.get(tenant, rt, namespace, name);
      if (!current) throw notFound(rt.resource, name, rt.group);
      expected = current.metadata.resourceVersion!;
    }
    const old = await this.at(tenant, rt, namespace, name, expected);
    const rv = clockVersion();
    const last = stamp(old.object, rv);
    await this.put(tenant, rt, 'DELETED', last, rv);
    await this.supersede(tenant, rt, old.sk, rv);
    return last;
  }

  /**
   * Marks the entry `sk` replaced by version `by`: readable to watches for SUPERSEDED_READABLE_S
   * more, never again the current state. Only an entry that is still there (a racing update may
   * have marked it already; DynamoDB may have swept it): an UpdateItem would otherwise create a
   * bare item.
   */
  private async supersede(tenant: string, rt: ResourceType, sk: string, by: number): Promise<void> {
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.config.changesTable,
          Key: { pk: this.pk(tenant, rt), sk },
          UpdateExpression: 'SET sup = :by, #ttl = :ttl',
          ConditionExpression: 'attribute_exists(sk) AND (attribute_not_exists(sup) OR sup < :by)',
          ExpressionAttributeNames: { '#ttl': 'ttl' },
          ExpressionAttributeValues: { ':by': by, ':ttl': Math.floor(clockVersionMs(by) / 1000) + SUPERSEDED_READABLE_S },
        }),
      );
    } catch (e) {
      if (!(e instanceof ConditionalCheckFailedException || (e as { name?: string }).name === 'ConditionalCheckFailedException')) throw e;
    }
  }
}
