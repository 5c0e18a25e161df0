import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { convolve, fft, naiveDft } from '../src/fft';
import { logErfc, logNdtr } from '../src/special';

describe('logErfc', () => {
  // Values from mpmath (50 digits): log(erfc(x)).
  const cases: [number, number][] = [
    [-5, 0.6931471805591766],
    [0.3, -0.3984300514400854],
    [2, -5.3649412646165855],
    [2.51, -7.860436480446939],
    [10, -102.87988902484489],
    [100, -10005.177585122665],
  ];
  test.each(cases)('logErfc(%f) to 1e-13 relative', (x, expected) => {
    expect(Math.abs(logErfc(x) - expected)).toBeLessThan(1e-13 * Math.max(1, Math.abs(expected)));
  });
  test('logNdtr(0) = log(1/2), and is increasing', () => {
    expect(logNdtr(0)).toBeCloseTo(Math.log(0.5), 15);
    fc.assert(
      fc.property(
        fc.double({ min: -60, max: 10, noNaN: true }),
        fc.double({ min: 1e-3, max: 5, noNaN: true }),
        (x, d) => logNdtr(x) <= logNdtr(x + d),
      ),
    );
  });
});

describe('fft', () => {
  test('matches a naive DFT on random inputs, lengths 2^k and 3·2^k (forward and inverse)', () => {
    const lengths = [1, 2, 4, 8, 16, 32, 64, 3, 6, 12, 24, 48, 96];
    fc.assert(
      fc.property(
        fc.constantFrom(...lengths),
        fc.array(fc.double({ min: -1, max: 1, noNaN: true }), { minLength: 192, maxLength: 192 }),
        (n, values) => {
          const re = Float64Array.from(values.slice(0, n));
          const im = Float64Array.from(values.slice(96, 96 + n));
          for (const inverse of [false, true]) {
            const expected = naiveDft(re, im, inverse);
            const r = re.slice();
            const i = im.slice();
            fft(r, i, inverse);
            for (let k = 0; k < n; k++) {
              expect(Math.abs(r[k] - expected.re[k])).toBeLessThan(1e-12);
              expect(Math.abs(i[k] - expected.im[k])).toBeLessThan(1e-12);
            }
          }
        },
      ),
      { numRuns: 30 },
    );
  });
  test('FFT convolution equals direct convolution', () => {
    const a = Float64Array.from({ length: 300 }, (_, k) => Math.exp(-k / 30));
    const b = Float64Array.from({ length: 100 }, (_, k) => 1 / (1 + k));
    const c = convolve(a, b);
    for (const k of [0, 1, 57, 250, 398]) {
      let direct = 0;
      for (let i = 0; i < a.length; i++) if (k - i >= 0 && k - i < b.length) direct += a[i] * b[k - i];
      expect(c[k]).toBeCloseTo(direct, 12);
    }
  });
});
