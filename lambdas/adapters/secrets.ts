import { GetSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';

/** After a failed refresh, how long the last good value is served before trying again. */
const RETRY_AFTER_FAILURE_MS = 10_000;

/**
 * A secret read from Secrets Manager and kept for `maxAgeMs`, so a rotated
 * value is picked up without a redeploy. When a refresh fails the last good
 * value is served and the read is tried again shortly; only a secret never read
 * successfully makes callers fail. The cache lives in the closure the
 * composition root creates, not in module state.
 */
export function cachedSecret(
  client: Pick<SecretsManagerClient, 'send'>,
  secretId: string,
  maxAgeMs: number,
  now: () => number = Date.now,
): () => Promise<string> {
  let current: string | undefined;
  let freshUntil = 0;
  let inflight: Promise<string> | undefined;
  const fetchSecret = async () => {
    const out = await client.send(new GetSecretValueCommand({ SecretId: secretId }));
    if (!out.SecretString) throw new Error(`secret ${secretId} has no string value`);
    return out.SecretString;
  };
  return async () => {
    if (current !== undefined && now() < freshUntil) return current;
    inflight ??= fetchSecret().finally(() => {
      inflight = undefined;
    });
    try {
      current = await inflight;
      freshUntil = now() + maxAgeMs;
    } catch (error) {
      if (current === undefined) throw error;
      freshUntil = now() + RETRY_AFTER_FAILURE_MS;
    }
    return current;
  };
}

/** A JSON array of strings, or undefined when the text is not one. */
function jsonKeyList(text: string, what: string): string[] | undefined {
  const trimmed = text.trim();
  if (!trimmed.startsWith('[')) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(trimmed);
  } catch {
    throw new Error(`${what} secret starts with "[" but is not valid JSON`);
  }
  if (!Array.isArray(parsed) || !parsed.every((k) => typeof k === 'string')) {
    throw new Error(`${what} secret must be a JSON array of strings`);
  }
  return parsed.map((k) => k.trim()).filter(Boolean);
}

/** API keys as a secret holds them: a JSON array of strings, or one key per line or comma. */
export function parseApiKeys(text: string): string[] {
  return (
    jsonKeyList(text, 'API key') ??
    text
      .split(/[\n,]/)
      .map((k) => k.trim())
      .filter(Boolean)
  );
}

/**
 * HS256 signing keys as a secret holds them: one key, or a JSON array of keys
 * during a rotation (a token signed with any of them is accepted).
 */
export function parseJwtSecrets(text: string): string[] {
  return jsonKeyList(text, 'JWT') ?? [text];
}
