import { describe, expect, test } from 'vitest';
import { nodeImplementations } from '../src';
describe('node registry', () => {
  test('types are unique', () => {
    const types = nodeImplementations.map((n) => n.type);
    expect(new Set(types).size).toBe(types.length);
  });
});
