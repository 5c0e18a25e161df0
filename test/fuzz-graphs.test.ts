// Every user-caused failure is a message: mutated versions of graphs/*.json (wrong types, missing and
// unknown fields, huge and negative numbers, bad references, cycles, non-JSON) go through `dpkd validate`
// and `dpkd plan`, in process through runDpkd (the code the bin runs) and a few through the real binary.
// Each must exit 0, 2 or 3, print no stack trace, and name a JSON pointer whenever it exits non-zero.
// The Debian cache is pointed at an empty directory, as on a fresh clone.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { buildBundle, dpkd, dpkdBinary, type DpkdResult, namesPointer, stackTrace, withoutDataCache, workspaceRoot } from './support/dpkd';

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type Path = Array<string | number>;

const graphsDir = join(workspaceRoot, 'graphs');
const seeds = readdirSync(graphsDir)
  .filter((f) => f.endsWith('.json'))
  .sort()
  .map((f) => JSON.parse(readFileSync(join(graphsDir, f), 'utf8')) as { [key: string]: Json })
  // The RDP accountant: a valid mutant's plan then costs milliseconds instead of a PLD composition per
  // sweep point, which keeps 1,000 graphs within a minute; what is fuzzed is the input handling.
  .map((g) => ({ ...g, privacy: { ...((g.privacy ?? {}) as { [key: string]: Json }), accountant: 'rdp' } }));

const { scratch, emptyDataCache } = withoutDataCache('dpkd-fuzz-');
const store = join(scratch, 'store');

/** Every path in a JSON value (the root excluded), objects and arrays included. */
function pathsOf(value: Json, prefix: Path = [], out: Path[] = []): Path[] {
  if (value !== null && typeof value === 'object') {
    for (const [k, v] of Array.isArray(value) ? value.map((v, i) => [i, v] as const) : Object.entries(value)) {
      const path = [...prefix, k];
      out.push(path);
      pathsOf(v, path, out);
    }
  }
  return out;
}

const parentOf = (root: Json, path: Path): { [key: string]: Json } | Json[] =>
  path.slice(0, -1).reduce<Json>((v, k) => (v as { [key: string]: Json })[k as string]!, root) as { [key: string]: Json } | Json[];

const oddValue: fc.Arbitrary<Json> = fc.oneof(
  fc.constantFrom<Json>(
    null,
    true,
    false,
    '',
    'x',
    [],
    {},
    0,
    -1,
    -0.5,
    0.5,
    1e9,
    -1e9,
    1e308,
    -1e308,
    2 ** 53,
    'public-mix',
    'fortunes',
    'foldoc',
    '${epsilon}',
    '${nope}',
    'tiny',
    { type: 'Dataset' },
  ),
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.string({ maxLength: 6 }),
);

type Mutation =
  | { kind: 'set'; at: number; value: Json }
  | { kind: 'delete'; at: number }
  | { kind: 'add'; at: number; key: string; value: Json }
  | { kind: 'badRef'; at: number; target: string }
  | { kind: 'cycle'; a: number; b: number }
  | { kind: 'budget'; epsilon: number };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('set' as const), at: fc.nat(), value: oddValue }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat() }),
  fc.record({
    kind: fc.constant('add' as const),
    at: fc.nat(),
    key: fc.constantFrom('unknown', 'params', 'inputs', 'seed', 'extra', 'type'),
    value: oddValue,
  }),
  fc.record({
    kind: fc.constant('badRef' as const),
    at: fc.nat(),
    target: fc.constantFrom('missing', 'imdb.nope', 'x.y.z', '', 'public', 't0', 'teacher.model'),
  }),
  fc.record({ kind: fc.constant('cycle' as const), a: fc.nat(), b: fc.nat() }),
  // A tight budget: a graph that plans fine otherwise must then exit 3, naming the budget.
  fc.record({ kind: fc.constant('budget' as const), epsilon: fc.constantFrom(0.01, 0.5, 1, 2.5) }),
);

/** A text-level damage applied last: none, a cut, or an inserted character (non-JSON). */
const textDamage = fc.oneof(
  { weight: 6, arbitrary: fc.constant(undefined) },
  { weight: 1, arbitrary: fc.record({ cut: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ insert: fc.constantFrom('{', ',', '"', ']', '/* c */', 'NaN', '\u0000', '\n}'), at: fc.nat() }) },
);

