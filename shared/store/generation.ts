import { GetCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Config } from '../config';

/*
 * A cluster's RBAC generation: one counter item per tenant, `${tenant}#~rbac-generation` ('~' is
 * in no resource name, so it never parses as an object partition: keys.ts), bumped right after
 * every committed write of an RBAC kind (ResourceType.bumpsRbacGeneration; ObjectStore does it).
 * API instances never see stream events, so the authorizer's per-cluster cache re-reads this one
 * item (at most once a second per instance) and reloads the RBAC objects when it moved
 * (shared/auth/rbac-cache.ts). Bumped after the commit, never before: a reader that sees
 * generation G and then lists finds every write whose bump made G.
 */

const key = (tenant: string) => ({ pk: `${tenant}#~rbac-generation`, sk: 'generation' });

export async function bumpGeneration(doc: DynamoDBDocumentClient, config: Config, tenant: string): Promise<void> {
  await doc.send(new UpdateCommand({ TableName: config.objectsTable, Key: key(tenant), UpdateExpression: 'ADD gen :one', ExpressionAttributeValues: { ':one': 1 } }));
}

/** The generation (0 before any RBAC write). A strongly consistent read: 1 read unit. */
export async function readGeneration(doc: DynamoDBDocumentClient, config: Config, tenant: string): Promise<number> {
  const out = await doc.send(new GetCommand({ TableName: config.objectsTable, Key: key(tenant), ConsistentRead: true, ProjectionExpression: 'gen' }));
  return typeof out.Item?.gen === 'number' ? out.Item.gen : 0;
}
