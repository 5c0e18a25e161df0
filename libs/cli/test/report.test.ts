import { expect, test } from 'vitest';
import { runCli, scratchDir } from './run-cli';

const scratchStore = () => scratchDir('dpkd-report-');

test('report on a graph that has not run says so and exits 1', () => {
  const r = runCli(['report', 'graphs/distildp-imdb.json', '--store', scratchStore()]);
  expect(r.code).toBe(1);
  expect(r.stderr).toMatch(/no result table for graphs\/distildp-imdb\.json: Report node\(s\) table have not run; run `dpkd run/);
});

test('report on an unknown run id exits 2', () => {
  const r = runCli(['report', '20990101T000000-abcdef', '--store', scratchStore()]);
  expect(r.code).toBe(2);
  expect(r.stderr).toMatch(/neither a graph file nor a run id/);
});

test('report rejects an unknown format', () => {
  const r = runCli(['report', 'graphs/distildp-imdb.json', '--format', 'pdf']);
  expect(r.code).toBe(2);
  expect(r.stderr).toMatch(/Allowed choices are md, csv, tex, json, svg/);
});
