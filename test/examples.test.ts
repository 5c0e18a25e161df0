// The docs cannot drift from the code: every JSON example in README.md and docs/*.md names the graph file it
// comes from (`<!-- example: graphs/... -->` on the line before it) and is that file (a whole graph) or a part
// of it (a fragment: every key it shows has the file's value). Every graph under graphs/examples/ validates
// and plans with a cost estimate, and the guide's first graph runs: its results, `show` and `status` agree
// with the store, and the plan's token estimates are the tokens the nodes then processed.
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { dpkd, stackTrace, workspaceRoot } from './support/dpkd';

const scratch = mkdtempSync(join(tmpdir(), 'dpkd-examples-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

interface Example {
  where: string;
  file?: string;
  json: string;
}

/** Every ```json block of a Markdown file, with the example file named on the line before it. */
function jsonBlocks(path: string): Example[] {
  const lines = readFileSync(path, 'utf8').split('\n');
  const blocks: Example[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (lines[i]!.trim() !== '```json') continue;
    const end = lines.indexOf('```', i + 1);
    const marker = /^<!-- example: (\S+) -->$/.exec(lines[i - 1]?.trim() ?? '');
    blocks.push({
      where: `${relative(workspaceRoot, path)}:${i + 1}`,
      ...(marker ? { file: marker[1]! } : {}),
      json: lines.slice(i + 1, end).join('\n'),
    });
    i = end;
  }
  return blocks;
}

/** Where `part` differs from `whole` (a key it shows with another value), or undefined when it is a part of it. */
function notPartOf(part: unknown, whole: unknown, at = ''): string | undefined {
  if (part !== null && typeof part === 'object' && !Array.isArray(part)) {
    if (whole === null || typeof whole !== 'object' || Array.isArray(whole)) return `${at || '/'}: an object here, not in the file`;
    for (const [k, v] of Object.entries(part)) {
      if (!(k in whole)) return `${at}/${k}: not in the file`;
      const why = notPartOf(v, (whole as Record<string, unknown>)[k], `${at}/${k}`);
      if (why) return why;
    }
    return undefined;
  }
  return JSON.stringify(part) === JSON.stringify(whole)
    ? undefined
    : `${at}: ${JSON.stringify(part)} in the docs, ${JSON.stringify(whole)} in the file`;
}

const docs = [
  join(workspaceRoot, 'README.md'),
  ...readdirSync(join(workspaceRoot, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => join(workspaceRoot, 'docs', f)),
];
const examples = docs.flatMap(jsonBlocks);
const exampleDir = join(workspaceRoot, 'graphs/examples');
const exampleFiles = readdirSync(exampleDir)
  .filter((f) => f.endsWith('.json'))
  .sort();

describe('every JSON example in README.md and docs/ is a graph file', () => {
  test('there are examples, and each names its file', () => {
    expect(examples.length).toBeGreaterThanOrEqual(5);
    expect(examples.filter((e) => !e.file).map((e) => e.where)).toEqual([]);
  });

  for (const e of examples) {
    test(`${e.where} is (part of) ${e.file}`, () => {
      const path = join(workspaceRoot, e.file!);
      expect(existsSync(path), `${e.where} names ${e.file}, which does not exist`).toBe(true);
      const file = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
      const text = e.json.trim();
      const shown = JSON.parse(text.startsWith('{') ? text : `{${text}}`) as Record<string, unknown>;
      // A whole graph must be the file; a fragment must be a part of it.
      if ('name' in shown && 'nodes' in shown) expect(shown).toEqual(file);
      else expect(notPartOf(shown, file)).toBeUndefined();
    });
  }

  test('the example checker notices a changed value and a key the file lacks', () => {
    const file = { nodes: { a: { params: { steps: 100 } } } };
    expect(notPartOf({ nodes: { a: { params: { steps: 100 } } } }, file)).toBeUndefined();
    expect(notPartOf({ nodes: { a: { params: { steps: 200 } } } }, file)).toBe('/nodes/a/params/steps: 200 in the docs, 100 in the file');
    expect(notPartOf({ nodes: { b: {} } }, file)).toBe('/nodes/b: not in the file');
  });
});

interface PlanJson {
  nodes: Array<{ id: string; type: string; status: string }>;
  estimate: { nodes: Array<{ node: string; type: string; tokens?: number; seconds?: number; basis: string }>; seconds: number };
}

const planOf = async (file: string, store: string): Promise<PlanJson> => {
  const r = await dpkd(['plan', file, '--json', '--store', store]);
  expect(r.stderr).not.toMatch(stackTrace);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as PlanJson;
};

describe('graphs/examples/', () => {
  for (const name of exampleFiles) {
    test(`${name} validates, plans, and has a cost estimate for every heavy node`, async () => {
      const file = join(exampleDir, name);
      const validated = await dpkd(['validate', file]);
      expect(validated.code, validated.stderr).toBe(0);
      const plan = await planOf(file, join(scratch, `plan-${name}`));
      expect(plan.estimate.nodes.length).toBeGreaterThan(0);
      for (const n of plan.estimate.nodes) {
        expect(n.tokens, `${n.node}: ${n.basis}`).toBeGreaterThan(0);
        expect(n.seconds, `${n.node}: ${n.basis}`).toBeGreaterThan(0);
      }
    }, 120_000);
  }
});

describe("the guide's first graph runs", () => {
  const file = join(exampleDir, 'first.json');
  const store = join(scratch, 'first');

  test('its results, `show` and `status` agree with the store, and the estimate counted the tokens that ran', async () => {
    const plan = await planOf(file, store);
    const estimated = new Map(plan.estimate.nodes.map((n) => [n.node, n]));
    expect([...estimated.keys()].sort()).toEqual(['base', 'dp', 'ppl']);

    const run = await dpkd(['run', file, '--store', store, '--executor', 'in-process', '--jobs', '1']);
    expect(run.code, run.stderr).toBe(0);
    const line = /^ {2}ppl \(Evaluate\): perplexity ([\d.]+) · ε 2\.000 at δ 2\.0e-6 \(imdb\) · 1 privacy gap\(s\)$/m.exec(run.stdout);
    expect(line, run.stdout).not.toBeNull();

    const show = async (id: string) => {
      const r = await dpkd(['show', id, '--store', store, '--json']);
      expect(r.code, r.stderr).toBe(0);
      return JSON.parse(r.stdout) as {
        metrics: Record<string, number>;
        params: Record<string, number>;
        privacy: { epsilon: number; delta: number; gaps: string[] };
        log?: string;
      };
    };
    const ppl = await show('ppl');
    expect(ppl.metrics.perplexity!.toFixed(2)).toBe(line![1]);
    expect(ppl.privacy.epsilon).toBeGreaterThan(1.9);
    expect(ppl.privacy.epsilon).toBeLessThanOrEqual(2);
    expect(ppl.privacy.gaps).toEqual(['imdb: evaluation on the private test split (not noised)']);
    expect(existsSync(ppl.log!)).toBe(true);

    // The plan's tokens are the tokens the nodes then processed.
    const base = await show('base');
    expect(estimated.get('base')!.tokens).toBe(base.metrics.tokens);
    const dp = await show('dp');
    expect(estimated.get('dp')!.tokens).toBe(dp.metrics.plannedSteps! * dp.params.batchSize! * dp.params.seqLen!);
    expect(estimated.get('ppl')!.tokens).toBeGreaterThanOrEqual(ppl.metrics.tokens!);

    const status = await dpkd(['status', '--store', store]);
    expect(status.code).toBe(0);
    expect(status.stdout).toMatch(
      new RegExp(`ran +ppl \\(Evaluate\\) [\\d.]+ s ε\\(imdb\\)=2\\.000 at δ=2\\.02e-6 perplexity ${line![1]}`),
    );
    expect(status.stdout).toContain(`log: ${ppl.log}`);
  }, 240_000);
});
