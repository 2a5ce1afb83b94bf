import { DeleteCommand, GetCommand, PutCommand, QueryCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Config } from '../config';
import { decodeObject } from './codec';
import { partitionKey, sortKey } from './keys';

/*
 * Node IPAM: the pool of per-node pod CIDRs (/24s), shared by every tenant of one deployment.
 * -------------------------------------------------------------------------------------------
 * Kubernetes' nodeipam controller carves node ranges out of one cluster CIDR per cluster. Here
 * many clusters share one host (and, on AWS, one VPC's routes), and Docker refuses a second bridge
 * whose subnet overlaps one it has: so the /24s come from ONE deployment-wide pool
 * (STRATUS_POD_CIDR_POOL, default 10.128.0.0/12 = 4,096 nodes), and no two nodes anywhere hold
 * the same /24, whichever clusters they belong to.
 *
 * One item per taken /24 in partition `~pod-cidrs` (no '#': stream consumers skip it; keys.ts),
 * sk = the CIDR, `owner` = `${tenant}/${node}`, `at` = when taken (ms). Taking a /24 is a
 * conditional put (attribute_not_exists), so two registrations racing for the same /24 cannot
 * both win: the loser moves to the next free one. A node that already holds one (a retried
 * create) gets the same one back. Release: a conditional delete (owner = the node) after the Node
 * is removed. A /24 whose owner never came to exist (its create failed after the allocation) or
 * whose release was lost is reclaimed when the pool runs dry: an item older than RECLAIM_AFTER_MS
 * whose owner Node does not exist or does not hold that CIDR is taken over by a conditional write
 * on its old owner and time.
 */

export const POD_CIDRS_PK = '~pod-cidrs';
export const DEFAULT_POD_CIDR_POOL = '10.128.0.0/12';
/** An allocation this old whose Node does not hold it is a leak (its create failed). */
export const RECLAIM_AFTER_MS = 60_000;

/**
 * The pool's network and prefix length, or an error message. `what` names the pool and what takes
 * each /24 of it in the messages (the node agent's docker-bridge pool has the same rules).
 */
export function parsePool(pool: string, what = { pool: 'pod CIDR pool', each: 'each node takes a /24' }): { base: number; bits: number } | string {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(pool.trim());
  if (!m) return `${what.pool} ${JSON.stringify(pool)} is not an IPv4 CIDR`;
  const octets = m.slice(1, 5).map(Number);
  const bits = Number(m[5]);
  if (octets.some((o) => o > 255)) return `${what.pool} ${JSON.stringify(pool)} is not an IPv4 CIDR: octet out of range`;
  if (bits < 8 || bits > 24) return `${what.pool} ${pool}: the prefix must be between /8 and /24 (${what.each})`;
  const ip = ipToInt(octets.join('.'));
  const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
  if ((ip & mask) >>> 0 !== ip) return `${what.pool} ${pool}: host bits are set`;
  return { base: ip, bits };
}

export const ipToInt = (ip: string): number => ip.split('.').reduce((n, o) => ((n << 8) >>> 0) + Number(o), 0) >>> 0;
export const intToIp = (n: number): string => [24, 16, 8, 0].map((s) => (n >>> s) & 255).join('.');

/** How many /24s the pool holds. */
export const poolSize = (pool: { bits: number }): number => 2 ** (24 - pool.bits);

/** The i-th /24 of the pool. */
export const nodeCidrAt = (pool: { base: number }, i: number): string => `${intToIp((pool.base + i * 256) >>> 0)}/24`;

/** The index of a /24 in the pool, or undefined when it is not one of its /24s. */
export function indexOfCidr(pool: { base: number; bits: number }, cidr: string): number | undefined {
  const m = /^(\d{1,3}(?:\.\d{1,3}){3})\/24$/.exec(cidr);
  if (!m) return undefined;
  const ip = ipToInt(m[1]!);
  if (ip % 256 !== 0 || ip < pool.base) return undefined;
  const i = (ip - pool.base) / 256;
  return i < poolSize(pool) ? i : undefined;
}

/** The lowest indexes not in `taken`, in order (at most `max`). */
export function freeIndexes(size: number, taken: ReadonlySet<number>, max: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < size && out.length < max; i++) if (!taken.has(i)) out.push(i);
  return out;
}

export const ownerOf = (tenant: string, nodeName: string) => `${tenant}/${nodeName}`;

export class PodCidrPoolExhausted extends Error {
  constructor(pool: string) {
    super(`the pod CIDR pool ${pool} has no free /24 left`);
    this.name = 'PodCidrPoolExhausted';
  }
}

interface AllocationItem {
  readonly sk: string;
  readonly owner: string;
  readonly at: number;
}

