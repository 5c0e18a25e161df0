import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import { DPKD_VERSION } from '../src/manifest';

test('manifests record the version of the workspace package.json, not a copy of it', () => {
  const root = JSON.parse(readFileSync(join(import.meta.dirname, '../../../package.json'), 'utf8')) as { name: string; version: string };
  expect(root.name).toBe('dpkd-workspace');
  expect(DPKD_VERSION).toBe(root.version);
});
