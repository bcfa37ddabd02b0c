/**
 * Holds one request at a time for a test: `hold(match)` arms the gate for the next request that
 * matches; the code that sends requests asks `stop(request)`, which returns a promise to wait on
 * when it is that request (the gate is then disarmed). The test awaits `reached`, does what must
 * happen meanwhile, then calls `release`.
 */
export function requestGate<T>() {
  let armed: { match: (request: T) => boolean; arrived: () => void; released: Promise<void> } | undefined;
  return {
    hold(match: (request: T) => boolean): { reached: Promise<void>; release: () => void } {
      let release!: () => void;
      let arrived!: () => void;
      const released = new Promise<void>((resolve) => {
        release = resolve;
      });
      const reached = new Promise<void>((resolve) => {
        arrived = resolve;
      });
      armed = { match, arrived, released };
      return { reached, release };
    },
    stop(request: T): Promise<void> | undefined {
      if (!armed?.match(request)) return undefined;
      const { arrived, released } = armed;
      armed = undefined;
      arrived();
      return released;
    },
  };
}
