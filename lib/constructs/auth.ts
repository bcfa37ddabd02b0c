import { RemovalPolicy } from 'aws-cdk-lib';
import { Grant } from 'aws-cdk-lib/aws-iam';
import { type ISecret, Secret } from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import type { ClientAuthSettings } from '../config.js';
import type { IBindableFunction } from './function.js';
import type { PushAuthMode } from './push-api.js';

export interface RoomcastAuthProps {
  /** How clients' JWTs are verified: an HS256 secret the deploy generates, or an OIDC provider. */
  readonly clientAuth: ClientAuthSettings;
  /** How backends authenticate on the push API. */
  readonly pushAuth: PushAuthMode;
  /**
   * Prefix of the secrets' names, e.g. `roomcast/dev`.
   * @default - CloudFormation-generated names
   */
  readonly secretNamePrefix?: string;
  /**
   * What happens to the secrets when they leave the stack.
   * @default RemovalPolicy.DESTROY
   */
  readonly removalPolicy?: RemovalPolicy;
}

/**
 * Where the credentials live. The deploy generates them in Secrets Manager
 * (their values never appear in the template): the client JWT secret unless
 * the stage names an OIDC provider, and the push API keys unless the stage
 * uses IAM. The keys secret starts with one generated key; it may hold a JSON
 * array of keys (`["old","new"]`) so that several are active during a rotation.
 */
export class RoomcastAuth extends Construct {
  readonly jwtSecret?: ISecret;
  readonly pushApiKeysSecret?: ISecret;
  readonly clientAuth: ClientAuthSettings;
  readonly pushAuth: PushAuthMode;

  constructor(scope: Construct, id: string, props: RoomcastAuthProps) {
    super(scope, id);
    this.clientAuth = props.clientAuth;
    this.pushAuth = props.pushAuth;
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.DESTROY;
    const name = (suffix: string) =>
      props.secretNamePrefix ? { secretName: `${props.secretNamePrefix}/${suffix}` } : {};
    if (props.clientAuth.mode === 'secret') {
      this.jwtSecret = new Secret(this, 'JwtSecret', {
        ...name('jwt-secret'),
        description: 'roomcast: HS256 secret that signs client JWTs',
        generateSecretString: { passwordLength: 64, excludePunctuation: true, includeSpace: false },
        removalPolicy,
      });
    }
    if (props.pushAuth === 'apikey') {
      this.pushApiKeysSecret = new Secret(this, 'PushApiKeys', {
        ...name('push-api-keys'),
        description: 'roomcast: push API keys, one key or a JSON array of keys ["key1","key2"]',
        // Letters and digits only: a generated key never contains a comma, so it parses as one key.
        generateSecretString: { passwordLength: 48, excludePunctuation: true, includeSpace: false },
        removalPolicy,
      });
    }
  }

  /** Sets JWT_SECRET_ARN (and grants GetSecretValue on that secret only) or JWT_ISSUER/JWT_AUDIENCE/JWT_JWKS_URL. */
  bindClientAuth(fn: IBindableFunction): void {
    if (this.clientAuth.mode === 'oidc') {
      fn.addEnvironment('JWT_ISSUER', this.clientAuth.issuer);
      fn.addEnvironment('JWT_AUDIENCE', this.clientAuth.audience);
      fn.addEnvironment('JWT_JWKS_URL', this.clientAuth.jwksUrl);
      return;
    }
    if (!this.jwtSecret) throw new Error('no JWT secret');
    fn.addEnvironment('JWT_SECRET_ARN', this.jwtSecret.secretArn);
    grantGetSecretValue(fn, this.jwtSecret);
  }

  /** Sets PUSH_AUTH and, in apikey mode, PUSH_API_KEYS_SECRET_ARN with GetSecretValue on that secret only. */
  bindPushAuth(fn: IBindableFunction): void {
    fn.addEnvironment('PUSH_AUTH', this.pushAuth);
    if (this.pushAuth === 'iam') return;
    if (!this.pushApiKeysSecret) throw new Error('no push API keys secret');
    fn.addEnvironment('PUSH_API_KEYS_SECRET_ARN', this.pushApiKeysSecret.secretArn);
    grantGetSecretValue(fn, this.pushApiKeysSecret);
  }
}

/** secretsmanager:GetSecretValue on one secret, without the DescribeSecret that grantRead adds. */
function grantGetSecretValue(fn: IBindableFunction, secret: ISecret): Grant {
  return Grant.addToPrincipal({
    grantee: fn,
    actions: ['secretsmanager:GetSecretValue'],
    resourceArns: [secret.secretArn],
  });
}
