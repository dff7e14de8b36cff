import { defineConfig } from 'vitest/config';

// Tests import packages through their "homing-source" export condition, so they run
// against the TypeScript sources without a build step.
export default defineConfig({
  resolve: { conditions: ['homing-source'] },
  ssr: { resolve: { conditions: ['homing-source'], externalConditions: ['homing-source'] } },
  test: {
    include: [
      'packages/*/src/**/*.test.ts',
      'packages/*/test/**/*.test.ts',
      'examples/**/*.test.ts',
      'scripts/**/*.test.ts',
    ],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
    reporters: ['default', './scripts/summary-reporter.js'],
    setupFiles: ['./scripts/no-node-warnings.setup.ts'],
  },
});
