// Once for the lib's tests: build dist/ (what `npm ci` does: the `dpkd` bundle and the dashboard's front end),
// then run the tiny graph (test/fixtures/tiny-ui.json: real Dataset, Pretrain, DPFineTune, Sample, Evaluate and
// Report nodes, swept over ε) into a scratch store with the real binary. The tests only read that store (the
// browser test works on a copy).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';

export const workspaceRoot = join(import.meta.dirname, '../../..');
export const fixture = join(workspaceRoot, 'libs/ui/test/fixtures/tiny-ui.json');

declare module 'vitest' {
  export interface ProvidedContext {
    store: string;
    scratch: string;
  }
}

export default function setup(project: TestProject): () => void {
  execFileSync(process.execPath, [join(workspaceRoot, 'tools/build.mjs')], { stdio: 'inherit' });
  const scratch = mkdtempSync(join(tmpdir(), 'dpkd-ui-'));
  const store = join(scratch, 'store');
  // In-process: one tfjs initialisation instead of a worker process per heavy node (seconds, not a minute).
  execFileSync(
    process.execPath,
    [join(workspaceRoot, 'dist/dpkd.js'), 'run', fixture, '--store', store, '--executor', 'in-process', '--jobs', '2'],
    {
      cwd: workspaceRoot,
      stdio: ['ignore', 'ignore', 'pipe'],
      timeout: 170_000,
    },
  );
  project.provide('store', store);
  project.provide('scratch', scratch);
  return () => rmSync(scratch, { recursive: true, force: true });
}
