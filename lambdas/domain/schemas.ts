import { ACTION_ROUTES, LIMITS, USER_ID_PATTERN } from './constants.js';
import { type ErrorDetail, PayloadTooLargeError, UnknownActionError, ValidationError } from './errors.js';
import { byteLength, jsonValueProblem, quote } from './input.js';
import * as z from './zod.js';

export const ROOM_PATTERN = /^[A-Za-z0-9_.:-]{1,128}$/;
export const EVENT_PATTERN = /^[A-Za-z0-9_.:-]{1,64}$/;
export const CONNECTION_ID_PATTERN = /^[A-Za-z0-9+/=_-]{1,128}$/;

export const roomName = z
  .string({ error: 'room must be a string' })
  .check(z.regex(ROOM_PATTERN, 'room must be 1-128 characters of A-Z a-z 0-9 _ . : -'));
export const eventName = z
  .string({ error: 'event must be a string' })
  .check(z.regex(EVENT_PATTERN, 'event must be 1-64 characters of A-Z a-z 0-9 _ . : -'));
export const userId = z
  .string({ error: 'userId must be a string' })
  .check(
    z.minLength(1, 'userId must not be empty'),
    z.maxLength(128, 'userId must be at most 128 characters'),
    z.regex(USER_ID_PATTERN, 'userId must not contain spaces, control characters or unpaired surrogates'),
  );
export const connectionId = z
  .string({ error: 'connectionId must be a string' })
  .check(z.regex(CONNECTION_ID_PATTERN, 'connectionId is not a valid connection id'));
const clientId = z.optional(
  z
    .string({ error: 'id must be a string' })
    .check(
      z.maxLength(LIMITS.maxClientIdLength, `id must be at most ${LIMITS.maxClientIdLength} characters`),
    ),
);
/** Any JSON value, at most 64 levels deep and with finite numbers; an omitted `data` is delivered as null. */
const data = z.pipe(
  z.optional(z.unknown()).check(
    z.superRefine((value, ctx) => {
      const problem = jsonValueProblem(value);
      if (problem) ctx.addIssue({ code: 'custom', message: problem });
    }),
  ),
  z.transform((value: unknown) => (value === undefined ? null : value)),
);

/** `store: false`: delivered live only, no seq, never in history. */
const store = z.optional(z.boolean({ error: 'store must be true or false' }));
const clientIdempotencyKey = z.optional(
  z
    .string({ error: 'idempotencyKey must be a string' })
    .check(
      z.minLength(1, 'idempotencyKey must not be empty'),
      z.maxLength(64, 'idempotencyKey must be at most 64 characters'),
    ),
);
/** The push API's `Idempotency-Key` header and a batch message's `idempotencyKey`. */
export const pushIdempotencyKey = z
  .string({ error: 'idempotencyKey must be a string' })
  .check(z.regex(/^[\x21-\x7e]{1,128}$/, 'the idempotency key must be 1-128 visible ASCII characters'));
const seq = z
  .number({ error: 'seq must be a number' })
  .check(
    z.int('seq must be a whole number'),
    z.gte(0, 'seq must be 0 or more'),
    z.lte(LIMITS.maxSeq, `seq must be at most ${LIMITS.maxSeq}`),
  );

export const joinFrame = z.strictObject({ action: z.literal('join'), id: clientId, room: roomName });
export const leaveFrame = z.strictObject({ action: z.literal('leave'), id: clientId, room: roomName });
export const sendFrame = z.strictObject({
  action: z.literal('send'),
  id: clientId,
  room: roomName,
  event: eventName,
  data,
  store,
  idempotencyKey: clientIdempotencyKey,
});
export const directFrame = z.strictObject({
  action: z.literal('direct'),
  id: clientId,
  userId,
  event: eventName,
  data,
  store,
  idempotencyKey: clientIdempotencyKey,
});
export const pingFrame = z.strictObject({ action: z.literal('ping'), id: clientId });
/**
 * A resume's `rooms`, room name to last seq, checked and handed on as entries: zod's record skips
 * a key named `__proto__` unchecked (so it cannot replace the prototype of the plain object it
 * builds), and that is a valid room name.
 */
