import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { DeleteCommand, GetCommand, PutCommand, QueryCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Config } from '../config';

/*
 * Allocation items: one item per allocated value (a Service's ClusterIP, a NodePort) per tenant,
 * in the changes table (not streamed, so an allocation wakes no consumer) under partition
 * `${tenant}#~alloc` ('~' is in no resource name: it never parses as objects, keys.ts) and sort
 * key `${pool}/${value}`. A claim is a conditional put (attribute_not_exists): two concurrent
 * creates asking for one value cannot both get it, and neither retries the other's transaction.
 * A release is a delete conditional on the owner, so a late release never frees a value someone
 * else holds by now. The items carry no TTL: they live as long as their owner.
 * Cost: a claim is 1 write unit, a release 1, a free-value check (dry-run) 1 strongly consistent read.
 */

const isConditionFailed = (e: unknown) => e instanceof ConditionalCheckFailedException || (e as { name?: string })?.name === 'ConditionalCheckFailedException';

export class Allocations {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly config: Config,
  ) {}

  private key(tenant: string, pool: string, value: string) {
    return { pk: `${tenant}#~alloc`, sk: `${pool}/${value}` };
  }

  /**
   * Claims `value` in `pool` for `owner`; false when anyone holds it, `owner` included (a second
   * create of a name that exists must not think it holds, and then give back, the first one's value).
   */
  async claim(tenant: string, pool: string, value: string, owner: string): Promise<boolean> {
    try {
      await this.doc.send(
        new PutCommand({
          TableName: this.config.changesTable,
          Item: { ...this.key(tenant, pool, value), owner },
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      );
      return true;
    } catch (e) {
      if (isConditionFailed(e)) return false;
      throw e;
    }
  }

  /** Gives `value` back, only if `owner` still holds it. */
  async release(tenant: string, pool: string, value: string, owner: string): Promise<void> {
    try {
      await this.doc.send(
        new DeleteCommand({
          TableName: this.config.changesTable,
          Key: this.key(tenant, pool, value),
          ConditionExpression: '#owner = :owner',
          ExpressionAttributeNames: { '#owner': 'owner' },
          ExpressionAttributeValues: { ':owner': owner },
        }),
      );
    } catch (e) {
      if (!isConditionFailed(e)) throw e;
    }
  }

  /** Who holds `value` (strongly consistent), or undefined when it is free. */
  async holder(tenant: string, pool: string, value: string): Promise<string | undefined> {
    const out = await this.doc.send(new GetCommand({ TableName: this.config.changesTable, Key: this.key(tenant, pool, value), ConsistentRead: true }));
    return out.Item?.owner as string | undefined;
  }

  /** Every value held in `pool` (for a range that random probing found crowded). */
  async held(tenant: string, pool: string): Promise<Set<string>> {
    const out = new Set<string>();
    let start: Record<string, unknown> | undefined;
    do {
      const page = await this.doc.send(
        new QueryCommand({
          TableName: this.config.changesTable,
          KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
          ExpressionAttributeValues: { ':pk': `${tenant}#~alloc`, ':prefix': `${pool}/` },
          ExclusiveStartKey: start,
          ConsistentRead: true,
        }),
      );
      for (const item of page.Items ?? []) out.add(String(item.sk).slice(pool.length + 1));
      start = page.LastEvaluatedKey;
    } while (start);
    return out;
  }
}
