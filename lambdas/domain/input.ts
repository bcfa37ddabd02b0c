/**
 * Helpers for hostile input: quoting what a client sent into a message without
 * letting it grow the answer, and checking a JSON value's shape without recursion.
 */
import { LIMITS } from './constants.js';
import type { ErrorDetail } from './errors.js';

/** JSON deeper than this (in `data`) is refused. */
export const MAX_JSON_DEPTH = 64;
/** Longest piece of input quoted in an error message. */
export const MAX_QUOTED_CHARS = 48;
/** Longest error message, in characters and in serialized bytes: with `details` an error frame or body stays under 1 KiB. */
export const MAX_ERROR_MESSAGE_CHARS = 300;
const MAX_ERROR_MESSAGE_BYTES = 360;
/** Budget for the serialized `details` list of one error, in bytes. */
const MAX_DETAILS_BYTES = 360;

/** Cuts a string to `max` characters (not splitting a surrogate pair), marking the cut with "…". */
export function cut(text: string, max: number): string {
  if (text.length <= max) return text;
  let kept = text.slice(0, max - 1);
  if (/[\uD800-\uDBFF]$/.test(kept)) kept = kept.slice(0, -1);
  return `${kept}…`;
}

/**
 * The one way error messages quote a name taken from input: JSON-quoted (so
 * control characters cannot break a log line) and cut, with the full length
 * said when it was cut.
 */
export function quote(value: string, max = MAX_QUOTED_CHARS): string {
  if (value.length <= max) return JSON.stringify(value);
  return `${JSON.stringify(cut(value, max))} (${value.length} characters)`;
}

/**
 * Why a parsed JSON value may not be taken as `data`, or undefined when it is fine:
 * nesting deeper than `maxDepth`, or a number JSON.parse turned into ±Infinity
 * (such as `1e400`). Walks with an explicit stack, so no input can exhaust the call stack.
 */
export function jsonValueProblem(value: unknown, maxDepth = MAX_JSON_DEPTH): string | undefined {
  const stack: { value: unknown; depth: number }[] = [{ value, depth: 0 }];
  while (stack.length > 0) {
    const next = stack.pop() as { value: unknown; depth: number };
    const current = next.value;
    if (typeof current === 'number' && !Number.isFinite(current)) {
      return 'numbers must be finite (JSON numbers beyond ±1.8e308 are refused)';
    }
    if (typeof current !== 'object' || current === null) continue;
    const depth = next.depth + 1;
    if (depth > maxDepth) return `JSON is nested deeper than ${maxDepth} levels`;
    const children = Array.isArray(current) ? current : Object.values(current);
    for (const child of children) {
      if (typeof child === 'object' ? child !== null : typeof child === 'number') {
        stack.push({ value: child, depth });
      }
    }
  }
  return undefined;
}

/** The bytes a string takes inside serialized JSON (UTF-8, escapes included, quotes not). */
function jsonBytes(text: string): number {
  return Buffer.byteLength(JSON.stringify(text), 'utf8') - 2;
}

/** Cuts a string so that, serialized in JSON, it takes at most `maxBytes`, marking a cut with "…". */
export function fitBytes(text: string, maxBytes: number): string {
  if (jsonBytes(text) <= maxBytes) return text;
  let used = 3; // the "…"
  let kept = '';
  for (const char of text) {
    used += jsonBytes(char);
    if (used > maxBytes) break;
    kept += char;
  }
  return `${kept}…`;
}

/**
 * An error's message and details cut so that the frame or body carrying them
 * stays under 1 KiB, however many bytes the input's characters take.
 */
export function boundedProblem(
  message: string,
  details: ErrorDetail[] | undefined,
): { message: string; details: ErrorDetail[] | undefined } {
  const bounded = fitBytes(cut(message, MAX_ERROR_MESSAGE_CHARS), MAX_ERROR_MESSAGE_BYTES);
  if (!details) return { message: bounded, details };
  const kept: ErrorDetail[] = [];
  let size = 2;
  for (const detail of details) {
    const item = { path: fitBytes(detail.path, 64), message: fitBytes(detail.message, 160) };
    size += Buffer.byteLength(JSON.stringify(item), 'utf8') + 1;
    if (size > MAX_DETAILS_BYTES) break;
    kept.push(item);
  }
  return { message: bounded, details: kept };
}

/** The client's `id` of a frame, when it is a usable string, for echoing on errors. */
export function frameIdOf(text: string | null | undefined): string | undefined {
  if (!text) return undefined;
  try {
    const raw = JSON.parse(text) as unknown;
    if (typeof raw === 'object' && raw !== null && 'id' in raw) {
      const id = (raw as { id: unknown }).id;
      if (typeof id === 'string' && id.length <= LIMITS.maxClientIdLength) return id;
    }
  } catch {
    // not JSON: there is no id to echo
  }
  return undefined;
}

/** The UTF-8 size of a text, as the limits count it. */
export function byteLength(text: string): number {
  return Buffer.byteLength(text, 'utf8');
}
