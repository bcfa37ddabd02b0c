/** Rooms whose name starts with this prefix need the token's `rooms` claim. */
export const PRIVATE_ROOM_PREFIX = 'private-';

export function isPrivateRoom(room: string): boolean {
  return room.startsWith(PRIVATE_ROOM_PREFIX);
}

/**
 * Whether a room may be joined under a token's `rooms` claim: open rooms always,
 * private rooms when the claim names them exactly or by a prefix ending in `*`.
 */
export function mayJoin(room: string, grants: readonly string[]): boolean {
  if (!isPrivateRoom(room)) return true;
  return grants.some((grant) => (grant.endsWith('*') ? room.startsWith(grant.slice(0, -1)) : grant === room));
}
