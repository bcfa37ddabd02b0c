import * as z from 'zod';
import { LIMITS } from '../lambdas/domain/constants.js';

/**
 * Stage settings: everything that differs between `cdk deploy -c stage=dev`
 * and `-c stage=prod`, in one typed, zod-validated object. A stage named
 * `prod` starts from the prod preset, any other name from the dev preset
 * (`-c preset=prod` picks the prod preset for another name); context values
 * override single settings.
 */

/** CloudWatch Logs retention periods, in days, that the service accepts. */
const RETENTION_DAYS = [
  1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
] as const;

const throttleSchema = z
  .object({
    /** Steady-state requests (WebSocket: messages) per second. */
    rateLimit: z.number().positive(),
    /** Burst capacity. */
    burstLimit: z.number().int().positive(),
  })
  .strict();

const clientAuthSchema = z.discriminatedUnion('mode', [
  /** HS256 tokens signed with a secret the deploy generates in Secrets Manager. */
  z.object({ mode: z.literal('secret') }).strict(),
  /** RS256/ES256 tokens from an OpenID identity provider (Cognito, Auth0, ...). */
  z
    .object({
      mode: z.literal('oidc'),
      issuer: z.url(),
      audience: z.string().min(1),
      jwksUrl: z.url({ protocol: /^https$/ }),
    })
    .strict(),
]);

export const stageSettingsSchema = z
  .object({
    /** Stage name: stack name suffix and API Gateway stage; lower case so it fits every resource name. */
    stage: z
      .string()
      .regex(/^[a-z][a-z0-9-]{0,19}$/, 'a stage is 1-20 characters: a-z first, then a-z, 0-9 or -'),
    /** What happens to the table, secrets and log groups when the stack is deleted. */
    removalPolicy: z.enum(['destroy', 'retain']),
    /** DynamoDB point-in-time recovery. */
    pointInTimeRecovery: z.boolean(),
    /** DynamoDB deletion protection. */
    deletionProtection: z.boolean(),
    /** Retention of every log group (function logs and API access logs), in days. */
    logRetentionDays: z.union(RETENTION_DAYS.map((days) => z.literal(days))),
    /** Default route throttling of the WebSocket stage. */
    websocketThrottle: throttleSchema,
    /** Default route throttling of the push HTTP API stage. */
    pushThrottle: throttleSchema,
    /** Largest serialized `data` of one message (MAX_DATA_BYTES). */
    maxDataBytes: z.number().int().positive().max(LIMITS.maxMessageBytes),
    /** Retention of room messages in seconds (HISTORY_TTL_SECONDS); 0 stores none. */
    historyTtlSeconds: z.number().int().nonnegative(),
    /** Retention of user messages, the mailbox, in seconds (MAILBOX_TTL_SECONDS); 0 stores none. */
    mailboxTtlSeconds: z.number().int().nonnegative(),
    /** Allowed `Origin` headers on `$connect`; empty allows every origin. */
    allowedOrigins: z.array(z.url()),
    /** With allowedOrigins: whether clients that send no Origin (servers, SDKs in Node, CLIs) may connect. */
    allowNoOrigin: z.boolean(),
    /** Per-connection limit of `send` and `direct`: sustained frames per second (0: off) and burst. */
    clientRateLimit: z
      .object({ perSecond: z.number().nonnegative(), burst: z.number().int().positive() })
      .strict(),
    clientAuth: clientAuthSchema,
    /** `apikey`: keys in a Secrets Manager JSON array, checked by the push function; `iam`: SigV4. */
    pushAuth: z.enum(['apikey', 'iam']),
    /** E-mail address subscribed to the alarm topic (optional). */
    alarmEmail: z.email().optional(),
    logLevel: z.enum(['DEBUG', 'INFO', 'WARN', 'ERROR']),
    /** Memory of every function, in MB. */
    memorySize: z.number().int().min(128).max(10240),
    alarms: z
      .object({
        /** Errors of one function within 5 minutes that raise its alarm. */
        lambdaErrors: z.number().int().positive(),
        /** Share of failed deliveries, failed / (delivered + failed), that raises the alarm. */
        deliveryFailureRate: z.number().gt(0).lte(1),
        /** p99 of FanoutDuration, in milliseconds, that raises the alarm. */
        fanoutP99Ms: z.number().positive(),
        /** Handled faults (InternalErrors) and WebSocket IntegrationErrors within 5 minutes that raise their alarms. */
        internalErrors: z.number().int().positive(),
      })
      .strict(),
    /** AWS X-Ray active tracing of every function and the push API's Lambda calls. */
    tracing: z.boolean(),
    /**
     * Ship each function's source map and run it with `--enable-source-maps`, so stack traces in
     * the logs name our TypeScript files and lines. Off saves the map's parse at every cold start
     * (about a fifth of the cold import, `npm run bench`); traces then point into the minified bundle.
     */
    sourceMaps: z.boolean(),
    /**
     * Reserved concurrency of the `$connect` authorizer and connect functions, so a
     * message storm cannot take every instance and starve new connections.
     * 0 reserves nothing (the account's unreserved pool is shared).
     */
    connectReservedConcurrency: z.number().int().nonnegative().max(10000),
    /**
     * Set API Gateway's account-wide CloudWatch Logs role (AWS::ApiGateway::Account)
     * from this stack. There is one such setting per account and region and the
     * WebSocket stage's access logs need it, so turn it on in exactly one stack
     * there (or set the role once by hand); stages that share it leave it off.
     */
    apiGatewayCloudWatchRole: z.boolean(),
    /** Events to backends: `create` a bus `roomcast-{stage}`, use an existing bus (its ARN), or `none`. */
    eventBus: z.union([
      z.literal('create'),
      z.literal('none'),
      z.string().regex(/^arn:aws[a-z-]*:events:[a-z0-9-]+:\d{12}:event-bus\/[A-Za-z0-9._\-/]+$/, {
        message: 'eventBus is create, none, or an event bus ARN',
      }),
    ]),
    /** Days an EventBridge archive keeps the events so they can be replayed; 0: no archive. */
    eventArchiveDays: z.number().int().min(0).max(3650),
  })
  .strict();

