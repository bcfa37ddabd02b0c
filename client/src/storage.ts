/** Where the client keeps the last `seq` of each stream; `localStorage` has this shape. */
export interface PositionStorage {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
}

/**
 * Positions kept for one user: the user stream's and each room's last delivered `seq`. A Map, so
 * that any room name is just a name (`constructor`, `__proto__` are valid room names, and a plain
 * object would answer them from its prototype).
 */
export interface Positions {
  user?: number;
  rooms: Map<string, number>;
}

export function memoryStorage(): PositionStorage {
  const items = new Map<string, string>();
  return {
    getItem: (key) => items.get(key) ?? null,
    setItem: (key, value) => void items.set(key, value),
  };
}

/** `localStorage` when the page has one, memory elsewhere. */
export function defaultStorage(): PositionStorage {
  try {
    const local = (globalThis as { localStorage?: PositionStorage }).localStorage;
    if (local) return local;
  } catch {
    // Access to localStorage can throw (blocked third-party storage).
  }
  return memoryStorage();
}

const isSeq = (value: unknown): value is number => Number.isSafeInteger(value) && (value as number) >= 0;

/** What `storage` keeps under `key`; a damaged entry, or a damaged value in it, starts over. */
export function loadPositions(storage: PositionStorage, key: string): Positions {
  const positions: Positions = { rooms: new Map() };
  try {
    const parsed = JSON.parse(storage.getItem(key) ?? 'null') as { user?: unknown; rooms?: unknown } | null;
    if (!parsed || typeof parsed !== 'object') return positions;
    if (isSeq(parsed.user)) positions.user = parsed.user;
    if (parsed.rooms && typeof parsed.rooms === 'object') {
      for (const [room, seq] of Object.entries(parsed.rooms)) if (isSeq(seq)) positions.rooms.set(room, seq);
    }
  } catch {
    // A damaged entry starts over.
  }
  return positions;
}

/** Keeps positions under `key`, as `loadPositions` reads them; false when the storage refuses (full, or blocked). */
export function savePositions(storage: PositionStorage, key: string, positions: Positions): boolean {
  try {
    // Object.fromEntries defines each room as an own property, whatever its name.
    storage.setItem(
      key,
      JSON.stringify({ user: positions.user, rooms: Object.fromEntries(positions.rooms) }),
    );
    return true;
  } catch {
    return false;
  }
}
