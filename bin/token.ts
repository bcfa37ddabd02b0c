#!/usr/bin/env node
/**
 * `npm run token -- <userId> [--rooms a,b,private-team-*] [--ttl 3600]`
 * prints an HS256 JWT for the local stack, signed with ROOMCAST_JWT_SECRET
 * (default dev-jwt-secret).
 */
import { parseArgs } from 'node:util';
import { SignJWT } from 'jose';
import { LOCAL_DEFAULTS } from '../local/stack.js';

const usage = 'usage: npm run -s token -- <userId> [--rooms room1,private-team-*] [--ttl seconds]';
let parsed: ReturnType<
  typeof parseArgs<{
    options: {
      rooms: { type: 'string'; multiple: true };
      ttl: { type: 'string' };
      help: { type: 'boolean' };
    };
    allowPositionals: true;
  }>
>;
try {
  parsed = parseArgs({
    options: {
      rooms: { type: 'string', multiple: true },
      ttl: { type: 'string' },
      help: { type: 'boolean' },
    },
    allowPositionals: true,
  });
} catch (error) {
  console.error(`${(error as Error).message}\n${usage}`);
  process.exit(2);
}
const [userId] = parsed.positionals;
if (parsed.values.help || !userId) {
  console.error(usage);
  process.exit(parsed.values.help ? 0 : 2);
}
const ttl = Number(parsed.values.ttl ?? 3600);
if (!Number.isInteger(ttl) || ttl <= 0) {
  console.error(`--ttl must be a whole number of seconds\n${usage}`);
  process.exit(2);
}
const rooms = (parsed.values.rooms ?? [])
  .flatMap((r) => r.split(','))
  .map((r) => r.trim())
  .filter(Boolean);
const secret = new TextEncoder().encode(process.env.ROOMCAST_JWT_SECRET || LOCAL_DEFAULTS.jwtSecret);
const token = await new SignJWT(rooms.length > 0 ? { rooms } : {})
  .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
  .setSubject(userId)
  .setIssuedAt()
  .setExpirationTime(`${ttl}s`)
  .sign(secret);
console.log(token);
