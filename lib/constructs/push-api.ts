import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import { HttpApi, HttpMethod, HttpStage, LogGroupLogDestination } from 'aws-cdk-lib/aws-apigatewayv2';
import {
  HttpIamAuthorizer,
  HttpLambdaAuthorizer,
  HttpLambdaResponseType,
} from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import { Grant, type IGrantable } from 'aws-cdk-lib/aws-iam';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import type { ThrottleSettings } from '../config.js';

/**
 * How backends authenticate: `apikey` by a Lambda authorizer before the push
 * function (and again inside it), `iam` by API Gateway (SigV4).
 */
export type PushAuthMode = 'apikey' | 'iam';

/** The push API's catch-all route. */
export const PUSH_ROUTE_PATH = '/v1/{proxy+}';
/** The one route without authorization on apikey stages. */
export const HEALTH_ROUTE_PATH = '/v1/health';
/**
 * How long API Gateway keeps the key authorizer's answer for one Authorization
 * value: repeated requests skip the authorizer, and a key added to or removed
 * from the secret takes this much longer to take effect (README, rotation).
 */
export const KEY_AUTHORIZER_CACHE_TTL = Duration.seconds(60);

/** JSON access log line of the push API stage. */
export const PUSH_ACCESS_LOG_FORMAT = {
  requestId: '$context.requestId',
  requestTime: '$context.requestTime',
  httpMethod: '$context.httpMethod',
  path: '$context.path',
  routeKey: '$context.routeKey',
  status: '$context.status',
  protocol: '$context.protocol',
  responseLength: '$context.responseLength',
  sourceIp: '$context.identity.sourceIp',
  userAgent: '$context.identity.userAgent',
  caller: '$context.identity.caller',
  integrationLatency: '$context.integrationLatency',
  integrationError: '$context.integrationErrorMessage',
  error: '$context.error.message',
} as const;

export interface RoomcastPushApiProps {
  /** The push function that serves every /v1/* request. */
  readonly pushFunction: IFunction;
  /**
   * Backend authentication.
   * @default 'apikey'
   */
  readonly authMode?: PushAuthMode;
  /**
   * In `apikey` mode: the Lambda authorizer (simple responses) that checks
   * `Authorization: Bearer <key>` before the push function, on every route but
   * `GET /v1/health`; answers are cached KEY_AUTHORIZER_CACHE_TTL per header value.
   * @default - none: the push function alone checks keys
   */
  readonly keyAuthorizerFunction?: IFunction;
  /**
   * Default route throttling of the stage.
   * @default - API Gateway's account limits only
   */
  readonly throttle?: ThrottleSettings;
  /**
   * Retention of the access log group.
   * @default RetentionDays.ONE_WEEK
   */
  readonly accessLogRetention?: RetentionDays;
  /**
   * What happens to the access log group when it leaves the stack.
   * @default RemovalPolicy.DESTROY
   */
  readonly removalPolicy?: RemovalPolicy;
  /**
   * API name.
   * @default - the construct path
   */
  readonly apiName?: string;
}

/**
 * The backends' HTTP API: `ANY /v1/{proxy+}` to the push function on the
 * `$default` stage, with default throttling and JSON access logs. In `apikey`
 * mode a Lambda authorizer checks `Authorization: Bearer <key>` before the
 * function on every route but `GET /v1/health` (and the function checks it
 * again); in `iam` mode API Gateway checks SigV4 on every route.
 */
export class RoomcastPushApi extends Construct {
  readonly api: HttpApi;
  readonly stage: HttpStage;
  readonly accessLogGroup: LogGroup;
  readonly authMode: PushAuthMode;

  constructor(scope: Construct, id: string, props: RoomcastPushApiProps) {
    super(scope, id);
    this.authMode = props.authMode ?? 'apikey';
    this.api = new HttpApi(this, 'Api', {
      ...(props.apiName ? { apiName: props.apiName } : {}),
      description: 'roomcast push API for backends',
      createDefaultStage: false,
    });
    const integration = new HttpLambdaIntegration('PushIntegration', props.pushFunction);
    const keyAuthorizer =
      this.authMode === 'apikey' && props.keyAuthorizerFunction
        ? new HttpLambdaAuthorizer('KeyAuthorizer', props.keyAuthorizerFunction, {
            authorizerName: 'api-key',
            identitySource: ['$request.header.Authorization'],
            responseTypes: [HttpLambdaResponseType.SIMPLE],
            resultsCacheTtl: KEY_AUTHORIZER_CACHE_TTL,
          })
        : undefined;
    this.api.addRoutes({
      path: PUSH_ROUTE_PATH,
      methods: [HttpMethod.ANY],
      integration,
      ...(this.authMode === 'iam' ? { authorizer: new HttpIamAuthorizer() } : {}),
      ...(keyAuthorizer ? { authorizer: keyAuthorizer } : {}),
    });
    // Health checks carry no key: the more specific route wins over /v1/{proxy+}.
    if (keyAuthorizer) {
      this.api.addRoutes({
        path: HEALTH_ROUTE_PATH,
        methods: [HttpMethod.GET, HttpMethod.HEAD],
        integration,
      });
    }
    this.accessLogGroup = new LogGroup(this, 'AccessLogs', {
      retention: props.accessLogRetention ?? 7,
      removalPolicy: props.removalPolicy ?? RemovalPolicy.DESTROY,
    });
    this.stage = new HttpStage(this, 'Stage', {
      httpApi: this.api,
      autoDeploy: true,
      ...(props.throttle ? { throttle: props.throttle } : {}),
      accessLogSettings: {
        destination: new LogGroupLogDestination(this.accessLogGroup),
        format: AccessLogFormat.custom(JSON.stringify(PUSH_ACCESS_LOG_FORMAT)),
      },
    });
  }

  /** https://{apiId}.execute-api.{region}.amazonaws.com/v1 */
  get url(): string {
    return `${this.api.apiEndpoint}/v1`;
  }

  /** In `iam` mode: lets a backend principal call every /v1/* route (execute-api:Invoke). */
  grantInvoke(grantee: IGrantable): Grant {
    return Grant.addToPrincipal({
      grantee,
      actions: ['execute-api:Invoke'],
      resourceArns: [this.api.arnForExecuteApi('*', '/v1/*', '$default')],
    });
  }
}
