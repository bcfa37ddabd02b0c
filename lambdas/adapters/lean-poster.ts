import { createHash } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import { defaultProvider } from '@aws-sdk/credential-provider-node';
import { Sha256 } from '@smithy/core/checksum';
import { SignatureV4 } from '@smithy/signature-v4';
import type { AwsCredentialIdentityProvider, HttpRequest } from '@smithy/types';

/**
 * `PostToConnection` without the SDK client's middleware stack: the same
 * request the SDK sends (path, body, SigV4 signature by the SDK's own
 * `SignatureV4` and credential chain), over a keep-alive agent. The SDK client
 * costs ~400 µs of CPU per post; this costs a fraction of that, which is the
 * fan-out's whole cost on Lambda. Failures are thrown shaped like the SDK's
 * errors (`name`, `$metadata.httpStatusCode`), so one retry policy serves both.
 */
export interface LeanPosterOptions {
  /** The `@connections` base URL, e.g. https://{api-id}.execute-api.{region}.amazonaws.com/{stage}. */
  endpoint: string;
  region: string;
  /** Sockets kept open to the endpoint (the fan-out's concurrency). */
  maxSockets: number;
  /** Defaults to the SDK's default credential provider chain (Lambda's role). */
  credentials?: AwsCredentialIdentityProvider;
  connectionTimeoutMs?: number;
  requestTimeoutMs?: number;
}

export type PostToConnection = (connectionId: string, payload: string) => Promise<void>;

/** An error of the management API as the SDK would throw it. */
export class ManagementApiError extends Error {
  readonly $metadata: { httpStatusCode?: number };
  readonly code: string | undefined;

  constructor(name: string, message: string, status?: number, code?: string) {
    super(message);
    this.name = name;
    this.$metadata = { httpStatusCode: status };
    this.code = code;
  }
}

/** The SDK's path-label encoding: encodeURIComponent plus `!'()*`, so `+ / =` in ids become %2B %2F %3D. */
export function encodePathLabel(value: string): string {
  return encodeURIComponent(value).replace(
    /[!'()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}

/** Builds the unsigned PostToConnection request, exactly as the SDK serializes it. */
export function postRequest(
  endpoint: URL,
  connectionId: string,
  body: string,
  bodySha256: string,
): HttpRequest {
  const base = endpoint.pathname.replace(/\/+$/, '');
  const defaultPort = endpoint.protocol === 'https:' ? '443' : '80';
  const port = endpoint.port && endpoint.port !== defaultPort ? Number(endpoint.port) : undefined;
  return {
    method: 'POST',
    protocol: endpoint.protocol,
    hostname: endpoint.hostname,
    ...(port === undefined ? {} : { port }),
    path: `${base}/@connections/${encodePathLabel(connectionId)}`,
    query: {},
    headers: {
      host: port === undefined ? endpoint.hostname : `${endpoint.hostname}:${port}`,
      'content-type': 'application/octet-stream',
      'content-length': String(Buffer.byteLength(body)),
      'x-amz-content-sha256': bodySha256,
    },
    body,
  };
}

function sha256Hex(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

export function createLeanPoster(options: LeanPosterOptions): PostToConnection {
  const endpoint = new URL(options.endpoint);
  const secure = endpoint.protocol === 'https:';
  const agent = secure
    ? new https.Agent({ keepAlive: true, maxSockets: options.maxSockets })
    : new http.Agent({ keepAlive: true, maxSockets: options.maxSockets });
  const signer = new SignatureV4({
    credentials: options.credentials ?? defaultProvider(),
    region: options.region,
    service: 'execute-api',
    sha256: Sha256,
  });
  const requestTimeoutMs = options.requestTimeoutMs ?? 5000;
  const connectionTimeoutMs = options.connectionTimeoutMs ?? 2000;
  // A fan-out posts one payload to many connections: hash it once, not once per post.
  let lastBody: string | undefined;
  let lastHash: string | undefined;
  const hashOf = (body: string) => {
    if (body !== lastBody || lastHash === undefined) {
      lastBody = body;
      lastHash = sha256Hex(body);
    }
    return lastHash;
  };

  return async (connectionId, payload) => {
    const signed = await signer.sign(postRequest(endpoint, connectionId, payload, hashOf(payload)));
    await new Promise<void>((resolve, reject) => {
      const request = (secure ? https : http).request(
        {
          agent,
          method: signed.method,
          hostname: signed.hostname,
          port: signed.port,
          path: signed.path,
          headers: signed.headers,
        },
        (response) => {
          const status = response.statusCode ?? 0;
          if (status >= 200 && status < 300) {
            response.resume();
            response.once('end', resolve);
            return;
          }
          let text = '';
          response.setEncoding('utf8');
          response.on('data', (chunk: string) => {
            if (text.length < 1024) text += chunk;
          });
          response.once('end', () => {
            const type = String(response.headers['x-amzn-errortype'] ?? '').split(':')[0] || `Http${status}`;
            reject(new ManagementApiError(type, text.slice(0, 256) || `HTTP ${status}`, status));
          });
        },
      );
      // Connecting that takes too long is retried (nothing was sent). A request sent but not answered in
      // time is not: the frame may have been delivered, and a connection gets a frame at most once.
      let connectTimer: NodeJS.Timeout | undefined;
      request.once('socket', (socket) => {
        if (!socket.connecting) return;
        connectTimer = setTimeout(() => {
          request.destroy(
            new ManagementApiError('TimeoutError', 'connecting timed out', undefined, 'ETIMEDOUT'),
          );
        }, connectionTimeoutMs);
        socket.once('connect', () => clearTimeout(connectTimer));
      });
      const answerTimer = setTimeout(() => {
        request.destroy(
          new ManagementApiError('RequestTimeout', `no answer within ${requestTimeoutMs} ms; not retried`),
        );
      }, requestTimeoutMs);
      request.once('error', reject);
      request.once('close', () => {
        clearTimeout(connectTimer);
        clearTimeout(answerTimer);
      });
      request.end(signed.body as string);
    });
  };
}
