import type { LogItem } from '@aws-lambda-powertools/logger';
import { Logger } from '@aws-lambda-powertools/logger';

type LoggerOptions = ConstructorParameters<typeof Logger>[0];

export interface LogLine {
  /** Increasing number, so a live feed can send only what is new. */
  seq: number;
  /** The JSON object Powertools printed (level, message, timestamp, handler, ...). */
  attributes: Record<string, unknown>;
}

/** The last `capacity` log lines, oldest first; a fixed array, nothing is copied on push. */
export class LogRing {
  private readonly lines: (LogLine | undefined)[];
  private seq = 0;

  constructor(readonly capacity = 1000) {
    this.lines = new Array(capacity);
  }

  push(attributes: Record<string, unknown>): void {
    this.seq += 1;
    this.lines[this.seq % this.capacity] = { seq: this.seq, attributes };
  }

  get lastSeq(): number {
    return this.seq;
  }

  /** Lines with `seq > after`, oldest first. */
  since(after = 0): LogLine[] {
    const out: LogLine[] = [];
    const first = Math.max(after + 1, this.seq - this.capacity + 1, 1);
    for (let seq = first; seq <= this.seq; seq++) {
      const line = this.lines[seq % this.capacity];
      if (line) out.push(line);
    }
    return out;
  }
}

/**
 * A Powertools Logger that also keeps each line it prints in a `LogRing`
 * (Powertools' documented extension points: `printLog` and `createLogger`, so
 * the handlers' child loggers capture too). The line still goes to stdout.
 */
export class CapturingLogger extends Logger {
  constructor(
    private readonly ring: LogRing,
    options?: LoggerOptions,
  ) {
    super(options);
  }

  protected override createLogger(options?: LoggerOptions): Logger {
    return new CapturingLogger(this.ring, options);
  }

  protected override printLog(logLevel: number, log: LogItem): void {
    // Logger's own constructor may log (a bad option) before `ring` is assigned.
    (this.ring as LogRing | undefined)?.push(log.getAttributes() as Record<string, unknown>);
    super.printLog(logLevel, log);
  }
}
