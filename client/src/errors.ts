/** Codes of the contract's error frames, plus the client's own TIMEOUT, CLOSED and STORAGE (on the 'error' event). */
export type RoomcastErrorCode =
  | 'VALIDATION_ERROR'
  | 'UNKNOWN_ACTION'
  | 'FORBIDDEN'
  | 'NOT_FOUND'
  | 'PAYLOAD_TOO_LARGE'
  | 'RATE_LIMITED'
  | 'CONFLICT'
  | 'INTERNAL'
  | 'TIMEOUT'
  | 'CLOSED'
  | 'STORAGE'
  | (string & {});

/** Why a request failed: `code` is the server's error code, or TIMEOUT (no answer in time) or CLOSED (`close()` was called). */
export class RoomcastError extends Error {
  override readonly name = 'RoomcastError';
  constructor(
    readonly code: RoomcastErrorCode,
    message: string,
    /** Set with RATE_LIMITED: how long to wait before trying again. */
    readonly retryAfterMs?: number,
  ) {
    super(message);
  }
}
