import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { createAjv, graphValidator, nodeSchemas, schemaFiles, validatorFor } from '../src';

const root = join(import.meta.dirname, '../../..');

describe('generated types', () => {
  test('are up to date with schemas/ (npm run codegen regenerates them)', () => {
    const r = spawnSync(process.execPath, [join(root, 'tools/codegen.mjs'), '--check'], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  }, 30_000);
});

describe('validators', () => {
  test('every schema under schemas/ compiles in strict mode', () => {
    for (const path of Object.keys(schemaFiles)) expect(() => validatorFor(path), path).not.toThrow();
  });

  test('there is one node schema per node type, each with a signature', () => {
    expect(
      nodeSchemas()
        .map((s) => s.signature.type)
        .sort(),
    ).toEqual([
      'Audit',
      'DPFineTune',
      'Dataset',
      'Distill',
      'Evaluate',
      'FineTune',
      'HiddenAlign',
      'Pretrain',
      'PublicModel',
      'Report',
      'Sample',
      'SoftLabel',
    ]);
  });

  test('the graph validator reports all errors, not just the first', () => {
    const validate = graphValidator();
    expect(validate({ nodes: { a: { type: 1 } }, extra: true })).toBe(false);
    expect(validate.errors!.map((e) => e.keyword).sort()).toEqual(['additionalProperties', 'required', 'type']);
  });

  test('useDefaults fills in node param defaults', () => {
    const validate = validatorFor('nodes/distill.schema.json', { useDefaults: true });
    const params: Record<string, unknown> = {};
    expect(validate(params)).toBe(true);
    expect(params).toMatchObject({ lambda: 0.4, temperature: 1, alpha: 0, klReduction: 'paper', skipPositions: 5, lr: 0.00008 });
  });

  test('a malformed x-dpkd signature is rejected when the schema is compiled', () => {
    const ajv = createAjv();
    const bad = { type: 'object', 'x-dpkd': { type: 'Bad', version: 1, heavy: false, inputs: { x: { kind: 'Modle' } }, outputs: {} } };
    expect(() => ajv.compile(bad)).toThrow(/x-dpkd|schema is invalid/);
  });

  test('unknown keywords are refused (strict mode)', () => {
    expect(() => createAjv().compile({ type: 'object', propertys: {} })).toThrow(/strict mode/);
  });
});
