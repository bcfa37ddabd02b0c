import { describe, expect, it } from 'vitest';
import { boundedProblem, cut, jsonValueProblem, quote } from '../../../lambdas/domain/input.js';

describe('jsonValueProblem', () => {
  it('finds nesting past 64 levels without recursion, however deep', () => {
    let value: unknown = 1;
    for (let i = 0; i < 1_000_000; i += 1) value = [value];
    expect(jsonValueProblem(value)).toContain('64 levels');
    expect(jsonValueProblem(JSON.parse(`${'{"a":'.repeat(64)}1${'}'.repeat(64)}`))).toBeUndefined();
    expect(jsonValueProblem(JSON.parse(`${'{"a":'.repeat(65)}1${'}'.repeat(65)}`))).toContain('64 levels');
  });

  it('finds numbers JSON.parse turned into Infinity', () => {
    expect(jsonValueProblem(JSON.parse('{"a":[1,{"b":1e400}]}'))).toContain('finite');
    expect(jsonValueProblem(JSON.parse('-1e400'))).toContain('finite');
    expect(jsonValueProblem(JSON.parse('{"a":[1e308,"1e400",null,true]}'))).toBeUndefined();
  });
});

describe('quote and cut', () => {
  it('quotes short input whole and long input cut, saying its length', () => {
    expect(quote('rom')).toBe('"rom"');
    expect(quote('x'.repeat(1000))).toMatch(/^"x{47}…" \(1000 characters\)$/);
    expect(quote('a\nb')).toBe('"a\\nb"');
    expect(cut('😀'.repeat(10), 5)).toBe('😀😀…');
    expect(cut('😀'.repeat(10), 6)).toBe('😀😀…');
  });

  it('bounds message and details of any error', () => {
    const details = Array.from({ length: 100 }, () => ({ path: 'p'.repeat(500), message: 'm'.repeat(5000) }));
    const bounded = boundedProblem('e'.repeat(100_000), details);
    expect(JSON.stringify(bounded).length).toBeLessThan(900);
    expect(bounded.details?.length).toBeGreaterThan(0);
  });
});
