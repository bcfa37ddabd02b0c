import type { ErrorCode } from './constants.js';

export interface ErrorDetail {
  path: string;
  message: string;
}

/**
 * An error whose message is meant for the client or backend that caused it.
 * Only the handler wrapper turns these into error frames or HTTP bodies.
 */
export class RoomcastError extends Error {
  readonly code: ErrorCode;
  readonly details: ErrorDetail[] | undefined;

  constructor(code: ErrorCode, message: string, options?: { details?: ErrorDetail[]; cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'RoomcastError';
    this.code = code;
    this.details = options?.details;
  }
}

export class ValidationError extends RoomcastError {
  constructor(message: string, details?: ErrorDetail[]) {
    super('VALIDATION_ERROR', message, details ? { details } : undefined);
    this.name = 'ValidationError';
  }
}

export class UnknownActionError extends RoomcastError {
  constructor(message: string) {
    super('UNKNOWN_ACTION', message);
    this.name = 'UnknownActionError';
  }
}

export class UnauthorizedError extends RoomcastError {
  constructor(message: string, cause?: unknown) {
    super('UNAUTHORIZED', message, { cause });
    this.name = 'UnauthorizedError';
  }
}

export class ForbiddenError extends RoomcastError {
  constructor(message: string) {
    super('FORBIDDEN', message);
    this.name = 'ForbiddenError';
  }
}

export class NotFoundError extends RoomcastError {
  constructor(message: string) {
    super('NOT_FOUND', message);
    this.name = 'NotFoundError';
  }
}

export class PayloadTooLargeError extends RoomcastError {
  constructor(message: string) {
    super('PAYLOAD_TOO_LARGE', message);
    this.name = 'PayloadTooLargeError';
  }
}

export class RateLimitedError extends RoomcastError {
  constructor(
    message: string,
    /** How long the client should wait before the next frame of this kind. */
    readonly retryAfterMs: number,
  ) {
    super('RATE_LIMITED', message);
    this.name = 'RateLimitedError';
  }
}

export class ConflictError extends RoomcastError {
  constructor(message: string) {
    super('CONFLICT', message);
    this.name = 'ConflictError';
  }
}

/** A fault on our side whose message is still fit for the client (e.g. an event the backends did not accept). */
export class InternalError extends RoomcastError {
  constructor(message: string, cause?: unknown) {
    super('INTERNAL', message, { cause });
    this.name = 'InternalError';
  }
}

/**
 * A dependency the request needs is unavailable right now (the fan-out queue): the
 * push API answers 503, a client frame INTERNAL; retrying later is the remedy.
 */
export class UnavailableError extends RoomcastError {
  readonly status = 503;
  constructor(message: string, cause?: unknown) {
    super('INTERNAL', message, { cause });
    this.name = 'UnavailableError';
  }
}
