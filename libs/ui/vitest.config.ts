import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // Builds dist/ (the `dpkd` bundle and the front end) and one tiny real store that both test files read.
    globalSetup: ['./test/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 180_000,
  },
});
