/** An in-memory stand-in for the DynamoDB calls of the kubelet relay (unit tests, bench/kubelet-relay.ts). */
import { DeleteCommand, GetCommand, PutCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';

/** The DynamoDB calls the relay makes, in memory (conditions as the code writes them). */
export function memoryDoc(): DynamoDBDocumentClient {
  const items = new Map<string, Record<string, unknown>>();
  const key = (t: string, k: Record<string, unknown>) => `${t}|${String(k.pk)}|${String(k.sk)}`;
  const conditionFailed = () => Object.assign(new Error('conditional'), { name: 'ConditionalCheckFailedException' });
  return {
    send: async (cmd: unknown) => {
      if (cmd instanceof GetCommand) return { Item: items.get(key(cmd.input.TableName!, cmd.input.Key!)) };
      if (cmd instanceof PutCommand) {
        const k = key(cmd.input.TableName!, cmd.input.Item!);
        if (cmd.input.ConditionExpression && items.has(k)) throw conditionFailed();
        items.set(k, { ...cmd.input.Item });
        return {};
      }
      if (cmd instanceof DeleteCommand) return void items.delete(key(cmd.input.TableName!, cmd.input.Key!));
      if (cmd instanceof UpdateCommand) {
        const k = key(cmd.input.TableName!, cmd.input.Key!);
        const attr = /^SET (\w+) = :t$/.exec(cmd.input.UpdateExpression!)![1]!;
        const it_ = items.get(k);
        if (!it_ || it_[attr] !== undefined || !(Number(it_.expiresAtMs) > Number(cmd.input.ExpressionAttributeValues![':now']))) throw conditionFailed();
        it_[attr] = true;
        return {};
      }
      throw new Error(`unexpected command ${(cmd as object).constructor.name}`);
    },
  } as unknown as DynamoDBDocumentClient;
}

