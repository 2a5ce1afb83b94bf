/**
 * Cluster lifecycle: the operator's side of the product. A cluster (a tenant: one virtual
 * Kubernetes cluster) is a registry item plus what any cluster has from its first second — its
 * four system namespaces and an admin credential (and whatever the bootstrap steps below add).
 * Nothing else exists until it is used, so an idle cluster costs nothing but a few items.
 *
 *   registry item   pk `~clusters`, sk NAME: {uid, createdAt, podSecurity, rateLimit?, userRateLimit?,
 *                   longRunningLimit?, userLongRunningLimit?}
 *
 * Deleting a cluster removes every item it owns — every key starting `NAME#` in both tables
 * (objects, sequences, change log, the controllers' coordination), its tokens (`token#...`
 * items naming it), its `~node-tenants` marker, its registry item — and its nodes' SQS queues.
 * It reads the tables with a filtered Scan, since tokens are keyed by their hash: fine for the
 * rare delete locally; on AWS it costs a read of the whole table (docs/cost.md).
 */
import { ensureBootstrapPolicy } from './auth/bootstrap-policy';
import { loadBalancerRange, releaseAddresses } from './services/load-balancer';
import { dataKeysPk, secretKeyring } from './secrets/keys';
import { signingKeysItemKey } from './serviceaccounts/keys';
import { randomUUID } from 'node:crypto';
import { DeleteQueueCommand, GetQueueUrlCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { BatchWriteCommand, DeleteCommand, GetCommand, PutCommand, QueryCommand, ScanCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { createToken, type Identity } from './auth/tokens';
import { nodeDeadLetterQueueName, nodeQueueName, type Config } from './config';
import { alreadyExists, invalid, notFound } from './errors';
import { resourceByName } from './resources';
import { isTenantName } from './store/keys';
import { isValidLimit } from './rate-limit';
import type { ObjectStore } from './store/store';
import { ensureSystemNamespaces } from './system-namespaces';
import { ensureDefaultIngressClass } from './ingress/default-class';

export const CLUSTERS_PK = '~clusters';
/** Partition of the node-tenants markers (shared/store/objects.ts writes them). */
const NODE_TENANTS_PK = '~node-tenants';

/** Pod Security Standards levels; new clusters enforce `baseline` unless told otherwise. */
export const POD_SECURITY_LEVELS = ['privileged', 'baseline', 'restricted'] as const;
export type PodSecurityLevel = (typeof POD_SECURITY_LEVELS)[number];

/** The operator's identity: its tenant is no DNS label, so it names no cluster and reaches none. */
export const OPERATOR_TENANT = '~operator';
export const OPERATOR_IDENTITY: Identity = { tenant: OPERATOR_TENANT, user: 'stratus:operator', groups: ['stratus:operators'] };
export const isOperator = (identity: Identity) => identity.tenant === OPERATOR_TENANT;

export interface ClusterRecord {
  readonly name: string;
  readonly uid: string;
  readonly createdAt: string;
  readonly podSecurity: PodSecurityLevel;
  /** Requests per second of the whole cluster and of each user (shared/rate-limit.ts); absent: the deployment's defaults. */
  readonly rateLimit?: number;
  readonly userRateLimit?: number;
  /** Open long-running requests of the whole cluster and of each user (shared/long-running.ts); absent: the deployment's defaults. */
  readonly longRunningLimit?: number;
  readonly userLongRunningLimit?: number;
}

/** Rate limits (and caps on open long-running requests) a cluster is created with or changed to; each absent one keeps the default (or its value). */
export interface ClusterRateLimits {
  readonly rateLimit?: number;
  readonly userRateLimit?: number;
  readonly longRunningLimit?: number;
  readonly userLongRunningLimit?: number;
}

/** The limit fields of a cluster, in the order they are validated and stored. */
export const CLUSTER_LIMIT_FIELDS = ['rateLimit', 'userRateLimit', 'longRunningLimit', 'userLongRunningLimit'] as const;

/** The limit fields `limits` sets. */
const ownLimits = (limits: ClusterRateLimits): ClusterRateLimits => Object.fromEntries(CLUSTER_LIMIT_FIELDS.filter((f) => limits[f] !== undefined).map((f) => [f, limits[f]]));

/** The causes of invalid rate limits, Kubernetes-style; empty when valid. */
export function validateRateLimits(limits: ClusterRateLimits): { field: string; message: string; reason: string }[] {
  const causes: { field: string; message: string; reason: string }[] = [];
  for (const field of CLUSTER_LIMIT_FIELDS) {
    const v = limits[field];
    const what = field === 'rateLimit' || field === 'userRateLimit' ? 'requests per second' : 'open long-running requests';
    if (v !== undefined && !isValidLimit(v)) causes.push({ field: `spec.${field}`, reason: 'FieldValueInvalid', message: `Invalid value: ${JSON.stringify(v)}: must be a whole number of ${what} between 0 (no limit) and 1000000` });
  }
  return causes;
}

export interface ClusterDeps {
  readonly doc: DynamoDBDocumentClient;
  readonly config: Config;
  readonly store: ObjectStore;
  readonly sqs?: SQSClient;
}

/**
 * What a new cluster gets besides its namespaces and admin token. Other features add their step
 * here (default ServiceAccounts, default RBAC roles, signing keys): one line each.
 */
export const CLUSTER_BOOTSTRAP: readonly ((deps: ClusterDeps, cluster: ClusterRecord) => Promise<void>)[] = [
  // The system namespaces, with each one's default ServiceAccount, kube-root-ca.crt and the cluster's signing keys.
  (deps, cluster) => ensureSystemNamespaces(deps.store, cluster.name),
  // Kubernetes' default RBAC roles and bindings (cluster-admin, admin, edit, view, system:*).
  (deps, cluster) => ensureBootstrapPolicy(deps.store, cluster.name),
  // The default IngressClass `stratus`, served by the node agents' Ingress proxy (issue #15).
  (deps, cluster) => ensureDefaultIngressClass(deps.store, cluster.name),
];

/** The causes of an invalid cluster name or level, Kubernetes-style; empty when valid. */
export function validateCluster(name: string, podSecurity: string): { field: string; message: string; reason: string }[] {
  const causes: { field: string; message: string; reason: string }[] = [];
  if (!isTenantName(name)) {
    causes.push({
      field: 'metadata.name',
      reason: 'FieldValueInvalid',
      message: `Invalid value: ${JSON.stringify(name)}: a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name', or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?'), at most 63 characters`,
    });
  }
  if (!(POD_SECURITY_LEVELS as readonly string[]).includes(podSecurity)) {
    causes.push({ field: 'spec.podSecurity', reason: 'FieldValueNotSupported', message: `Unsupported value: ${JSON.stringify(podSecurity)}: supported values: "privileged", "baseline", "restricted"` });
  }
  return causes;
}

const fromItem = (item: Record<string, unknown>): ClusterRecord => ({
  name: String(item.sk),
  uid: String(item.uid ?? ''),
  createdAt: String(item.createdAt ?? ''),
  podSecurity: (POD_SECURITY_LEVELS as readonly string[]).includes(String(item.podSecurity)) ? (item.podSecurity as PodSecurityLevel) : 'baseline',
  ...Object.fromEntries(CLUSTER_LIMIT_FIELDS.filter((f) => isValidLimit(item[f])).map((f) => [f, item[f]])),
});

/** Records `name` in the cluster registry; false if it was there already. */
export async function registerCluster(deps: Pick<ClusterDeps, 'doc' | 'config'>, name: string, podSecurity: PodSecurityLevel = 'baseline', limits: ClusterRateLimits = {}): Promise<ClusterRecord | undefined> {
  const own = ownLimits(limits);
  const record: ClusterRecord = { name, uid: randomUUID(), createdAt: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'), podSecurity, ...own };
  try {
    await deps.doc.send(
      new PutCommand({
        TableName: deps.config.objectsTable,
        Item: { pk: CLUSTERS_PK, sk: name, uid: record.uid, createdAt: record.createdAt, podSecurity, ...own },
        ConditionExpression: 'attribute_not_exists(pk)',
      }),
    );
    return record;
  } catch (err) {
    if ((err as Error).name === 'ConditionalCheckFailedException') return undefined;
    throw err;
  }
}

export async function getCluster(deps: Pick<ClusterDeps, 'doc' | 'config'>, name: string): Promise<ClusterRecord | undefined> {
  if (!isTenantName(name)) return undefined;
  const out = await deps.doc.send(new GetCommand({ TableName: deps.config.objectsTable, Key: { pk: CLUSTERS_PK, sk: name }, ConsistentRead: true }));
  return out.Item ? fromItem(out.Item) : undefined;
}

/**
 * Whether `name` is being deleted: controllers then make nothing in it (a system namespace the
 * delete removed must not come back). A tenant with no registry item (made before the registry)
 * is not.
 */
export async function clusterIsBeingDeleted(deps: Pick<ClusterDeps, 'doc' | 'config'>, name: string): Promise<boolean> {
  const out = await deps.doc.send(new GetCommand({ TableName: deps.config.objectsTable, Key: { pk: CLUSTERS_PK, sk: name }, ProjectionExpression: 'deletingAt' }));
  return typeof out.Item?.deletingAt === 'string';
}

export async function listClusters(deps: Pick<ClusterDeps, 'doc' | 'config'>): Promise<ClusterRecord[]> {
  const out: ClusterRecord[] = [];
  let start: Record<string, unknown> | undefined;
  do {
    const page = await deps.doc.send(
      new QueryCommand({ TableName: deps.config.objectsTable, KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': CLUSTERS_PK }, ExclusiveStartKey: start }),
    );
    for (const item of page.Items ?? []) out.push(fromItem(item));
    start = page.LastEvaluatedKey;
  } while (start);
  return out;
}

/** Changes the rate limits (and long-running caps) of cluster `name` (each given one); the cluster as it is then, or undefined when there is none. */
export async function setClusterRateLimits(deps: Pick<ClusterDeps, 'doc' | 'config'>, name: string, limits: ClusterRateLimits): Promise<ClusterRecord | undefined> {
  const causes = validateRateLimits(limits);
  if (causes.length) throw invalid('Cluster', name, causes, 'stratus.io');
  const sets = CLUSTER_LIMIT_FIELDS.filter((f) => limits[f] !== undefined);
  if (!isTenantName(name)) return undefined;
  if (sets.length === 0) return getCluster(deps, name);
  try {
    const out = await deps.doc.send(
      new UpdateCommand({
        TableName: deps.config.objectsTable,
        Key: { pk: CLUSTERS_PK, sk: name },
        UpdateExpression: `SET ${sets.map((f) => `${f} = :${f}`).join(', ')}`,
        ConditionExpression: 'attribute_exists(pk)',
        ExpressionAttributeValues: Object.fromEntries(sets.map((f) => [`:${f}`, limits[f]])),
        ReturnValues: 'ALL_NEW',
      }),
    );
    return out.Attributes ? fromItem(out.Attributes) : undefined;
  } catch (err) {
    if ((err as Error).name === 'ConditionalCheckFailedException') return undefined;
    throw err;
  }
}

/** A new admin token (system:masters) of `cluster`. */
export function mintAdminToken(deps: Pick<ClusterDeps, 'doc' | 'config'>, cluster: string): Promise<string> {
  return createToken(deps.doc, deps.config, { tenant: cluster, user: 'admin', groups: ['system:masters', 'system:authenticated'] });
}

/** Creates cluster `name`: registry item, bootstrap steps, an admin token (returned, shown once). */
export async function createCluster(deps: ClusterDeps, name: string, podSecurity = 'baseline', limits: ClusterRateLimits = {}): Promise<{ cluster: ClusterRecord; adminToken: string }> {
  const causes = [...validateCluster(name, podSecurity), ...validateRateLimits(limits)];
  if (causes.length) throw invalid('Cluster', name, causes, 'stratus.io');
  const cluster = await registerCluster(deps, name, podSecurity as PodSecurityLevel, limits);
  if (!cluster) throw alreadyExists('clusters', name, 'stratus.io');
  const [adminToken] = await Promise.all([mintAdminToken(deps, name), ...CLUSTER_BOOTSTRAP.map((step) => step(deps, cluster))]);
  return { cluster, adminToken: adminToken };
}

type Key = { pk: string; sk: string };

/** Every key in `table` that cluster `name` owns. */
async function ownedKeys(deps: Pick<ClusterDeps, 'doc'>, table: string, name: string, withTokens: boolean): Promise<Key[]> {
  const keys: Key[] = [];
  let start: Record<string, unknown> | undefined;
  const filter = withTokens
    ? 'begins_with(pk, :own) OR (begins_with(pk, :token) AND tenant = :name) OR (pk = :nodeTenants AND sk = :name) OR pk = :saKeys OR pk = :deks'
    : 'begins_with(pk, :own)';
  const values: Record<string, string> = withTokens ? { ':own': `${name}#`, ':token': 'token#', ':name': name, ':nodeTenants': NODE_TENANTS_PK, ':saKeys': signingKeysItemKey(name).pk, ':deks': dataKeysPk(name) } : { ':own': `${name}#` };
  do {
    const page = await deps.doc.send(
      new ScanCommand({ TableName: table, FilterExpression: filter, ExpressionAttributeValues: values, ProjectionExpression: 'pk, sk', ExclusiveStartKey: start }),
    );
    for (const item of page.Items ?? []) keys.push({ pk: String(item.pk), sk: String(item.sk) });
    start = page.LastEvaluatedKey;
  } while (start);
  return keys;
}

async function deleteKeys(deps: Pick<ClusterDeps, 'doc'>, table: string, keys: Key[]): Promise<void> {
  for (let i = 0; i < keys.length; i += 25) {
    let requests: Record<string, unknown[]> | undefined = { [table]: keys.slice(i, i + 25).map((Key) => ({ DeleteRequest: { Key } })) };
    for (let attempt = 0; requests && Object.keys(requests).length > 0; attempt++) {
      if (attempt > 0) await new Promise((r) => setTimeout(r, Math.min(1000, 50 * 2 ** attempt)));
      const out = await deps.doc.send(new BatchWriteCommand({ RequestItems: requests as never }));
      requests = out.UnprocessedItems as Record<string, unknown[]> | undefined;
    }
  }
}

/** Passes over the tables at most, and the pause between them (see deleteCluster). */
const DELETE_PASSES = 6;
const DELETE_SETTLE_MS = 1_500;

/**
 * Deletes cluster `name` and everything it owns. The registry item is marked first (controllers
 * then make nothing in the cluster), its tokens go next (no one acts in it while it is being
 * removed), then every other item; since stream consumers may still be acting on the removals
 * (coordination items, events), the tables are scanned again after a pause until a pass finds
 * nothing. The registry item goes last, so a failed delete can be run again.
 */
export async function deleteCluster(deps: ClusterDeps, name: string): Promise<ClusterRecord> {
  const cluster = await getCluster(deps, name);
  if (!cluster) throw notFound('clusters', name, 'stratus.io');
  await deps.doc.send(
    new UpdateCommand({ TableName: deps.config.objectsTable, Key: { pk: CLUSTERS_PK, sk: name }, UpdateExpression: 'SET deletingAt = if_not_exists(deletingAt, :now)', ExpressionAttributeValues: { ':now': new Date().toISOString() } }),
  );
  const nodes = (await deps.store.list(name, resourceByName('nodes'))).items.map((n) => String((n.metadata as { name?: unknown } | undefined)?.name ?? ''));
  // Its LoadBalancer Services' addresses are in the deployment-wide pool, not under its own keys.
  for (const svc of (await deps.store.list(name, resourceByName('services'))).items) await releaseAddresses(deps.store.allocations, loadBalancerRange(deps.config), name, svc);
  for (let pass = 0; pass < DELETE_PASSES; pass++) {
    if (pass > 0) await new Promise((r) => setTimeout(r, DELETE_SETTLE_MS));
    const objectKeys = await ownedKeys(deps, deps.config.objectsTable, name, true);
    const changeKeys = await ownedKeys(deps, deps.config.changesTable, name, false);
    if (pass > 0 && objectKeys.length === 0 && changeKeys.length === 0) break;
    await deleteKeys(deps, deps.config.objectsTable, objectKeys.filter((k) => k.pk.startsWith('token#')));
    await deleteKeys(deps, deps.config.objectsTable, objectKeys.filter((k) => !k.pk.startsWith('token#')));
    await deleteKeys(deps, deps.config.changesTable, changeKeys);
  }
  if (deps.sqs) {
    const sqs = deps.sqs;
    const queues = nodes.filter(Boolean).flatMap((node) => [nodeQueueName(deps.config.queuePrefix, name, node), nodeDeadLetterQueueName(deps.config.queuePrefix, name, node)]);
    await Promise.all(
      queues.map(async (QueueName) => {
        try {
          const { QueueUrl } = await sqs.send(new GetQueueUrlCommand({ QueueName }));
          if (QueueUrl) await sqs.send(new DeleteQueueCommand({ QueueUrl }));
        } catch (err) {
          if (!/NonExistentQueue|QueueDoesNotExist/.test((err as Error).name)) throw err;
        }
      }),
    );
  }
  // Its Secrets' data keys went with its items (`~deks#NAME`); this process forgets its copies too.
  secretKeyring(deps.doc, deps.config).forget(name);
  await deps.doc.send(new DeleteCommand({ TableName: deps.config.objectsTable, Key: { pk: CLUSTERS_PK, sk: name } }));
  return cluster;
}
