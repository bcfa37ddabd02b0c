/** The Lambda entry files, by function name; the CDK stack and the bundle-size benchmark read this list. */
export const LAMBDA_ENTRIES = [
  'authorizer',
  'connect',
  'disconnect',
  'message',
  'push',
  'expiry',
  'reconcile',
  'pushAuthorizer',
  'fanoutWorker',
] as const;
export type LambdaName = (typeof LAMBDA_ENTRIES)[number];

/**
 * Parts of the AWS SDK a Lambda function never reaches, left out of the bundles:
 * - the default credential chain past the environment variables Lambda sets (where it stops): the
 *   SSO/INI/STS clients those providers carry (~100 KiB), and the container and instance metadata
 *   providers (7 KiB, a dynamic import in the chain);
 * - event streams (10 KiB, a dynamic import in the protocol layer), used only by streaming
 *   operations: none of the operations these functions call has one.
 * test/cdk/bundling.test.ts runs the bundled `$connect` and `join` against a real DynamoDB API, where
 * reaching one would fail with MODULE_NOT_FOUND. (On AWS a CommonJS bundle that did would load the
 * runtime's own copy of the SDK, through NODE_PATH.)
 */
export const UNREACHED_SDK_MODULES = [
  '@aws-sdk/credential-provider-ini',
  '@aws-sdk/credential-provider-sso',
  '@aws-sdk/credential-provider-process',
  '@aws-sdk/credential-provider-web-identity',
  '@aws-sdk/credential-provider-login',
  '@aws-sdk/credential-provider-http',
  '@aws-sdk/nested-clients',
  '@aws-sdk/token-providers',
  '@smithy/credential-provider-imds',
  '@smithy/core/event-streams',
];
