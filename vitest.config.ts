import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // One private PostgreSQL server per run for the PostgreSQL store tests (test/support/postgres-server.ts).
    globalSetup: ['test/support/global-setup.ts'],
    // The V8 flags of every Cubby process (shared/v8-flags.ts), in every worker.
    setupFiles: ['test/support/v8-flags-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // argon2 and the simulated boards are CPU-bound; two workers match the 2-core CI machine.
    pool: 'forks',
    maxWorkers: 2,
  },
});
