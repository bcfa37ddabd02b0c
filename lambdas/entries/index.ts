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
 * Parts of the SDK's default credential chain that a Lambda function never reaches (the chain stops at
 * the environment variables Lambda sets): left out of the bundles, so the SSO/INI/STS clients they
 * carry (~100 KiB) are not shipped. Were one ever needed, the runtime's own copy of the SDK resolves it.
 */
export const UNUSED_CREDENTIAL_PROVIDERS = [
  '@aws-sdk/credential-provider-ini',
  '@aws-sdk/credential-provider-sso',
  '@aws-sdk/credential-provider-process',
  '@aws-sdk/credential-provider-web-identity',
  '@aws-sdk/credential-provider-login',
  '@aws-sdk/credential-provider-http',
  '@aws-sdk/nested-clients',
  '@aws-sdk/token-providers',
];
