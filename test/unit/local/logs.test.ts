import { describe, expect, it } from 'vitest';
import { CapturingLogger, LogRing } from '../../../local/logs.js';

describe('LogRing', () => {
  it('keeps the last lines, oldest first, and hands out only new ones', () => {
    const ring = new LogRing(3);
    for (let i = 1; i <= 5; i++) ring.push({ message: `m${i}` });
    expect(ring.since().map((l) => l.attributes.message)).toEqual(['m3', 'm4', 'm5']);
    expect(ring.since(4).map((l) => l.seq)).toEqual([5]);
    expect(ring.since(5)).toEqual([]);
  });
});

describe('CapturingLogger', () => {
  it('captures what the logger and its children print, at the configured level', () => {
    const ring = new LogRing(10);
    const logger = new CapturingLogger(ring, { serviceName: 'test', logLevel: 'INFO' });
    const child = logger.createChild({ persistentKeys: { handler: 'message' } });
    logger.info('root line');
    child.warn('child line', { room: 'r' });
    child.debug('not printed at INFO');
    const lines = ring.since().map((l) => l.attributes);
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatchObject({ level: 'INFO', message: 'root line', service: 'test' });
    expect(lines[1]).toMatchObject({ level: 'WARN', message: 'child line', handler: 'message', room: 'r' });
  });
});
