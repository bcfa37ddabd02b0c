import { GetSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';

/**
 * A secret read from Secrets Manager and kept for `maxAgeMs`, so a rotated
 * value is picked up without a redeploy. The cache lives in the closure the
 * composition root creates, not in module state.
 */
export function cachedSecret(
  client: Pick<SecretsManagerClient, 'send'>,
  secretId: string,
  maxAgeMs: number,
  now: () => number = Date.now,
): () => Promise<string> {
  let value: Promise<string> | undefined;
  let fetchedAt = 0;
  return () => {
    if (!value || now() - fetchedAt > maxAgeMs) {
      fetchedAt = now();
      const request = client.send(new GetSecretValueCommand({ SecretId: secretId })).then((out) => {
        if (!out.SecretString) throw new Error(`secret ${secretId} has no string value`);
        return out.SecretString;
      });
      // A failed fetch is not cached: the next call tries again.
      request.catch(() => {
        if (value === request) value = undefined;
      });
      value = request;
    }
    return value;
  };
}

/** A JSON array of strings, or undefined when the text is not one. */
function jsonKeyList(text: string, what: string): string[] | undefined {
  const trimmed = text.trim();
  if (!trimmed.startsWith('[')) return undefined;
  const parsed: unknown = JSON.parse(trimmed);
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
