// DpEvent has one definition: schemas/dp-event.schema.json, through the types generated from it.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import type { DpEvent as GeneratedDpEvent } from '@dpkd/schema';
import { describe, expect, expectTypeOf, test } from 'vitest';
import { type DpEvent, parseDpEvent } from '../src/index';

const root = join(import.meta.dirname, '../../..');
const sources = (dir: string): string[] =>
  readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return name === 'node_modules' || name === 'generated' ? [] : sources(path);
    return name.endsWith('.ts') ? [path] : [];
  });

describe('DpEvent comes from the schema only', () => {
  test('@dpkd/privacy exports the generated type', () => {
    expectTypeOf<DpEvent>().toEqualTypeOf<GeneratedDpEvent>();
  });

  test('no lib declares its own DpEvent type', () => {
    const declaration = /\b(type|interface)\s+DpEvent\b\s*[={<]/;
    const found = readdirSync(join(root, 'libs'))
      .flatMap((lib) => sources(join(root, 'libs', lib, 'src')))
      .filter((file) => declaration.test(readFileSync(file, 'utf8')))
      .map((file) => relative(root, file));
    expect(found).toEqual([]);
  });

  test('the parser knows every event type and field of the schema', () => {
    const schema = JSON.parse(readFileSync(join(root, 'schemas/dp-event.schema.json'), 'utf8'));
    for (const ref of schema.$defs.event.oneOf as { $ref: string }[]) {
      const type = ref.$ref.replace('#/$defs/', '');
      expect(() => parseDpEvent({ type, bogus: 1 })).toThrow(new RegExp(`event.bogus: unknown field for a ${type} event`));
    }
    expect(() => parseDpEvent({ type: 'Gaussian', sigma: 1, b: 2 })).toThrow(/event.b: unknown field for a Gaussian event/);
    expect(parseDpEvent({ type: 'NonPrivate', reason: 'x' })).toEqual({ type: 'NonPrivate', reason: 'x' });
  });
});
