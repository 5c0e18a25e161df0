// The newcomer's path on a clean clone: every graph in graphs/ validates and plans with nothing beyond
// `npm ci` (no Debian cache: DPKD_DATA_CACHE points at an empty directory, whatever data/cache holds on
// this machine), and the keys do not depend on whether the Debian cache exists.
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { corpusPins } from '@dpkd/data';
import { describe, expect, test } from 'vitest';
import { buildBundle, dpkd, dpkdBinaryAsync, mapLimited, namesPointer, stackTrace, withoutDataCache, workspaceRoot } from './support/dpkd';

const { scratch, emptyDataCache } = withoutDataCache('dpkd-newcomer-');
const graphs = readdirSync(join(workspaceRoot, 'graphs'))
  .filter((f) => f.endsWith('.json'))
  .sort();

interface PlanJson {
  nodes: Array<{ id: string; type: string; key: string; status: string }>;
}

describe('every graph in graphs/ on a clean clone (no Debian cache)', () => {
  test('there are graphs to check', () => expect(graphs.length).toBeGreaterThanOrEqual(3));

  for (const graph of graphs) {
    test(`graphs/${graph} validates and plans (exit 0, nothing cached, no stack trace)`, async () => {
      const file = join(workspaceRoot, 'graphs', graph);
      const validated = await dpkd(['validate', file]);
      expect(validated.stderr).toBe('');
      expect(validated.code).toBe(0);
      const store = join(scratch, `store-${graph}`);
      const planned = await dpkd(['plan', file, '--json', '--store', store]);
      expect(planned.stderr).not.toMatch(stackTrace);
      expect(planned.stderr).toBe('');
      expect(planned.code).toBe(0);
      const plan = JSON.parse(planned.stdout) as PlanJson;
      expect(plan.nodes.length).toBeGreaterThan(0);
      expect(plan.nodes.every((n) => n.status === 'to-run')).toBe(true);
    }, 120_000);
  }

  test('the real binary plans each of them too (what a new user runs after `npm ci`)', async () => {
    buildBundle(); // what `npm ci` does (prepare); written atomically, so concurrent test files are safe
    // Two processes at a time: each plan is one process's work (loading the corpora, calibrating σ), so a
    // second core, when free, halves the wait. Each graph still plans in its own fresh process.
    const results = await mapLimited(graphs, 2, (graph) =>
      dpkdBinaryAsync(['plan', join(workspaceRoot, 'graphs', graph), '--store', join(scratch, 'store-binary')], {
        DPKD_DATA_CACHE: emptyDataCache,
      }),
    );
    for (const [i, graph] of graphs.entries()) {
      const r = results[i]!;
      expect(r.stderr, graph).not.toMatch(stackTrace);
      expect(r.code, `${graph}: ${r.stderr}`).toBe(0);
    }
  }, 300_000);
});

describe('a corpus that needs the Debian cache', () => {
  test('is a message with the command that gets it, at the corpus field (exit 2)', async () => {
    const file = join(scratch, 'fortunes.json');
    writeFileSync(
      file,
      JSON.stringify({ name: 'fortunes', nodes: { public: { type: 'Dataset', params: { corpus: 'fortunes' } } } }, null, 2),
    );
    const r = await dpkd(['plan', file, '--store', join(scratch, 'store-fortunes')]);
    expect(r.code).toBe(2);
    expect(r.stderr).not.toMatch(stackTrace);
    expect(r.stderr).toMatch(namesPointer);
    expect(r.stderr).toContain(
      `${file}: /nodes/public/params/corpus: Dataset node public: corpus 'fortunes' is not available on this machine; to get it: npm run data:debian`,
    );
  });
});

describe('keys on machines with and without the Debian cache', () => {
  test('are the same, and a Dataset key covers its corpus pin', async () => {
    const file = join(workspaceRoot, 'graphs', 'quickstart.json');
    const planWith = async (cache: string) => {
      process.env.DPKD_DATA_CACHE = cache;
      const r = await dpkd(['plan', file, '--json', '--store', join(scratch, 'store-keys')]);
      expect(r.code).toBe(0);
      return (JSON.parse(r.stdout) as PlanJson).nodes.map((n) => [n.id, n.key]);
    };
    const without = await planWith(emptyDataCache);
    // A cache holding the Debian fortunes (a stand-in made here, so the test does not need apt).
    const withFortunes = join(scratch, 'with-fortunes');
    mkdirSync(join(withFortunes, 'deb/usr/share/games/fortunes'), { recursive: true });
    writeFileSync(join(withFortunes, 'deb/usr/share/games/fortunes/f'), 'A fortune.\n%\nAnother.\n');
    expect(await planWith(withFortunes)).toEqual(without);

    // That stand-in is not the pinned fortunes: a Dataset reading it is refused with both digests and the fix.
    const file2 = join(scratch, 'fortunes-edited.json');
    writeFileSync(
      file2,
      JSON.stringify({ name: 'f', nodes: { quotes: { type: 'Dataset', params: { corpus: 'fortunes', validation: 0, test: 0 } } } }),
    );
    const refused = await dpkd(['plan', file2, '--store', join(scratch, 'store-keys')]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(
      new RegExp(
        `/nodes/quotes/params/corpus: Dataset node quotes: corpus 'fortunes' has content sha256 [0-9a-f]{64}, but dpkd pins ${corpusPins.fortunes.sha256}; to get the pinned content: rm -rf data/cache/deb`,
      ),
    );
    process.env.DPKD_DATA_CACHE = emptyDataCache;

    const { keyEnvironment } = await import('@dpkd/cli');
    const env = await keyEnvironment();
    expect(env.forNode?.('Dataset', { corpus: 'public-mix' })).toEqual({ corpus: corpusPins['public-mix'].sha256 });
    expect(Object.keys(env.common).sort()).toEqual(['backend', 'tfjs', 'tokenizer']);
    expect(env.common.backend).toMatch(/^(wasm|cpu|tensorflow)@\d+\.\d+\.\d+/);
  }, 120_000);
});
