import type { ErrorCode } from './constants.js';

/** Frames the server sends to clients. Each is serialized once and posted as one text frame. */
export interface MessageFrame {
  type: 'message';
  room?: string;
  /** The message's place in its stream; absent when it was not stored. */
  seq?: number;
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
  seq?: number;
  /** A repeat of an idempotent request: the first answer, not delivered again. */
  replayed?: true;
  /** `resume`: each room's position, or why it was refused. */
  rooms?: Record<string, StreamPosition | { error: ErrorCode }>;
  user?: StreamPosition | { error: ErrorCode };
}

export interface StreamPosition {
  seq: number;
  recovered: boolean;
}

export interface HistoryFrame {
  type: 'history';
  id?: string;
  room: string;
  /** Message frames, in ascending seq. */
  messages: unknown[];
  /** The room's latest seq. */
  seq: number;
  more: boolean;
}

export interface PongFrame {
  type: 'pong';
  id?: string;
  ts: number;
  /** The connection's own id (backends use it for `exceptConnectionId`). */
  connectionId: string;
  userId: string;
}

/** Tells a connection that a backend joined it to a room or removed it from one. */
export interface RoomFrame {
  type: 'room';
  event: 'joined' | 'left';
  room: string;
  by: 'server';
}

export interface ErrorFrame {
  type: 'error';
  id?: string;
  code: ErrorCode;
  message: string;
  /** With RATE_LIMITED: how long to wait before trying again. */
  retryAfterMs?: number;
}

/** The answer to a `presence` frame (CONTRACT section 7). */
export interface PresenceAnswerFrame {
  type: 'presence';
  id?: string;
  room: string;
  count: number;
  users: { userId: string; connections: number }[];
}

/** A presence room's announcement: a user's first connection joined, or its last one left (not stored). */
export interface PresenceEventFrame {
  type: 'presence';
  room: string;
  event: 'join' | 'leave';
  userId: string;
}

export type ServerFrame =
  | MessageFrame
  | AckFrame
  | PongFrame
  | ErrorFrame
  | RoomFrame
  | HistoryFrame
  | PresenceAnswerFrame;

export function messageFrame(fields: Omit<MessageFrame, 'type'>): MessageFrame {
  return {
    type: 'message',
    ...(fields.room === undefined ? {} : { room: fields.room }),
    ...(fields.seq === undefined ? {} : { seq: fields.seq }),
    event: fields.event,
    data: fields.data,
    ...(fields.from === undefined ? {} : { from: fields.from }),
    messageId: fields.messageId,
    ts: fields.ts,
  };
}

export function ackFrame(id: string | undefined, extra?: Omit<AckFrame, 'type' | 'id' | 'ok'>): AckFrame {
  return { type: 'ack', ...(id === undefined ? {} : { id }), ok: true, ...extra };
}

export function pongFrame(
  id: string | undefined,
  ts: number,
  caller: { connectionId: string; userId: string },
): PongFrame {
  return {
    type: 'pong',
    ...(id === undefined ? {} : { id }),
    ts,
    connectionId: caller.connectionId,
    userId: caller.userId,
  };
}

export function roomFrame(event: RoomFrame['event'], room: string): RoomFrame {
  return { type: 'room', event, room, by: 'server' };
}

export function errorFrame(
  id: string | undefined,
  code: ErrorCode,
  message: string,
  retryAfterMs?: number,
): ErrorFrame {
  return {
    type: 'error',
    ...(id === undefined ? {} : { id }),
    code,
    message,
    ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
  };
}