function apply(seed: { [key: string]: Json }, mutations: Mutation[]): Json {
  const graph = structuredClone(seed) as Json;
  const nodes = () => Object.entries(((graph as { nodes?: Json }).nodes ?? {}) as { [key: string]: Json });
  for (const m of mutations) {
    const paths = pathsOf(graph);
    if (m.kind === 'set' || m.kind === 'delete') {
      if (paths.length === 0) continue;
      const path = paths[m.at % paths.length]!;
      const parent = parentOf(graph, path);
      const key = path.at(-1)!;
      if (m.kind === 'set') (parent as { [key: string]: Json })[key as string] = m.value;
      else if (Array.isArray(parent)) parent.splice(key as number, 1);
      else delete parent[key as string];
    } else if (m.kind === 'add') {
      const objects = [[], ...paths].filter((p) => {
        const v = p.reduce<Json>((x, k) => (x as { [key: string]: Json })[k as string]!, graph);
        return v !== null && typeof v === 'object' && !Array.isArray(v);
      });
      const target = objects[m.at % objects.length]!.reduce<Json>((x, k) => (x as { [key: string]: Json })[k as string]!, graph) as {
        [key: string]: Json;
      };
      target[m.key] = m.value;
    } else if (m.kind === 'badRef') {
      const withInputs = nodes().filter(
        ([, n]) => n && typeof n === 'object' && !Array.isArray(n) && n.inputs && typeof n.inputs === 'object',
      );
      if (withInputs.length === 0) continue;
      const inputs = (withInputs[m.at % withInputs.length]![1] as { inputs: { [key: string]: Json } }).inputs;
      const ports = Object.keys(inputs);
      inputs[ports.length ? ports[m.at % ports.length]! : 'data'] = m.target;
    } else if (m.kind === 'budget') {
      const budgets = ((graph as { privacy?: { budgets?: Json } }).privacy?.budgets ?? {}) as { [key: string]: Json };
      for (const b of Object.values(budgets)) if (b && typeof b === 'object' && !Array.isArray(b)) b.epsilon = m.epsilon;
    } else {
      // Two nodes that read each other: a cycle (ports kept where they exist, so the cycle is what is wrong).
      const all = nodes().filter(([, n]) => n && typeof n === 'object' && !Array.isArray(n));
      if (all.length < 2) continue;
      const [aId, a] = all[m.a % all.length]! as [string, { [key: string]: Json }];
      const [bId, b] = all[(m.a + 1 + (m.b % (all.length - 1))) % all.length]! as [string, { [key: string]: Json }];
      const portOf = (n: { [key: string]: Json }) => Object.keys((n.inputs as object | undefined) ?? {})[0] ?? 'data';
      const link = (n: { [key: string]: Json }, to: string) => {
        const inputs = n.inputs && typeof n.inputs === 'object' && !Array.isArray(n.inputs) ? n.inputs : (n.inputs = {});
        (inputs as { [key: string]: Json })[portOf(n)] = to;
      };
      link(a, bId);
      link(b, aId);
    }
  }
  return graph;
}

function render(graph: Json, damage: { cut: number } | { insert: string; at: number } | undefined): string {
  const text = JSON.stringify(graph, null, 2);
  if (!damage) return text;
  if ('cut' in damage) return text.slice(0, damage.cut % text.length);
  const at = damage.at % (text.length + 1);
  return text.slice(0, at) + damage.insert + text.slice(at);
}

const mutatedGraph = fc
  .record({ seed: fc.nat(), mutations: fc.array(mutation, { minLength: 1, maxLength: 3 }), damage: textDamage })
  .map(({ seed, mutations, damage }) => render(apply(seeds[seed % seeds.length]!, mutations), damage));

let fileCount = 0;
const writeGraph = (text: string): string => {
  const file = join(scratch, `g${fileCount++}.json`);
  writeFileSync(file, text);
  return file;
};

function expectAMessage(r: DpkdResult, what: string): void {
  const context = `${what}\nexit ${r.code}\n${r.stderr.slice(0, 2000)}`;
  expect([0, 2, 3], context).toContain(r.code);
  expect(r.stderr, context).not.toMatch(stackTrace);
  expect(r.stderr, context).not.toMatch(/internal error/);
  if (r.code !== 0) expect(r.stderr, context).toMatch(namesPointer);
}

describe('mutated graphs through validate and plan', () => {
  test('500 mutated graphs in process: exit 0, 2 or 3, no stack trace, a JSON pointer on every failure', async () => {
    const codes = new Map<string, number>();
    await fc.assert(
      fc.asyncProperty(mutatedGraph, async (text) => {
        const file = writeGraph(text);
        const validated = await dpkd(['validate', file]);
        expectAMessage(validated, `validate ${file}:\n${text.slice(0, 3000)}`);
        const planned = await dpkd(['plan', file, '--store', store]);
        expectAMessage(planned, `plan ${file}:\n${text.slice(0, 3000)}`);
        const key = `validate ${validated.code}, plan ${planned.code}`;
        codes.set(key, (codes.get(key) ?? 0) + 1);
      }),
      { seed: 20261130, numRuns: 500, endOnFailure: true },
    );
    // The mix is not degenerate: some mutants stay valid and plan, most are refused.
    const total = [...codes.values()].reduce((a, b) => a + b, 0);
    expect(total).toBe(500);
    expect(codes.get('validate 0, plan 0') ?? 0).toBeGreaterThan(0);
    expect(codes.get('validate 2, plan 2') ?? 0).toBeGreaterThan(0);
    expect(codes.get('validate 0, plan 3') ?? 0).toBeGreaterThan(0);
    console.log(`exit codes of 500 mutated graphs: ${JSON.stringify(Object.fromEntries(codes))}`);
  }, 300_000);

  test('a handful through the real binary behave the same', () => {
    buildBundle();
    const texts = fc.sample(mutatedGraph, { seed: 7, numRuns: 3 });
    for (const text of texts) {
      const file = writeGraph(text);
      for (const args of [
        ['validate', file],
        ['plan', file, '--store', store],
      ]) {
        expectAMessage(dpkdBinary(args, { DPKD_DATA_CACHE: emptyDataCache }), `${args.join(' ')}:\n${text.slice(0, 2000)}`);
      }
    }
  }, 300_000);
});
