/**
 * How many posts to `@connections` may be in flight at once, adapted to throttling the way TCP
 * adapts its window: additive increase, multiplicative decrease. Every `limit` posts that complete
 * close a round; when more than `throttledShare` of a round's posts were throttled (429), the limit
 * halves, and any other round raises it by one, up to `max`. A share, not any 429: API Gateway also
 * answers 429 to a post for one connection whose client-side buffer is full, which says nothing
 * about the endpoint. Posts that started before the last decrease are not counted in the rounds
 * after it (their 429s are the ones the decrease answered), so one storm halves the limit once.
 *
 * A post that was throttled leaves the gate while it waits to be retried and queues again: a
 * throttled endpoint sees fewer posts at once, not the same number retried.
 */
export class ThrottleGate {
  private limit: number;
  private inFlight = 0;
  /** Waiting posts, first come first served (`head` is the next one). */
  private waiting: Array<(ticket: number) => void> = [];
  private head = 0;
  /** Raised at each decrease; a post carries the epoch it started in. */
  private epoch = 0;
  private roundPosts = 0;
  private roundThrottled = 0;

  constructor(
    private readonly max: number,
    private readonly throttledShare = 0.1,
  ) {
    this.limit = Math.max(1, Math.floor(max));
  }

  /** The current limit. */
  get current(): number {
    return this.limit;
  }

  /**
   * A ticket for a post that may start now, or a promise of one once a post ahead of it has left.
   * No promise on the common path: the fan-out's cost per post stays what it was.
   */
  enter(): number | Promise<number> {
    if (this.inFlight < this.limit && this.head === this.waiting.length) {
      this.inFlight += 1;
      return this.epoch;
    }
    return new Promise<number>((resolve) => {
      this.waiting.push(resolve);
    });
  }

  /** The post holding `ticket` is done; `throttled` when its endpoint answered 429. */
  leave(ticket: number, throttled: boolean): void {
    this.inFlight -= 1;
    if (ticket === this.epoch) this.count(throttled);
    while (this.inFlight < this.limit && this.head < this.waiting.length) {
      const next = this.waiting[this.head] as (ticket: number) => void;
      this.head += 1;
      this.inFlight += 1;
      next(this.epoch);
    }
    if (this.head === this.waiting.length) {
      this.waiting = [];
      this.head = 0;
    }
  }

  private count(throttled: boolean): void {
    this.roundPosts += 1;
    if (throttled) this.roundThrottled += 1;
    if (this.roundPosts < this.limit) return;
    if (this.roundThrottled > this.roundPosts * this.throttledShare) {
      this.limit = Math.max(1, Math.floor(this.limit / 2));
      this.epoch += 1;
    } else if (this.limit < this.max) {
      this.limit += 1;
    }
    this.roundPosts = 0;
    this.roundThrottled = 0;
  }
}
