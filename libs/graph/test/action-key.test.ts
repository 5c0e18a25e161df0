// The one key recipe (src/action-key.ts): what a key covers and that recorded material re-hashes to it.
import { describe, expect, test } from 'vitest';
import { type ExpandedGraph, type KeyEnvironment, actionKey, keyFormat, rehashKeyMaterial, validateGraph } from '../src';

const graph = {
  name: 'keys',
  nodes: {
    imdb: { type: 'Dataset', params: { corpus: 'imdb', train: 100 } },
    public: { type: 'Dataset', params: { corpus: 'public-mix' } },
    t0: { type: 'Pretrain', inputs: { data: 'public' }, params: { model: 'tiny' } },
    teacher: { type: 'DPFineTune', inputs: { model: 't0', data: 'imdb' }, params: { epsilon: 2 } },
    syn: { type: 'Sample', inputs: { model: 'teacher', codes: 'imdb' }, params: { count: 100 } },
  },
};

/** A stand-in for the CLI's environment: corpus digests per corpus name, plus common entries. */
const environment = (
  corpora: Record<string, string>,
  common: Record<string, string> = { tokenizer: 'tok-1', tfjs: '4.22.0', backend: 'wasm@4.22.0' },
): KeyEnvironment => ({
  common,
  forNode: (type, params) => (type === 'Dataset' ? { corpus: corpora[params.corpus as string]! } : undefined),
});

function load(keyEnvironment: KeyEnvironment): Map<string, ExpandedGraph['nodes'][number]> {
  const result = validateGraph(JSON.stringify(graph), 'keys.json', { keyEnvironment });
  expect(result.diagnostics).toEqual([]);
  return new Map(result.graph!.nodes.map((n) => [n.id, n]));
}

const base = { imdb: 'a'.repeat(64), 'public-mix': 'b'.repeat(64) };

describe('action keys', () => {
  test('each key is the hash of its recorded material, and re-hashing the material gives it back', () => {
    for (const node of load(environment(base)).values()) {
      expect(node.material.keyFormat).toBe(keyFormat);
      expect(actionKey(node.material)).toBe(node.key);
      expect(rehashKeyMaterial(JSON.parse(JSON.stringify(node.material)))).toBe(node.key);
    }
  });

  test('every input, primary port included, is recorded as <upstream key>#<port>', () => {
    const nodes = load(environment(base));
    expect(nodes.get('t0')!.material.inputs).toEqual({ data: `${nodes.get('public')!.key}#dataset` });
    expect(nodes.get('teacher')!.material.inputs).toEqual({
      model: `${nodes.get('t0')!.key}#model`,
      data: `${nodes.get('imdb')!.key}#dataset`,
    });
  });

  test("a change of a corpus's content digest changes its Dataset's key and everything downstream, nothing else", () => {
    const before = load(environment(base));
    const after = load(environment({ ...base, 'public-mix': 'c'.repeat(64) }));
    for (const id of ['public', 't0', 'teacher', 'syn']) expect(after.get(id)!.key).not.toBe(before.get(id)!.key);
    expect(after.get('imdb')!.key).toBe(before.get('imdb')!.key);
    expect(after.get('public')!.material.environment.corpus).toBe('c'.repeat(64));
  });

  test('the tokenizer, tfjs and backend versions are in every key', () => {
    const before = load(environment(base));
    for (const changed of [{ tokenizer: 'tok-2' }, { tfjs: '4.23.0' }, { backend: 'tensorflow@4.22.0' }]) {
      const after = load(environment(base, { tokenizer: 'tok-1', tfjs: '4.22.0', backend: 'wasm@4.22.0', ...changed }));
      for (const [id, node] of before) expect(after.get(id)!.key, `${id} with ${JSON.stringify(changed)}`).not.toBe(node.key);
    }
  });

  test('material that was edited after the fact no longer re-hashes to the key', () => {
    const node = load(environment(base)).get('teacher')!;
    const edited = { ...node.material, params: { ...node.material.params, epsilon: 20 } };
    expect(rehashKeyMaterial(edited)).not.toBe(node.key);
  });
});
