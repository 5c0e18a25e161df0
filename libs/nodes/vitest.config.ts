import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // The run's scratch root (test/global-setup.ts).
    globalSetup: ['./test/global-setup.ts'],
    // One module graph for the files of a worker: tfjs (and its wasm backend) and the corpora load once.
    isolate: false,
  },
});
