/**
 * An HTTP proxy in front of a DynamoDB endpoint (dynalite or DynamoDB Local) that
 * sees each request's operation (`X-Amz-Target`): it counts them (the bench's
 * requests per `$connect` and `join`), can hold every answer back (DynamoDB's
 * round trip on AWS, which locally is ~0), and can answer a request itself (a
 * test's stand-in for what the local stores cannot show, such as an index that
 * lags behind the table).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface DynamoProxyOptions {
  /** Holds every forwarded answer back this long. */
  delayMs?: number;
  /**
   * Called with each request's operation and JSON body: a value it returns is sent as the
   * answer (status 200) instead of forwarding the request; undefined forwards it.
   */
  answer?: (operation: string, body: Record<string, unknown>) => unknown;
  /**
   * Called with each request the `answer` option did not answer: `lose` forwards it and then
   * resets the client's connection instead of passing the answer on (DynamoDB did the write; the
   * SDK sees a network error and retries); `{ refuse }` answers that DynamoDB error type (HTTP 400)
   * without forwarding; a promise is waited for before forwarding (the request is held).
   */
  fault?: (
    operation: string,
    body: Record<string, unknown>,
  ) => 'lose' | { refuse: string } | Promise<void> | undefined;
}

export interface DynamoProxy {
  url: string;
  /** Requests by operation since the last call. */
  take(): Map<string, number>;
  close(): Promise<void>;
}

export async function startDynamoProxy(
  target: string,
  options: DynamoProxyOptions = {},
): Promise<DynamoProxy> {
  const upstream = new URL(target);
  const agent = new http.Agent({ keepAlive: true });
  const { delayMs = 0, answer, fault } = options;
  let counts = new Map<string, number>();

  const forward = (req: http.IncomingMessage, res: http.ServerResponse, body?: Buffer, lose = false) => {
    const request = http.request(
      {
        host: upstream.hostname,
        port: upstream.port,
        method: req.method,
        path: req.url,
        headers: req.headers,
        agent,
      },
      (upstreamAnswer) => {
        if (lose) {
          upstreamAnswer.resume();
          upstreamAnswer.on('end', () => req.socket.resetAndDestroy());
          return;
        }
        const send = () => {
          res.writeHead(upstreamAnswer.statusCode ?? 502, upstreamAnswer.headers);
          upstreamAnswer.pipe(res);
        };
        if (delayMs > 0) setTimeout(send, delayMs);
        else send();
      },
    );
    request.on('error', () => res.destroy());
    if (body) request.end(body);
    else req.pipe(request);
  };

  const server = http.createServer((req, res) => {
    const operation =
      String(req.headers['x-amz-target'] ?? '')
        .split('.')
        .pop() ?? '';
    counts.set(operation, (counts.get(operation) ?? 0) + 1);
    if (!answer && !fault) {
      forward(req, res);
      return;
    }
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', async () => {
      const body = Buffer.concat(chunks);
      const parsed = JSON.parse(body.toString('utf8') || '{}') as Record<string, unknown>;
      const own = answer?.(operation, parsed);
      if (own === undefined) {
        const injected = fault?.(operation, parsed);
        if (injected instanceof Promise) await injected;
        if (injected && typeof injected === 'object' && 'refuse' in injected) {
          res.writeHead(400, { 'content-type': 'application/x-amz-json-1.0' });
          res.end(
            JSON.stringify({
              __type: `com.amazonaws.dynamodb.v20120810#${injected.refuse}`,
              message: 'refused by the proxy',
            }),
          );
          return;
        }
        forward(req, res, body, injected === 'lose');
        return;
      }
      res.writeHead(200, { 'content-type': 'application/x-amz-json-1.0' });
      res.end(JSON.stringify(own));
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    take: () => {
      const taken = counts;
      counts = new Map();
      return taken;
    },
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      agent.destroy();
    },
  };
}
