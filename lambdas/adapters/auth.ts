import { createHash, timingSafeEqual } from 'node:crypto';
import { createRemoteJWKSet, type JWTVerifyGetKey, errors as joseErrors, jwtVerify } from 'jose';
import { z } from 'zod';
import { UnauthorizedError } from '../domain/errors.js';
import { userId } from '../domain/schemas.js';

export interface ClientIdentity {
  userId: string;
  rooms: string[];
}

export type TokenVerifier = (token: string) => Promise<ClientIdentity>;

const claims = z.object({
  sub: userId,
  exp: z.number(),
  rooms: z.array(z.string().min(1).max(129)).max(256).optional(),
});

function describe(error: unknown): string {
  if (error instanceof joseErrors.JWTExpired) return 'token has expired';
  if (error instanceof joseErrors.JWSSignatureVerificationFailed) return 'token signature is not valid';
  if (error instanceof joseErrors.JWTClaimValidationFailed) return `token claim ${error.claim} is not valid`;
  if (error instanceof joseErrors.JOSEAlgNotAllowed) return 'token algorithm is not allowed';
  if (error instanceof joseErrors.JWSInvalid || error instanceof joseErrors.JWTInvalid)
    return 'token is malformed';
  return 'token could not be verified';
}

async function verifyWith(
  token: string,
  key: Uint8Array | JWTVerifyGetKey,
  options: { algorithms: string[]; issuer?: string; audience?: string },
): Promise<ClientIdentity> {
  let payload: unknown;
  try {
    const verified =
      key instanceof Uint8Array
        ? await jwtVerify(token, key, { ...options, requiredClaims: ['sub', 'exp'], clockTolerance: 5 })
        : await jwtVerify(token, key, { ...options, requiredClaims: ['sub', 'exp'], clockTolerance: 5 });
    payload = verified.payload;
  } catch (error) {
    throw new UnauthorizedError(describe(error), error);
  }
  const parsed = claims.safeParse(payload);
  if (!parsed.success) {
    throw new UnauthorizedError(
      `token claims are not valid: ${parsed.error.issues[0]?.path.join('.') ?? ''}`,
    );
  }
  return { userId: parsed.data.sub, rooms: parsed.data.rooms ?? [] };
}

/** HS256 tokens signed with a shared secret (the local default; on AWS the secret lives in Secrets Manager). */
export function hs256Verifier(secret: () => Promise<string>): TokenVerifier {
  return async (token) =>
    verifyWith(token, new TextEncoder().encode(await secret()), { algorithms: ['HS256'] });
}

/** RS256/ES256 tokens from an OpenID provider (Cognito, Auth0, ...), keys fetched from its JWKS URL and cached. */
export function jwksVerifier(options: { issuer: string; audience: string; jwksUrl: string }): TokenVerifier {
  const keySet = createRemoteJWKSet(new URL(options.jwksUrl));
  return (token) =>
    verifyWith(token, keySet, {
      algorithms: ['RS256', 'ES256'],
      issuer: options.issuer,
      audience: options.audience,
    });
}

/**
 * Whether a presented API key equals one of the active keys. Both sides are
 * hashed to a fixed length first, so the comparison is constant-time and does
 * not leak the keys' lengths.
 */
export function matchesApiKey(presented: string, active: readonly string[]): boolean {
  const digest = (value: string) => createHash('sha256').update(value, 'utf8').digest();
  const candidate = digest(presented);
  let found = false;
  for (const key of active) {
    if (timingSafeEqual(candidate, digest(key))) found = true;
  }
  return found;
}
