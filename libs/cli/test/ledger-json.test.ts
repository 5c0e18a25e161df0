// `dpkd ledger verify --json`: one JSON object with the verification result, whichever side of `verify` the flag is
// on (the parent `ledger` command defines --json too, and commander hands it the flag).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, test } from 'vitest';
import { copyOf, runCli, scratchDir, setupInProcess } from './run-cli';

const env = { DPKD_TEST_NODES: '1' };

/**
 * A store whose ledger holds one charge: a DP node run in-process on a fake private dataset. Made once; a test that
 * damages it works on a copy.
 */
let oneCharge: string;
beforeAll(async () => {
  const dir = scratchDir('dpkd-cli-ledger-json-');
  const graph = join(dir, 'graph.json');
  oneCharge = join(dir, 'store');
  writeFileSync(
    graph,
    JSON.stringify({
      name: 'ledger-json',
      nodes: {
        imdb: { type: 'FakeDataset', params: { unit: 'imdb', n: 100 } },
        teacher: { type: 'EmitDpEvent', inputs: { data: 'imdb' }, params: { sigma: 1, q: 0.1, steps: 10 } },
      },
    }),
  );
  expect((await setupInProcess(['run', graph, '--store', oneCharge, '--executor', 'in-process'], env)).code).toBe(0);
}, 120_000);

describe('dpkd ledger verify --json', () => {
  test('an intact ledger: one JSON object, ok, with the chain, each unit recomputed and the DP manifests counted; exit 0', () => {
    const store = oneCharge;
    for (const args of [
      ['ledger', 'verify', '--json', '--store', store],
      ['ledger', '--json', 'verify', '--store', store],
    ]) {
      const result = runCli(args);
      expect(result.code).toBe(0);
      const report = JSON.parse(result.stdout);
      expect(report).toMatchObject({ ok: true, intact: true, chain: { ok: true, entries: 1 }, dpManifests: 1, uncharged: [] });
      expect(report.units).toHaveLength(1);
      expect(report.units[0]).toMatchObject({ unit: 'imdb', ok: true });
      expect(report.units[0].recorded).toBeCloseTo(report.units[0].recomputed, 12);
    }
  });

  test('a damaged ledger: ok false with where the chain breaks, nothing but JSON on stdout; exit 1', () => {
    const store = copyOf(oneCharge);
    writeFileSync(join(store, 'logs/privacy-ledger.jsonl'), 'garbage\n', { flag: 'a' });
    const result = runCli(['ledger', 'verify', '--json', '--store', store]);
    expect(result.code).toBe(1);
    const report = JSON.parse(result.stdout);
    expect(report.ok).toBe(false);
    expect(report.intact).toBe(false);
    expect(report.chain).toMatchObject({ ok: false, firstBadSeq: 2 });
    expect(report.chain.reason).toContain('line 2 is not JSON');
  });
});
