import { describe, expect, it } from 'vitest';
import { synthStage } from './synth.js';

describe('the local dashboard and /metrics', () => {
  it('exist only in the local stack: no route, function or environment of the CDK stack names them', () => {
    const json = JSON.stringify(synthStage('prod').template.toJSON());
    expect(json).toContain('AWS::ApiGatewayV2::Route');
    for (const word of ['/dashboard', '/metrics', 'prom-client', 'roomcast_']) {
      expect(json, word).not.toContain(word);
    }
  });
});
