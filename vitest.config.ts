import { defineConfig } from 'vitest/config';

// Tests sit next to the code (`*.test.ts`) and in test/. Process-level suites spawn real
// children, so timeouts are generous; each suite bounds its own work.
export default defineConfig({
  test: {
    include: ['datanode/**/*.test.ts', 'operator/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Names the file when a worker dies mid-file (vitest alone does not).
    setupFiles: ['test/setup/worker-exit.ts'],
  },
});
