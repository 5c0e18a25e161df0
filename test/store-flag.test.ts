// `--store` naming a file (or DPKD_STORE naming one) is a one-line message and exit 2 in every command that
// opens the store: never an internal error with a stack trace.
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { dpkd, stackTrace, workspaceRoot } from './support/dpkd';

const dir = mkdtempSync(join(tmpdir(), 'dpkd-store-flag-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const notAStore = join(dir, 'a-file');
writeFileSync(notAStore, 'not a directory');
const graph = join(dir, 'graph.json');
writeFileSync(
  graph,
  JSON.stringify({
    name: 'store-flag',
    nodes: {
      public: { type: 'Dataset', params: { corpus: 'public-mix', train: 50, validation: 5, test: 5 } },
      t0: { type: 'Pretrain', inputs: { data: 'public' }, params: { model: 'tiny', steps: 1, seqLen: 32 } },
    },
  }),
);

/** Every command with a --store option, with the arguments it needs to reach the store. */
const commands: string[][] = [
  ['run', graph],
  ['plan', graph],
  ['report', graph],
  ['status'],
  ['show', 't0'],
  ['cache', 'ls'],
  ['cache', 'verify'],
  ['cache', 'gc'],
  ['ledger'],
  ['ledger', 'verify'],
  ['ledger', 'rebuild'],
  ['exec', '0'.repeat(64)],
  ['zoo', 'export', graph, 't0', 'some-model'],
  ['ui', '--port', '0'],
  ['worker', '--queue', 'redis://127.0.0.1:1'],
];

describe('--store naming a file', () => {
  test('the list above covers every command that takes --store', () => {
    const sources = readdirSync(join(workspaceRoot, 'libs/cli/src/commands')).map((f) =>
      readFileSync(join(workspaceRoot, 'libs/cli/src/commands', f), 'utf8'),
    );
    const options = sources.join('\n').match(/\.option\('--store /g) ?? [];
    expect(options.length, 'a command gained --store: add it to `commands` in this test').toBe(commands.length);
  });

  for (const args of commands) {
    test(`dpkd ${args[0]}${args[1] && !args[1].includes('/') ? ` ${args[1]}` : ''}: one line, exit 2`, async () => {
      const r = await dpkd([...args, '--store', notAStore]);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr.trim()).toBe(
        `dpkd: Cannot open the store ${notAStore}: it is a file, not a directory. Pass --store a directory (or set DPKD_STORE to one).`,
      );
      expect(r.stderr).not.toMatch(stackTrace);
    }, 120_000);
  }
});
