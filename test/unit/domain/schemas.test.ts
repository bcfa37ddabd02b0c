import { describe, expect, it } from 'vitest';
import { RoomcastError } from '../../../lambdas/domain/errors.js';
import { assertDataSize, parseClientFrame, pushBody, validate } from '../../../lambdas/domain/schemas.js';

const LIMIT = 128 * 1024;

function refusal(run: () => unknown): RoomcastError {
  try {
    run();
  } catch (error) {
    if (error instanceof RoomcastError) return error;
    throw error;
  }
  throw new Error('expected a refusal');
}

describe('parseClientFrame', () => {
  it('parses every action with its fields and defaults data to null', () => {
    expect(parseClientFrame('{"action":"join","room":"lobby","id":"1"}', LIMIT)).toEqual({
      action: 'join',
      room: 'lobby',
      id: '1',
    });
    expect(parseClientFrame('{"action":"send","room":"a.b:c-d_e","event":"chat"}', LIMIT)).toEqual({
      action: 'send',
      room: 'a.b:c-d_e',
      event: 'chat',
      data: null,
    });
    expect(
      parseClientFrame('{"action":"direct","userId":"bob","event":"e","data":[1]}', LIMIT),
    ).toMatchObject({ data: [1] });
    expect(parseClientFrame('{"action":"ping"}', LIMIT)).toEqual({ action: 'ping' });
  });

  it.each([
    ['', 'VALIDATION_ERROR', 'frame is empty'],
    ['{', 'VALIDATION_ERROR', 'not valid JSON'],
    ['"join"', 'VALIDATION_ERROR', 'JSON object'],
    ['{"action":1}', 'VALIDATION_ERROR', 'no "action"'],
    [
      '{"action":"teleport"}',
      'UNKNOWN_ACTION',
      'use one of join, leave, send, direct, ping, resume, history',
    ],
    [`{"action":"join","room":"${'r'.repeat(129)}"}`, 'VALIDATION_ERROR', 'room must be 1-128 characters'],
    [`{"action":"send","room":"r","event":"${'e'.repeat(65)}"}`, 'VALIDATION_ERROR', 'event must be 1-64'],
    ['{"action":"direct","userId":"","event":"e"}', 'VALIDATION_ERROR', 'userId must not be empty'],
    ['{"action":"ping","id":7}', 'VALIDATION_ERROR', 'id must be a string'],
  ])('refuses %s with %s', (text, code, words) => {
    const error = refusal(() => parseClientFrame(text, LIMIT));
    expect(error.code).toBe(code);
    expect(error.message).toContain(words);
  });

  it('refuses a frame over the message limit before parsing it', () => {
    const error = refusal(() => parseClientFrame(`{"action":"ping","x":"${'a'.repeat(200)}"}`, 100));
    expect(error.code).toBe('PAYLOAD_TOO_LARGE');
  });

  it('names the failing field in details', () => {
    const error = refusal(() => parseClientFrame('{"action":"join","room":"bad room"}', LIMIT));
    expect(error.details).toEqual([{ path: 'room', message: expect.stringContaining('room must be') }]);
  });
});

describe('push body', () => {
  it.each([
    [{ userId: 'u', event: 'e' }],
    [{ room: 'r', event: 'e', data: 1 }],
    [{ connectionId: 'abc=', event: 'e', exceptConnectionId: 'def=' }],
    [{ broadcast: true, event: 'e', data: { deep: [1] } }],
  ])('accepts exactly one target: %j', (body) => {
    expect(validate(pushBody, body, 'push body')).toMatchObject(body);
  });

  it.each([
    [{ event: 'e' }],
    [{ userId: 'u', room: 'r', event: 'e' }],
    [{ broadcast: true, connectionId: 'a', event: 'e' }],
  ])('refuses %j', (body) => {
    expect(refusal(() => validate(pushBody, body, 'push body')).message).toContain(
      'exactly one of userId, room, connectionId, broadcast is required',
    );
  });

  it.each([
    [[], 'array'],
    ['text', 'string'],
    [null, 'null'],
  ])("says what a body that is not an object is, in zod's English: %j", (body, kind) => {
    // zod/mini has no messages of its own; lambdas/domain/zod.ts installs these.
    expect(refusal(() => validate(pushBody, body, 'push body')).message).toBe(
      `invalid push body: Invalid input: expected object, received ${kind}`,
    );
  });
});

describe('assertDataSize', () => {
  it('measures serialized UTF-8 bytes', () => {
    expect(() => assertDataSize('é'.repeat(10), 22)).not.toThrow();
    expect(refusal(() => assertDataSize('é'.repeat(10), 21)).code).toBe('PAYLOAD_TOO_LARGE');
  });
});
