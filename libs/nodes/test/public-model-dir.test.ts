// PublicModel's models/ lives at the workspace root that @dpkd/data finds (one finder for both).
import { join } from 'node:path';
import { expect, test } from 'vitest';
import { workspaceRoot } from '@dpkd/data';
import { modelsDir } from '../src/public-model';

test('modelsDir is models/ under @dpkd/data workspaceRoot, unless DPKD_MODELS or an override says otherwise', () => {
  const saved = process.env.DPKD_MODELS;
  delete process.env.DPKD_MODELS;
  try {
    expect(workspaceRoot()).toBe(join(import.meta.dirname, '../../..'));
    expect(modelsDir()).toBe(join(workspaceRoot()!, 'models'));
    expect(modelsDir('/tmp/elsewhere')).toBe('/tmp/elsewhere');
  } finally {
    if (saved !== undefined) process.env.DPKD_MODELS = saved;
  }
});
