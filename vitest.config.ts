import { defineConfig } from 'vitest/config';

// The AWS SDK's Node 20 support notice only (aws/aws-sdk-js-v3#7983), as the CLI, npm start and
// npm test hide it: set here, it reaches the workers and what the global setup starts; other
// warnings still print, and a user's own setting wins.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

// `npm test` (scripts/test.mjs) prepares Docker and the test images, then runs `vitest run`.
// Two projects: `unit` (pure logic, no services) and `stack` (integration and end-to-end), whose
// global setup (test/global-setup.ts) starts the local stack and one node agent ONCE per run;
// those tests read the connection data with `inject('stack')`.
// `npx vitest run --project unit` runs the unit tests alone, in seconds.
export default defineConfig({
  test: {
    // Separate processes (the AWS SDK, dockerode and child processes behave better than in threads);
    // two workers for the 2-core machines this runs on, next to DynamoDB Local and the agent.
    pool: 'forks',
    fileParallelism: true,
    maxWorkers: 2,
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Global teardown stops the node agent (up to 10 s grace) and the stack.
    teardownTimeout: 60_000,
    projects: [
      { extends: true, test: { name: 'unit', include: ['test/unit/**/*.test.ts'] } },
      {
        extends: true,
        test: { name: 'stack', include: ['test/integration/**/*.test.ts', 'test/e2e/**/*.test.ts'], globalSetup: ['test/global-setup.ts'] },
      },
    ],
  },
});
