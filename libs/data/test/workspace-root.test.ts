// One finder of the npm workspace root (data/cache here, models/ for @dpkd/nodes' PublicModel).
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { dataCacheDir, workspaceRoot } from '../src';

const root = join(import.meta.dirname, '../../..');

describe('workspaceRoot', () => {
  test('is found from a sub-directory of the checkout (vitest runs in libs/data), and places the data cache', () => {
    expect(process.cwd()).not.toBe(root);
    expect(workspaceRoot()).toBe(root);
    const saved = process.env.DPKD_DATA_CACHE;
    delete process.env.DPKD_DATA_CACHE;
    try {
      expect(dataCacheDir()).toBe(join(root, 'data/cache'));
    } finally {
      if (saved !== undefined) process.env.DPKD_DATA_CACHE = saved;
    }
  });
});
