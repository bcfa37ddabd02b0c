/**
 * Client CPU of one PostToConnection: the SDK client's command against the lean
 * poster (same request, signed by the SDK's own SignatureV4), side by side in
 * one run. The endpoint runs in a child process so that this process's CPU time
 * is the client's alone.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import {
  type ApiGatewayManagementApiClient,
  PostToConnectionCommand,
} from '@aws-sdk/client-apigatewaymanagementapi';
import { createManagementClient } from '../lambdas/adapters/gateway.js';
import { createLeanPoster, type PostToConnection } from '../lambdas/adapters/lean-poster.js';

const ENDPOINT_SCRIPT = `
const http = require('node:http');
const server = http.createServer((req, res) => { req.resume(); req.on('end', () => res.writeHead(200).end()); });
server.keepAliveTimeout = 60000;
server.listen(0, '127.0.0.1', () => process.send(server.address().port));
`;

export interface PosterFigures {
  sdkMicros: number[];
  leanMicros: number[];
}

async function postMany(post: PostToConnection, count: number, concurrency: number): Promise<number> {
  const payload = JSON.stringify({ type: 'message', room: 'bench', event: 'bench', data: { n: 1 } });
  let next = 0;
  const before = process.cpuUsage();
  const worker = async () => {
    while (next < count) {
      next += 1;
      await post(`conn${next}AbCdEf=`, payload);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const used = process.cpuUsage(before);
  return (used.user + used.system) / count;
}

/** Median and range of client CPU µs per post for each way, over `rounds` alternating rounds. */
export async function measurePosters(rounds = 5, count = 2000, concurrency = 64): Promise<PosterFigures> {
  const server: ChildProcess = spawn(process.execPath, ['-e', ENDPOINT_SCRIPT], {
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  const port = await new Promise<number>((resolve) =>
    server.once('message', (message: unknown) => resolve(Number(message))),
  );
  const endpoint = `http://127.0.0.1:${port}/bench`;
  const credentials = async () => ({ accessKeyId: 'bench', secretAccessKey: 'bench' });
  process.env.AWS_ACCESS_KEY_ID ??= 'bench';
  process.env.AWS_SECRET_ACCESS_KEY ??= 'bench';
  const sdk: ApiGatewayManagementApiClient = createManagementClient(endpoint, 'us-east-1', concurrency);
  const viaSdk: PostToConnection = async (connectionId, payload) => {
    await sdk.send(new PostToConnectionCommand({ ConnectionId: connectionId, Data: payload }));
  };
  const lean = createLeanPoster({ endpoint, region: 'us-east-1', maxSockets: concurrency, credentials });
  const figures: PosterFigures = { sdkMicros: [], leanMicros: [] };
  try {
    // One warm-up round each, then alternate which goes first.
    await postMany(viaSdk, count / 4, concurrency);
    await postMany(lean, count / 4, concurrency);
    for (let round = 0; round < rounds; round += 1) {
      const order = round % 2 === 0 ? (['sdk', 'lean'] as const) : (['lean', 'sdk'] as const);
      for (const way of order) {
        const micros = await postMany(way === 'sdk' ? viaSdk : lean, count, concurrency);
        (way === 'sdk' ? figures.sdkMicros : figures.leanMicros).push(micros);
      }
    }
  } finally {
    sdk.destroy();
    server.kill();
  }
  return figures;
}
