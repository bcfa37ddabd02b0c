import { describe, expect, it } from 'vitest';
import { nagFindings, synthStage } from './synth.js';

describe('cdk-nag AwsSolutions', () => {
  it.each([
    ['dev', {}],
    ['prod', {}],
    [
      'OIDC clients and IAM backends',
      {
        stage: 'custom',
        jwtIssuer: 'https://issuer.example.com/',
        jwtAudience: 'roomcast',
        jwtJwksUrl: 'https://issuer.example.com/jwks.json',
        pushAuth: 'iam',
        alarmEmail: 'ops@example.com',
        apiGatewayCloudWatchRole: 'true',
        tracing: 'false',
      },
    ],
  ])('finds nothing unacknowledged in %s', (name, context) => {
    const stage = (context as { stage?: string }).stage ?? name;
    const { app } = synthStage(stage, context);

    expect(nagFindings(app)).toEqual([]);
  });
});

describe('acknowledgments', () => {
  it('each carry a reason', () => {
    const { app } = synthStage('prod');
    const reasons: [string, unknown][] = [];
    const visit = (node: typeof app.node.root) => {
      for (const entry of node.node.metadata) {
        if (entry.type !== 'aws:cdk:acknowledged-rules') continue;
        for (const [id, reason] of Object.entries(entry.data as Record<string, unknown>)) {
          reasons.push([`${node.node.path} ${id}`, reason]);
        }
      }
      for (const child of node.node.children) visit(child);
    };
    visit(app);

    expect(reasons.length).toBeGreaterThan(0);
    for (const [where, reason] of reasons)
      expect(typeof reason === 'string' && reason.length > 30, where).toBe(true);
  });
});
