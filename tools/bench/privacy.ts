// `npm run bench -- privacy`: speed of the accountants (printed, never asserted).
import { calibrateSigma, dpSgdEvent, epsilonOf } from '@dpkd/privacy';
// Internal kernels, for the side-by-side ratio of the real-input FFT power against the complex one.
import { circularSelfConvolve, circularSelfConvolveComplex } from '../../libs/privacy/src/fft';

function time<T>(label: string, f: () => T, repeats = 1): T {
  let out!: T;
  const t0 = performance.now();
  for (let i = 0; i < repeats; i++) out = f();
  const ms = (performance.now() - t0) / repeats;
  console.log(`${label.padEnd(58)} ${ms.toFixed(1).padStart(8)} ms`);
  return out;
}

// Distinct σ per call so the per-(q, σ) caches do not hide the work.
let k = 0;
const fresh = () => 1 + 1e-6 * ++k;
time('warm-up', () => epsilonOf(dpSgdEvent({ q: 0.01, sigma: 1.1, steps: 100 }), 1e-5, { accountant: 'rdp' }));
const rdp = time(
  'ε, RDP, q=0.01 σ=1 10^5 steps (uncached, mean of 20)',
  () => epsilonOf(dpSgdEvent({ q: 0.01, sigma: fresh(), steps: 100_000 }), 1e-5, { accountant: 'rdp' }),
  20,
);
const pld = time(
  'ε, PLD, q=0.01 σ=1 10^5 steps (uncached, mean of 3)',
  () => epsilonOf(dpSgdEvent({ q: 0.01, sigma: fresh(), steps: 100_000 }), 1e-5),
  3,
);
time('ε, PLD, q=0.01 σ=1 10^3 steps', () => epsilonOf(dpSgdEvent({ q: 0.01, sigma: fresh(), steps: 1000 }), 1e-5));
time('σ calibration, RDP, ε=1 q=0.01 T=10^4', () => calibrateSigma({ epsilon: 1, delta: 1e-5, q: 0.01, steps: 10_000, accountant: 'rdp' }));
const cal = time('σ calibration, PLD, ε=1 q=0.01 T=10^4', () => calibrateSigma({ epsilon: 1, delta: 1e-5, q: 0.01, steps: 10_000 }));
time('σ calibration, PLD, ε=8 q=0.01 T=10^5', () => calibrateSigma({ epsilon: 8, delta: 1e-5, q: 0.01, steps: 100_000 }));
console.log(
  `(ε RDP ${rdp.epsilon.toFixed(4)}, ε PLD ${pld.epsilon.toFixed(4)}, ratio ${(rdp.epsilon / pld.epsilon).toFixed(3)}; calibrated σ PLD ${cal.sigma.toFixed(4)})`,
);

// Side by side: the n-fold spectral power on 2^20 points (the 10^5-step PLD's window), real-input FFT
// vs the complex FFT it replaced (best of 3 each, interleaved).
const leafLike = Float64Array.from({ length: 33_000 }, (_, i) => Math.exp(-(((i - 16_500) / 4000) ** 2)));
let real = Infinity;
let complex = Infinity;
for (let r = 0; r < 3; r++) {
  let t0 = performance.now();
  circularSelfConvolve(leafLike, 2 ** 20, 100_000);
  real = Math.min(real, performance.now() - t0);
  t0 = performance.now();
  circularSelfConvolveComplex(leafLike, 2 ** 20, 100_000);
  complex = Math.min(complex, performance.now() - t0);
}
console.log(
  `${'self-convolution power, 2^20 points: real FFT / complex FFT'.padEnd(58)} ${real.toFixed(1).padStart(8)} / ${complex.toFixed(1)} ms (${(complex / real).toFixed(2)}×)`,
);
