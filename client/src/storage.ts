/** Where the client keeps the last `seq` of each stream; `localStorage` has this shape. */
export interface PositionStorage {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
}

/** Positions kept for one user: the user stream's and each room's last delivered `seq`. */
export interface Positions {
  user?: number;
  rooms: Record<string, number>;
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

export function loadPositions(storage: PositionStorage, key: string): Positions {
  try {
    const parsed = JSON.parse(storage.getItem(key) ?? 'null') as Positions | null;
    if (parsed && typeof parsed === 'object' && parsed.rooms && typeof parsed.rooms === 'object')
      return parsed;
  } catch {
    // A damaged entry starts over.
  }
  return { rooms: {} };
}
