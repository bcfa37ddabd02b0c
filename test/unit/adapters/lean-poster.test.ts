import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  ApiGatewayManagementApiClient,
  PostToConnectionCommand,
} from '@aws-sdk/client-apigatewaymanagementapi';
import { Sha256 } from '@smithy/core/checksum';
import { SignatureV4 } from '@smithy/signature-v4';
import { afterEach, describe, expect, it } from 'vitest';
import { ManagementApiGateway } from '../../../lambdas/adapters/gateway.js';
import { createLeanPoster } from '../../../lambdas/adapters/lean-poster.js';

const CREDENTIALS = {
  accessKeyId: 'AKIDEXAMPLE',
  secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY',
};
const REGION = 'eu-west-1';

interface Seen {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
}

type Answer = (seen: Seen, res: ServerResponse) => void;

/** A real HTTP endpoint that records each request and answers as the test says. */
async function endpoint(answer: Answer): Promise<{ server: Server; url: string; seen: Seen[] }> {
  const seen: Seen[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => {
      body += chunk;
    });
    req.on('end', () => {
      const request = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body };
      seen.push(request);
      answer(request, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { server, url: `http://127.0.0.1:${port}/prod`, seen };
}

/** Recomputes a request's SigV4 signature from what arrived, as API Gateway does, and compares it. */
async function signatureHolds(request: Seen): Promise<boolean> {
  const authorization = String(request.headers.authorization);
  const signedHeaders = /SignedHeaders=([^,]+)/.exec(authorization)?.[1]?.split(';') ?? [];
  const amzDate = String(request.headers['x-amz-date']);
  const signingDate = new Date(
    `${amzDate.slice(0, 4)}-${amzDate.slice(4, 6)}-${amzDate.slice(6, 8)}T${amzDate.slice(9, 11)}:${amzDate.slice(11, 13)}:${amzDate.slice(13, 15)}Z`,
  );
  const [hostname, port] = String(request.headers.host).split(':');
  const signer = new SignatureV4({
    credentials: CREDENTIALS,
    region: REGION,
    service: 'execute-api',
    sha256: Sha256,
  });
  const resigned = await signer.sign(
    {
      method: request.method,
      protocol: 'http:',
      hostname: hostname ?? '',
      port: Number(port),
      path: request.url,
      query: {},
      headers: Object.fromEntries(signedHeaders.map((name) => [name, String(request.headers[name])])),
      body: request.body,
    },
    { signingDate },
  );
  return resigned.headers.authorization === authorization;
}

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((resolve) => s.close(resolve))));
});

async function start(answer: Answer) {
  const started = await endpoint(answer);
  servers.push(started.server);
  return started;
}

const ok: Answer = (_, res) => res.writeHead(200).end();
const noWait = { sleep: async () => undefined, random: () => 0 };

describe('the lean PostToConnection', () => {
  it('sends the request the SDK sends: same path encoding of + / =, same body, a signature API Gateway accepts', async () => {
    // Prepare
    const { url, seen } = await start(ok);
    const sdk = new ApiGatewayManagementApiClient({
      endpoint: url,
      region: REGION,
      credentials: CREDENTIALS,
    });
    const lean = createLeanPoster({
      endpoint: url,
      region: REGION,
      maxSockets: 4,
      credentials: async () => CREDENTIALS,
    });
    const id = 'Ab+c/d=e_f-g';
    const payload = '{"type":"message","data":"héllo ☃"}';

    // Act
    await sdk.send(new PostToConnectionCommand({ ConnectionId: id, Data: payload }));
    await lean(id, payload);
    sdk.destroy();

    // Assess
    const [bySdk, byLean] = seen;
    expect(byLean?.method).toBe(bySdk?.method);
    expect(byLean?.url).toBe('/prod/@connections/Ab%2Bc%2Fd%3De_f-g');
    expect(byLean?.url).toBe(bySdk?.url);
    expect(byLean?.body).toBe(bySdk?.body);
    expect(byLean?.headers['content-type']).toBe(bySdk?.headers['content-type']);
    expect(byLean?.headers['x-amz-content-sha256']).toBe(bySdk?.headers['x-amz-content-sha256']);
    expect(String(byLean?.headers.authorization)).toContain(`/${REGION}/execute-api/aws4_request`);
    await expect(signatureHolds(bySdk as Seen)).resolves.toBe(true);
    await expect(signatureHolds(byLean as Seen)).resolves.toBe(true);
  });

  it('signs with the session token of temporary credentials (a Lambda role)', async () => {
    const { url, seen } = await start(ok);
    const lean = createLeanPoster({
      endpoint: url,
      region: REGION,
      maxSockets: 1,
      credentials: async () => ({ ...CREDENTIALS, sessionToken: 'session-token' }),
    });

    await lean('abc=', 'x');

    expect(seen[0]?.headers['x-amz-security-token']).toBe('session-token');
    expect(String(seen[0]?.headers.authorization)).toContain('x-amz-security-token');
  });

  it('reports a 410 GoneException as gone, so the fan-out prunes the connection', async () => {
    const { url } = await start((_, res) =>
      res.writeHead(410, { 'x-amzn-ErrorType': 'GoneException' }).end('{"message":"gone"}'),
    );
    const lean = createLeanPoster({
      endpoint: url,
      region: REGION,
      maxSockets: 1,
      credentials: async () => CREDENTIALS,
    });
    const gateway = new ManagementApiGateway({ send: async () => ({}) }, { post: lean, ...noWait });

    await expect(gateway.post('abc=', 'x')).resolves.toBe('gone');
  });

  it('retries throttling and 5xx answers, then delivers', async () => {
    const statuses = [429, 503, 200];
    const { url, seen } = await start((_, res) => {
      const status = statuses.shift() ?? 200;
      res.writeHead(status, status === 429 ? { 'x-amzn-ErrorType': 'LimitExceededException' } : {}).end();
    });
    const lean = createLeanPoster({
      endpoint: url,
      region: REGION,
      maxSockets: 1,
      credentials: async () => CREDENTIALS,
    });
    const gateway = new ManagementApiGateway({ send: async () => ({}) }, { post: lean, ...noWait });

    await expect(gateway.post('abc=', 'x')).resolves.toBe('delivered');
    expect(seen).toHaveLength(3);
  });

  it('does not retry a refusal such as 403, and reports it failed', async () => {
    const { url, seen } = await start((_, res) =>
      res.writeHead(403, { 'x-amzn-ErrorType': 'ForbiddenException' }).end(),
    );
    const lean = createLeanPoster({
      endpoint: url,
      region: REGION,
      maxSockets: 1,
      credentials: async () => CREDENTIALS,
    });
    const gateway = new ManagementApiGateway({ send: async () => ({}) }, { post: lean, ...noWait });

    await expect(gateway.post('abc=', 'x')).resolves.toBe('failed');
    expect(seen).toHaveLength(1);
  });

  it('gives up on an endpoint that never answers, and never sends that frame twice', async () => {
    const { url, seen } = await start(() => undefined);
    const lean = createLeanPoster({
      endpoint: url,
      region: REGION,
      maxSockets: 1,
      credentials: async () => CREDENTIALS,
      requestTimeoutMs: 50,
    });
    const gateway = new ManagementApiGateway(
      { send: async () => ({}) },
      { post: lean, ...noWait, retry: { attempts: 3, baseDelayMs: 1, maxDelayMs: 1 } },
    );

    await expect(gateway.post('abc=', 'x')).resolves.toBe('failed');
    // The request reached the endpoint and may have been delivered: retrying it could deliver twice.
    expect(seen).toHaveLength(1);
  });
});
