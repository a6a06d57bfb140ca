import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    setupFiles: ['test/support/setup.ts'],
    // Temporal workers in several threads at once have crashed with WebAssembly OOM: use processes.
    pool: 'forks',
    testTimeout: 120_000,
    hookTimeout: 180_000,
  },
});
