import { defineConfig } from 'vitest/config';

// The queue tests start a real redis-server and real `dpkd worker` processes: one file at a time.
export default defineConfig({ test: { testTimeout: 60_000, hookTimeout: 60_000, fileParallelism: false } });
