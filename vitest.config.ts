import { defineConfig } from 'vitest/config';

// `npm test` (scripts/test.mjs) prepares Docker and the test images, then runs `vitest run`.
// test/global-setup.ts starts the local stack and one node agent ONCE per run; tests read the
// connection data with `inject('stack')`.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    // Separate processes (the AWS SDK, dockerode and child processes behave better than in threads);
    // two workers for the 2-core machines this runs on, next to DynamoDB Local and the agent.
    pool: 'forks',
    fileParallelism: true,
    maxWorkers: 2,
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Global teardown stops the node agent (up to 10 s grace) and the stack.
    teardownTimeout: 60_000,
  },
});
