// biome-ignore lint/suspicious/noExplicitAny: handlers of any signature
type Handler = (...args: any[]) => void;

/** A minimal event emitter; a handler that throws does not stop the others (its error is rethrown asynchronously). */
export class Emitter {
  private readonly handlers = new Map<string, Set<Handler>>();

  on(name: string, handler: Handler): () => void {
    const set = this.handlers.get(name) ?? new Set<Handler>();
    this.handlers.set(name, set);
    set.add(handler);
    return () => void set.delete(handler);
  }

  emit(name: string, ...args: unknown[]): void {
    for (const handler of this.handlers.get(name) ?? []) {
      try {
        handler(...args);
      } catch (error) {
        queueMicrotask(() => {
          throw error;
        });
      }
    }
  }
}