const resumeRooms = z.pipe(
  z.custom<Record<string, unknown>>(
    (value) => typeof value === 'object' && value !== null && !Array.isArray(value),
    { error: 'rooms must be an object of room name to last seq' },
  ),
  z.transform((rooms, payload): [string, number][] => {
    const entries = Object.entries(rooms);
    if (entries.length > LIMITS.maxResumeRooms) {
      payload.issues.push({
        code: 'custom',
        message: `rooms may name at most ${LIMITS.maxResumeRooms} rooms`,
        input: rooms,
      });
      return [];
    }
    const checked: [string, number][] = [];
    for (const [room, after] of entries) {
      const name = roomName.safeParse(room);
      const last = seq.safeParse(after);
      for (const issue of [...(name.error?.issues ?? []), ...(last.error?.issues ?? [])]) {
        payload.issues.push({ code: 'custom', message: issue.message, input: after, path: [room] });
      }
      if (name.success && last.success) checked.push([room, last.data]);
    }
    return checked;
  }),
);
export const resumeFrame = z.strictObject({
  action: z.literal('resume'),
  id: clientId,
  rooms: z.optional(resumeRooms),
  user: z.optional(seq),
});
const historyLimit = z
  .number({ error: 'limit must be a number' })
  .check(
    z.int('limit must be a whole number'),
    z.gte(1, 'limit must be at least 1'),
    z.lte(LIMITS.maxHistoryLimit, `limit must be at most ${LIMITS.maxHistoryLimit}`),
  );
const oneDirection = z.superRefine(
  (query: { since?: number | undefined; before?: number | undefined }, ctx) => {
    if (query.since !== undefined && query.before !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['before'], message: 'give since or before, not both' });
    }
  },
);
export const historyFrame = z
  .strictObject({
    action: z.literal('history'),
    id: clientId,
    room: roomName,
    since: z.optional(seq),
    before: z.optional(seq),
    limit: z.optional(historyLimit),
  })
  .check(oneDirection);
/** A query-string number: decimal digits only (no `0x10`, `1e3`, spaces or empty value), then `inner`'s rules. */
const decimalParam = (name: string, inner: z.ZodMiniNumber<number>) =>
  z.optional(
    z.pipe(
      z.pipe(
        z
          .string({ error: `${name} must be a whole number` })
          .check(z.regex(/^[0-9]{1,15}$/, `${name} must be a whole number in decimal digits`)),
        z.transform((text: string) => Number(text)),
      ),
      inner,
    ),
  );

export const historyQuery = z
  .strictObject({
    since: decimalParam('since', seq),
    before: decimalParam('before', seq),
    limit: decimalParam('limit', historyLimit),
  })
  .check(oneDirection);
export const emitFrame = z.strictObject({
  action: z.literal('emit'),
  id: clientId,
  event: eventName,
  data,
  /** Validated here; repeats are dropped by the idempotency work (CONTRACT section 6). */
  idempotencyKey: clientIdempotencyKey,
});

export const presenceFrame = z.strictObject({ action: z.literal('presence'), id: clientId, room: roomName });

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
    userId: z.optional(userId),
    room: z.optional(roomName),
    connectionId: z.optional(connectionId),
    broadcast: z.optional(z.literal(true, { error: 'broadcast must be true when given' })),
    event: eventName,
    data,
    exceptConnectionId: z.optional(connectionId),
    store,
    idempotencyKey: z.optional(pushIdempotencyKey),
  })
  .check(
    z.superRefine((body, ctx) => {
      const given = pushTargetKeys.filter((key) => body[key] !== undefined);
      if (given.length !== 1) {
        ctx.addIssue({
          code: 'custom',
          path: given.length === 0 ? [] : [given[1] ?? ''],
          message: 'exactly one of userId, room, connectionId, broadcast is required',
        });
      }
    }),
  );
export type PushBody = z.infer<typeof pushBody>;

export const pushBatchBody = z.strictObject({
  messages: z
    .array(z.unknown(), { error: 'messages must be an array of push bodies' })
    .check(
      z.minLength(1, 'messages must hold at least one push body'),
      z.maxLength(LIMITS.maxBatch, `messages may hold at most ${LIMITS.maxBatch} push bodies`),
    ),
});

export const roomMemberBody = z.strictObject({ userId });

export const pageQuery = z.object({
  limit: z._default(
    z.pipe(
      z.pipe(
        z
          .string({ error: 'limit must be a whole number from 1 to 1000' })
          .check(z.regex(/^[0-9]{1,4}$/, 'limit must be a whole number from 1 to 1000, in decimal digits')),
        z.transform((text: string) => Number(text)),
      ),
      z.number().check(z.gte(1, 'limit must be at least 1'), z.lte(1000, 'limit must be at most 1000')),
    ),
    100,
  ),
  nextToken: z.optional(z.string().check(z.maxLength(2048, 'nextToken is too long'))),
});

/** Unknown fields named in one detail list at most. */
const MAX_UNKNOWN_FIELDS = 5;

/**
 * Turns zod issues into the contract's `details` list: unknown fields first,
 * each named (quoted and cut, never echoed in full), then the other problems.
 */
export function toDetails(error: z.core.$ZodError): ErrorDetail[] {
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
export function validate<S extends z.ZodMiniType>(schema: S, input: unknown, what: string): z.output<S> {
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
