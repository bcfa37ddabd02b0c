import { SignJWT } from 'jose';
import WebSocket from 'ws';

/**
 * One delivery being waited for: every member of the room must receive the
 * frame whose text carries `marker` exactly once.
 */
interface Expectation {
  marker: string;
  expected: number;
  received: number;
  duplicates: number;
  done: () => void;
}

/** A real WebSocket client that only counts the frames the benchmark is waiting for. */
export interface BenchClient {
  readonly ws: WebSocket;
  readonly userId: string;
  /** The last marker this client counted, to spot a frame delivered twice. */
  lastMarker: string;
}

/**
 * The benchmark's clients, all in this process. A frame is recognized by a
 * marker string in its text; matching on a substring keeps the client's own
 * cost per frame small and equal for both measured paths.
 */
export class ClientPool {
  readonly clients: BenchClient[] = [];
  private current: Expectation | undefined;
  private readonly secret: Uint8Array;
  private sequence = 0;

  constructor(
    private readonly url: string,
    jwtSecret: string,
  ) {
    this.secret = new TextEncoder().encode(jwtSecret);
  }

  /** Opens clients until there are `count`, `parallel` handshakes at a time. */
  async grow(count: number, parallel: number, onProgress?: (open: number) => void): Promise<void> {
    while (this.clients.length < count) {
      const batch = Math.min(parallel, count - this.clients.length);
      const opened = await Promise.all(Array.from({ length: batch }, () => this.open()));
      this.clients.push(...opened);
      onProgress?.(this.clients.length);
    }
  }

  /** `count` clients from the `from`th join `room`, each waiting for its ack; `parallel` joins at a time. */
  async join(room: string, count: number, parallel: number, from = 0): Promise<void> {
    const members = this.clients.slice(from, from + count);
    for (let i = 0; i < members.length; i += parallel) {
      await Promise.all(members.slice(i, i + parallel).map((c, j) => this.request(c, room, `j${i + j}`)));
    }
  }

  /** Resolves once `expected` clients have received a frame carrying `marker`. */
  expect(marker: string, expected: number, timeoutMs: number): Promise<{ duplicates: number }> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        const got = this.current?.received ?? 0;
        this.current = undefined;
        reject(new Error(`only ${got} of ${expected} clients got frame ${marker} within ${timeoutMs} ms`));
      }, timeoutMs);
      const expectation: Expectation = {
        marker,
        expected,
        received: 0,
        duplicates: 0,
        done: () => {
          clearTimeout(timer);
          this.current = undefined;
          resolve({ duplicates: expectation.duplicates });
        },
      };
      this.current = expectation;
    });
  }

  /** Drops every client's socket at once, without a closing handshake. */
  terminateAll(): void {
    for (const c of this.clients) c.ws.terminate();
  }

  private async open(): Promise<BenchClient> {
    this.sequence += 1;
    const userId = `bench-user-${this.sequence}`;
    const token = await new SignJWT({})
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setSubject(userId)
      .setIssuedAt()
      .setExpirationTime('2h')
      .sign(this.secret);
    const ws = new WebSocket(`${this.url}?token=${token}`, { perMessageDeflate: false });
    const client: BenchClient = { ws, userId, lastMarker: '' };
    ws.on('message', (data: WebSocket.RawData) => this.onFrame(client, data));
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('unexpected-response', (_req, res) => {
        res.resume();
        reject(new Error(`handshake refused with HTTP ${res.statusCode}`));
      });
      ws.once('error', reject);
    });
    return client;
  }

  private request(client: BenchClient, room: string, id: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const onFrame = (data: WebSocket.RawData) => {
        const frame = JSON.parse(data.toString()) as { type?: string; id?: string; code?: string };
        if (frame.id !== id) return;
        client.ws.off('message', onFrame);
        if (frame.type === 'ack') resolve();
        else reject(new Error(`join ${room} answered ${frame.type} ${frame.code ?? ''}`));
      };
      client.ws.on('message', onFrame);
      client.ws.send(JSON.stringify({ action: 'join', room, id }));
    });
  }

  private onFrame(client: BenchClient, data: WebSocket.RawData): void {
    const current = this.current;
    if (!current) return;
    const text = data.toString();
    if (!text.includes(current.marker)) return;
    if (client.lastMarker === current.marker) {
      current.duplicates += 1;
      return;
    }
    client.lastMarker = current.marker;
    current.received += 1;
    if (current.received === current.expected) current.done();
  }
}
