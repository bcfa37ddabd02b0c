export { Room, RoomcastClient } from './client.js';
export { RoomcastError, type RoomcastErrorCode } from './errors.js';
export { memoryStorage, type PositionStorage } from './storage.js';
export { backoffDelay, type Timers } from './timers.js';
export type * from './types.js';
