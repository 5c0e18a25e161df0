import { describe, expect, test } from 'vitest';
import { runCli, scratchDir } from './run-cli';

/** A fresh store per test: plan reads cache status from it (and must not touch the workspace's .dpkd/). */
const scratchStore = () => scratchDir('dpkd-plan-');

const fixtures = 'test/fixtures/graphs';

describe('dpkd validate', () => {
  test('valid example graphs exit 0', () => {
    const r = runCli(['validate', 'graphs/distildp-imdb.json', 'graphs/sweep-epsilon-student.json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/graphs\/sweep-epsilon-student\.json: valid \(\d+ nodes, 16 sweep points\)/);
  });

  test('an invalid graph exits 2 with file:line:col: pointer: message (hint)', () => {
    const r = runCli(['validate', `${fixtures}/missing-node.json`]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(
      /^test\/fixtures\/graphs\/missing-node\.json:\d+:\d+: \/nodes\/soft\/inputs\/teacher: .*\(did you mean `teacher`\?\)$/m,
    );
  });

  test('a file that is not JSON gets the parser position, never a stack trace', () => {
    const r = runCli(['validate', `${fixtures}/not-json.json`]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/not-json\.json:4:31: \/: not valid JSON/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  test('a missing file is a one-line error with exit 2', () => {
    const r = runCli(['validate', 'no/such/graph.json']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/no\/such\/graph\.json:1:1: \/: cannot read the graph: no such file/);
  });
});

describe('dpkd plan', () => {
  test('--json prints one object with the expanded DAG', () => {
    const r = runCli(['plan', 'graphs/sweep-epsilon-student.json', '--json', '--store', scratchStore()]);
    expect(r.code).toBe(0);
    const plan = JSON.parse(r.stdout);
    expect(plan.graph).toBe('sweep-epsilon-student');
    expect(plan.sweepPoints).toBe(16);
    const ids = plan.nodes.map((n: { id: string }) => n.id);
    expect(ids.filter((id: string) => id.startsWith('teacher['))).toHaveLength(4);
    for (const n of plan.nodes) {
      expect(Object.keys(n)).toEqual(expect.arrayContaining(['id', 'type', 'deps', 'key', 'status']));
      expect(n.status).toBe('to-run');
      expect(n.key).toMatch(/^[0-9a-f]{64}$/);
      for (const d of n.deps) expect(ids.indexOf(d)).toBeLessThan(ids.indexOf(n.id));
    }
  });

  test('text output lists nodes in topological order with type, key and deps', () => {
    const r = runCli(['plan', 'graphs/distildp-imdb.json', '--store', scratchStore()]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^graph distildp-imdb: \d+ node\(s\), 1 sweep point/);
    expect(r.stdout).toMatch(/to-run\s+teacher \(DPFineTune\) [0-9a-f]{12} <- t0, imdb/);
  });

  test('an invalid graph exits 2', () => {
    expect(runCli(['plan', `${fixtures}/cycle.json`, '--json']).code).toBe(2);
  });
});

describe('dpkd graph', () => {
  test('renders mermaid by default and dot on request', () => {
    const mermaid = runCli(['graph', 'graphs/distildp-imdb.json']);
    expect(mermaid.code).toBe(0);
    expect(mermaid.stdout.startsWith('flowchart TD')).toBe(true);
    const dot = runCli(['graph', 'graphs/distildp-imdb.json', '--format', 'dot']);
    expect(dot.code).toBe(0);
    expect(dot.stdout).toContain('"teacher" -> "syn" [label="model"]');
  });

  test('an unknown format exits 2', () => {
    expect(runCli(['graph', 'graphs/distildp-imdb.json', '--format', 'png']).code).toBe(2);
  });
});

test.each(['validate', 'plan', 'graph'])('dpkd %s --help exits 0', (command) => {
  const r = runCli([command, '--help']);
  expect(r.code).toBe(0);
  expect(r.stdout).toContain(`Usage: dpkd ${command}`);
});