export type StageSettings = z.infer<typeof stageSettingsSchema>;
export type ClientAuthSettings = StageSettings['clientAuth'];
export type ThrottleSettings = z.infer<typeof throttleSchema>;

type Preset = Omit<StageSettings, 'stage'>;

/** Defaults for development stages: cheap, disposable, verbose enough to debug. */
export const DEV_PRESET: Preset = {
  removalPolicy: 'destroy',
  pointInTimeRecovery: false,
  deletionProtection: false,
  logRetentionDays: 7,
  websocketThrottle: { rateLimit: 100, burstLimit: 50 },
  pushThrottle: { rateLimit: 50, burstLimit: 25 },
  maxDataBytes: LIMITS.defaultMaxDataBytes,
  historyTtlSeconds: LIMITS.historyTtlSeconds,
  mailboxTtlSeconds: LIMITS.mailboxTtlSeconds,
  allowedOrigins: [],
  allowNoOrigin: true,
  clientRateLimit: { perSecond: 20, burst: 40 },
  clientAuth: { mode: 'secret' },
  pushAuth: 'apikey',
  logLevel: 'DEBUG',
  memorySize: 512,
  alarms: { lambdaErrors: 5, deliveryFailureRate: 0.05, fanoutP99Ms: 3000, internalErrors: 5 },
  tracing: false,
  sourceMaps: true,
  connectReservedConcurrency: 0,
  apiGatewayCloudWatchRole: false,
  eventBus: 'create',
  eventArchiveDays: 0,
};

/** Defaults for production: data kept, recoverable and protected; higher limits. */
export const PROD_PRESET: Preset = {
  ...DEV_PRESET,
  removalPolicy: 'retain',
  pointInTimeRecovery: true,
  deletionProtection: true,
  logRetentionDays: 90,
  websocketThrottle: { rateLimit: 2000, burstLimit: 1000 },
  pushThrottle: { rateLimit: 500, burstLimit: 250 },
  logLevel: 'INFO',
  memorySize: 1024,
  alarms: { lambdaErrors: 1, deliveryFailureRate: 0.02, fanoutP99Ms: 2000, internalErrors: 1 },
  tracing: true,
  connectReservedConcurrency: 50,
  eventArchiveDays: 30,
};

export const PRESETS = { dev: DEV_PRESET, prod: PROD_PRESET } as const;

export class StageConfigError extends Error {
  override readonly name = 'StageConfigError';
}

const boolish = z.union([z.boolean(), z.stringbool()]);
const numberish = z.union([z.number(), z.string().trim().min(1).pipe(z.coerce.number())]);
const listish = z.union([
  z.array(z.string()),
  z.string().transform((text) => {
    const trimmed = text.trim();
    if (trimmed.startsWith('[')) return z.array(z.string()).parse(JSON.parse(trimmed));
    return trimmed
      .split(',')
      .map((item) => item.trim())
      .filter(Boolean);
  }),
]);
/** An object, or (from the CLI) its JSON text. */
const objectish = z.preprocess(
  (value) => {
    if (typeof value !== 'string') return value;
    try {
      return JSON.parse(value);
    } catch {
      return value;
    }
  },
  z.record(z.string(), z.unknown(), { error: 'must be a JSON object' }),
);

/**
 * Flat context keys (`-c key=value`, strings from the CLI or typed values from
 * cdk.json) and the settings they set.
 */
const flatContextSchema = z
  .object({
    removalPolicy: z.enum(['destroy', 'retain']),
    pointInTimeRecovery: boolish,
    deletionProtection: boolish,
    logRetentionDays: numberish,
    maxDataBytes: numberish,
    historyTtlSeconds: numberish,
    mailboxTtlSeconds: numberish,
    allowedOrigins: listish,
    allowNoOrigin: boolish,
    rateLimitPerSecond: numberish,
    rateLimitBurst: numberish,
    pushAuth: z.enum(['apikey', 'iam']),
    alarmEmail: z.string(),
    logLevel: z.enum(['DEBUG', 'INFO', 'WARN', 'ERROR']),
    memorySize: numberish,
    throttleRate: numberish,
    throttleBurst: numberish,
    pushThrottleRate: numberish,
    pushThrottleBurst: numberish,
    jwtIssuer: z.string(),
    jwtAudience: z.string(),
    jwtJwksUrl: z.string(),
    apiGatewayCloudWatchRole: boolish,
    tracing: boolish,
    sourceMaps: boolish,
    connectReservedConcurrency: numberish,
    eventBus: z.string(),
    eventArchiveDays: numberish,
  })
  .partial();

