import { defineConfig } from 'vitest/config';

const quiet = {
  POWERTOOLS_METRICS_DISABLED: 'true',
  AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
};

export default defineConfig({
  test: {
    pool: 'forks',
    // The browser project fills as the demo and dashboard land; an empty project is not a failure.
    passWithNoTests: true,
    maxWorkers: 2,
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          env: quiet,
        },
      },
      {
        test: {
          name: 'client',
          include: ['test/client/**/*.test.ts'],
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          env: { ...quiet, ROOMCAST_TEST_DYNAMO: 'dynalite' },
          testTimeout: 20_000,
          hookTimeout: 30_000,
        },
      },
      {
        test: {
          name: 'integration-dynamodb-local',
          include: ['test/integration/**/*.test.ts'],
          env: { ...quiet, ROOMCAST_TEST_DYNAMO: 'dynamodb-local' },
          globalSetup: ['test/integration/dynamodb-local.setup.ts'],
          testTimeout: 30_000,
          hookTimeout: 90_000,
          fileParallelism: false,
        },
      },
      {
        test: {
          name: 'browser',
          include: ['test/browser/**/*.test.ts'],
          env: quiet,
          testTimeout: 60_000,
          hookTimeout: 60_000,
          fileParallelism: false,
        },
      },
      {
        test: {
          name: 'cdk',
          include: ['test/cdk/**/*.test.ts'],
          env: quiet,
          testTimeout: 180_000,
          hookTimeout: 180_000,
        },
      },
    ],
  },
});
