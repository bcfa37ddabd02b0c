/**
 * One stream's position and reorder buffer. Frames with `seq` at or below the
 * position are repeats and dropped; a frame ahead of the next expected `seq` is
 * held until the gap before it is filled (live, by `history`, or by `resume`).
 */
export class StreamPosition<T> {
  private readonly held = new Map<number, T | undefined>();
  /** A seq at the position that may still arrive once (learn), until a later one does. */
  private late: number | undefined;

  constructor(
    /** The last delivered `seq`; undefined until the stream's position is known. */
    public position?: number,
  ) {}

  /** Takes one frame (or, with no frame, marks a seq as already seen) and returns what is now deliverable, in order. */
  take(seq: number, frame?: T): T[] {
    if (seq === this.late) {
      this.late = undefined;
      return frame === undefined ? [] : [frame];
    }
    if (this.late !== undefined && seq > this.late) this.late = undefined;
    if (this.position === undefined) this.position = seq - 1;
    if (seq <= this.position || this.held.has(seq)) return [];
    this.held.set(seq, frame);
    return this.drain();
  }

  /** Gives up on every seq before `seq` (they are gone) and returns what is now deliverable. */
  skipTo(seq: number): T[] {
    if (this.position === undefined || seq - 1 > this.position) this.position = seq - 1;
    for (const held of this.held.keys()) if (held <= this.position) this.held.delete(held);
    return this.drain();
  }

  /**
   * Learns where the stream is from a read (its latest seq) while a frame of that very seq may
   * still be on its way live: that one frame is delivered if it comes before any later one.
   */
  learn(latest: number): void {
    this.position = latest;
    this.late = latest;
  }

  /** Forgets the position and what is held (the server no longer has the stream this position is in). */
  reset(): void {
    this.position = undefined;
    this.late = undefined;
    this.held.clear();
  }

  /** The lowest held seq, when frames wait behind a gap. */
  get waiting(): number | undefined {
    let lowest: number | undefined;
    for (const seq of this.held.keys()) if (lowest === undefined || seq < lowest) lowest = seq;
    return lowest;
  }

  private drain(): T[] {
    const out: T[] = [];
    for (;;) {
      const next = (this.position ?? 0) + 1;
      if (!this.held.has(next)) return out;
      const frame = this.held.get(next);
      this.held.delete(next);
      this.position = next;
      if (frame !== undefined) out.push(frame);
    }
  }
}
