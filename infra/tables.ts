/**
 * Key schemas of the tables, read by the CDK app and by the local stack's table creation.
 *
 * objects: one item per Kubernetes object. pk = `${tenant}#${resource}` (e.g. `acme#pods`),
 *   sk = `${namespace}/${name}` (cluster-scoped: `/${name}`). Every key starts with the tenant,
 *   so no query can cross tenants (dynamodb:LeadingKeys `${tenant}#*` on AWS).
 *   GSI byNode: nodeKey = `${tenant}#${spec.nodeName}` on bound pods, for node agents.
 *   Also holds hashed bearer tokens: pk = `token#${sha256}`, sk = `token`.
 * changes: the watch log and its sequences. pk = `${tenant}#${resource}`; sk = `~seq` for the
 *   sequence item, or the zero-padded resourceVersion for a log entry; ttl expires old entries.
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
