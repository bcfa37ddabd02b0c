/**
 * Stored delivery figures (issue 7), run by `npm run bench` unless `--no-streams`:
 * - send + ack in a room of `size` members, stored (history on) against `store: false`
 *   (history off), alternated round by round in one stack, as a ratio of medians;
 * - `resume` of a client that missed 200 messages, until its ack (after the replay);
 * - seq allocation by 20 concurrent publishers to one stream: messages/s and
 *   conflicting puts retried per message, straight against the store adapter.
 */
import type WebSocket from 'ws';
import { DynamoStreamStore } from '../lambdas/adapters/dynamo-streams.js';
import { createDocumentClient } from '../lambdas/runtime.js';
import { startLocalStack } from '../local/stack.js';
import { ClientPool } from './clients.js';
import { median, medianRange } from './summary.js';

const spread = (values: number[], digits = 1) => medianRange(values, digits);

/** Sends one frame on a socket and resolves with the answer carrying its id. */
function request(ws: WebSocket, frame: Record<string, unknown>): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no answer to ${String(frame.id)}`)), 60_000);
    const onMessage = (data: WebSocket.RawData) => {
      const answer = JSON.parse(data.toString()) as Record<string, unknown>;
      if (answer.id !== frame.id) return;
      clearTimeout(timer);
      ws.off('message', onMessage);
      if (answer.type === 'error') reject(new Error(`${String(answer.code)}: ${String(answer.message)}`));
      else resolve(answer);
    };
    ws.on('message', onMessage);
    ws.send(JSON.stringify(frame));
  });
}

export async function streamsBench(options: { size: number; rounds: number }): Promise<void> {
  process.env.POWERTOOLS_METRICS_DISABLED = 'true';
  const stack = await startLocalStack({ port: 0, logLevel: 'ERROR', sweepIntervalMs: 0 });
  const pool = new ClientPool(stack.urls.websocket, stack.env.JWT_SECRET ?? '');
  const auth = `Bearer ${(stack.env.PUSH_API_KEYS ?? '').split(',')[0] ?? ''}`;
  try {
    // 1. send + ack, stored vs not stored, in one room of `size` members.
    const room = 'bench-streams';
    await pool.grow(options.size, 100);
    await pool.join(room, options.size, 100);
    const sender = pool.clients[0]?.ws;
    if (!sender) throw new Error('no sender');
    const stored: number[] = [];
    const live: number[] = [];
    for (let round = 0; round <= options.rounds; round += 1) {
      const order = round % 2 === 0 ? [true, false] : [false, true];
      for (const store of order) {
        const started = performance.now();
        await request(sender, {
          action: 'send',
          id: `b${round}${store}`,
          room,
          event: 'b',
          data: { round },
          store,
        });
        const ms = performance.now() - started;
        if (round > 0) (store ? stored : live).push(ms);
      }
    }
    console.log(
      `\nstored delivery: send until ack in a ${options.size}-member room, median (range) of ${options.rounds} rounds` +
        `\n  history on  ${spread(stored)} ms\n  history off ${spread(live)} ms (store: false)` +
        `\n  ratio       ${(median(stored) / median(live)).toFixed(3)} (goal <= 1.15)`,
    );

    // 2. resume after missing 200 messages.
    const resumeMs: number[] = [];
    for (let round = 0; round <= options.rounds; round += 1) {
      const missed = `bench-resume-${round}`;
      const batch = (from: number) =>
        Array.from({ length: 25 }, (_, i) => ({ room: missed, event: 'm', data: { i: from + i } }));
      for (let from = 0; from < 200; from += 25) {
        const res = await fetch(`${stack.urls.http}/push/batch`, {
          method: 'POST',
          headers: { authorization: auth, 'content-type': 'application/json' },
          body: JSON.stringify({ messages: batch(from) }),
        });
        if (!res.ok) throw new Error(`batch answered ${res.status}`);
      }
      const client = pool.clients[1 + round]?.ws;
      if (!client) throw new Error('not enough clients for the resume rounds');
      let replayed = 0;
      const count = (data: WebSocket.RawData) => {
        if ((JSON.parse(data.toString()) as { room?: string }).room === missed) replayed += 1;
      };
      client.on('message', count);
      const started = performance.now();
      const ack = await request(client, { action: 'resume', id: `resume-${round}`, rooms: { [missed]: 0 } });
      const ms = performance.now() - started;
      client.off('message', count);
      if (replayed !== 200 || !JSON.stringify(ack).includes('"recovered":true')) {
        throw new Error(`resume replayed ${replayed}: ${JSON.stringify(ack)}`);
      }
      if (round > 0) resumeMs.push(ms);
    }
    console.log(`resume of 200 missed messages, until the ack: ${spread(resumeMs)} ms`);

    // 3. seq allocation: 20 concurrent publishers to one stream, through the adapter.
    const streams = new DynamoStreamStore(
      createDocumentClient({
        region: stack.env.AWS_REGION ?? 'us-east-1',
        dynamoEndpoint: stack.dynamoEndpoint,
      }),
      stack.tableName,
      { now: () => Date.now() },
    );
    const rates: number[] = [];
    const conflictRates: number[] = [];
    const perPublisher = 25;
    for (let round = 0; round <= options.rounds; round += 1) {
      const stream = { kind: 'room' as const, name: `bench-seq-${round}` };
      let conflicts = 0;
      const seqs: number[] = [];
      const started = performance.now();
      await Promise.all(
        Array.from({ length: 20 }, async () => {
          for (let i = 0; i < perPublisher; i += 1) {
            const out = await streams.append(stream, (seq) => `{"seq":${seq}}`, 2_000_000_000);
            await streams.advance(stream, out.seq);
            conflicts += out.conflicts;
            seqs.push(out.seq);
          }
        }),
      );
      const seconds = (performance.now() - started) / 1000;
      const total = 20 * perPublisher;
      const sorted = seqs.sort((a, b) => a - b);
      if (sorted.some((seq, i) => seq !== i + 1))
        throw new Error('seq allocation left a hole or a duplicate');
      if (round > 0) {
        rates.push(total / seconds);
        conflictRates.push(conflicts / total);
      }
    }
    console.log(
      `seq allocation, 20 concurrent publishers x ${perPublisher} messages to one stream: ` +
        `${spread(rates, 0)} messages/s, ${spread(conflictRates, 2)} conflicts retried per message`,
    );
  } finally {
    // As in the fan-out bench: no orderly teardown of a thousand sockets; the process exits after main().
    pool.terminateAll();
  }
}
