import { describe, expect, it } from 'vitest';
import { mayJoin } from '../../../lambdas/domain/permissions.js';

describe('mayJoin', () => {
  it('opens every room without the private- prefix to anyone', () => {
    expect(mayJoin('lobby', [])).toBe(true);
    expect(mayJoin('privateer', [])).toBe(true);
  });

  it('opens a private room named exactly in the claim', () => {
    expect(mayJoin('private-ops', ['private-ops'])).toBe(true);
    expect(mayJoin('private-ops2', ['private-ops'])).toBe(false);
  });

  it('opens private rooms under a prefix grant ending in *', () => {
    expect(mayJoin('private-team-blue', ['private-team-*'])).toBe(true);
    expect(mayJoin('private-team-', ['private-team-*'])).toBe(true);
    expect(mayJoin('private-teams', ['private-team-*'])).toBe(false);
  });

  it('closes private rooms to a token without grants', () => {
    expect(mayJoin('private-ops', [])).toBe(false);
  });
});
