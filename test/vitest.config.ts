import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    testTimeout: 30_000,
    globalSetup: ['./support/global-setup.ts'],
    // One module graph for all files of a worker: the pinned corpora, the accountant's PMF caches and tfjs are
    // loaded once instead of once per file (each file restores the environment variables it sets). Shared
    // helpers keep their scratch directories under the run's scratch root (support/global-setup.ts).
    isolate: false,
  },
});
