// Once per `vitest run` of the workspace tests: one scratch root that every shared helper's scratch directories
// live under, removed when the run ends. The test files share one module graph (isolate: false in
// vitest.config.ts, so the corpora, the accountant's caches and tfjs are loaded once), and a helper module is
// evaluated once for all of them: a cleanup hook it registered would run after the first file only.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';

declare module 'vitest' {
  export interface ProvidedContext {
    scratchRoot: string;
  }
}

export default function setup(project: TestProject): () => void {
  const root = mkdtempSync(join(tmpdir(), 'dpkd-workspace-tests-'));
  project.provide('scratchRoot', root);
  return () => rmSync(root, { recursive: true, force: true });
}
