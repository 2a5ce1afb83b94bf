import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as kms from 'aws-cdk-lib/aws-kms';
import { Construct } from 'constructs';
import { globalIndexProps, stateKeyProps, tableProps } from '../defaults';
import { tables, type TableSpec } from '../tables';
import type { TableName } from '../wiring';

/**
 * The cluster state: the `objects` table (one item per Kubernetes object, streaming
 * NEW_AND_OLD_IMAGES to the scheduler and controllers, GSI byNode for node agents) and the
 * `changes` table (the watch log and its sequences, expired by TTL), both from the key schemas
 * in infra/tables.ts, both encrypted with one customer managed key.
 *
 * Why a customer managed key rather than the AWS owned one: Secrets are stored in `objects` and
 * their images pass through `changes` (watch events carry whole objects). With a key of our own
 * the operator can audit every use in CloudTrail, restrict it by key policy, and cut access to
 * all state at once by disabling it. Application-level envelope encryption of Secret data with
 * this key (so a table read alone does not reveal it) is a later step of the Secrets issue.
 */
export class StateTables extends Construct {
  /** The customer managed key that encrypts both tables. */
  public readonly stateKey: kms.Key;
  public readonly objects: dynamodb.Table;
  public readonly changes: dynamodb.Table;

  constructor(scope: Construct, id: string) {
    super(scope, id);
    this.stateKey = new kms.Key(this, 'StateKey', stateKeyProps);
    this.objects = this.table('Objects', tables.objects);
    this.changes = this.table('Changes', tables.changes);
  }

  /** The table a wiring row names. */
  public byName(name: TableName): dynamodb.Table {
    switch (name) {
      case 'objects':
        return this.objects;
      case 'changes':
        return this.changes;
      default: {
        const never: never = name;
        throw new Error(`unknown table ${String(never)}`);
      }
    }
  }

  private table(id: string, spec: TableSpec): dynamodb.Table {
    const table = new dynamodb.Table(this, id, tableProps(spec, this.stateKey));
    for (const index of globalIndexProps(spec)) table.addGlobalSecondaryIndex(index);
    return table;
  }
}
