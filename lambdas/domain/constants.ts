/**
 * Names shared by handlers, the local stack and the CDK stack: route keys,
 * error codes and metric names live here and nowhere else.
 */

/** WebSocket route keys (route selection expression `$request.body.action`). */
export const ROUTE_KEYS = {
  connect: '$connect',
  disconnect: '$disconnect',
  default: '$default',
  join: 'join',
  leave: 'leave',
  send: 'send',
  direct: 'direct',
  ping: 'ping',
  resume: 'resume',
  history: 'history',
  emit: 'emit',
  presence: 'presence',
} as const;

/** The client actions that have their own route; everything else lands on `$default`. */
export const ACTION_ROUTES = [
  ROUTE_KEYS.join,
  ROUTE_KEYS.leave,
  ROUTE_KEYS.send,
  ROUTE_KEYS.direct,
  ROUTE_KEYS.ping,
  ROUTE_KEYS.resume,
  ROUTE_KEYS.history,
  ROUTE_KEYS.emit,
  ROUTE_KEYS.presence,
] as const;

export const ERROR_CODES = [
  'VALIDATION_ERROR',
  'UNKNOWN_ACTION',
  'UNAUTHORIZED',
  'FORBIDDEN',
  'NOT_FOUND',
  'PAYLOAD_TOO_LARGE',
  'RATE_LIMITED',
  'CONFLICT',
  'INTERNAL',
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

/** HTTP status for each error code of the push API. */
export const HTTP_STATUS: Record<ErrorCode, number> = {
  VALIDATION_ERROR: 400,
  UNKNOWN_ACTION: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  PAYLOAD_TOO_LARGE: 413,
  RATE_LIMITED: 429,
  CONFLICT: 409,
  INTERNAL: 500,
};

/** CloudWatch metric names emitted by the handlers (namespace comes from configuration). */
export const METRICS = {
  connectionsOpened: 'ConnectionsOpened',
  connectionsClosed: 'ConnectionsClosed',
  authFailures: 'AuthFailures',
  messagesIn: 'MessagesIn',
  clientErrors: 'ClientErrors',
  validationErrors: 'ValidationErrors',
  delivered: 'Delivered',
  pruned: 'Pruned',
  failed: 'DeliveryFailed',
  fanoutDuration: 'FanoutDuration',
  pushRequests: 'PushRequests',
  internalErrors: 'InternalErrors',
  stored: 'MessagesStored',
  seqConflicts: 'SeqConflicts',
  /** A stored message whose stream head write failed: the next append finds the seq taken and skips it. */
  headsBehind: 'StreamHeadsBehind',
  replayed: 'MessagesReplayed',
  /** Events to backends the publisher accepted (EventBridge PutEvents succeeded, or queued locally). */
  eventsPublished: 'EventsPublished',
  /** Events to backends that could not be sent after retries (or were dropped from a full queue). */
  eventsFailed: 'EventsFailed',
  /** Events a request stopped waiting for (the publisher was slow); they may still be sent. */
  eventsSlow: 'EventsSlow',
} as const;
export type MetricName = (typeof METRICS)[keyof typeof METRICS];

/** API Gateway WebSocket limits, used as defaults by the local stack and by validation. */
export const LIMITS = {
  /** Largest client message API Gateway accepts. */
  maxMessageBytes: 128 * 1024,
  /** Default largest serialized `data` of one message (a stage setting). */
  defaultMaxDataBytes: 32 * 1024,
  idleTimeoutMs: 10 * 60 * 1000,
  maxLifetimeMs: 2 * 60 * 60 * 1000,
  /** Stored connections expire a little after API Gateway's two-hour limit. */
  connectionTtlSeconds: 2 * 60 * 60 + 10 * 60,
  maxBatch: 25,
  maxClientIdLength: 64,
  /** Rooms one `resume` may name. */
  maxResumeRooms: 50,
  /** Missed messages a `resume` replays per stream; more gives `recovered: false`. */
  maxReplay: 200,
  /** Largest seq a stream can reach (a stored message's key holds 12 digits); larger ones are refused. */
  maxSeq: 999_999_999_999,
  defaultHistoryLimit: 50,
  maxHistoryLimit: 100,
  /** Default retention of room messages and of user messages (the mailbox). */
  historyTtlSeconds: 86_400,
  mailboxTtlSeconds: 604_800,
  /** Users a presence answer lists (`count` is the total). */
  maxPresenceUsers: 1000,
  /** How long an idempotency key is remembered. */
  idempotencyTtlSeconds: 86_400,
} as const;

/**
 * A user id (a token's `sub`): no spaces, no control characters, no unpaired surrogate (such a
 * string has no UTF-8 form: it cannot be named in a URL path, nor stored as DynamoDB and
 * EventBridge keep text).
 */
export const USER_ID_PATTERN = /^[^\s\p{Cc}\p{Cs}]+$/u;

/**
 * The query string parameter that carries a client's token on the handshake: the `$connect`
 * authorizer's identity source. API Gateway answers 401 itself, without calling the authorizer,
 * when it is missing or empty (the local gateway does the same).
 */
export const TOKEN_PARAMETER = 'token';

/** Receives of a fan-out job before it goes to the dead-letter queue (SQS redrive; the local queue alike). */
export const FANOUT_MAX_RECEIVES = 5;
