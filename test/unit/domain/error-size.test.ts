import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RoomcastError } from '../../../lambdas/domain/errors.js';
import { errorFrame } from '../../../lambdas/domain/frames.js';
import { boundedProblem } from '../../../lambdas/domain/input.js';
import { frameIdOf, parseClientFrame, pushBody, validate } from '../../../lambdas/domain/schemas.js';

const KIB = 1024;
const bytes = (value: unknown) => Buffer.byteLength(JSON.stringify(value), 'utf8');

function refusal(run: () => unknown): RoomcastError {
  try {
    run();
  } catch (error) {
    if (error instanceof RoomcastError) return error;
    throw error;
  }
  throw new Error('expected a refusal');
}

// Keys and values of any length and any characters: control characters, emoji, lone surrogates.
const hostileString = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 3000 }),
  fc.string({ unit: fc.constantFrom('\u0000', '€', '😀', '\ud800', '"', '\\'), maxLength: 3000 }),
);
const hostileObject = fc.dictionary(hostileString, fc.jsonValue({ maxDepth: 3 }), { maxKeys: 40 });
const clientId = fc.string({ unit: fc.constantFrom('\u0001', '€', 'a', '"'), maxLength: 64 });

describe('error size, whatever the input', () => {
  it('keeps every error frame for a client frame under 1 KiB', () => {
    fc.assert(
      fc.property(
        hostileObject,
        fc.constantFrom('join', 'leave', 'send', 'direct', 'ping', 'explode', 'x'.repeat(5000)),
        clientId,
        (fields, action, id) => {
          const text = JSON.stringify({ ...fields, action, id });
          let answer: RoomcastError;
          try {
            parseClientFrame(text, 10 * 1024 * 1024);
            return;
          } catch (error) {
            if (!(error instanceof RoomcastError)) throw error;
            answer = error;
          }
          const { message } = boundedProblem(answer.message, answer.details);
          expect(bytes(errorFrame(frameIdOf(text), answer.code, message, 12_345))).toBeLessThan(KIB);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('keeps every error body for a push under 1 KiB', () => {
    fc.assert(
      fc.property(hostileObject, (fields) => {
        const error = refusal(() => validate(pushBody, { ...fields, room: 7 }, 'push body'));
        const { message, details } = boundedProblem(error.message, error.details);
        const body = {
          error: {
            code: error.code,
            message,
            details,
            timestamp: '2026-12-03T06:53:09.272Z',
            requestId: '10e7c11b-443f-4de7-8a8c-9246b77cbac4',
          },
        };
        expect(bytes(body)).toBeLessThan(KIB);
      }),
      { numRuns: 300 },
    );
  });
});
