import { Effect } from 'effect';
import { describe, expect, test } from 'vitest';
import { consoleProgress, type EngineEvent } from '../src';

/** A stand-in for process.stderr that records what is written. */
const capture = () => {
  let text = '';
  const stream = { isTTY: true, write: (s: string) => ((text += s), true) } as unknown as NodeJS.WriteStream;
  return { stream, text: () => text };
};

const feed = (events: EngineEvent[], tty: boolean) => {
  const out = capture();
  const progress = consoleProgress({ stream: out.stream, tty });
  for (const e of events) Effect.runSync(progress.emit(e));
  return out.text();
};

const run = 'r1';
const events: EngineEvent[] = [
  { type: 'run-start', run, graph: 'g', nodes: 2, toRun: 2, at: 0 },
  { type: 'node-start', run, node: 'teacher', key: 'k1', attempt: 1, at: 0 },
  { type: 'node-start', run, node: 'dpsgd', key: 'k2', attempt: 1, at: 0 },
  { type: 'node-progress', run, node: 'teacher', step: 5, total: 20, loss: 3.14159, epsilon: 1.234, at: 10_000 },
  { type: 'node-end', run, node: 'dpsgd', key: 'k2', status: 'ran', seconds: 12, at: 12_000 },
];

describe('console progress', () => {
  test('on a TTY: one redrawn line per running node with step/total, loss, ε so far and ETA', () => {
    const text = feed(events, true);
    // 5 of 20 steps in 10 s: 15 steps left at 2 s each.
    expect(text).toContain('  ▸ teacher 5/20 loss 3.1416 ε 1.234 ETA 30s\n');
    expect(text).toContain('\x1b[2A\x1b[J'); // two live lines are erased before the redraw
    const last = text.slice(text.lastIndexOf('\x1b[J') + 3);
    // Redrawn at 12 s: the ETA is re-estimated from the elapsed time (12 s / 5 steps × 15 left).
    expect(last).toBe('ran     dpsgd (12.00 s)\n  ▸ teacher 5/20 loss 3.1416 ε 1.234 ETA 36s\n');
  });

  test('not on a TTY: plain lines, no escape codes', () => {
    const text = feed(events, false);
    expect(text).not.toContain('\x1b[');
    expect(text.split('\n')).toEqual(['run r1: g, 2 node(s), 2 to run', 'start  teacher', 'start  dpsgd', 'ran     dpsgd (12.00 s)', '']);
  });
});
