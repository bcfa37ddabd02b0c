import * as z from 'zod';
import { ACTION_ROUTES, LIMITS } from './constants.js';
import { type ErrorDetail, PayloadTooLargeError, UnknownActionError, ValidationError } from './errors.js';
import { jsonValueProblem, quote } from './input.js';

export const ROOM_PATTERN = /^[A-Za-z0-9_.:-]{1,128}$/;
export const EVENT_PATTERN = /^[A-Za-z0-9_.:-]{1,64}$/;
export const CONNECTION_ID_PATTERN = /^[A-Za-z0-9+/=_-]{1,128}$/;

export const roomName = z
  .string({ error: 'room must be a string' })
  .regex(ROOM_PATTERN, 'room must be 1-128 characters of A-Z a-z 0-9 _ . : -');
export const eventName = z
  .string({ error: 'event must be a string' })
  .regex(EVENT_PATTERN, 'event must be 1-64 characters of A-Z a-z 0-9 _ . : -');
export const userId = z
  .string({ error: 'userId must be a string' })
  .min(1, 'userId must not be empty')
  .max(128, 'userId must be at most 128 characters')
  .regex(/^[^\s\p{Cc}]+$/u, 'userId must not contain spaces or control characters');
export const connectionId = z
  .string({ error: 'connectionId must be a string' })
  .regex(CONNECTION_ID_PATTERN, 'connectionId is not a valid connection id');
const clientId = z
  .string({ error: 'id must be a string' })
  .max(LIMITS.maxClientIdLength, `id must be at most ${LIMITS.maxClientIdLength} characters`);
/** Any JSON value, at most 64 levels deep and with finite numbers; an omitted `data` is delivered as null. */
const data = z
  .unknown()
  .optional()
  .superRefine((value, ctx) => {
    const problem = jsonValueProblem(value);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  })
  .transform((value) => (value === undefined ? null : value));

/** `store: false`: delivered live only, no seq, never in history. */
const store = z.boolean({ error: 'store must be true or false' }).optional();
const clientIdempotencyKey = z
  .string({ error: 'idempotencyKey must be a string' })
  .min(1, 'idempotencyKey must not be empty')
  .max(64, 'idempotencyKey must be at most 64 characters')
  .optional();
/** The push API's `Idempotency-Key` header and a batch message's `idempotencyKey`. */
export const pushIdempotencyKey = z
  .string({ error: 'idempotencyKey must be a string' })
  .regex(/^[\x21-\x7e]{1,128}$/, 'the idempotency key must be 1-128 visible ASCII characters');
const seq = z
  .number({ error: 'seq must be a number' })
  .int('seq must be a whole number')
  .min(0, 'seq must be 0 or more')
  .max(Number.MAX_SAFE_INTEGER, 'seq is too large');

export const joinFrame = z.strictObject({
  action: z.literal('join'),
  id: clientId.optional(),
  room: roomName,
});
export const leaveFrame = z.strictObject({
  action: z.literal('leave'),
  id: clientId.optional(),
  room: roomName,
});
export const sendFrame = z.strictObject({
  action: z.literal('send'),
  id: clientId.optional(),
  room: roomName,
  event: eventName,
  data,
  store,
  idempotencyKey: clientIdempotencyKey,
});
export const directFrame = z.strictObject({
  action: z.literal('direct'),
  id: clientId.optional(),
  userId,
  event: eventName,
  data,
  store,
  idempotencyKey: clientIdempotencyKey,
});
export const pingFrame = z.strictObject({ action: z.literal('ping'), id: clientId.optional() });
export const resumeFrame = z.strictObject({
  action: z.literal('resume'),
  id: clientId.optional(),
  rooms: z
    .record(roomName, seq, { error: 'rooms must be an object of room name to last seq' })
    .refine((rooms) => Object.keys(rooms).length <= LIMITS.maxResumeRooms, {
      message: `rooms may name at most ${LIMITS.maxResumeRooms} rooms`,
    })
    .optional(),
  user: seq.optional(),
});
const historyLimit = z
  .number({ error: 'limit must be a number' })
  .int('limit must be a whole number')
  .min(1, 'limit must be at least 1')
  .max(LIMITS.maxHistoryLimit, `limit must be at most ${LIMITS.maxHistoryLimit}`);
