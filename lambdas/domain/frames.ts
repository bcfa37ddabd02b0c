import type { ErrorCode } from './constants.js';

/** Frames the server sends to clients. Each is serialized once and posted as one text frame. */
export interface MessageFrame {
  type: 'message';
  room?: string;
  event: string;
  data: unknown;
  from?: string;
  messageId: string;
  ts: number;
}

export interface AckFrame {
  type: 'ack';
  id?: string;
  ok: true;
  messageId?: string;
  ts?: number;
}

export interface PongFrame {
  type: 'pong';
  id?: string;
  ts: number;
}

export interface ErrorFrame {
  type: 'error';
  id?: string;
  code: ErrorCode;
  message: string;
}

export type ServerFrame = MessageFrame | AckFrame | PongFrame | ErrorFrame;

export function messageFrame(fields: Omit<MessageFrame, 'type'>): MessageFrame {
  return {
    type: 'message',
    ...(fields.room === undefined ? {} : { room: fields.room }),
    event: fields.event,
    data: fields.data,
    ...(fields.from === undefined ? {} : { from: fields.from }),
    messageId: fields.messageId,
    ts: fields.ts,
  };
}

export function ackFrame(id: string | undefined, extra?: { messageId: string; ts: number }): AckFrame {
  return { type: 'ack', ...(id === undefined ? {} : { id }), ok: true, ...extra };
}

export function pongFrame(id: string | undefined, ts: number): PongFrame {
  return { type: 'pong', ...(id === undefined ? {} : { id }), ts };
}

export function errorFrame(id: string | undefined, code: ErrorCode, message: string): ErrorFrame {
  return { type: 'error', ...(id === undefined ? {} : { id }), code, message };
}