/** The context keys resolveStageSettings reads, besides `stage`, `preset`, `settings` and `roomcast:{stage}`. */
export const FLAT_CONTEXT_KEYS = Object.keys(
  flatContextSchema.shape,
) as (keyof typeof flatContextSchema.shape)[];

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Deep merge of plain objects; arrays and scalars replace. */
function merge(base: Record<string, unknown>, patch: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(patch)) {
    if (value === undefined) continue;
    const current = out[key];
    out[key] = isPlainObject(current) && isPlainObject(value) ? merge(current, value) : value;
  }
  return out;
}

function problems(error: z.ZodError): string {
  return error.issues.map((issue) => `${issue.path.join('.') || 'settings'}: ${issue.message}`).join('; ');
}

/** Reads one context value; `App.node.tryGetContext` fits. */
export type ContextReader = (key: string) => unknown;

/**
 * Context keys that look like a setting (one camelCase word, as `-c alarmEmail=...`) but are
 * none: a typo, or a setting only the `settings` JSON takes. CDK's own keys (`@aws-cdk/...`,
 * `aws:cdk:...`, `cli-telemetry`, lookups) never look like that.
 */
export function unknownSettingKeys(keys: Iterable<string>): string[] {
  const known = new Set<string>(['stage', 'preset', 'settings', ...FLAT_CONTEXT_KEYS]);
  return [...keys].filter((key) => /^[a-z][A-Za-z0-9]*$/.test(key) && !known.has(key));
}

/**
 * The settings of one stage: the preset, then the cdk.json object
 * `roomcast:{stage}`, then the JSON context `settings`, then flat context keys
 * (`-c alarmEmail=ops@example.com`). Throws a StageConfigError naming every bad value, and every
 * key of `contextKeys` (all the context's keys) that is no setting.
 */
export function resolveStageSettings(
  stage: string,
  context: ContextReader = () => undefined,
  contextKeys: Iterable<string> = [],
): StageSettings {
  const unknown = unknownSettingKeys(contextKeys);
  if (unknown.length > 0) {
    throw new StageConfigError(
      `invalid roomcast stage settings: unknown setting ${unknown.map((key) => `"${key}"`).join(', ')}; ` +
        `-c takes ${FLAT_CONTEXT_KEYS.join(', ')}, and the others go in -c settings='{...}' (see the README)`,
    );
  }
  const presetName = context('preset') ?? (stage === 'prod' ? 'prod' : 'dev');
  if (presetName !== 'dev' && presetName !== 'prod') {
    throw new StageConfigError(
      `invalid roomcast stage settings: preset must be dev or prod, not ${presetName}`,
    );
  }
  let settings: Record<string, unknown> = { ...PRESETS[presetName], stage };

  for (const key of [`roomcast:${stage}`, 'settings']) {
    const raw = context(key);
    if (raw === undefined) continue;
    const parsed = objectish.safeParse(raw);
    if (!parsed.success) {
      const why = parsed.error.issues.map((issue) => issue.message).join('; ');
      throw new StageConfigError(`invalid roomcast stage settings: ${key}: ${why}`);
    }
    settings = merge(settings, parsed.data);
  }

  const flatInput: Record<string, unknown> = {};
  for (const key of FLAT_CONTEXT_KEYS) {
    const value = context(key);
    if (value !== undefined && value !== '') flatInput[key] = value;
  }
  const flat = flatContextSchema.safeParse(flatInput);
  if (!flat.success) throw new StageConfigError(`invalid roomcast stage settings: ${problems(flat.error)}`);
  const {
    throttleRate,
    throttleBurst,
    pushThrottleRate,
    pushThrottleBurst,
    rateLimitPerSecond,
    rateLimitBurst,
    jwtIssuer,
    jwtAudience,
    jwtJwksUrl,
    ...direct
  } = flat.data;
  settings = merge(settings, direct);
  settings = merge(settings, {
    websocketThrottle: { rateLimit: throttleRate, burstLimit: throttleBurst },
    pushThrottle: { rateLimit: pushThrottleRate, burstLimit: pushThrottleBurst },
    clientRateLimit: { perSecond: rateLimitPerSecond, burst: rateLimitBurst },
  });
  if (jwtIssuer !== undefined || jwtAudience !== undefined || jwtJwksUrl !== undefined) {
    settings.clientAuth = { mode: 'oidc', issuer: jwtIssuer, audience: jwtAudience, jwksUrl: jwtJwksUrl };
  }

  const result = stageSettingsSchema.safeParse(settings);
  if (!result.success)
    throw new StageConfigError(`invalid roomcast stage settings: ${problems(result.error)}`);
  return result.data;
}
