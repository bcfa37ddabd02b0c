import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { startDynamoDbLocal } from '../../local/dynamodb-local.js';

/** Command lines of this process's children that run DynamoDB Local (Linux `ps`). */
function dynamoDbLocalChildren(): string[] {
  try {
    return execFileSync('ps', ['-o', 'args=', '--ppid', String(process.pid)], { encoding: 'utf8' })
      .split('\n')
      .filter((line) => line.includes('DynamoDBLocal'));
  } catch {
    return [];
  }
}

describe('DynamoDB Local that fails to start', () => {
  it('has its Java process stopped (the test timeout is the clock)', async () => {
    const before = dynamoDbLocalChildren().length;
    // A zero deadline: the first probe is refused before Java listens, so the start fails.
    await expect(startDynamoDbLocal(0)).rejects.toThrow('DynamoDB Local did not answer');
    while (dynamoDbLocalChildren().length > before) {
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(dynamoDbLocalChildren().length).toBe(before);
  }, 30_000);
});
