import { RemovalPolicy, Stack } from 'aws-cdk-lib';
import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import { LogGroupLogDestination, WebSocketApi, WebSocketStage } from 'aws-cdk-lib/aws-apigatewayv2';
import { WebSocketLambdaAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { WebSocketLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import { type Grant, Grant as IamGrant } from 'aws-cdk-lib/aws-iam';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { ACTION_ROUTES, ROUTE_KEYS, TOKEN_PARAMETER } from '../../lambdas/domain/constants.js';
import type { ThrottleSettings } from '../config.js';
import type { IBindableFunction } from './function.js';

/** The @connections calls a function may make. */
export type ConnectionsMethod = 'POST' | 'GET' | 'DELETE';

/** JSON access log line of the WebSocket stage. */
export const WEBSOCKET_ACCESS_LOG_FORMAT = {
  requestId: '$context.requestId',
  extendedRequestId: '$context.extendedRequestId',
  requestTime: '$context.requestTime',
  eventType: '$context.eventType',
  routeKey: '$context.routeKey',
  connectionId: '$context.connectionId',
  sourceIp: '$context.identity.sourceIp',
  userAgent: '$context.identity.userAgent',
  principalId: '$context.authorizer.principalId',
  status: '$context.status',
  messageId: '$context.messageId',
  integrationLatency: '$context.integrationLatency',
  integrationError: '$context.integration.error',
  authorizerError: '$context.authorizer.error',
  error: '$context.error.message',
} as const;

export interface RoomcastWebSocketApiProps {
  /** The `$connect` REQUEST authorizer (token in `?token=`). */
  readonly authorizerFunction: IFunction;
  /** `$connect`. */
  readonly connectFunction: IFunction;
  /** `$disconnect`. */
  readonly disconnectFunction: IFunction;
  /** `$default` and every action route (join, leave, send, direct, ping). */
  readonly messageFunction: IFunction;
  /** The API Gateway stage name (the last path segment of the wss:// URL). */
  readonly stageName: string;
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
 * The clients' WebSocket API: route selection on `$request.body.action`, a
 * Lambda REQUEST authorizer on `$connect` reading `route.request.querystring.token`,
 * every message route on one function, and one stage with default throttling
 * and JSON access logs.
 */
export class RoomcastWebSocketApi extends Construct {
  /** The environment variable a function reads the @connections endpoint from. */
  static readonly ENV = 'CONNECTIONS_ENDPOINT';

  readonly api: WebSocketApi;
  readonly stage: WebSocketStage;
  readonly accessLogGroup: LogGroup;

  constructor(scope: Construct, id: string, props: RoomcastWebSocketApiProps) {
    super(scope, id);
    const authorizer = new WebSocketLambdaAuthorizer('TokenAuthorizer', props.authorizerFunction, {
      identitySource: [`route.request.querystring.${TOKEN_PARAMETER}`],
    });
    this.api = new WebSocketApi(this, 'Api', {
      ...(props.apiName ? { apiName: props.apiName } : {}),
      description: 'roomcast client WebSocket API',
      routeSelectionExpression: '$request.body.action',
      connectRouteOptions: {
        authorizer,
        integration: new WebSocketLambdaIntegration('ConnectIntegration', props.connectFunction),
      },
      disconnectRouteOptions: {
        integration: new WebSocketLambdaIntegration('DisconnectIntegration', props.disconnectFunction),
      },
      // Two-way routes: the handler's returned body (ack, pong, error, history, ...) is the answer to the
      // frame, so answering costs no PostToConnection.
      defaultRouteOptions: {
        integration: new WebSocketLambdaIntegration('DefaultIntegration', props.messageFunction),
        returnResponse: true,
      },
    });
    // One integration for every action route: the message function routes inside.
    const messages = new WebSocketLambdaIntegration('MessageIntegration', props.messageFunction);
    for (const routeKey of ACTION_ROUTES) {
      this.api.addRoute(routeKey, { integration: messages, returnResponse: true });
    }

    this.accessLogGroup = new LogGroup(this, 'AccessLogs', {
      retention: props.accessLogRetention ?? 7,
      removalPolicy: props.removalPolicy ?? RemovalPolicy.DESTROY,
    });
    this.stage = new WebSocketStage(this, 'Stage', {
      webSocketApi: this.api,
      stageName: props.stageName,
      autoDeploy: true,
      ...(props.throttle ? { throttle: props.throttle } : {}),
      accessLogSettings: {
        destination: new LogGroupLogDestination(this.accessLogGroup),
        format: AccessLogFormat.custom(JSON.stringify(WEBSOCKET_ACCESS_LOG_FORMAT)),
      },
    });
  }

  /** The route keys of this API, `$connect` first. */
  static get routeKeys(): string[] {
    return [ROUTE_KEYS.connect, ROUTE_KEYS.disconnect, ROUTE_KEYS.default, ...ACTION_ROUTES];
  }

  /** wss://{apiId}.execute-api.{region}.amazonaws.com/{stage} */
  get url(): string {
    return this.stage.url;
  }

  /** https://{apiId}.execute-api.{region}.amazonaws.com/{stage}: the @connections endpoint. */
  get connectionsEndpoint(): string {
    return this.stage.callbackUrl;
  }

  /**
   * execute-api:ManageConnections for the given methods on this stage's
   * `@connections/*` only.
   */
  grantManageConnections(grantee: IBindableFunction, methods: readonly ConnectionsMethod[]): Grant {
    const base = Stack.of(this).formatArn({ service: 'execute-api', resource: this.api.apiId });
    return IamGrant.addToPrincipal({
      grantee,
      actions: ['execute-api:ManageConnections'],
      resourceArns: methods.map((method) => `${base}/${this.stage.stageName}/${method}/@connections/*`),
    });
  }

  /**
   * Lets a function talk to connections: sets CONNECTIONS_ENDPOINT and, when
   * methods are given, grants ManageConnections for them. Without methods the
   * function only gets the endpoint its configuration requires.
   */
  bindConnections(fn: IBindableFunction, methods: readonly ConnectionsMethod[] = []): void {
    fn.addEnvironment(RoomcastWebSocketApi.ENV, this.connectionsEndpoint);
    if (methods.length > 0) this.grantManageConnections(fn, methods);
  }
}
