/**
 * Key schemas of the tables, read by the CDK app and by the local stack's table creation.
 *
 * objects: one item per Kubernetes object. pk = `${tenant}#${groupResource}`, groupResource
 *   being Kubernetes' GroupResource string (e.g. `acme#pods`, `acme#deployments.apps`: the group
 *   is part of every key; shared/store/keys.ts says why it cannot be ambiguous),
 *   sk = `${namespace}/${name}` (cluster-scoped: `/${name}`). Every key starts with the tenant, a
 *   DNS label, so no query can cross tenants (dynamodb:LeadingKeys `${tenant}#*` on AWS).
 *   GSI byNode: nodeKey = `${tenant}#${spec.nodeName}` on bound pods, for node agents.
 *   Also holds hashed bearer tokens: pk = `token#${sha256}`, sk = `token`.
 * changes: the watch log and its sequences. pk = `${tenant}#${groupResource}`; sk = `~seq` for the
 *   sequence item, or the zero-padded resourceVersion for a log entry; ttl expires old entries.
 * Keys carry the group since 2026-12-05 (before: `${tenant}#${resource}`); nothing was deployed
 * with the old form, so there is no migration.
 */
export interface TableSpec {
  readonly partitionKey: string;
  readonly sortKey: string;
  readonly stream: boolean;
  readonly ttlAttribute?: string;
  readonly globalIndexes: readonly { name: string; partitionKey: string; sortKey: string }[];
}

export const tables = {
  objects: {
    partitionKey: 'pk',
    sortKey: 'sk',
    stream: true,
    globalIndexes: [{ name: 'byNode', partitionKey: 'nodeKey', sortKey: 'sk' }],
  },
  changes: {
    partitionKey: 'pk',
    sortKey: 'sk',
    stream: false,
    ttlAttribute: 'ttl',
    globalIndexes: [],
  },
} as const satisfies Record<'objects' | 'changes', TableSpec>;