function oneDirection(
  query: { since?: number | undefined; before?: number | undefined },
  ctx: z.RefinementCtx,
) {
  if (query.since !== undefined && query.before !== undefined) {
    ctx.addIssue({ code: 'custom', path: ['before'], message: 'give since or before, not both' });
  }
}
export const historyFrame = z
  .strictObject({
    action: z.literal('history'),
    id: clientId.optional(),
    room: roomName,
    since: seq.optional(),
    before: seq.optional(),
    limit: historyLimit.optional(),
  })
  .superRefine(oneDirection);
/** A query-string number: decimal digits only (no `0x10`, `1e3`, spaces or empty value), then `inner`'s rules. */
const decimalParam = (name: string, inner: z.ZodNumber) =>
  z
    .string({ error: `${name} must be a whole number` })
    .regex(/^[0-9]{1,15}$/, `${name} must be a whole number in decimal digits`)
    .transform(Number)
    .pipe(inner);

export const historyQuery = z
  .strictObject({
    since: decimalParam('since', seq).optional(),
    before: decimalParam('before', seq).optional(),
    limit: decimalParam('limit', historyLimit).optional(),
  })
  .superRefine(oneDirection);
export const emitFrame = z.strictObject({
  action: z.literal('emit'),
  id: clientId.optional(),
  event: eventName,
  data,
  /** Validated here; repeats are dropped by the idempotency work (CONTRACT section 6). */
  idempotencyKey: z
    .string({ error: 'idempotencyKey must be a string' })
    .min(1, 'idempotencyKey must not be empty')
    .max(64, 'idempotencyKey must be at most 64 characters')
    .optional(),
});

export const presenceFrame = z.strictObject({
  action: z.literal('presence'),
  id: clientId.optional(),
  room: roomName,
});

export const clientFrame = z.discriminatedUnion('action', [
  joinFrame,
  leaveFrame,
  sendFrame,
  directFrame,
  pingFrame,
  resumeFrame,
  historyFrame,
  emitFrame,
  presenceFrame,
]);
export type ClientFrame = z.infer<typeof clientFrame>;

const pushTargetKeys = ['userId', 'room', 'connectionId', 'broadcast'] as const;

export const pushBody = z
  .strictObject({
    userId: userId.optional(),
    room: roomName.optional(),
    connectionId: connectionId.optional(),
    broadcast: z.literal(true, { error: 'broadcast must be true when given' }).optional(),
    event: eventName,
    data,
    exceptConnectionId: connectionId.optional(),
    store,
    idempotencyKey: pushIdempotencyKey.optional(),
  })
  .superRefine((body, ctx) => {
    const given = pushTargetKeys.filter((key) => body[key] !== undefined);
    if (given.length !== 1) {
      ctx.addIssue({
        code: 'custom',
        path: given.length === 0 ? [] : [given[1] ?? ''],
        message: 'exactly one of userId, room, connectionId, broadcast is required',
      });
    }
  });
export type PushBody = z.infer<typeof pushBody>;

export const pushBatchBody = z.strictObject({
  messages: z
    .array(z.unknown(), { error: 'messages must be an array of push bodies' })
    .min(1, 'messages must hold at least one push body')
    .max(LIMITS.maxBatch, `messages may hold at most ${LIMITS.maxBatch} push bodies`),
});

export const roomMemberBody = z.strictObject({ userId });

export const pageQuery = z.object({
  limit: z
    .string({ error: 'limit must be a whole number from 1 to 1000' })
    .regex(/^[0-9]{1,4}$/, 'limit must be a whole number from 1 to 1000, in decimal digits')
    .transform(Number)
    .pipe(z.number().min(1, 'limit must be at least 1').max(1000, 'limit must be at most 1000'))
    .default(100),
  nextToken: z.string().max(2048, 'nextToken is too long').optional(),
});

