// Hermetic keys end to end, through `dpkd` in process: a manifest's recorded key material re-hashes to
// its key, and `cache verify` reports (and `--repair` removes) a manifest whose material was edited.
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { rehashKeyMaterial } from '@dpkd/graph';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { dpkd } from './support/dpkd';

const scratch = mkdtempSync(join(tmpdir(), 'dpkd-keys-'));
const store = join(scratch, 'store');
let savedHook: string | undefined;
beforeAll(() => {
  savedHook = process.env.DPKD_TEST_NODES;
  process.env.DPKD_TEST_NODES = '1'; // the engine's test-only node types: no model, no corpus
});
afterAll(() => {
  if (savedHook === undefined) delete process.env.DPKD_TEST_NODES;
  else process.env.DPKD_TEST_NODES = savedHook;
  rmSync(scratch, { recursive: true, force: true });
});

const graphFile = join(scratch, 'g.json');
const manifestOf = (key: string) => join(store, 'actions', `${key}.json`);

describe('recorded key material', () => {
  test('re-hashes to the key; an edited one is reported by cache verify and removed by --repair', async () => {
    writeFileSync(
      graphFile,
      JSON.stringify({
        name: 'keys',
        nodes: {
          data: { type: 'FakeDataset', params: { unit: 'u', n: 10, private: false } },
          a: { type: 'Peek', inputs: { data: 'data' } },
          b: { type: 'Count', inputs: { in: 'a' }, params: { file: join(scratch, 'count.txt') } },
        },
      }),
    );
    const ran = await dpkd(['run', graphFile, '--store', store, '--executor', 'in-process', '--jobs', '1']);
    expect(ran.stderr).toMatch(/3 ran/);
    expect(ran.code).toBe(0);
    const plan = JSON.parse((await dpkd(['plan', graphFile, '--json', '--store', store])).stdout) as {
      nodes: Array<{ id: string; key: string; status: string }>;
    };
    expect(plan.nodes.map((n) => n.status)).toEqual(['cached', 'cached', 'cached']);
    const keyOf = (id: string) => plan.nodes.find((n) => n.id === id)!.key;

    for (const n of plan.nodes) {
      const manifest = JSON.parse(readFileSync(manifestOf(n.key), 'utf8')) as { keyMaterial: Record<string, unknown> };
      expect(rehashKeyMaterial(manifest.keyMaterial)).toBe(n.key);
      expect(manifest.keyMaterial.environment).toMatchObject({
        backend: expect.any(String),
        tfjs: expect.any(String),
        tokenizer: expect.any(String),
      });
    }
    expect((await dpkd(['cache', 'verify', '--store', store])).code).toBe(0);

    // Someone edits a's recorded params: its key no longer names its material.
    const path = manifestOf(keyOf('a'));
    const manifest = JSON.parse(readFileSync(path, 'utf8'));
    manifest.keyMaterial.params.edited = true;
    writeFileSync(path, JSON.stringify(manifest));
    const verified = await dpkd(['cache', 'verify', '--json', '--store', store]);
    expect(verified.code).toBe(1);
    const report = JSON.parse(verified.stdout) as { affected: Array<{ key: string; why: string }> };
    expect(report.affected.find((x) => x.key === keyOf('a'))?.why).toMatch(/recorded key material does not re-hash to its key/);
    // b read a's result: it is affected too.
    expect(report.affected.map((x) => x.key).sort()).toEqual([keyOf('a'), keyOf('b')].sort());

    expect((await dpkd(['cache', 'verify', '--repair', '--store', store])).code).toBe(0);
    expect(readdirSync(join(store, 'actions'))).not.toContain(`${keyOf('a')}.json`);
  }, 120_000);
});
