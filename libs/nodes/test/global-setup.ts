// Once per `vitest run` of the node tests: the scratch root that helpers.ts's scratch directories live under,
// removed when the run ends. The test files share one module graph (isolate: false, so tfjs and the corpora are
// loaded once), and helpers.ts is evaluated once for all of them: a cleanup hook it registered would run after
// the first file only.
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
  const root = mkdtempSync(join(tmpdir(), 'dpkd-nodes-tests-'));
  project.provide('scratchRoot', root);
  return () => rmSync(root, { recursive: true, force: true });
}
