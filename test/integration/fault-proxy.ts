import net from 'node:net';

/**
 * A fault-injecting TCP proxy for the counters' tests (lost answers, refused
 * connections), put in front of a DynamoDB endpoint (dynalite or DynamoDB Local):
 *
 * - `pass`: forwards both ways.
 * - `lose`: forwards every request, but drops the answer with probability
 *   `lossRate` (seeded, so a run is reproducible) and resets the client's socket:
 *   DynamoDB applied the write, the SDK sees ECONNRESET and retries it.
 * - `refuse`: resets every open socket and every new connection.
 * - `stall`: accepts connections and never answers: requests are swallowed,
 *   answers on connections already open stop (a hung store; only the
 *   client's timeouts end a call).
 */
export interface FaultProxy {
  /** `http://127.0.0.1:{port}`, to give the SDK as its endpoint. */
  url: string;
  mode: 'pass' | 'lose' | 'refuse' | 'stall';
  lossRate: number;
  /** Answers dropped so far. */
  readonly lost: number;
  /** Connections refused so far. */
  readonly refused: number;
  close(): Promise<void>;
}

export async function startFaultProxy(target: string, seed = 42): Promise<FaultProxy> {
  const upstream = new URL(target);
  const sockets = new Set<net.Socket>();
  let random = seed >>> 0;
  // mulberry32: a small seeded generator, so which answers are lost is the same every run.
  const next = () => {
    random = (random + 0x6d2b79f5) >>> 0;
    let t = random;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const state = { mode: 'pass' as FaultProxy['mode'], lossRate: 0.2, lost: 0, refused: 0 };
  const reset = (socket: net.Socket) => {
    if (!socket.destroyed) socket.resetAndDestroy();
  };

  const server = net.createServer((client) => {
    if (state.mode === 'refuse') {
      state.refused += 1;
      reset(client);
      return;
    }
    sockets.add(client);
    if (state.mode === 'stall') {
      client.on('error', () => client.destroy());
      client.on('close', () => sockets.delete(client));
      client.resume(); // swallow the request, answer nothing
      return;
    }
    const server = net.connect(Number(upstream.port), upstream.hostname);
    sockets.add(server);
    const forget = () => {
      sockets.delete(client);
      sockets.delete(server);
      reset(client);
      server.destroy();
    };
    client.on('error', forget);
    server.on('error', forget);
    client.on('close', forget);
    server.on('close', forget);
    client.on('data', (chunk) => {
      if (state.mode !== 'stall') server.write(chunk);
    });
    server.on('data', (chunk) => {
      if (state.mode === 'stall') return;
      if (state.mode === 'lose' && next() < state.lossRate) {
        state.lost += 1;
        forget();
        return;
      }
      client.write(chunk);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    get mode() {
      return state.mode;
    },
    set mode(mode) {
      state.mode = mode;
      if (mode === 'refuse') for (const socket of sockets) reset(socket);
    },
    get lossRate() {
      return state.lossRate;
    },
    set lossRate(rate) {
      state.lossRate = rate;
    },
    get lost() {
      return state.lost;
    },
    get refused() {
      return state.refused;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
