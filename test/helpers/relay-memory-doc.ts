/** An in-memory stand-in for the DynamoDB calls of the kubelet relay (unit tests, bench/kubelet-relay.ts). */
import { DeleteCommand, GetCommand, PutCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';

type Item = Record<string, unknown>;

/** The few condition forms the relay writes, ANDed: attribute_exists(a), attribute_not_exists(a), a > :v, a = :v. */
function holds(item: Item | undefined, expr: string | undefined, names: Record<string, string>, values: Item): boolean {
  if (!expr) return true;
  const name = (n: string) => names[n] ?? n;
  return expr.split(' AND ').every((term) => {
    let m = /^attribute_exists\((\S+)\)$/.exec(term);
    if (m) return item !== undefined && item[name(m[1]!)] !== undefined;
    m = /^attribute_not_exists\((\S+)\)$/.exec(term);
    if (m) return item === undefined || item[name(m[1]!)] === undefined;
    m = /^(\S+) (>|=) (:\w+)$/.exec(term);
    if (!m) throw new Error(`unsupported condition ${term}`);
    const v = item?.[name(m[1]!)];
    return m[2] === '>' ? Number(v) > Number(values[m[3]!]) : v === values[m[3]!];
  });
}

/** The DynamoDB calls the relay makes, in memory (conditions as the code writes them). */
export function memoryDoc(): DynamoDBDocumentClient & { items: Map<string, Item> } {
  const items = new Map<string, Item>();
  const key = (t: string, k: Item) => `${t}|${String(k.pk)}|${String(k.sk)}`;
  const conditionFailed = () => Object.assign(new Error('conditional'), { name: 'ConditionalCheckFailedException' });
  return {
    items,
    send: async (cmd: unknown) => {
      if (cmd instanceof GetCommand) {
        const it = items.get(key(cmd.input.TableName!, cmd.input.Key!));
        return { Item: it ? structuredClone(it) : undefined };
      }
      if (cmd instanceof PutCommand) {
        const k = key(cmd.input.TableName!, cmd.input.Item!);
        if (!holds(items.get(k), cmd.input.ConditionExpression, cmd.input.ExpressionAttributeNames ?? {}, cmd.input.ExpressionAttributeValues ?? {})) throw conditionFailed();
        items.set(k, { ...cmd.input.Item });
        return {};
      }
      if (cmd instanceof DeleteCommand) return void items.delete(key(cmd.input.TableName!, cmd.input.Key!));
      if (cmd instanceof UpdateCommand) {
        const k = key(cmd.input.TableName!, cmd.input.Key!);
        const names = cmd.input.ExpressionAttributeNames ?? {};
        const values = cmd.input.ExpressionAttributeValues ?? {};
        const it = items.get(k);
        if (!holds(it, cmd.input.ConditionExpression, names, values)) throw conditionFailed();
        const next: Item = { ...(it ?? cmd.input.Key!) };
        const sets = /^SET (.+)$/.exec(cmd.input.UpdateExpression!)![1]!.split(', ');
        for (const s of sets) {
          const [n, v] = s.split(' = ') as [string, string];
          next[names[n] ?? n] = values[v];
        }
        items.set(k, next);
        return cmd.input.ReturnValues === 'ALL_NEW' ? { Attributes: structuredClone(next) } : {};
      }
      throw new Error(`unexpected command ${(cmd as object).constructor.name}`);
    },
  } as unknown as DynamoDBDocumentClient & { items: Map<string, Item> };
}
