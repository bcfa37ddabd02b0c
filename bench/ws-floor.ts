import type { AddressInfo } from 'node:net';
import WebSocket, { WebSocketServer } from 'ws';
import { ClientPool } from './clients.js';

/**
 * The other floor: a bare `ws` server broadcasting one frame to every client it
 * holds, in this same process, with the same client pool. This is what a
 * Socket.IO-style server costs per delivery, with no API Gateway hop at all.
 */
export class WsBroadcastFloor {
  private readonly server: WebSocketServer;
  private pool: ClientPool | undefined;

  private constructor(server: WebSocketServer) {
    this.server = server;
  }

  static async start(): Promise<WsBroadcastFloor> {
    const server = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: false });
    await new Promise<void>((resolve) => server.once('listening', () => resolve()));
    return new WsBroadcastFloor(server);
  }

  /** Opens clients until the server holds `count`. */
  async grow(count: number): Promise<void> {
    const { port } = this.server.address() as AddressInfo;
    this.pool ??= new ClientPool(`ws://127.0.0.1:${port}/`, 'unused');
    await this.pool.grow(count, 100);
  }

  /** Sends one frame to `count` clients; resolves with the ms until every one has it. */
  async broadcast(count: number, marker: string): Promise<number> {
    if (!this.pool) throw new Error('grow the floor before broadcasting');
    const delivered = this.pool.expect(marker, count, 120_000);
    const started = performance.now();
    const frame = JSON.stringify({
      type: 'message',
      room: `bench-${count}`,
      event: 'bench',
      data: { marker },
      messageId: '01JD4Z3M8N6V0Q2W7E5R9T1Y3U',
      ts: Date.now(),
    });
    let sent = 0;
    for (const client of this.server.clients) {
      if (sent === count) break;
      if (client.readyState === WebSocket.OPEN) {
        client.send(frame);
        sent += 1;
      }
    }
    await delivered;
    return performance.now() - started;
  }

  close(): void {
    this.pool?.terminateAll();
    this.server.close();
  }
}
