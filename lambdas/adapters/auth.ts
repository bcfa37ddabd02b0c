import { createHash, timingSafeEqual } from 'node:crypto';
import { createRemoteJWKSet, errors as joseErrors, jwtVerify } from 'jose';
import * as z from 'zod/mini';
import { USER_ID_PATTERN } from '../domain/constants.js';
import { UnauthorizedError } from '../domain/errors.js';

export interface ClientIdentity {
  userId: string;
  rooms: string[];
}

export type TokenVerifier = (token: string) => Promise<ClientIdentity>;

// zod/mini, as in config.ts: the authorizer's bundle carries no other zod. The `sub` rules are
// the client protocol's userId rules (domain/schemas.ts), which a unit test keeps in step.
export const claims = z.object({
  sub: z
    .string()
    .check(
      z.minLength(1),
      z.maxLength(128),
      z.regex(USER_ID_PATTERN, 'must not contain spaces, control characters or unpaired surrogates'),
    ),
  exp: z.number(),
  rooms: z.optional(z.array(z.string().check(z.minLength(1), z.maxLength(129))).check(z.maxLength(256))),
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

/**
 * Whether a verification error is the token's fault (a refusal: 401). Anything
 * else (the JWKS timed out, answered garbage or could not be fetched) is a
 * fault of the verifier, thrown as it is.
 */
function isTokenProblem(error: unknown): boolean {
  return (
    error instanceof joseErrors.JWTExpired ||
    error instanceof joseErrors.JWTClaimValidationFailed ||
    error instanceof joseErrors.JWTInvalid ||
    error instanceof joseErrors.JWSInvalid ||
    error instanceof joseErrors.JWSSignatureVerificationFailed ||
    error instanceof joseErrors.JOSEAlgNotAllowed ||
    error instanceof joseErrors.JOSENotSupported ||
    error instanceof joseErrors.JWKSNoMatchingKey ||
    error instanceof joseErrors.JWKSMultipleMatchingKeys
  );
}

function toIdentity(payload: unknown): ClientIdentity {
  const parsed = z.safeParse(claims, payload);
  if (!parsed.success) {
    throw new UnauthorizedError(
      `token claims are not valid: ${parsed.error.issues[0]?.path.join('.') ?? ''}`,
    );
  }
  return { userId: parsed.data.sub, rooms: parsed.data.rooms ?? [] };
}

const COMMON = { requiredClaims: ['sub', 'exp'], clockTolerance: 5 };

/**
 * HS256 tokens signed with a shared secret (the local default; on AWS the
 * secret lives in Secrets Manager). During a key rotation several secrets are
 * active and a token signed with any of them is accepted.
 */
export function hs256Verifier(secrets: () => Promise<string[]>): TokenVerifier {
  return async (token) => {
    let failure: unknown;
    for (const secret of await secrets()) {
      try {
        const key = new TextEncoder().encode(secret);
        const { payload } = await jwtVerify(token, key, { ...COMMON, algorithms: ['HS256'] });
        return toIdentity(payload);
      } catch (error) {
        failure = error;
        // Only a signature mismatch is worth trying the next key for.
        if (!(error instanceof joseErrors.JWSSignatureVerificationFailed)) break;
      }
    }
    if (failure instanceof UnauthorizedError) throw failure;
    throw new UnauthorizedError(describe(failure), failure);
  };
}

/** RS256/ES256 tokens from an OpenID provider (Cognito, Auth0, ...), keys fetched from its JWKS URL and cached. */
export function jwksVerifier(options: { issuer: string; audience: string; jwksUrl: string }): TokenVerifier {
  const keySet = createRemoteJWKSet(new URL(options.jwksUrl));
  return async (token) => {
    try {
      const { payload } = await jwtVerify(token, keySet, {
        ...COMMON,
        algorithms: ['RS256', 'ES256'],
        issuer: options.issuer,
        audience: options.audience,
      });
      return toIdentity(payload);
    } catch (error) {
      if (error instanceof UnauthorizedError) throw error;
      if (!isTokenProblem(error)) throw error;
      throw new UnauthorizedError(describe(error), error);
    }
  };
}

/** The credential of an `Authorization: Bearer <credential>` header, or undefined when there is none. */
export function bearerToken(authorization: string | undefined): string | undefined {
  const match = authorization ? /^Bearer\s+(\S+)\s*$/i.exec(authorization) : null;
  return match?.[1];
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
