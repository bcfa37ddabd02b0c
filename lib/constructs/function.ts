import { fileURLToPath } from 'node:url';
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import {
  type IGrantable,
  type IPrincipal,
  PolicyStatement,
  Role,
  ServicePrincipal,
} from 'aws-cdk-lib/aws-iam';
import { Architecture, Runtime, Tracing } from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { type LambdaName, UNREACHED_SDK_MODULES } from '../../lambdas/entries/index.js';

/** Where the Lambda entry files live (lambdas/entries/{name}.ts). */
export const ENTRIES_DIR = fileURLToPath(new URL('../../lambdas/entries/', import.meta.url));
/** The project root: package-lock.json for esbuild's dependency resolution. */
export const PROJECT_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** Anything a construct can bind to: it takes environment variables and grants. */
export interface IBindableFunction extends IGrantable {
  addEnvironment(key: string, value: string): unknown;
}

export interface RoomcastFunctionProps {
  /** Which entry of LAMBDA_ENTRIES this function runs (lambdas/entries/{entry}.ts). */
  readonly entry: LambdaName;
  /** Powertools service name: the `service` dimension of every metric and the `service` key of every log line. */
  readonly serviceName: string;
  /** CloudWatch namespace of the EMF metrics. */
  readonly metricsNamespace: string;
  /**
   * Retention of the function's log group.
   * @default RetentionDays.ONE_WEEK
   */
  readonly logRetention?: RetentionDays;
  /**
   * What happens to the log group when it leaves the stack.
   * @default RemovalPolicy.DESTROY
   */
  readonly removalPolicy?: RemovalPolicy;
  /**
   * LOG_LEVEL of the Powertools logger.
   * @default 'INFO'
   */
  readonly logLevel?: string;
  /**
   * Memory in MB.
   * @default 512
   */
  readonly memorySize?: number;
  /**
   * Timeout.
   * @default Duration.seconds(10)
   */
  readonly timeout?: Duration;
  /**
   * AWS X-Ray active tracing.
   * @default false
   */
  readonly tracing?: boolean;
  /**
   * Ship the source map and run with `--enable-source-maps` (readable stack traces, a slower cold start).
   * @default true
   */
  readonly sourceMaps?: boolean;
  /**
   * Reserved concurrency: instances kept for this function alone (and its cap).
   * @default - none: the account's unreserved pool
   */
  readonly reservedConcurrentExecutions?: number;
  /**
   * More environment variables.
   * @default - none
   */
  readonly environment?: Record<string, string>;
}

/**
 * One roomcast handler: a NodejsFunction (Node.js 22, arm64) bundled locally by
 * esbuild (minified, source maps), with its own log group and its own role
 * that may write to that log group and nothing else until something binds it.
 */

export class RoomcastFunction extends Construct implements IBindableFunction {
  readonly function: NodejsFunction;
  readonly logGroup: LogGroup;
  readonly role: Role;

  constructor(scope: Construct, id: string, props: RoomcastFunctionProps) {
    super(scope, id);
    this.logGroup = new LogGroup(this, 'LogGroup', {
      retention: props.logRetention ?? 7,
      removalPolicy: props.removalPolicy ?? RemovalPolicy.DESTROY,
    });
    // A role of our own instead of AWSLambdaBasicExecutionRole: logs go to this function's group only.
    this.role = new Role(this, 'Role', {
      assumedBy: new ServicePrincipal('lambda.amazonaws.com'),
      description: `roomcast ${props.entry} function`,
    });
    this.role.addToPrincipalPolicy(
      new PolicyStatement({
        actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
        resources: [this.logGroup.logGroupArn],
      }),
    );
    const sourceMaps = props.sourceMaps ?? true;
    this.function = new NodejsFunction(this, 'Function', {
      entry: `${ENTRIES_DIR}${props.entry}.ts`,
      handler: 'handler',
      projectRoot: PROJECT_ROOT,
      depsLockFilePath: `${PROJECT_ROOT}package-lock.json`,
      runtime: Runtime.NODEJS_22_X,
      architecture: Architecture.ARM_64,
      memorySize: props.memorySize ?? 512,
      timeout: props.timeout ?? Duration.seconds(10),
      role: this.role,
      logGroup: this.logGroup,
      ...(props.tracing ? { tracing: Tracing.ACTIVE } : {}),
      ...(props.reservedConcurrentExecutions
        ? { reservedConcurrentExecutions: props.reservedConcurrentExecutions }
        : {}),
      environment: {
        ...(sourceMaps ? { NODE_OPTIONS: '--enable-source-maps' } : {}),
        POWERTOOLS_SERVICE_NAME: props.serviceName,
        POWERTOOLS_METRICS_NAMESPACE: props.metricsNamespace,
        LOG_LEVEL: props.logLevel ?? 'INFO',
        ...props.environment,
      },
      bundling: {
        format: OutputFormat.CJS,
        target: 'node22',
        // The SDK's ES modules tree-shake far better than its CommonJS builds (about 700 → 500 KiB).
        mainFields: ['module', 'main'],
        minify: true,
        sourceMap: sourceMaps,
        ...(sourceMaps ? { sourcesContent: false } : {}),
        // Ship the SDK version the tests ran against rather than the runtime's...
        bundleAwsSDK: true,
        // ...except the SDK parts no Lambda function reaches (see UNREACHED_SDK_MODULES).
        externalModules: [...UNREACHED_SDK_MODULES],
        forceDockerBundling: false,
      },
    });
  }

  get grantPrincipal(): IPrincipal {
    return this.role;
  }

  get functionName(): string {
    return this.function.functionName;
  }

  /** Adds an environment variable to the function. */
  addEnvironment(key: string, value: string): this {
    this.function.addEnvironment(key, value);
    return this;
  }
}
