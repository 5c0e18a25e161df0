import { describe, expect, test } from 'vitest';
import schema from '../../../schemas/dp-event.schema.json';
import { type DpEvent, calibrateSigma, calibrateSteps, dpSgdEvent, epsilonOf, parseDpEvent, simplifyEvent } from '../src/index';

describe('DP events as data', () => {
  test('a DP-SGD event round-trips through JSON and the schema', () => {
    const e = dpSgdEvent({ q: 0.01, sigma: 1, steps: 100 });
    expect(parseDpEvent(JSON.parse(JSON.stringify(e)))).toEqual(e);
    expect(schema.$id).toMatch(/dp-event/);
  });
  test.each([
    [{ type: 'Gaussian', sigma: 0 }, 'event.sigma'],
    [{ type: 'PoissonSampled', q: 1.5, event: { type: 'NoOp' } }, 'event.q'],
    [{ type: 'Composed', events: [{ type: 'NoOp' }, { type: 'Foo' }] }, 'event.events[1].type'],
    [{ type: 'SelfComposed', event: { type: 'NoOp' }, count: 1.5 }, 'event.count'],
    [{ type: 'Laplace', b: 1, extra: 2 }, 'event.extra'],
  ])('invalid event %j names the JSON path %s', (json, path) => {
    expect(() => parseDpEvent(json)).toThrow(path);
  });
  test('simplifyEvent merges equal consecutive events and drops NoOp', () => {
    const g = { type: 'PoissonSampled', q: 0.1, event: { type: 'Gaussian', sigma: 1 } } as const;
    expect(simplifyEvent({ type: 'Composed', events: [g, { type: 'NoOp' }, { type: 'SelfComposed', event: g, count: 2 }] })).toEqual({
      type: 'SelfComposed',
      event: g,
      count: 3,
    });
  });
  test('a sampled composition is refused with a clear message', () => {
    const e: DpEvent = {
      type: 'PoissonSampled',
      q: 0.1,
      event: {
        type: 'Composed',
        events: [
          { type: 'Gaussian', sigma: 1 },
          { type: 'Laplace', b: 1 },
        ],
      },
    };
    expect(() => epsilonOf(e, 1e-5)).toThrow(/not supported/);
  });
});

describe('calibration', () => {
  test.each(['rdp', 'pld'] as const)('σ for ε = 1 (q=0.01, T=1000, δ=1e-5) is conservative and within 1e-4 (%s)', (accountant) => {
    const r = calibrateSigma({ epsilon: 1, delta: 1e-5, q: 0.01, steps: 1000, accountant });
    expect(r.epsilon).toBeLessThanOrEqual(1);
    const below = epsilonOf(dpSgdEvent({ q: 0.01, sigma: r.sigma * (1 - 2e-4), steps: 1000 }), 1e-5, { accountant }).epsilon;
    expect(below).toBeGreaterThan(1);
    // Reference values (docs/privacy.md): RDP needs σ ≈ 1.513, PLD σ ≈ 1.415.
    expect(r.sigma).toBeCloseTo(accountant === 'rdp' ? 1.513 : 1.415, 2);
  });
  test('steps for a given σ: the largest count within the budget', () => {
    const r = calibrateSteps({ epsilon: 1, delta: 1e-5, q: 0.01, sigma: 1.5, accountant: 'rdp' });
    const e = (t: number) => epsilonOf(dpSgdEvent({ q: 0.01, sigma: 1.5, steps: t }), 1e-5, { accountant: 'rdp' }).epsilon;
    expect(e(r.steps)).toBeLessThanOrEqual(1);
    expect(e(r.steps + 1)).toBeGreaterThan(1);
  });
});
