import { createHash } from 'node:crypto';

/** A digest (SHA-256, base64url) of a set of strings, in any order: the same set gives the same digest. */
export function digestOfSet(values: readonly string[]): string {
  return createHash('sha256')
    .update([...values].sort().join('\n'))
    .digest('base64url');
}