/** Unknown fields named in one detail list at most. */
const MAX_UNKNOWN_FIELDS = 5;

/**
 * Turns zod issues into the contract's `details` list: unknown fields first,
 * each named (quoted and cut, never echoed in full), then the other problems.
 */
export function toDetails(error: z.ZodError): ErrorDetail[] {
  const unknown: ErrorDetail[] = [];
  const others: ErrorDetail[] = [];
  for (const issue of error.issues) {
    const path = issue.path.map((part) => (typeof part === 'string' ? part : String(part))).join('.');
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys.slice(0, MAX_UNKNOWN_FIELDS)) {
        unknown.push({ path, message: `unknown field ${quote(key)}` });
      }
      if (issue.keys.length > MAX_UNKNOWN_FIELDS) {
        unknown.push({ path, message: `and ${issue.keys.length - MAX_UNKNOWN_FIELDS} more unknown fields` });
      }
    } else {
      others.push({ path, message: issue.message });
    }
  }
  return [...unknown, ...others];
}

/**
 * Validates with a schema, throwing a ValidationError whose message names the
 * first problem, and an unknown field too when there is one (a typo such as
 * `rom` also makes `room` missing).
 */
export function validate<S extends z.ZodType>(schema: S, input: unknown, what: string): z.output<S> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const details = toDetails(result.error);
  const describe = (d: ErrorDetail) => (d.path ? `${d.path}: ${d.message}` : d.message);
  const unknownField = details.find((d) => d.message.startsWith('unknown field '));
  const other = details.find((d) => !d.message.startsWith('unknown field ') && !d.message.startsWith('and '));
  const parts = [unknownField, other].filter((d): d is ErrorDetail => d !== undefined).map(describe);
  throw new ValidationError(`invalid ${what}: ${parts.join('; ') || 'not valid'}`, details);
}

/** Parses JSON text, throwing a ValidationError that says so when it is not JSON. */
export function parseJson(text: string | null | undefined, what: string): unknown {
  if (text === undefined || text === null || text === '') {
    throw new ValidationError(`${what} is empty; send a JSON object`);
  }
  try {
    return JSON.parse(text);
  } catch {
    throw new ValidationError(`${what} is not valid JSON`);
  }
}

export function byteLength(text: string): number {
  return Buffer.byteLength(text, 'utf8');
}

/** Throws PayloadTooLargeError when `data` serializes to more than `maxBytes`. */
export function assertDataSize(value: unknown, maxBytes: number): void {
  const size = byteLength(JSON.stringify(value) ?? 'null');
  if (size > maxBytes) {
    throw new PayloadTooLargeError(`data is ${size} bytes; the limit is ${maxBytes} bytes`);
  }
}

/**
 * Parses one client frame: JSON, a known action, then that action's schema.
 * Errors name what was wrong so a person can fix the client.
 */
export function parseClientFrame(text: string | null | undefined, maxMessageBytes: number): ClientFrame {
  if (text && byteLength(text) > maxMessageBytes) {
    throw new PayloadTooLargeError(
      `frame is ${byteLength(text)} bytes; the limit is ${maxMessageBytes} bytes`,
    );
  }
  const raw = parseJson(text, 'frame');
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new ValidationError('frame must be a JSON object with an "action" field');
  }
  const action = (raw as Record<string, unknown>).action;
  if (typeof action !== 'string') {
    throw new ValidationError('frame has no "action" string field', [
      { path: 'action', message: 'action is required' },
    ]);
  }
  if (!(ACTION_ROUTES as readonly string[]).includes(action)) {
    throw new UnknownActionError(`unknown action ${quote(action)}; use one of ${ACTION_ROUTES.join(', ')}`);
  }
  return validate(clientFrame, raw, `${action} frame`);
}

/** Kept here for callers that parse frames; it lives in input.ts, which has no zod. */
export { frameIdOf } from './input.js';
