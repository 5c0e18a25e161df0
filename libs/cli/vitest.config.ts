import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // CLI tests spawn the bundled `dpkd`; build it once before they run (and make the run's scratch root).
    globalSetup: ['./test/build-bundle.ts'],
    testTimeout: 60_000,
    // One module graph for the files of a worker: the libs and tfjs the in-process tests load are loaded once.
    isolate: false,
  },
});
