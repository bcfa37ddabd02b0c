import { RemovalPolicy } from 'aws-cdk-lib';
import {
  AttributeType,
  BillingMode,
  type ITable,
  ProjectionType,
  StreamViewType,
  Table,
} from 'aws-cdk-lib/aws-dynamodb';
import { Construct } from 'constructs';
import { TABLE_SCHEMA } from '../../lambdas/adapters/table.js';
import type { IBindableFunction } from './function.js';

/** What a function may do with the table. */
export type TableAccess = 'read' | 'write' | 'readwrite';

const READ_ACTIONS = ['dynamodb:GetItem', 'dynamodb:Query'];
const WRITE_ACTIONS = ['dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem'];
/** The DynamoDB actions behind each kind of access: what lambdas/adapters/dynamo-store.ts calls. */
const TABLE_ACTIONS: Record<TableAccess, string[]> = {
  read: READ_ACTIONS,
  write: WRITE_ACTIONS,
  readwrite: [...READ_ACTIONS, ...WRITE_ACTIONS],
};

export interface ConnectionsTableProps {
  /**
   * What happens to the table when it leaves the stack.
   * @default RemovalPolicy.DESTROY
   */
  readonly removalPolicy?: RemovalPolicy;
  /**
   * Point-in-time recovery (continuous backups for 35 days).
   * @default false
   */
  readonly pointInTimeRecovery?: boolean;
  /**
   * Deletion protection.
   * @default false
   */
  readonly deletionProtection?: boolean;
}

/**
 * The one DynamoDB table (connections, memberships, counters), built from
 * TABLE_SCHEMA, the key schema the local stack creates its table from too.
 * On-demand billing, TTL on `expiresAt`, GSI `gsi1` projecting every attribute,
 * a stream of old images for the expiry function.
 */
export class ConnectionsTable extends Construct {
  /** The environment variable a function reads the table name from. */
  static readonly ENV = 'TABLE_NAME';

  readonly table: Table;

  constructor(scope: Construct, id: string, props: ConnectionsTableProps = {}) {
    super(scope, id);
    const { partitionKey, sortKey, gsi1, ttlAttribute } = TABLE_SCHEMA;
    this.table = new Table(this, 'Resource', {
      partitionKey: { name: partitionKey, type: AttributeType.STRING },
      sortKey: { name: sortKey, type: AttributeType.STRING },
      billingMode: BillingMode.PAY_PER_REQUEST,
      timeToLiveAttribute: ttlAttribute,
      // Old images of deleted items: TTL deletions settle the stats counters (the expiry function).
      stream: StreamViewType.OLD_IMAGE,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: props.pointInTimeRecovery ?? false },
      deletionProtection: props.deletionProtection ?? false,
      removalPolicy: props.removalPolicy ?? RemovalPolicy.DESTROY,
    });
    this.table.addGlobalSecondaryIndex({
      indexName: gsi1.indexName,
      partitionKey: { name: gsi1.partitionKey, type: AttributeType.STRING },
      sortKey: { name: gsi1.sortKey, type: AttributeType.STRING },
      projectionType: ProjectionType.ALL,
    });
  }

  get tableName(): string {
    return this.table.tableName;
  }

  get tableRef(): ITable {
    return this.table;
  }

  /**
   * Gives a function the table: sets TABLE_NAME and grants exactly the item
   * operations the store uses (no Scan, no batch reads, no streams), on this
   * table and its index only.
   */
  bind(fn: IBindableFunction, access: TableAccess): void {
    fn.addEnvironment(ConnectionsTable.ENV, this.table.tableName);
    this.table.grant(fn, ...TABLE_ACTIONS[access]);
  }
}
