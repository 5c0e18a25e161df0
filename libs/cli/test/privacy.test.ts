import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { runCli, scratchDir } from './run-cli';

describe('dpkd privacy', () => {
  test('epsilon --json (RDP) reports ε and the optimal order', () => {
    const r = runCli([
      'privacy',
      'epsilon',
      '--q',
      '0.01',
      '--sigma',
      '1',
      '--steps',
      '1000',
      '--delta',
      '1e-5',
      '--accountant',
      'rdp',
      '--json',
    ]);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.accountant).toBe('rdp');
    expect(out.epsilon).toBeCloseTo(2.101, 3);
    expect(out.optimalOrder).toBeGreaterThan(1);
  });

  test('epsilon defaults to the tight (PLD) accountant', () => {
    const r = runCli(['privacy', 'epsilon', '--q', '0.01', '--sigma', '1', '--steps', '1000', '--delta', '1e-5', '--json']);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.accountant).toBe('pld');
    expect(out.epsilon).toBeCloseTo(1.828, 3);
  });

  test('sigma --json is conservative', () => {
    const r = runCli([
      'privacy',
      'sigma',
      '--q',
      '0.01',
      '--steps',
      '1000',
      '--delta',
      '1e-5',
      '--epsilon',
      '1',
      '--accountant',
      'rdp',
      '--json',
    ]);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.sigma).toBeCloseTo(1.513, 2);
    expect(out.epsilon).toBeLessThanOrEqual(1);
  });

  test('epsilon --event composes a DP-event file', () => {
    const dir = scratchDir('dpkd-privacy-');
    const file = join(dir, 'event.json');
    const step = { type: 'PoissonSampled', q: 0.01, event: { type: 'Gaussian', sigma: 1 } };
    writeFileSync(
      file,
      JSON.stringify({
        type: 'Composed',
        events: [
          { type: 'SelfComposed', event: step, count: 500 },
          { type: 'SelfComposed', event: step, count: 500 },
        ],
      }),
    );
    const r = runCli(['privacy', 'epsilon', '--event', file, '--delta', '1e-5', '--json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).epsilon).toBeCloseTo(1.828, 3);
    writeFileSync(file, JSON.stringify({ type: 'Gaussian', sigma: -1 }));
    const bad = runCli(['privacy', 'epsilon', '--event', file, '--delta', '1e-5']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/sigma: must be a finite number > 0/);
  });

  test.each([
    [['--q', '1.5', '--sigma', '1', '--steps', '10', '--delta', '1e-5'], /--q must be/],
    [['--q', '0.1', '--sigma', '0', '--steps', '10', '--delta', '1e-5'], /--sigma must be/],
    [['--q', '0.1', '--sigma', '1', '--steps', '2.5', '--delta', '1e-5'], /--steps must be a positive integer/],
    [['--q', '0.1', '--sigma', '1', '--steps', '10', '--delta', '1'], /--delta must be/],
    [['--q', '0.1', '--sigma', '1', '--steps', '10', '--delta', '1e-5', '--accountant', 'gdp'], /--accountant must be/],
  ])('invalid input %j gives one line and exit 2', (args, message) => {
    const r = runCli(['privacy', 'epsilon', ...args]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });
});