const isConditionFailed = (e: unknown) => (e as { name?: string } | undefined)?.name === 'ConditionalCheckFailedException';

export class PodCidrPool {
  private readonly pool: { base: number; bits: number };

  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly config: Config,
    readonly cidr: string = config.podCidrPool ?? DEFAULT_POD_CIDR_POOL,
    private readonly now: () => number = Date.now,
  ) {
    const parsed = parsePool(cidr);
    if (typeof parsed === 'string') throw new Error(parsed);
    this.pool = parsed;
  }

  private async items(): Promise<AllocationItem[]> {
    const out: AllocationItem[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const page = await this.doc.send(
        new QueryCommand({ TableName: this.config.objectsTable, KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': POD_CIDRS_PK }, ExclusiveStartKey: start, ConsistentRead: true }),
      );
      for (const i of page.Items ?? []) out.push({ sk: String(i.sk), owner: String(i.owner), at: Number(i.at ?? 0) });
      start = page.LastEvaluatedKey;
    } while (start);
    return out;
  }

  /** The /24 a node holds, taking a free one when it holds none. */
  async allocate(tenant: string, nodeName: string): Promise<string> {
    const owner = ownerOf(tenant, nodeName);
    for (let round = 0; round < 8; round++) {
      const items = await this.items();
      const mine = items.find((i) => i.owner === owner && indexOfCidr(this.pool, i.sk) !== undefined);
      if (mine) return mine.sk;
      const taken = new Set(items.map((i) => indexOfCidr(this.pool, i.sk)).filter((i): i is number => i !== undefined));
      for (const i of freeIndexes(poolSize(this.pool), taken, 64)) {
        const cidr = nodeCidrAt(this.pool, i);
        try {
          await this.doc.send(
            new PutCommand({
              TableName: this.config.objectsTable,
              Item: { pk: POD_CIDRS_PK, sk: cidr, owner, at: this.now() },
              ConditionExpression: 'attribute_not_exists(pk)',
            }),
          );
          return cidr;
        } catch (e) {
          if (!isConditionFailed(e)) throw e; // taken meanwhile: the next free one
        }
      }
      if (taken.size < poolSize(this.pool)) continue; // lost every race of this round: read again
      const reclaimed = await this.reclaim(items, owner);
      if (reclaimed) return reclaimed;
      throw new PodCidrPoolExhausted(this.cidr);
    }
    throw new PodCidrPoolExhausted(this.cidr);
  }

  /** Takes over one leaked /24 (see the design note), or answers undefined. */
  private async reclaim(items: readonly AllocationItem[], owner: string): Promise<string | undefined> {
    for (const item of items) {
      if (this.now() - item.at < RECLAIM_AFTER_MS) continue;
      if (await this.held(item)) continue;
      try {
        await this.doc.send(
          new PutCommand({
            TableName: this.config.objectsTable,
            Item: { pk: POD_CIDRS_PK, sk: item.sk, owner, at: this.now() },
            ConditionExpression: '#owner = :old AND #at = :at',
            ExpressionAttributeNames: { '#owner': 'owner', '#at': 'at' },
            ExpressionAttributeValues: { ':old': item.owner, ':at': item.at },
          }),
        );
        return item.sk;
      } catch (e) {
        if (!isConditionFailed(e)) throw e;
      }
    }
    return undefined;
  }

  /** Whether the owner Node exists and holds the CIDR in spec.podCIDR. */
  private async held(item: AllocationItem): Promise<boolean> {
    const slash = item.owner.indexOf('/');
    const tenant = item.owner.slice(0, slash);
    const name = item.owner.slice(slash + 1);
    const out = await this.doc.send(new GetCommand({ TableName: this.config.objectsTable, Key: { pk: partitionKey(tenant, { group: '', resource: 'nodes' }), sk: sortKey(undefined, name) }, ConsistentRead: true }));
    if (!out.Item) return false;
    const node = decodeObject(out.Item.o as Uint8Array) as { spec?: { podCIDR?: string } };
    return node.spec?.podCIDR === item.sk;
  }

  /** Gives a node's /24 back (only if that node still owns it). Safe to repeat. */
  async release(tenant: string, nodeName: string, cidr: string): Promise<void> {
    try {
      await this.doc.send(
        new DeleteCommand({
          TableName: this.config.objectsTable,
          Key: { pk: POD_CIDRS_PK, sk: cidr },
          ConditionExpression: '#owner = :me',
          ExpressionAttributeNames: { '#owner': 'owner' },
          ExpressionAttributeValues: { ':me': ownerOf(tenant, nodeName) },
        }),
      );
    } catch (e) {
      if (!isConditionFailed(e)) throw e;
    }
  }
}
