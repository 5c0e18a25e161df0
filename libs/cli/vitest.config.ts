import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // CLI tests spawn the bundled `dpkd`; build it once before they run.
    globalSetup: ['./test/build-bundle.ts'],
    testTimeout: 60_000,
  },
});
