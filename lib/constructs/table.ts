import { RemovalPolicy } from 'aws-cdk-lib';
import {
  AttributeType,
  BillingMode,
  type ITable,
  ProjectionType,
  StreamViewType,
  Table,
} from 'aws-cdk-lib/aws-dynamodb';
import { Grant } from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import { TABLE_SCHEMA } from '../../lambdas/adapters/table.js';
import type { JobLedger } from '../../lambdas/domain/fanout-jobs.js';
import type { ConnectionStore } from '../../lambdas/domain/ports.js';
import type { IBindableFunction } from './function.js';

/** The DynamoDB item actions the store uses (no Scan, no batch reads, no streams). */
export type StoreAction = 'GetItem' | 'Query' | 'PutItem' | 'UpdateItem' | 'DeleteItem' | 'Scan';

/** One DynamoDB call a store operation makes: the action, on the table itself or on its index gsi1. */
export type StoreCall = readonly [action: StoreAction, on: 'table' | 'index'];

/** A ConnectionStore operation (a method of the port, lambdas/domain/ports.ts). */
export type StoreOperation = keyof ConnectionStore | keyof JobLedger;

/**
 * What each store operation calls on DynamoDB, read off
 * lambdas/adapters/dynamo-store.ts (private helpers included): the one place a
 * new store operation declares its calls. A function's grants are the union
 * over the operations its code path uses (FUNCTION_BINDINGS in lib/stack.ts).
 */
export const STORE_CALLS = {
  // Connection item and its "everyone" entry; the user and stats counters.
  putConnection: [
    ['PutItem', 'table'],
    ['UpdateItem', 'table'],
  ],
  getConnection: [['GetItem', 'table']],
  // Deletes the connection, its "everyone" entry and its memberships (listed there and found on gsi1); counters.
  removeConnection: [
    ['DeleteItem', 'table'],
    ['Query', 'index'],
    ['UpdateItem', 'table'],
  ],
  // Counters only (user, room, presence, stats).
  settleExpired: [['UpdateItem', 'table']],
  // The expiry consumer's lag, for the reconciliation.
  noteExpiryLag: [['UpdateItem', 'table']],
  userConnections: [['Query', 'index']],
  // Whether the room is split (where the membership goes), and in a split room whether a membership
  // from before the split is in partition 0; the membership and its counters; a twin a concurrent
  // join of the same connection wrote to its own partition is deleted.
  addMember: [
    ['GetItem', 'table'],
    ['PutItem', 'table'],
    ['UpdateItem', 'table'],
    ['DeleteItem', 'table'],
  ],
  // Records the room on the connection's "everyone" entry; the connection item when that fails.
  recordRoom: [
    ['UpdateItem', 'table'],
    ['GetItem', 'table'],
  ],
  // The membership, its counters, and the room off the "everyone" entry's list.
  removeMember: [
    ['DeleteItem', 'table'],
    ['UpdateItem', 'table'],
  ],
  isMember: [['GetItem', 'table']],
  // The user's presence counter in the room (a queued presence announcement: does it still hold?).
  roomUserConnections: [['GetItem', 'table']],
  // A room's partition 0 from its #META item on (is it split?), then its other partitions.
  roomConnectionIds: [['Query', 'table']],
  // The room's #META (size, split), then its partitions.
  roomTargets: [
    ['GetItem', 'table'],
    ['Query', 'table'],
  ],
  allConnectionIds: [['Query', 'table']],
  // The room's #META (its counter, whether it is split), then its partitions.
  listMembers: [
    ['Query', 'table'],
    ['GetItem', 'table'],
  ],
  countMembers: [
    ['Query', 'table'],
    ['GetItem', 'table'],
  ],
  // The fan-out workers' record of finished jobs (lambdas/adapters/dynamo-ledger.ts).
  claimJob: [
    ['UpdateItem', 'table'],
    ['GetItem', 'table'],
  ],
  releaseJob: [['UpdateItem', 'table']],
  markJobDone: [['PutItem', 'table']],
  stats: [['Query', 'table']],
  checkHealth: [['GetItem', 'table']],
  // The room's users counter (meta item) and its presence items.
  roomPresence: [
    ['GetItem', 'table'],
    ['Query', 'table'],
  ],
  // The counters' reconciliation: the only operation that scans the table; a consistent read of an
  // orphan's connection before deleting it, and of a room before correcting its counters.
  reconcile: [
    ['Scan', 'table'],
    ['GetItem', 'table'],
    ['Query', 'table'],
    ['UpdateItem', 'table'],
    ['DeleteItem', 'table'],
    ['PutItem', 'table'],
  ],
} as const satisfies Record<StoreOperation, readonly StoreCall[]>;

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

  /** The ARN of the index gsi1 (the only index). */
  get indexArn(): string {
    return `${this.table.tableArn}/index/${TABLE_SCHEMA.gsi1.indexName}`;
  }

  /**
   * Gives a function the table: sets TABLE_NAME and grants exactly the DynamoDB
   * calls the given store operations make (STORE_CALLS), each on the table or on
   * the index gsi1, nothing else.
   */
  bind(fn: IBindableFunction, operations: readonly StoreOperation[]): void {
    fn.addEnvironment(ConnectionsTable.ENV, this.table.tableName);
    const calls = operations.flatMap((operation) => STORE_CALLS[operation] as readonly StoreCall[]);
    for (const [on, arn] of [
      ['table', this.table.tableArn],
      ['index', this.indexArn],
    ] as const) {
      const actions = [...new Set(calls.filter((call) => call[1] === on).map((call) => call[0]))].sort();
      if (actions.length === 0) continue;
      Grant.addToPrincipal({
        grantee: fn,
        actions: actions.map((action) => `dynamodb:${action}`),
        resourceArns: [arn],
      });
    }
  }
}
