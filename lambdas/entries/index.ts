/** The Lambda entry files, by function name; the CDK stack and the bundle-size benchmark read this list. */
export const LAMBDA_ENTRIES = [
  'authorizer',
  'connect',
  'disconnect',
  'message',
  'push',
  'expiry',
  'pushAuthorizer',
] as const;
export type LambdaName = (typeof LAMBDA_ENTRIES)[number];
