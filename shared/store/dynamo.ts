import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Config } from '../config';
import { meterDynamoDb } from '../cost/sdk';
import { traceDynamoDb } from '../request-trace';

/**
 * One DynamoDB document client per process (Lambda reuses it across invocations).
 * The endpoint comes from the SDK's own AWS_ENDPOINT_URL_DYNAMODB when set.
 */
export function createDocumentClient(config: Config): DynamoDBDocumentClient {
  const client = new DynamoDBClient({ region: config.region, maxAttempts: 5 });
  // Counts read and write units inside a cost scope only (shared/cost/sdk.ts).
  meterDynamoDb(client);
  traceDynamoDb(client);
  return DynamoDBDocumentClient.from(client, {
    marshallOptions: { removeUndefinedValues: true, convertEmptyValues: false },
  });
}
